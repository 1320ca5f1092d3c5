// runner --export RUN --out model.typkg: a run's checkpoint as a model package, for
// `runner --predict` and the Predictor of <trainyard/predictor.h>.
#include <filesystem>

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/package/safetensors.h>
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

// An existing file is replaced only when it is of the kind being written: `--out best.pt` must
// never destroy a checkpoint.
void refuse_to_overwrite(const fs::path& out, const std::string& format, const std::string& option) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (format == "package" ? is_model_package(out) : looks_like_safetensors(out)) return;
  throw InputError(option + ": '" + out.string() + "' exists and is not a " +
                   (format == "package" ? "model package" : "safetensors file") +
                   "; it was left as it is (choose another --out)");
}

// The run's stored configuration and the export of its --checkpoint. The process is left in the
// folder the run started in, where the dataset's relative paths resolve; the caller goes back.
struct StoredExport {
  ExperimentConfig config;
  ExportRequest request;
  std::string db;
};

StoredExport stored_export(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                           const fs::path& started_in, const std::string& option) {
  const StoredRunContext stored = enter_stored_run(invocation, run_id, option);
  StoredExport e;
  e.db = stored.db;
  e.request.checkpoint = checkpoint_file(invocation.checkpoint, stored.run, started_in, option);
  e.request.precision = stored.run.precision;
  e.request.provenance = run_provenance(stored);
  e.request.provenance.emplace_back("checkpoint", e.request.checkpoint.string());
  e.config = resolve_stored_config(stored, registry);
  return e;
}

void export_safetensors(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                        const fs::path& out, const std::string& option) {
  const StoredExport e = stored_export(invocation, run_id, registry, fs::current_path(), option);
  const std::string bytes = run_safetensors(e.config, registry, e.request);
  write_file_durably(out, bytes);
  spdlog::info(
      "run {}: safetensors weights {} ({:.1f} MiB) of {}; in Python: "
      "safetensors.torch.load_file('{}')",
      run_id, out.string(), static_cast<double>(bytes.size()) / (1024.0 * 1024.0), e.request.checkpoint.string(),
      out.filename().string());
}

}  // namespace

PackagedRun package_stored_run(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                               const std::string& option) {
  const fs::path started_in = fs::current_path();
  const StoredExport e = stored_export(invocation, run_id, registry, started_in, option);
  PackagedRun packaged{package_run(e.config, registry, e.request), "fail", e.db};
  if (e.config.dataset.params.contains("on_bad_image"))
    packaged.dataset_on_bad_image = e.config.dataset.params.get_string("on_bad_image");
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
