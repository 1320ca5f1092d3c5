// runner --export RUN --out model.typkg: a run's checkpoint as a model package, for
// `runner --predict` and the Predictor of <trainyard/predictor.h>.
#include <filesystem>

#include <spdlog/spdlog.h>

#include <trainyard/errors.h>
#include <trainyard/train/export_run.h>

#include "commands.h"
#include "stored_run.h"

namespace fs = std::filesystem;

namespace trainyard::runner {
namespace {

// An existing file is replaced only when it is a package itself: `--out best.pt` must never
// destroy a checkpoint.
void refuse_to_overwrite(const fs::path& out, const std::string& option) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  try {
    read_model_package(out);
  } catch (const InputError&) {
    throw InputError(option + ": '" + out.string() +
                     "' exists and is not a model package; it was left as it is (choose another --out)");
  }
}

}  // namespace

ModelPackage package_stored_run(const Invocation& invocation, std::int64_t run_id, PluginRegistry& registry,
                                const std::string& option) {
  const fs::path started_in = fs::current_path();
  const StoredRunContext stored = enter_stored_run(invocation, run_id, option);
  ExportRequest request;
  request.checkpoint = checkpoint_file(invocation.checkpoint, stored.run, started_in, option);
  request.precision = stored.run.precision;
  request.provenance = run_provenance(stored);
  request.provenance.emplace_back("checkpoint", request.checkpoint.string());
  const ExperimentConfig config = resolve_stored_config(stored, registry);
  ModelPackage package = package_run(config, registry, request);
  std::error_code ec;
  fs::current_path(started_in, ec);  // back where the user's relative paths (--out, images) resolve
  return package;
}

int export_command(const Invocation& invocation, PluginRegistry& registry) {
  const std::int64_t run_id = invocation.export_id;
  const std::string option = "--export " + std::to_string(run_id);
  if (invocation.out.empty()) throw InputError(option + ": give the package file with --out, e.g. --out model.typkg");
  const fs::path out = fs::absolute(invocation.out);
  refuse_to_overwrite(out, option);
  const ModelPackage package = package_stored_run(invocation, run_id, registry, option);
  write_model_package(out, package);
  std::error_code ec;
  spdlog::info("run {}: model package {} ({:.1f} MiB): model {} {}, {} classes, {}x{} {} input, {}", run_id,
               out.string(), static_cast<double>(fs::file_size(out, ec)) / (1024.0 * 1024.0), package.model_plugin,
               package.model_plugin_version, package.class_names.size(), package.preprocessing.height,
               package.preprocessing.width, package.preprocessing.color, package.precision);
  return kExitOk;
}

}  // namespace trainyard::runner
