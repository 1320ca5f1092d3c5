#include "trainer.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "trainyard/errors.h"
#include "trainyard/image_io.h"
#include "trainyard/torch_compat.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Drops the gradients instead of zeroing them (PyTorch's zero_grad(set_to_none=True)): backward
// then stores fresh gradients rather than adding them into zeroed buffers, a pass over every
// parameter's worth of memory saved per step.
void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
  }
}

}  // namespace

PredictionSink::~PredictionSink() = default;

struct Trainer::Accumulated {
  torch::Tensor loss_sum;  // on the device: read once per pass
  torch::Tensor correct;
  std::int64_t samples = 0;
  std::int64_t batches = 0;
};

Trainer::Trainer(const ExperimentConfig& config, const ExecutionPlan& plan, RunObjects& objects,
                 const RunOptions& options)
    : config_(config),
      plan_(plan),
      objects_(objects),
      options_(options),
      scaler_(plan.precision == Precision::kFp16),
      schedule_(config.schedule, config.train.epochs) {
  try {
    for (auto& group : objects.optimizer->param_groups()) base_rates_.push_back(group.options().get_lr());
  } catch (const c10::Error&) {
    // An optimizer whose options have no learning rate: nothing to schedule.
    base_rates_.clear();
    if (config.schedule.kind != "constant" || config.schedule.warmup_epochs > 0) {
      throw InputError("schedule: optimizer '" + config.optimizer.plugin +
                       "' exposes no learning rate to schedule; use schedule: {kind: constant}");
    }
  }
  if (objects.pixels) {
    pixel_mean_ = channel_statistics(objects.pixels->mean, plan.device);
    pixel_std_ = channel_statistics(objects.pixels->std, plan.device);
  }
  if (objects.cache) load_shared_caches();
}

torch::Tensor Trainer::model_input(const Batch& batch) const {
  // 8-bit batches travel to the device as bytes (a quarter of the copy) and are normalized there,
  // straight into the layout the model was converted to.
  auto images = batch.images.to(plan_.device, /*non_blocking=*/true);
  const auto layout = config_.train.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  if (objects_.pixels) return normalize_pixels(images, pixel_mean_, pixel_std_, layout);
  return config_.train.channels_last ? images.contiguous(layout) : images;
}

void Trainer::load_shared_caches() {
  const Dataset& dataset = *objects_.dataset;
  const std::string key = dataset.content_key();
  for (Split split : {Split::kTrain, Split::kTest, Split::kVal}) {
    if (split == Split::kVal && dataset.size(split) == 0) continue;
    auto& cache = caches_[static_cast<int>(split)];
    cache = std::make_unique<SampleCache>(dataset.size(split), sample_image_type());
    if (key.empty() || config_.output.cache.empty()) continue;
    auto& file = shared_files_[static_cast<int>(split)];
    file = fs::path(config_.output.cache) / (key + "-" + to_string(split) + ".pt");
    std::string refusal;
    if (cache->load(file, &refusal)) {
      spdlog::info("{} split: {} decoded images from {}", to_string(split), dataset.size(split), file.string());
    } else if (!refusal.empty()) {
      spdlog::warn("decoded-image cache '{}' refused ({}); decoding the images, and replacing it", file.string(),
                   refusal);
      replace_shared_[static_cast<int>(split)] = true;
    }
  }
}

void Trainer::restore_loss_scale(double scale, std::int64_t clean_steps) {
  if (scale > 0) scaler_.restore(scale, static_cast<int>(clean_steps));
}

bool Trainer::stop_requested() const {
  return options_.stop_requested && options_.stop_requested->load(std::memory_order_relaxed);
}

// Whether to stop here. Over several processes every rank must stop at the same step, so the
// flag is agreed on by a collective, at points every rank passes the same number of times (each
// training step; the end of a pass); elsewhere a stop waits for the next such point.
bool Trainer::stop_agreed(bool at_collective_point) {
  if (!plan_.communicator) return stop_requested();
  if (!at_collective_point) return false;
  return plan_.communicator->any(stop_requested());
}

std::vector<std::int64_t> Trainer::pass_order(Split split, std::int64_t epoch) const {
  const bool training = split == Split::kTrain;
  auto order = epoch_order(objects_.dataset->size(split), training, static_cast<std::uint64_t>(config_.seed), epoch);
  if (plan_.communicator) {
    // DistributedSampler's shards of the one global order: training shards padded to equal
    // length (every rank takes the same steps), test shards exact (the reduced figures cover the
    // split once).
    order = shard_order(order, plan_.communicator->rank(), plan_.communicator->world_size(),
                        training && !config_.train.drop_last, training && config_.train.drop_last);
  }
  const auto batch = static_cast<std::size_t>(config_.train.batch_size);
  if (training && config_.train.drop_last && order.size() > batch) order.resize(order.size() - order.size() % batch);
  return order;
}

BatchLoader::Options Trainer::loader_options(Split split) const {
  BatchLoader::Options options;
  options.batch_size = config_.train.batch_size;
  // Once every sample is cached a batch is one copy: on the CPU, build it on this thread. A
  // loader thread waking up each step would preempt one of LibTorch's OpenMP threads on a small
  // machine and stall the whole parallel region (measured: 22.4 against 24.4 images/s on 2
  // cores). On a GPU this thread must only queue kernels, so the copies stay on loader threads.
  SampleCache* cache = caches_[static_cast<int>(split)].get();
  options.threads = cache && cache->complete() && !plan_.device.is_cuda() ? 0 : plan_.loader_threads;
  options.prefetch = static_cast<int>(config_.train.prefetch_batches);
  options.pin_memory = plan_.device.is_cuda();
  options.cache = cache;
  options.image_type = sample_image_type();
  // One process may leave a wait for data at once; over several, every rank must stop at the same
  // step (stop_agreed), so a rank does not leave the wait on its own.
  if (!plan_.communicator) options.stop_requested = options_.stop_requested;
  return options;
}

// One process on a CPU decodes a cached split before its first pass, on every core the model
// computes on, instead of on loader threads beside the step (SampleCache::fill says why). On a
// GPU the loader threads have the CPU to themselves; over several processes each decodes its
// own shard as it goes.
void Trainer::fill_cache(Split split) {
  SampleCache* cache = caches_[static_cast<int>(split)].get();
  if (!cache || cache->complete() || plan_.device.is_cuda() || plan_.communicator) return;
  const auto start = Clock::now();
  const auto size = objects_.dataset->size(split);
  const auto decoded = cache->fill(*objects_.dataset, split, epoch_order(size, false, 0, 0), options_.stop_requested);
  spdlog::info("{} split: decoded {} images on {} threads in {:.2f} s, before its first pass", to_string(split),
               decoded, at::get_num_threads(), seconds_since(start));
}

std::optional<EpochTotals> Trainer::pass(Split split, std::int64_t epoch, PredictionSink* sink) {
  const bool training = split == Split::kTrain;
  objects_.model->train(training);
  if (training) objects_.dataset->begin_epoch(epoch);
  const auto start = Clock::now();  // the pass's time holds its decoding, up front or not
  fill_cache(split);
  if (stop_agreed(false)) return std::nullopt;
  BatchLoader loader(*objects_.dataset, split, pass_order(split, epoch), loader_options(split));

  std::optional<torch::NoGradGuard> no_grad;
  if (!training) no_grad.emplace();
  Accumulated sums;
  sums.loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(plan_.device));
  sums.correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(plan_.device));
  const std::string label = fmt::format("{:<5} epoch {}/{}", to_string(split), epoch, config_.train.epochs);
  while (auto batch = loader.next()) {
    if (stop_agreed(training)) return std::nullopt;
    if (training && epoch == 1 && sums.batches == 0 && options_.process_start) {
      spdlog::info("first training batch ready {:.2f} s after the process started",
                   std::chrono::duration<double>(Clock::now() - *options_.process_start).count());
    }
    const double progress =
        static_cast<double>(epoch - 1) + static_cast<double>(sums.batches) / static_cast<double>(loader.num_batches());
    step(*batch, training, progress, sums, sink);
    if (plan_.writer() && progress_.due()) draw_progress(label, sums, loader.num_batches(), seconds_since(start));
  }
  progress_.clear();
  const auto [loss_total, correct_total, samples] = reduce(sums);
  if (stop_agreed(true)) return std::nullopt;
  if (samples == 0) {
    throw DataError(std::string("the ") + to_string(split) + " split produced no images (every sample was skipped)");
  }
  EpochTotals totals;
  totals.samples = static_cast<std::int64_t>(samples);
  totals.loss = loss_total / samples;
  totals.accuracy = correct_total / samples;
  totals.seconds = seconds_since(start);
  totals.wait_seconds = loader.wait_seconds();
  totals.learning_rate = first_rate_;
  share_cache(split);  // after the timing: writing the file is not training time
  return totals;
}

void Trainer::step(const Batch& batch, bool training, double progress, Accumulated& sums, PredictionSink* sink) {
  auto images = model_input(batch);
  auto labels = batch.labels.to(plan_.device, /*non_blocking=*/true);
  torch::Tensor logits;
  {
    // Autocast covers the forward pass only; backward replays the casts it recorded.
    compat::AutocastGuard autocast(plan_.device.type(), plan_.precision == Precision::kFp16 ? at::kHalf : at::kBFloat16,
                                   plan_.precision != Precision::kFp32);
    logits = objects_.model->forward(images);
  }
  logits = logits.to(torch::kFloat32);  // the loss in full precision, as autocast would
  auto loss = torch::nn::functional::cross_entropy(logits, labels);
  if (training) {
    options_.faults.before_step(plan_.launch.rank, ++steps_taken_);
    const double rate = set_learning_rate(progress);
    if (sums.batches == 0) first_rate_ = rate;
    clear_gradients(*objects_.optimizer);
    scaler_.scale(loss).backward();
    if (objects_.reducer) objects_.reducer->synchronize();  // every rank's step then uses the same gradients
    scaler_.step(*objects_.optimizer);
  }
  if (sink && !training) sink->add(logits.detach(), labels);
  const auto n = labels.size(0);
  sums.loss_sum.add_(loss.detach().to(torch::kFloat64) * static_cast<double>(n));
  sums.correct.add_(logits.detach().argmax(1).eq(labels).sum());
  sums.samples += n;
  ++sums.batches;
}

void Trainer::draw_progress(const std::string& label, const Accumulated& sums, std::int64_t num_batches,
                            double elapsed) {
  const auto samples = static_cast<double>(sums.samples);
  char detail[128];
  std::snprintf(detail, sizeof detail, "loss %.4f acc %.1f%% %.1f img/s", sums.loss_sum.item<double>() / samples,
                100.0 * static_cast<double>(sums.correct.item<std::int64_t>()) / samples,
                samples / std::max(elapsed, 1e-9));
  progress_.draw(label, sums.batches, num_batches, detail);
}

std::array<double, 3> Trainer::reduce(const Accumulated& sums) const {
  if (!plan_.communicator) {
    return {sums.loss_sum.item<double>(), static_cast<double>(sums.correct.item<std::int64_t>()),
            static_cast<double>(sums.samples)};
  }
  // The figures of the whole split: sums over every rank's shard.
  const auto options = torch::TensorOptions().dtype(torch::kFloat64).device(plan_.device);
  std::vector<torch::Tensor> reduced{torch::stack(
      {sums.loss_sum, sums.correct.to(torch::kFloat64), torch::full({}, static_cast<double>(sums.samples), options)})};
  plan_.communicator->all_reduce_sum(reduced);
  const auto cpu = reduced[0].cpu();
  return {cpu[0].item<double>(), cpu[1].item<double>(), cpu[2].item<double>()};
}

// Sets every parameter group's rate to its configured rate times the schedule's factor at
// `progress` epochs; returns the first group's.
double Trainer::set_learning_rate(double progress) {
  const double factor = schedule_.factor(progress);
  auto& groups = objects_.optimizer->param_groups();
  for (std::size_t g = 0; g < groups.size() && g < base_rates_.size(); ++g) {
    groups[g].options().set_lr(base_rates_[g] * factor);
  }
  return base_rates_.empty() ? 0.0 : base_rates_.front() * factor;
}

// Once a split is fully decoded, writes it where later runs of the same data find it.
void Trainer::share_cache(Split split) {
  const int s = static_cast<int>(split);
  if (!plan_.writer() || !caches_[s] || shared_files_[s].empty() || !caches_[s]->complete()) return;
  std::error_code ec;
  if (!replace_shared_[s] && fs::exists(shared_files_[s], ec)) return;  // another run's, already there
  try {
    if (caches_[s]->save(shared_files_[s]))
      spdlog::info("shared decoded {} split: {}", to_string(split), shared_files_[s].string());
  } catch (const std::exception& e) {
    spdlog::warn("could not share the decoded {} split in {}: {}", to_string(split), shared_files_[s].string(),
                 e.what());
  }
  shared_files_[s].clear();  // tried once
}

}  // namespace trainyard
