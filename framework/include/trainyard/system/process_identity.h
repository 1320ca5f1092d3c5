// What tells a process from a later one with the same pid: the boot it runs in and the time it
// started. A run's row keeps it beside the pid, so that a run whose pid was reused (after a reboot,
// or by another program) is known to be dead rather than kept 'running' forever.
#pragma once

#include <string>

namespace trainyard {

/// "<boot id>/<start time in clock ticks since boot>" of process `pid` (Linux: /proc), or "" when
/// it cannot be read (no such process, no /proc).
std::string process_start_key(int pid);

/// Whether process `pid` is alive and is the one `start_key` was taken from. An empty key (a row
/// recorded before keys were kept) falls back to the pid alone.
bool process_is_alive(int pid, const std::string& start_key);

/// Seconds since this process started (the kernel's count, so the dynamic loading of LibTorch
/// before main is included), to 1/100 s; 0 when /proc cannot tell.
double process_uptime_seconds();

}  // namespace trainyard
