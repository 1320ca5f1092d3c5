// A run's checkpoint made into a model package (`runner --export`, and `runner --predict RUN`):
// the run's model rebuilt from its stored configuration and loaded, its dataset asked for its
// transform and classes, and what the run computed with (precision, layout, batch size).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/config/experiment_config.h"
#include "trainyard/package/model_package.h"

namespace trainyard {

class PluginRegistry;

struct ExportRequest {
  std::filesystem::path checkpoint;
  std::string precision;  // what the run trained with (runs.precision); empty: resolved here
  std::vector<std::pair<std::string, std::string>> provenance;  // the run's: id, database, experiment, ...
};

/// Throws InputError when the dataset cannot say its transform as data (Dataset::preprocessing),
/// or the checkpoint does not load into the run's model or holds other classes.
ModelPackage package_run(const ExperimentConfig& config, const PluginRegistry& registry, const ExportRequest& request);

/// The checkpoint's parameters and buffers, named as the model names them ("layer1.0.conv1.weight"),
/// as a safetensors file (trainyard/package/safetensors.h), with the classes (one per line) and
/// the provenance in its metadata. Throws as package_run, but needs no preprocessing.
std::string run_safetensors(const ExperimentConfig& config, const PluginRegistry& registry,
                            const ExportRequest& request);

}  // namespace trainyard
