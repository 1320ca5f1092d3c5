#include "test_support.h"

#include <trainyard/image_io.h>
#include <trainyard/plugin/plugin_registry.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace trainyard::testing {

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "trainyard-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path plugin_dir() { return TRAINYARD_TEST_PLUGIN_DIR; }

fs::path fixture_plugin_dir(const std::string& case_name) {
  return fs::path(TRAINYARD_TEST_FIXTURE_PLUGIN_DIR) / case_name;
}

std::string tiny_model_environment() {
  return "TRAINYARD_PLUGIN_PATH=" + shell_quote(fixture_plugin_dir("tiny_model").string());
}

const PluginRegistry& build_registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->discover({plugin_dir(), fixture_plugin_dir("tiny_model"), fixture_plugin_dir("pattern_dataset")});
    return r;
  }();
  return *registry;
}

RgbImage solid_image(int width, int height, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<std::size_t>(width) * height * 3);
  for (std::size_t p = 0; p < image.pixels.size(); p += 3) {
    image.pixels[p] = r;
    image.pixels[p + 1] = g;
    image.pixels[p + 2] = b;
  }
  return image;
}

void make_image_folder(const fs::path& root, const std::map<std::string, int>& counts, int size) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> noise(0, 40);
  int class_index = 0;
  for (const auto& [name, count] : counts) {
    fs::create_directories(root / name);
    for (int i = 0; i < count; ++i) {
      RgbImage image = solid_image(size, size, 20, 20, 20);
      for (std::size_t p = 0; p < image.pixels.size(); p += 3) {
        for (int c = 0; c < 3; ++c) image.pixels[p + c] = static_cast<std::uint8_t>(20 + noise(rng));
        image.pixels[p + class_index % 3] = static_cast<std::uint8_t>(200 + noise(rng));
      }
      char file[32];
      std::snprintf(file, sizeof file, "%03d.png", i);
      write_png(root / name / file, image);
    }
    ++class_index;
  }
}

fs::path recorded_run_dir(const fs::path& db, std::int64_t run_id) {
  SQLite::Database database(db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement query(database, "SELECT run_dir FROM runs WHERE id = ?");
  query.bind(1, run_id);
  if (!query.executeStep() || query.getColumn(0).isNull()) {
    throw std::runtime_error("run " + std::to_string(run_id) + " of '" + db.string() + "' records no run_dir");
  }
  return query.getColumn(0).getString();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

bool wait_until(const std::function<bool()>& condition, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (condition()) return true;
    } catch (const std::exception&) {
      // not yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool wait_for_exit(int pid, double seconds) {
  return wait_until(
      [pid] {
        waitpid(pid, nullptr, WNOHANG);  // reap it if it is our child
        const char state = process_state(pid);
        return state == '\0' || state == 'Z';
      },
      seconds);
}

char process_state(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto end_of_name = text.rfind(')');  // the name, in parentheses, may hold spaces
  if (end_of_name == std::string::npos || end_of_name + 2 >= text.size()) return '\0';
  return text[end_of_name + 2];
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) result.output += buffer;
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string runner_command(const fs::path& folder, const std::string& arguments, const std::string& environment) {
  return "cd " + shell_quote(folder.string()) + " && " + environment + (environment.empty() ? "" : " ") + "exec " +
         shell_quote(TRAINYARD_RUNNER_PATH) + " " + arguments;
}

}  // namespace trainyard::testing
