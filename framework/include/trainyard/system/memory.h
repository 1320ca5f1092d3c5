// The machine's memory as the kernel reports it: what a sweep sizes its trials side by side by.
#pragma once

#include <optional>
#include <string>

namespace trainyard {

/// MemAvailable of /proc/meminfo in MiB: what can be allocated without swapping, page cache
/// included. nullopt where the kernel does not report it.
std::optional<double> available_memory_mib();

/// The MemAvailable line of a /proc/meminfo text, in MiB (the file's figures are KiB).
std::optional<double> parse_mem_available_mib(const std::string& meminfo);

}  // namespace trainyard
