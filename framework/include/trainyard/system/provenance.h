// Where a run came from, beyond the config: recorded with each run for the results tools.
#pragma once

#include <filesystem>
#include <string>

namespace trainyard {

/// This machine's host name (gethostname), "unknown" when it cannot be read: the `host` of runs.
std::string host_name();

/// The commit of the git repository holding `file` ("3f2a...c1"), with "-dirty" appended when
/// tracked files there have uncommitted changes; empty when the file is in no repository or git
/// is not installed. Never throws.
std::string git_revision(const std::filesystem::path& file);

}  // namespace trainyard
