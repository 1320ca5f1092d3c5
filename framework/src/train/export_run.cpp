#include "trainyard/train/export_run.h"

#include <map>
#include <sstream>

#include <torch/version.h>
#include <yaml-cpp/yaml.h>

#include "run_setup.h"
#include "trainyard/errors.h"
#include "trainyard/package/safetensors.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/train/checkpoint.h"

namespace trainyard {

namespace {

// The run's model with the checkpoint's weights, and the checkpoint's own record.
struct LoadedRun {
  ExecutionPlan plan;
  RunObjects objects;
  CheckpointInfo info;
};

LoadedRun load_run(const ExperimentConfig& config, const PluginRegistry& registry, const std::filesystem::path& file) {
  LoadedRun run;
  run.plan = plan_execution(config);
  run.objects = build_run_objects(config, registry, run.plan);
  run.info = load_run_checkpoint(file, run.objects);
  return run;
}

}  // namespace

ModelPackage package_run(const ExperimentConfig& config, const PluginRegistry& registry, const ExportRequest& request) {
  LoadedRun run = load_run(config, registry, request.checkpoint);
  const ExecutionPlan& plan = run.plan;
  RunObjects& objects = run.objects;
  const CheckpointInfo& info = run.info;
  const auto preprocessing = objects.dataset->preprocessing();
  if (!preprocessing) {
    throw InputError("dataset plugin '" + config.dataset.plugin +
                     "' does not describe its transform as data (Dataset::preprocessing), so its model cannot be "
                     "packaged: prediction from files could not prepare images as the run did");
  }
  ModelPackage package;
  // The model as its plugin builds it: how the run's weights began (init_from) is provenance, not model.
  YAML::Node model_section = YAML::Load(config.to_yaml())["model"];
  for (const auto& spec : model_init_schema()) model_section.remove(spec.name);
  package.model_section_yaml = YAML::Dump(model_section);
  package.model_plugin = config.model.plugin;
  package.model_plugin_version = registry.find(PluginKind::kModel, config.model.plugin).version();
  package.model_context = model_context(objects);
  package.class_names = objects.class_names;
  package.preprocessing = *preprocessing;
  package.precision = request.precision.empty() ? to_string(plan.precision) : request.precision;
  package.channels_last = config.train.channels_last;
  package.batch_size = config.train.batch_size;
  package.provenance = request.provenance;
  package.provenance.emplace_back("checkpoint_epoch", std::to_string(info.epoch));
  package.provenance.emplace_back("checkpoint_test_accuracy", format_double(info.test_accuracy));
  package.provenance.emplace_back("dataset_plugin",
                                  registry.find(PluginKind::kDataset, config.dataset.plugin).name_and_version());
  package.provenance.emplace_back("torch_version", TORCH_VERSION);
  torch::serialize::OutputArchive archive;
  objects.model->save(archive);
  std::ostringstream weights;
  archive.save_to(weights);
  package.weights = weights.str();
  return package;
}

std::string run_safetensors(const ExperimentConfig& config, const PluginRegistry& registry,
                            const ExportRequest& request) {
  LoadedRun run = load_run(config, registry, request.checkpoint);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : run.objects.model->named_parameters()) tensors.emplace_back(p.key(), p.value());
  for (const auto& b : run.objects.model->named_buffers()) tensors.emplace_back(b.key(), b.value());
  // Strings only, as the format's metadata is: enough to rebuild the classifier in Python.
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"trainyard_model_plugin", config.model.plugin}};
  std::string classes;
  for (const auto& name : run.objects.class_names) classes += (classes.empty() ? "" : "\n") + name;
  metadata["trainyard_class_names"] = classes;
  metadata["trainyard_checkpoint_epoch"] = std::to_string(run.info.epoch);
  for (const auto& [key, value] : request.provenance) metadata["trainyard_" + key] = value;
  return safetensors_bytes(tensors, metadata);
}

}  // namespace trainyard
