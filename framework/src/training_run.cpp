#include "trainyard/training_run.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>
#include <torch/version.h>

#include "trainyard/batch_loader.h"
#include "trainyard/batch_norm.h"
#include "trainyard/checkpoint.h"
#include "trainyard/device.h"
#include "trainyard/distributed.h"
#include "trainyard/errors.h"
#include "trainyard/plugin_registry.h"
#include "trainyard/postgres_connection.h"
#include "trainyard/mixed_precision.h"
#include "trainyard/progress.h"
#include "trainyard/provenance.h"
#include "trainyard/sample_cache.h"
#include "trainyard/torch_compat.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Fails early, before any run row exists, when checkpoints could not be written later.
void check_writable_folder(const fs::path& folder, const std::string& key) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    throw InputError(key + ": cannot create folder '" + folder.string() + "': " + ec.message());
  }
  const fs::path probe = folder / ".trainyard-write-test";
  {
    std::ofstream out(probe);
    if (!(out << "ok")) {
      throw InputError(key + ": folder '" + folder.string() + "' is not writable");
    }
  }
  fs::remove(probe, ec);
}

// Drops the gradients instead of zeroing them (PyTorch's zero_grad(set_to_none=True)): backward
// then stores fresh gradients rather than adding them into zeroed buffers, a pass over every
// parameter's worth of memory saved per step.
void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
  }
}

struct EpochTotals {
  double loss = 0.0;
  double accuracy = 0.0;
  std::int64_t samples = 0;
  double seconds = 0.0;
  double wait_seconds = 0.0;
  double learning_rate = 0.0;   // at the epoch's first step
};

void fault_injection_at_step(int rank, std::int64_t step);

class Trainer {
 public:
  Trainer(const ExperimentConfig& config, Model& model, Dataset& dataset,
          torch::optim::Optimizer& optimizer, torch::Device device, Precision precision,
          int loader_threads, bool cache, const RunOptions& options,
          Communicator* communicator = nullptr, GradientReducer* reducer = nullptr)
      : config_(config),
        model_(model),
        dataset_(dataset),
        optimizer_(optimizer),
        device_(device),
        precision_(precision),
        scaler_(precision == Precision::kFp16),
        loader_threads_(loader_threads),
        options_(options),
        communicator_(communicator),
        reducer_(reducer),
        schedule_(config.schedule, config.train.epochs) {
    try {
      for (auto& group : optimizer.param_groups()) base_rates_.push_back(group.options().get_lr());
    } catch (const c10::Error&) {
      // An optimizer whose options have no learning rate: nothing to schedule.
      base_rates_.clear();
      if (config.schedule.kind != "constant" || config.schedule.warmup_epochs > 0) {
        throw InputError("schedule: optimizer '" + config.optimizer.plugin +
                         "' exposes no learning rate to schedule; use schedule: {kind: constant}");
      }
    }
    if (!cache) return;
    const std::string key = dataset.content_key();
    for (Split split : {Split::kTrain, Split::kTest}) {
      auto& c = caches_[static_cast<int>(split)];
      c = std::make_unique<SampleCache>(dataset.size(split));
      if (key.empty() || config.output.cache.empty()) continue;
      auto& file = shared_files_[static_cast<int>(split)];
      file = fs::path(config.output.cache) / (key + "-" + to_string(split) + ".pt");
      if (c->load(file)) {
        spdlog::info("{} split: {} decoded images from {}", to_string(split), dataset.size(split), file.string());
      }
    }
  }

  double loss_scale() const { return scaler_.scale_value(); }
  std::int64_t loss_scale_clean_steps() const { return scaler_.clean_steps(); }
  void restore_loss_scale(double scale, std::int64_t clean_steps) {
    if (scale > 0) scaler_.restore(scale, static_cast<int>(clean_steps));
  }

  bool stop_requested() const {
    return options_.stop_requested && options_.stop_requested->load(std::memory_order_relaxed);
  }

  // Whether to stop here. Over several processes every rank must stop at the same step, so the
  // flag is agreed on by a collective, at points every rank passes the same number of times
  // (each training step; the end of a pass); elsewhere a stop waits for the next such point.
  bool stop_agreed(bool at_collective_point) {
    if (!communicator_) return stop_requested();
    if (!at_collective_point) return false;
    return communicator_->any(stop_requested());
  }

  bool is_writer() const { return !communicator_ || communicator_->rank() == 0; }

  // One pass over a split. Loss and correct counts are accumulated on the device and read once
  // at the end (or when the progress line redraws), so the loop never waits on the device.
  // Returns nullopt when a stop was requested.
  std::optional<EpochTotals> pass(Split split, std::int64_t epoch) {
    const bool training = split == Split::kTrain;
    model_.train(training);
    if (training) dataset_.begin_epoch(epoch);
    BatchLoader::Options loader_options;
    loader_options.batch_size = config_.train.batch_size;
    // Once every sample is cached a batch is one copy: on the CPU, build it on this thread. A
    // loader thread waking up each step would preempt one of LibTorch's OpenMP threads on a small
    // machine and stall the whole parallel region (measured: 22.4 against 24.4 images/s on 2
    // cores). On a GPU this thread must only queue kernels, so the copies stay on loader threads.
    SampleCache* cache = caches_[static_cast<int>(split)].get();
    loader_options.threads = cache && cache->complete() && !device_.is_cuda() ? 0 : loader_threads_;
    loader_options.prefetch = static_cast<int>(config_.train.prefetch_batches);
    loader_options.pin_memory = device_.is_cuda();
    loader_options.cache = cache;
    auto order = epoch_order(dataset_.size(split), training,
                             static_cast<std::uint64_t>(config_.seed), epoch);
    if (communicator_) {
      // DistributedSampler's shards of the one global order: training shards padded to equal
      // length (every rank takes the same steps), test shards exact (the reduced figures cover
      // the split once).
      order = shard_order(order, communicator_->rank(), communicator_->world_size(),
                          training && !config_.train.drop_last, training && config_.train.drop_last);
    }
    if (training && config_.train.drop_last && order.size() > static_cast<std::size_t>(config_.train.batch_size)) {
      order.resize(order.size() - order.size() % static_cast<std::size_t>(config_.train.batch_size));
    }
    BatchLoader loader(dataset_, split, std::move(order), loader_options);

    std::optional<torch::NoGradGuard> no_grad;
    if (!training) no_grad.emplace();
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
    std::int64_t samples = 0, batches = 0;
    const auto start = Clock::now();
    const std::string label = std::string(training ? "train" : "test ") + " epoch " +
                              std::to_string(epoch) + "/" + std::to_string(config_.train.epochs);

    while (auto batch = loader.next()) {
      if (stop_agreed(training)) return std::nullopt;
      if (training && epoch == 1 && batches == 0 && options_.process_start) {
        spdlog::info("first training batch ready {:.2f} s after the process started",
                     std::chrono::duration<double>(Clock::now() - *options_.process_start).count());
      }
      auto images = batch->images.to(device_, /*non_blocking=*/true);
      if (config_.train.channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
      auto labels = batch->labels.to(device_, /*non_blocking=*/true);
      torch::Tensor logits;
      {
        // Autocast covers the forward pass only; backward replays the casts it recorded.
        compat::AutocastGuard autocast(device_.type(),
                                       precision_ == Precision::kFp16 ? at::kHalf : at::kBFloat16,
                                       precision_ != Precision::kFp32);
        logits = model_.forward(images);
      }
      logits = logits.to(torch::kFloat32);   // the loss in full precision, as autocast would
      auto loss = torch::nn::functional::cross_entropy(logits, labels);
      if (training) {
        fault_injection_at_step(communicator_ ? communicator_->rank() : 0, ++steps_taken_);
        const double rate = set_learning_rate(static_cast<double>(epoch - 1) +
                                              static_cast<double>(batches) / static_cast<double>(loader.num_batches()));
        if (batches == 0) first_rate_ = rate;
        clear_gradients(optimizer_);
        scaler_.scale(loss).backward();
        if (reducer_) reducer_->synchronize();   // every rank's step then uses the same gradients
        scaler_.step(optimizer_);
      }
      const auto n = labels.size(0);
      loss_sum.add_(loss.detach().to(torch::kFloat64) * static_cast<double>(n));
      correct.add_(logits.detach().argmax(1).eq(labels).sum());
      samples += n;
      ++batches;

      if (is_writer() && progress_.due()) {
        const double elapsed = seconds_since(start);
        char detail[128];
        std::snprintf(detail, sizeof detail, "loss %.4f acc %.1f%% %.1f img/s",
                      loss_sum.item<double>() / static_cast<double>(samples),
                      100.0 * static_cast<double>(correct.item<std::int64_t>()) / static_cast<double>(samples),
                      static_cast<double>(samples) / std::max(elapsed, 1e-9));
        progress_.draw(label, batches, loader.num_batches(), detail);
      }
    }
    progress_.clear();
    double loss_total = 0.0, correct_total = 0.0;
    if (communicator_) {
      // The figures of the whole split: sums over every rank's shard.
      std::vector<torch::Tensor> sums{torch::stack({loss_sum, correct.to(torch::kFloat64),
                                                    torch::full({}, static_cast<double>(samples),
                                                                torch::TensorOptions().dtype(torch::kFloat64).device(device_))})};
      communicator_->all_reduce_sum(sums);
      const auto reduced = sums[0].cpu();
      loss_total = reduced[0].item<double>();
      correct_total = reduced[1].item<double>();
      samples = static_cast<std::int64_t>(reduced[2].item<double>());
    } else {
      loss_total = loss_sum.item<double>();
      correct_total = static_cast<double>(correct.item<std::int64_t>());
    }
    if (stop_agreed(true)) return std::nullopt;
    if (samples == 0) {
      throw DataError(std::string("the ") + to_string(split) +
                      " split produced no images (every sample was skipped)");
    }
    EpochTotals totals;
    totals.samples = samples;
    totals.loss = loss_total / static_cast<double>(samples);
    totals.accuracy = correct_total / static_cast<double>(samples);
    totals.seconds = seconds_since(start);
    totals.wait_seconds = loader.wait_seconds();
    totals.learning_rate = first_rate_;
    share_cache(split);   // after the timing: writing the file is not training time
    return totals;
  }

 private:
  // Sets every parameter group's rate to its configured rate times the schedule's factor at
  // `progress` epochs; returns the first group's.
  double set_learning_rate(double progress) {
    const double factor = schedule_.factor(progress);
    auto& groups = optimizer_.param_groups();
    for (std::size_t g = 0; g < groups.size() && g < base_rates_.size(); ++g) {
      groups[g].options().set_lr(base_rates_[g] * factor);
    }
    return base_rates_.empty() ? 0.0 : base_rates_.front() * factor;
  }

  // Once a split is fully decoded, writes it where later runs of the same data find it.
  void share_cache(Split split) {
    const int s = static_cast<int>(split);
    if (!is_writer() || !caches_[s] || shared_files_[s].empty() || !caches_[s]->complete()) return;
    std::error_code ec;
    if (fs::exists(shared_files_[s], ec)) return;
    try {
      if (caches_[s]->save(shared_files_[s])) spdlog::info("shared decoded {} split: {}", to_string(split), shared_files_[s].string());
    } catch (const std::exception& e) {
      spdlog::warn("could not share the decoded {} split in {}: {}", to_string(split), shared_files_[s].string(), e.what());
    }
    shared_files_[s].clear();   // tried once
  }

  const ExperimentConfig& config_;
  Model& model_;
  Dataset& dataset_;
  torch::optim::Optimizer& optimizer_;
  torch::Device device_;
  Precision precision_;
  LossScaler scaler_;
  int loader_threads_;
  const RunOptions& options_;
  Communicator* communicator_;   // null for a run of one process
  GradientReducer* reducer_;
  ProgressLine progress_;
  std::unique_ptr<SampleCache> caches_[2];
  fs::path shared_files_[2];
  LearningRateSchedule schedule_;
  std::vector<double> base_rates_;   // as the optimizer was configured
  double first_rate_ = 0.0;
  std::int64_t steps_taken_ = 0;   // training steps of this process, for fault injection
};

// The states of the random generators a run draws from: the CPU's, then each CUDA device's.
std::vector<torch::Tensor> generator_states(const torch::Device& device) {
  std::vector<torch::Tensor> states;
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(cpu.mutex());
    states.push_back(cpu.get_state());
  }
  if (device.is_cuda()) {
    for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i) {
      at::Generator cuda = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(cuda.mutex());
      states.push_back(cuda.get_state());
    }
  }
  return states;
}

void restore_generator_states(const std::vector<torch::Tensor>& states, const torch::Device& device) {
  if (states.empty()) return;
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(cpu.mutex());
    cpu.set_state(states.front());
  }
  if (device.is_cuda()) {
    for (std::size_t i = 1; i < states.size() && static_cast<int>(i - 1) < static_cast<int>(torch::cuda::device_count()); ++i) {
      at::Generator cuda = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i - 1)));
      std::lock_guard<std::mutex> lock(cuda.mutex());
      cuda.set_state(states[i]);
    }
  }
}

// For the tests of resuming: TRAINYARD_FAULT_KILL_AFTER_EPOCH=k makes the process kill itself
// (SIGKILL, as kill -9 would) once epoch k is recorded and its last checkpoint written.
void fault_injection_after_epoch(std::int64_t epoch) {
  const char* kill_after = std::getenv("TRAINYARD_FAULT_KILL_AFTER_EPOCH");
  if (kill_after && std::atoll(kill_after) == epoch) std::raise(SIGKILL);
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw std::runtime_error("cannot read '" + path.string() + "'");
  return bytes;
}

// `runner --nproc` asks rank 0 where its run is recorded (TRAINYARD_RUN_RECORD_FILE), so that it
// can mark the run failed should rank 0 itself die.
void announce_run(std::int64_t run_id, const std::string& db) {
  const char* file = std::getenv("TRAINYARD_RUN_RECORD_FILE");
  if (!file || !*file) return;
  std::ofstream out(file, std::ios::trunc);
  out << run_id << "\n" << (is_postgres_url(db) ? db : fs::absolute(db).string()) << "\n";
}

// For the tests of data-parallel failures: TRAINYARD_FAULT_KILL_RANK_AT_STEP=R:S makes rank R
// kill itself (SIGKILL) before its S-th training step of the run (1-based), mid-epoch.
void fault_injection_at_step(int rank, std::int64_t step) {
  const char* spec = std::getenv("TRAINYARD_FAULT_KILL_RANK_AT_STEP");
  if (!spec) return;
  const char* colon = std::strchr(spec, ':');
  if (colon && std::atoi(spec) == rank && std::atoll(colon + 1) == step) std::raise(SIGKILL);
}

}  // namespace

RunOutcome run_experiment(const ExperimentConfig& config, const PluginRegistry& registry,
                          const RunOptions& options) {
  // Everything that can reject the input happens before the run's row is written.
  const LaunchEnvironment launch = read_launch_environment();
  // Processes that share a machine share its cores (torchrun and --nproc say how many).
  const int cores = std::max(1, available_cpu_cores() / launch.local_world_size);
  const int threads = configure_cpu_threads(config.train.threads > 0 ? static_cast<int>(config.train.threads) : cores);
  torch::Device device = resolve_device(config.device);
  if (launch.distributed() && device.is_cuda() && (config.device == "auto" || config.device == "cuda")) {
    require_gpu_per_local_process(device, launch.local_world_size, static_cast<int>(torch::cuda::device_count()));
    device = resolve_device("cuda:" + std::to_string(launch.local_rank));   // one GPU per local rank
  }
  const Precision precision = resolve_precision(config.train.precision, device);
  if (device.is_cuda() && config.train.cudnn_benchmark) at::globalContext().setBenchmarkCuDNN(true);
  const int loader_threads = config.train.loader_threads > 0
                                 ? static_cast<int>(config.train.loader_threads)
                                 : std::clamp(cores / 2, 1, 8);
  torch::manual_seed(static_cast<std::uint64_t>(config.seed));
  if (device.is_cuda()) torch::cuda::manual_seed_all(static_cast<std::uint64_t>(config.seed));

  // Several processes: only rank 0 opens the database and writes checkpoints.
  std::unique_ptr<Communicator> communicator;
  std::string backend;
  if (launch.distributed()) {
    backend = resolve_backend(config.distributed.backend, device);
    spdlog::info("rank {} of {} ({}), backend {}, meeting at {}:{}", launch.rank, launch.world_size,
                 launch.launcher, backend, launch.master_addr, launch.master_port);
    communicator = std::make_unique<Communicator>(launch, backend,
                                                  std::chrono::seconds(config.distributed.timeout_seconds));
  }
  const bool writer = launch.rank == 0;
  std::optional<ResultsStore> store;
  if (writer) {
    store.emplace(config.output.db);
    check_writable_folder(config.output.checkpoints, "output.checkpoints");
  }

  DatasetContext dataset_context;
  dataset_context.seed = static_cast<std::uint64_t>(config.seed);
  const auto dataset = registry.make_dataset(config.dataset.plugin, config.dataset.params, dataset_context);
  const auto class_names = dataset->class_names();
  const ImageShape shape = dataset->image_shape();
  if (class_names.size() < 2) {
    throw InputError("dataset: '" + config.dataset.plugin + "' found " +
                     std::to_string(class_names.size()) + " class(es); classification needs at least 2");
  }
  if (dataset->size(Split::kTrain) == 0 || dataset->size(Split::kTest) == 0) {
    throw InputError("dataset: the split left " + std::to_string(dataset->size(Split::kTrain)) +
                     " training and " + std::to_string(dataset->size(Split::kTest)) +
                     " test images; both need at least one (more images, or another train_fraction)");
  }
  spdlog::info("dataset: {}", dataset->summary());
  const double cache_mb = static_cast<double>(shape.channels * shape.height * shape.width) *
                          sizeof(float) *
                          static_cast<double>(dataset->size(Split::kTrain) + dataset->size(Split::kTest)) /
                          (1024.0 * 1024.0);
  const bool deterministic = dataset->deterministic(Split::kTrain) && dataset->deterministic(Split::kTest);
  const bool cache = config.train.cache == "on" ||
                     (config.train.cache == "auto" && deterministic &&
                      cache_mb <= static_cast<double>(config.train.cache_max_mb));
  if (config.train.cache == "on" && !deterministic) {
    spdlog::warn("train.cache: on, but the dataset says its samples vary between calls (random "
                 "augmentation?): every epoch will see the first epoch's samples");
  }

  ModelContext model_context;
  model_context.num_classes = static_cast<std::int64_t>(class_names.size());
  model_context.in_channels = shape.channels;
  model_context.image_size = shape.height;
  const auto model = registry.make_model(config.model.plugin, config.model.params, model_context);
  model->to(device);
  if (config.train.channels_last) {
    // Module::to has no memory-format overload: convert the 4-D weights one by one, before the
    // optimizer takes references to them.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  std::int64_t num_parameters = 0;
  for (const auto& p : model->parameters()) num_parameters += p.numel();
  std::unique_ptr<GradientReducer> reducer;
  if (communicator && config.distributed.batch_norm == "sync") {
    const int layers = synchronize_batch_norm(*model, *communicator, config.model.plugin);
    spdlog::info("batch norm: statistics of the global batch ({} processes) in {} layer(s)",
                 communicator->world_size(), layers);
  }
  if (communicator) {
    broadcast_module_state(*communicator, *model);   // every rank starts from rank 0's weights
    reducer = std::make_unique<GradientReducer>(*communicator, model->parameters(), config.distributed.bucket_mb);
  }

  OptimizerContext optimizer_context;
  optimizer_context.parameters = model->parameters();
  const auto optimizer =
      registry.make_optimizer(config.optimizer.plugin, config.optimizer.params, optimizer_context);

  const std::string device_text = describe_device(device, threads);
  spdlog::info("model: {} ({} parameters), optimizer: {}, device: {}, precision: {}{}, "
               "loader threads: {}, decoded cache: {}",
               config.model.plugin, num_parameters, config.optimizer.plugin, device_text,
               to_string(precision), config.train.channels_last ? ", channels-last" : "",
               loader_threads, cache ? fmt::format("{:.0f} MiB", cache_mb) : std::string("off"));

  RunRecord record;
  record.world_size = launch.world_size;
  record.distributed_backend = backend;
  record.experiment = config.name;
  record.experiment_file = config.source;
  record.config_yaml = config.to_yaml();
  record.host = host_name();
  if (store) {
    for (const auto id : store->mark_abandoned_runs(record.host)) {
      spdlog::warn("run {} in {} was left 'running' by a process that is gone; marked interrupted", id,
                   store->path());
    }
  }
  record.device = device_text;
  record.torch_version = TORCH_VERSION;
  record.git_revision = git_revision(config.source);
  record.seed = config.seed;
  record.model_plugin = registry.find(PluginKind::kModel, config.model.plugin).name_and_version();
  record.dataset_plugin = registry.find(PluginKind::kDataset, config.dataset.plugin).name_and_version();
  record.optimizer_plugin =
      registry.find(PluginKind::kOptimizer, config.optimizer.plugin).name_and_version();
  record.num_parameters = num_parameters;
  record.num_classes = static_cast<std::int64_t>(class_names.size());
  record.train_size = static_cast<std::int64_t>(dataset->size(Split::kTrain));
  record.test_size = static_cast<std::int64_t>(dataset->size(Split::kTest));
  record.precision = to_string(precision);
  record.sweep_id = options.sweep_id;
  record.trial_key = options.trial_key;
  for (const auto& o : options.trial_overrides) record.overrides.emplace_back(o.key, o.value);

  RunOutcome outcome;
  outcome.db_path = store ? store->path() : config.output.db;   // a URL's password hidden
  outcome.num_parameters = num_parameters;
  if (options.resume_run_id) {
    if (store) store->resume_run(*options.resume_run_id, record.host);
    outcome.run_id = *options.resume_run_id;
  } else if (!store) {
    // Not rank 0: no row of its own; the run's row is rank 0's.
  } else {
    outcome.run_id = store->begin_run(record);
  }
  if (store) announce_run(outcome.run_id, config.output.db);
  const fs::path run_folder = fs::path(config.output.checkpoints) / ("run-" + std::to_string(outcome.run_id));
  const fs::path checkpoint = run_folder / "best.pt";
  const fs::path last_checkpoint = run_folder / "last.pt";
  spdlog::info("run {} started: {} epochs, batch {}{}, {} train / {} test images", outcome.run_id,
               config.train.epochs, config.train.batch_size,
               launch.distributed() ? fmt::format(" per process x {} processes", launch.world_size) : std::string(),
               record.train_size, record.test_size);

  Trainer trainer(config, *model, *dataset, *optimizer, device, precision, loader_threads, cache,
                  options, communicator.get(), reducer.get());
  std::int64_t first_epoch = 1;
  bool stopped = false;
  try {
    if (options.resume_run_id) {
      // Continue where the last checkpoint stands: epochs recorded after it are done again (they
      // come out the same), and the best so far is what the database holds up to it.
      // Over several processes rank 0 reads the checkpoint and sends its bytes to the others, so
      // they need not see its folder.
      std::string saved_bytes;
      if (store && fs::exists(last_checkpoint)) saved_bytes = read_file_bytes(last_checkpoint);
      if (communicator) communicator->broadcast_bytes(saved_bytes);
      std::int64_t done = 0;
      if (!saved_bytes.empty()) {
        const auto saved = load_checkpoint_bytes(saved_bytes, *model, optimizer.get());
        done = saved.epoch;
        restore_generator_states(saved.generator_states, device);
        trainer.restore_loss_scale(saved.loss_scale, saved.loss_scale_clean_steps);
      }
      if (store) {
        store->truncate_epochs(outcome.run_id, done);
        outcome.epochs = store->epochs(outcome.run_id);
      }
      for (const auto& e : outcome.epochs) {
        if (!outcome.best || e.test_accuracy > outcome.best->test_accuracy) outcome.best = e;
      }
      if (outcome.best) outcome.checkpoint_path = checkpoint.string();
      first_epoch = done + 1;
      spdlog::info("run {} resumed after epoch {} of {}", outcome.run_id, done, config.train.epochs);
    }
    for (std::int64_t epoch = first_epoch; epoch <= config.train.epochs; ++epoch) {
      const auto epoch_start = Clock::now();
      const auto train = trainer.pass(Split::kTrain, epoch);
      const auto test = train ? trainer.pass(Split::kTest, epoch) : std::nullopt;
      if (!test) {   // a stop was requested (on any rank)
        stopped = true;
        break;
      }

      EpochRecord e;
      e.epoch = epoch;
      e.train_loss = train->loss;
      e.train_accuracy = train->accuracy;
      e.test_loss = test->loss;
      e.test_accuracy = test->accuracy;
      e.learning_rate = train->learning_rate;
      e.epoch_seconds = seconds_since(epoch_start);
      e.train_images_per_second = static_cast<double>(train->samples) / train->seconds;
      e.test_images_per_second = static_cast<double>(test->samples) / test->seconds;
      e.data_wait_fraction = train->wait_seconds / train->seconds;

      const bool new_best = !outcome.best || e.test_accuracy > outcome.best->test_accuracy;
      if (store) {   // rank 0 of several, or the only process
        // One serialization of the epoch's state serves both files: the best checkpoint (written
        // before the epoch is recorded) and the last one (after, for resuming).
        CheckpointInfo info;
        info.epoch = epoch;
        info.test_accuracy = e.test_accuracy;
        info.class_names = class_names;
        info.config_yaml = record.config_yaml;
        info.generator_states = generator_states(device);
        info.loss_scale = trainer.loss_scale();
        info.loss_scale_clean_steps = trainer.loss_scale_clean_steps();
        const std::string state = serialize_checkpoint(*model, *optimizer, info);
        if (new_best) write_checkpoint(checkpoint, state);
        store->record_epoch(outcome.run_id, e, new_best, checkpoint.string());
        write_checkpoint(last_checkpoint, state);
      }
      if (new_best) {   // after its checkpoint is written, so a failed write names no best.pt
        outcome.best = e;
        outcome.checkpoint_path = checkpoint.string();
      }
      outcome.epochs.push_back(e);
      fault_injection_after_epoch(epoch);
      spdlog::info(
          "epoch {:>3}/{}  train loss {:.4f} acc {:5.1f}%  test loss {:.4f} acc {:5.1f}%  lr {:.2e}  "
          "{:.1f} s  {:.1f} img/s{}",
          epoch, config.train.epochs, e.train_loss, 100 * e.train_accuracy, e.test_loss,
          100 * e.test_accuracy, e.learning_rate, e.epoch_seconds, e.train_images_per_second,
          new_best ? "  *best" : "");
    }
    if (stopped) {
      outcome.status = RunStatus::kInterrupted;
      if (store) store->finish_run(outcome.run_id, outcome.status, "interrupted by a signal");
      spdlog::warn("run {} interrupted after {} finished epoch(s)", outcome.run_id, outcome.epochs.size());
    } else {
      outcome.status = RunStatus::kFinished;
      if (store) store->finish_run(outcome.run_id, outcome.status);
    }
  } catch (...) {
    outcome.status = RunStatus::kFailed;
    outcome.error = exception_message(std::current_exception());
    spdlog::error("run {} failed: {}", outcome.run_id, outcome.error);
    try {
      if (store) store->finish_run(outcome.run_id, outcome.status, outcome.error);
    } catch (const std::exception& e) {
      spdlog::error("could not record the failure in '{}': {}", outcome.db_path, e.what());
    }
  }
  return outcome;
}

}  // namespace trainyard
