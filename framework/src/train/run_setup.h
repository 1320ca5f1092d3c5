// The set-up of a run, before its first epoch: where and how this process computes (device,
// threads, precision, process group), and the plugins' objects built for it. Everything here
// may reject the input, and does so before the run is recorded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "trainyard/config/experiment_config.h"
#include "trainyard/distributed/distributed.h"
#include "trainyard/plugin_api.h"
#include "trainyard/train/mixed_precision.h"
#include "trainyard/train/checkpoint.h"
#include "trainyard/train/run_record.h"

#include "model_init.h"

namespace trainyard {

class PluginRegistry;

/// Where and how this process computes.
struct ExecutionPlan {
  LaunchEnvironment launch;
  int threads = 1;         // LibTorch intra-op threads
  int loader_threads = 1;  // decoding threads
  torch::Device device{torch::kCPU};
  Precision precision = Precision::kFp32;
  std::string backend;                              // of the process group; empty for one process
  std::unique_ptr<Communicator> communicator;       // null for one process
  bool writer() const { return launch.rank == 0; }  // keeps the record and the checkpoints
};

/// Reads the launch environment, chooses threads, device and precision, seeds the generators
/// and, for a run of several processes, joins the process group.
ExecutionPlan plan_execution(const ExperimentConfig& config);

/// The plugins' objects of one run, on the plan's device.
struct RunObjects {
  std::shared_ptr<Dataset> dataset;
  std::vector<std::string> class_names;
  SelectionSplit select_on = SelectionSplit::kTest;  // train.select_on, resolved against the dataset
  std::shared_ptr<Model> model;
  std::int64_t num_parameters = 0;
  std::unique_ptr<GradientReducer> reducer;  // several processes only
  std::shared_ptr<torch::optim::Optimizer> optimizer;
  std::optional<PixelNormalization> pixels;  // set when the dataset's samples are uint8 pixels
  bool cache = false;                        // keep decoded samples in memory after the first epoch
  double cache_mb = 0.0;                     // what the whole dataset takes decoded
  std::string init_source;                   // what the model started from (model.init_from); empty: its plugin's init
};

/// Builds the dataset (checking it can train a classifier), the model (channels-last when
/// configured; synchronized and broadcast over several processes) and the optimizer, and decides
/// the decoded-sample cache. A fresh run's model first takes `init`'s weights (model.init_from;
/// on rank 0, whose weights every rank then receives).
RunObjects build_run_objects(const ExperimentConfig& config, const PluginRegistry& registry, ExecutionPlan& plan,
                             const ModelInitSource* init = nullptr);

/// What the run's model is built for: its dataset's classes, channels and image size.
ModelContext model_context(const RunObjects& objects);

/// Loads a checkpoint of the run into `objects.model` (after training: --evaluate, --export).
/// Throws InputError when it does not load into the model or holds other classes than the dataset.
CheckpointInfo load_run_checkpoint(const std::filesystem::path& checkpoint, RunObjects& objects);

/// What is known about the run when it starts, as its record keeps it.
RunRecord describe_run(const ExperimentConfig& config, const PluginRegistry& registry, const ExecutionPlan& plan,
                       const RunObjects& objects);

/// Fails early, before any run is recorded, when checkpoints could not be written later.
void check_writable_folder(const std::string& folder, const std::string& key);

}  // namespace trainyard
