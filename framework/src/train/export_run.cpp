#include "trainyard/train/export_run.h"

#include <sstream>

#include <torch/version.h>
#include <yaml-cpp/yaml.h>

#include "run_setup.h"
#include "trainyard/errors.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/train/checkpoint.h"

namespace trainyard {

ModelPackage package_run(const ExperimentConfig& config, const PluginRegistry& registry, const ExportRequest& request) {
  ExecutionPlan plan = plan_execution(config);
  RunObjects objects = build_run_objects(config, registry, plan);
  const auto preprocessing = objects.dataset->preprocessing();
  if (!preprocessing) {
    throw InputError("dataset plugin '" + config.dataset.plugin +
                     "' does not describe its transform as data (Dataset::preprocessing), so its model cannot be "
                     "packaged: prediction from files could not prepare images as the run did");
  }
  const CheckpointInfo info = load_run_checkpoint(request.checkpoint, objects);
  ModelPackage package;
  package.model_section_yaml = YAML::Dump(YAML::Load(config.to_yaml())["model"]);
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

}  // namespace trainyard
