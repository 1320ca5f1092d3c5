// runner --export RUN --out model.typkg: a run's checkpoint as a model package, for
// `runner --predict` and the Predictor of <trainyard/predictor.h>.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/system/durable_file.h>
#include <trainyard/train/export_run.h>

#include "commands.h"
#include "stored_run.h"

namespace fs = std::filesystem;

namespace trainyard::runner {
namespace {

bool is_model_package(const fs::path& file) {
  try {
    read_model_package(file);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

// An 8-byte header length that fits the file, then the JSON object it measures.
bool is_safetensors(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char length[8] = {};
  if (!in.read(reinterpret_cast<char*>(length), 8)) return false;
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | length[i];
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  char first = 0;
  return !ec && n >= 2 && n <= size - 8 && in.get(first) && first == '{';
}

// An existing file is replaced only when it is of the kind being written: `--out best.pt` must
// never destroy a checkpoint.
void refuse_to_overwrite(const fs::path& out, const std::string& format, const std::string& option) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (format == "package" ? is_model_package(out) : is_safetensors(out)) return;
  throw InputError(option + ": '" + out.string() + "' exists and is not a " +
                   (format == "package" ? "model package" : "safetensors file") +
                   "; it was left as it is (choose another --out)");
}

void export_safetensors(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                        const fs::path& out, const std::string& option) {
  const fs::path started_in = fs::current_path();
  const StoredRunContext stored = enter_stored_run(invocation, run_id, option);
  ExportRequest request;
  request.checkpoint = checkpoint_file(invocation.checkpoint, stored.run, started_in, option);
  request.provenance = run_provenance(stored);
  const ExperimentConfig config = resolve_stored_config(stored, registry);
  const std::string bytes = run_safetensors(config, registry, request);
  write_file_durably(out, bytes);
  spdlog::info(
      "run {}: safetensors weights {} ({:.1f} MiB) of {}; in Python: "
      "safetensors.torch.load_file('{}')",
      run_id, out.string(), static_cast<double>(bytes.size()) / (1024.0 * 1024.0), request.checkpoint.string(),
      out.filename().string());
}

}  // namespace

PackagedRun package_stored_run(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                               const std::string& option) {
  const fs::path started_in = fs::current_path();
  const StoredRunContext stored = enter_stored_run(invocation, run_id, option);
  ExportRequest request;
  request.checkpoint = checkpoint_file(invocation.checkpoint, stored.run, started_in, option);
  request.precision = stored.run.precision;
  request.provenance = run_provenance(stored);
  request.provenance.emplace_back("checkpoint", request.checkpoint.string());
  const ExperimentConfig config = resolve_stored_config(stored, registry);
  PackagedRun packaged{package_run(config, registry, request), "fail", stored.db};
  if (config.dataset.params.contains("on_bad_image"))
    packaged.dataset_on_bad_image = config.dataset.params.get_string("on_bad_image");
  std::error_code ec;
  fs::current_path(started_in, ec);  // back where the user's relative paths (--out, images) resolve
  return packaged;
}

int export_command(const Invocation& invocation, PluginRegistry& registry) {
  const std::int64_t run_id = invocation.export_id;
  const std::string option = "--export " + std::to_string(run_id);
  if (invocation.out.empty()) throw InputError(option + ": give the package file with --out, e.g. --out model.typkg");
  const fs::path out = fs::absolute(invocation.out);
  const std::string format = invocation.format.empty() ? "package" : invocation.format;
  if (format != "package" && format != "safetensors")
    throw InputError(option + ": --format '" + format + "': accepted: package, safetensors");
  refuse_to_overwrite(out, format, option);
  if (format == "safetensors") {
    export_safetensors(invocation, run_id, registry, out, option);
    return kExitOk;
  }
  const ModelPackage package = package_stored_run(invocation, run_id, registry, option).package;
  write_model_package(out, package);
  std::error_code ec;
  spdlog::info("run {}: model package {} ({:.1f} MiB): model {} {}, {} classes, {}x{} {} input, {}", run_id,
               out.string(), static_cast<double>(fs::file_size(out, ec)) / (1024.0 * 1024.0), package.model_plugin,
               package.model_plugin_version, package.class_names.size(), package.preprocessing.height,
               package.preprocessing.width, package.preprocessing.color, package.precision);
  return kExitOk;
}

}  // namespace trainyard::runner
