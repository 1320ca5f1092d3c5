// Helpers shared by the tests: temporary folders, tiny generated images and datasets, plugin
// folders of the build, and running the runner binary.
//
// This header includes no LibTorch header (the types below are only declared): the store, SQL and
// process tests include it without parsing LibTorch, which took about 20 s of each of their
// compiles (45 s under the sanitizers). A test that uses an RgbImage or a PluginRegistry includes
// <trainyard/image_io.h> or <trainyard/plugin/plugin_registry.h> itself.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <trainyard/system/shell_quote.h>

namespace trainyard {
class PluginRegistry;
struct RgbImage;
}  // namespace trainyard

namespace trainyard::testing {

/// A fresh folder under the system temp folder, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// The folder the build puts the real plugins in, and the one with test fixture plugins.
std::filesystem::path plugin_dir();
std::filesystem::path fixture_plugin_dir(const std::string& case_name);

/// A registry holding the real plugins of this build (and the tiny test model).
const PluginRegistry& build_registry();

/// A solid-colour RGB image; `seed` varies the colour so classes differ.
RgbImage solid_image(int width, int height, std::uint8_t r, std::uint8_t g, std::uint8_t b);

/// Writes an ImageFolder tree: root/<class>/<i>.png for each class and count. Images of class k
/// are bright in channel k % 3 with a little noise, so a model can learn them in a few steps.
void make_image_folder(const std::filesystem::path& root, const std::map<std::string, int>& counts, int size = 16);

/// The checkpoint folder run `run_id` of SQLite results database `db` recorded (runs.run_dir:
/// "<checkpoints>/run-<id>-<the database's tag>"). Throws when the run or its folder is not recorded.
std::filesystem::path recorded_run_dir(const std::filesystem::path& db, std::int64_t run_id);

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& text);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
/// Runs a shell command, capturing its output.
CommandResult run_command(const std::string& command);
/// The shell command that runs the runner binary in `folder` (so relative paths resolve there)
/// with `arguments` (already shell-quoted where needed), after `environment` ("NAME=value ...").
std::string runner_command(const std::filesystem::path& folder, const std::string& arguments,
                           const std::string& environment = "");

/// "TRAINYARD_PLUGIN_PATH=<the tiny test model's folder>": the environment for a runner command
/// whose experiment uses `model: {plugin: tiny}`.
std::string tiny_model_environment();

/// Polls `condition` every 100 ms until it holds or `seconds` pass; returns whether it held.
/// Exceptions from the condition (a database not created yet, say) count as "not yet".
bool wait_until(const std::function<bool()>& condition, double seconds = 60);

/// Waits up to `seconds` for process `pid` (a child or not) to exit; returns whether it did. A
/// zombie (exited, its parent not yet told) counts as exited.
bool wait_for_exit(int pid, double seconds = 60);

/// The state letter /proc/PID/stat gives (R running, S sleeping, T stopped, Z zombie, ...); '\0'
/// when there is no such process.
char process_state(int pid);

/// Quotes a string for /bin/sh (the framework's, under the tests' namespace).
using trainyard::shell_quote;

}  // namespace trainyard::testing
