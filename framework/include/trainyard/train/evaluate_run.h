// Evaluating a trained run's checkpoint on one of its own splits (`runner --evaluate`): the run's
// dataset and model built from its stored configuration, the checkpoint loaded, and one pass with
// the run's batch size, precision and layout, so that the figures the run recorded for that
// epoch come out again, to the last digit on the CPU.
#pragma once

#include <filesystem>

#include "trainyard/config/experiment_config.h"
#include "trainyard/plugin_api.h"
#include "trainyard/train/evaluation.h"

namespace trainyard {

class PluginRegistry;

struct EvaluationRequest {
  std::filesystem::path checkpoint;  // a checkpoint the run wrote (best.pt, last.pt)
  Split split = Split::kTest;        // the run's test split, or its validation split
};

/// Throws InputError for a split the dataset lacks, a checkpoint that cannot be read or whose
/// classes are not the dataset's; PluginError when a plugin cannot be built.
EvaluationRecord evaluate_run(const ExperimentConfig& config, const PluginRegistry& registry,
                              const EvaluationRequest& request);

}  // namespace trainyard
