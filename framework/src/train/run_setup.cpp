#include "run_setup.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>
#include <torch/version.h>

#include "trainyard/batch_norm.h"
#include "trainyard/errors.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/system/provenance.h"
#include "trainyard/train/device.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

std::shared_ptr<Dataset> build_dataset(const ExperimentConfig& config, const PluginRegistry& registry) {
  DatasetContext context;
  context.seed = static_cast<std::uint64_t>(config.seed);
  auto dataset = registry.make_dataset(config.dataset.plugin, config.dataset.params, context);
  const auto classes = dataset->class_names().size();
  if (classes < 2) {
    throw InputError("dataset: '" + config.dataset.plugin + "' found " + std::to_string(classes) +
                     " class(es); classification needs at least 2");
  }
  if (dataset->size(Split::kTrain) == 0 || dataset->size(Split::kTest) == 0) {
    throw InputError("dataset: the split left " + std::to_string(dataset->size(Split::kTrain)) + " training and " +
                     std::to_string(dataset->size(Split::kTest)) +
                     " test images; both need at least one (more images, or another train_fraction)");
  }
  spdlog::info("dataset: {}", dataset->summary());
  return dataset;
}

// The statistics every batch of a dataset with 8-bit samples is normalized with: checked once
// here, so that a plugin's mistake is named before the run rather than as NaN losses later.
std::optional<PixelNormalization> checked_pixel_normalization(const std::string& plugin, const Dataset& dataset) {
  auto normalization = dataset.pixel_normalization();
  if (!normalization) return normalization;
  const auto channels = static_cast<std::size_t>(dataset.image_shape().channels);
  const auto problem = [&](const std::string& what) {
    return InputError("dataset plugin '" + plugin + "': its pixel_normalization() " + what);
  };
  if (normalization->mean.size() != channels || normalization->std.size() != channels) {
    throw problem("has " + std::to_string(normalization->mean.size()) + " means and " +
                  std::to_string(normalization->std.size()) + " deviations; its images have " +
                  std::to_string(channels) + " channels, and each needs one of both");
  }
  for (std::size_t c = 0; c < channels; ++c) {
    if (!std::isfinite(normalization->mean[c]) || !std::isfinite(normalization->std[c]) ||
        !(normalization->std[c] > 0.0f)) {
      throw problem("gives channel " + std::to_string(c) + " mean " + std::to_string(normalization->mean[c]) +
                    " and deviation " + std::to_string(normalization->std[c]) +
                    "; both must be finite and the deviation > 0");
    }
  }
  return normalization;
}

// train.select_on against what the dataset has: `auto` selects on the validation split when there
// is one. Selecting on test is said once in the log, since the best figures are then optimistic.
SelectionSplit resolve_selection(const ExperimentConfig& config, const Dataset& dataset) {
  const bool has_val = dataset.size(Split::kVal) > 0;
  if (config.train.select_on == "val" && !has_val) {
    throw InputError("train.select_on: val, but dataset '" + config.dataset.plugin +
                     "' has no validation split; set dataset.val_fraction (e.g. 0.1), or select_on: test");
  }
  if (config.train.select_on == "test" || !has_val) {
    spdlog::info("best epoch chosen on the test split (no validation split): its test accuracy is optimistic");
    return SelectionSplit::kTest;
  }
  return SelectionSplit::kVal;
}

// train.cache: `auto` keeps decoded samples when the dataset says they never vary and they fit.
void decide_cache(const ExperimentConfig& config, RunObjects& objects) {
  const Dataset& dataset = *objects.dataset;
  const ImageShape shape = dataset.image_shape();
  // What the cache really holds: bytes for 8-bit samples, floats for normalized ones.
  const double bytes_per_value = objects.pixels ? 1.0 : static_cast<double>(sizeof(float));
  objects.cache_mb =
      static_cast<double>(shape.channels * shape.height * shape.width) * bytes_per_value *
      static_cast<double>(dataset.size(Split::kTrain) + dataset.size(Split::kTest) + dataset.size(Split::kVal)) /
      (1024.0 * 1024.0);
  const bool deterministic = dataset.deterministic(Split::kTrain) && dataset.deterministic(Split::kTest) &&
                             (dataset.size(Split::kVal) == 0 || dataset.deterministic(Split::kVal));
  objects.cache = config.train.cache == "on" || (config.train.cache == "auto" && deterministic &&
                                                 objects.cache_mb <= static_cast<double>(config.train.cache_max_mb));
  if (config.train.cache == "on" && !deterministic) {
    spdlog::warn(
        "train.cache: on, but the dataset says its samples vary between calls (random "
        "augmentation?): every epoch will see the first epoch's samples");
  }
}

std::shared_ptr<Model> build_model(const ExperimentConfig& config, const PluginRegistry& registry,
                                   const RunObjects& objects, const torch::Device& device) {
  auto model = registry.make_model(config.model.plugin, config.model.params, model_context(objects));
  model->to(device);
  if (config.train.channels_last) {
    // Module::to has no memory-format overload: convert the 4-D weights one by one, before the
    // optimizer takes references to them.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  return model;
}

// Several processes: batch norm over the global batch when asked, every rank from rank 0's
// weights, gradients averaged in buckets.
void distribute_model(const ExperimentConfig& config, Communicator& communicator, RunObjects& objects) {
  if (config.distributed.batch_norm == "sync") {
    const int layers = synchronize_batch_norm(*objects.model, communicator, config.model.plugin);
    spdlog::info("batch norm: statistics of the global batch ({} processes) in {} layer(s)", communicator.world_size(),
                 layers);
  }
  broadcast_module_state(communicator, *objects.model);
  objects.reducer =
      std::make_unique<GradientReducer>(communicator, objects.model->parameters(), config.distributed.bucket_mb);
}

}  // namespace

ExecutionPlan plan_execution(const ExperimentConfig& config) {
  ExecutionPlan plan;
  plan.launch = read_launch_environment();
  // Processes that share a machine share its cores (torchrun and --nproc say how many).
  const int cores = std::max(1, available_cpu_cores() / plan.launch.local_world_size);
  plan.threads = configure_cpu_threads(config.train.threads > 0 ? static_cast<int>(config.train.threads) : cores);
  plan.device = resolve_device(config.device);
  if (plan.launch.distributed() && plan.device.is_cuda() && (config.device == "auto" || config.device == "cuda")) {
    require_gpu_per_local_process(plan.device, plan.launch.local_world_size,
                                  static_cast<int>(torch::cuda::device_count()));
    plan.device = resolve_device("cuda:" + std::to_string(plan.launch.local_rank));  // one GPU per local rank
  }
  plan.precision = resolve_precision(config.train.precision, plan.device);
  if (plan.device.is_cuda() && config.train.cudnn_benchmark) at::globalContext().setBenchmarkCuDNN(true);
  plan.loader_threads =
      config.train.loader_threads > 0 ? static_cast<int>(config.train.loader_threads) : std::clamp(cores / 2, 1, 8);
  torch::manual_seed(static_cast<std::uint64_t>(config.seed));
  if (plan.device.is_cuda()) torch::cuda::manual_seed_all(static_cast<std::uint64_t>(config.seed));
  if (plan.launch.distributed()) {
    plan.backend = resolve_backend(config.distributed.backend, plan.device);
    spdlog::info("rank {} of {} ({}), backend {}, meeting at {}:{}", plan.launch.rank, plan.launch.world_size,
                 plan.launch.launcher, plan.backend, plan.launch.master_addr, plan.launch.master_port);
    plan.communicator = std::make_unique<Communicator>(plan.launch, plan.backend,
                                                       std::chrono::seconds(config.distributed.timeout_seconds));
  }
  return plan;
}

RunObjects build_run_objects(const ExperimentConfig& config, const PluginRegistry& registry, ExecutionPlan& plan,
                             const ModelInitSource* init) {
  RunObjects objects;
  objects.dataset = build_dataset(config, registry);
  objects.pixels = checked_pixel_normalization(config.dataset.plugin, *objects.dataset);
  objects.class_names = objects.dataset->class_names();
  objects.select_on = resolve_selection(config, *objects.dataset);
  decide_cache(config, objects);
  objects.model = build_model(config, registry, objects, plan.device);
  if (init) {
    objects.init_source = initialize_model(*objects.model, static_cast<std::int64_t>(objects.class_names.size()), *init,
                                           config.model_init);
  }
  for (const auto& p : objects.model->parameters()) objects.num_parameters += p.numel();
  if (plan.communicator) distribute_model(config, *plan.communicator, objects);
  OptimizerContext optimizer_context;
  optimizer_context.parameters = objects.model->parameters();
  objects.optimizer = registry.make_optimizer(config.optimizer.plugin, config.optimizer.params, optimizer_context);
  spdlog::info(
      "model: {} ({} parameters), optimizer: {}, device: {}, precision: {}{}, "
      "loader threads: {}, decoded cache: {}",
      config.model.plugin, objects.num_parameters, config.optimizer.plugin, describe_device(plan.device, plan.threads),
      to_string(plan.precision), config.train.channels_last ? ", channels-last" : "", plan.loader_threads,
      objects.cache ? fmt::format("{:.0f} MiB", objects.cache_mb) : std::string("off"));
  return objects;
}

RunRecord describe_run(const ExperimentConfig& config, const PluginRegistry& registry, const ExecutionPlan& plan,
                       const RunObjects& objects) {
  RunRecord record;
  record.experiment = config.name;
  record.experiment_file = config.source;
  record.config_yaml = config.to_yaml();
  record.host = host_name();
  record.device = describe_device(plan.device, plan.threads);
  record.torch_version = TORCH_VERSION;
  record.git_revision = git_revision(config.source);
  // Absolute, so that a resume from another folder finds the run's files and data.
  std::error_code ec;
  record.checkpoint_root = std::filesystem::absolute(config.output.checkpoints, ec).string();
  record.working_dir = std::filesystem::current_path(ec).string();
  record.seed = config.seed;
  record.model_plugin = registry.find(PluginKind::kModel, config.model.plugin).name_and_version();
  record.dataset_plugin = registry.find(PluginKind::kDataset, config.dataset.plugin).name_and_version();
  record.optimizer_plugin = registry.find(PluginKind::kOptimizer, config.optimizer.plugin).name_and_version();
  record.num_parameters = objects.num_parameters;
  record.num_classes = static_cast<std::int64_t>(objects.class_names.size());
  record.train_size = static_cast<std::int64_t>(objects.dataset->size(Split::kTrain));
  record.test_size = static_cast<std::int64_t>(objects.dataset->size(Split::kTest));
  record.val_size = static_cast<std::int64_t>(objects.dataset->size(Split::kVal));
  record.select_on = objects.select_on;
  record.precision = to_string(plan.precision);
  record.world_size = plan.launch.world_size;
  record.distributed_backend = plan.backend;
  record.init_source = objects.init_source;
  return record;
}

ModelContext model_context(const RunObjects& objects) {
  const ImageShape shape = objects.dataset->image_shape();
  ModelContext context;
  context.num_classes = static_cast<std::int64_t>(objects.class_names.size());
  context.in_channels = shape.channels;
  context.image_size = shape.height;
  return context;
}

CheckpointInfo load_run_checkpoint(const fs::path& checkpoint, RunObjects& objects) {
  CheckpointInfo info;
  try {
    info = load_checkpoint(checkpoint, *objects.model);
  } catch (const std::exception& e) {
    throw InputError("checkpoint '" + checkpoint.string() + "' cannot be loaded into the run's model: " + e.what());
  }
  if (!info.class_names.empty() && info.class_names != objects.class_names) {
    throw InputError("checkpoint '" + checkpoint.string() +
                     "' was trained on other classes than the run's dataset has now; was the data changed?");
  }
  return info;
}

void check_writable_folder(const std::string& folder, const std::string& key) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw InputError(key + ": cannot create folder '" + folder + "': " + ec.message());
  const fs::path probe = fs::path(folder) / ".trainyard-write-test";
  {
    std::ofstream out(probe);
    if (!(out << "ok")) throw InputError(key + ": folder '" + folder + "' is not writable");
  }
  fs::remove(probe, ec);
}

}  // namespace trainyard
