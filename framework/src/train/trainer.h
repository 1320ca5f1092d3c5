// The epoch loop's inner part: one pass over a split (training or evaluation) with the plan's
// device, precision, loader and process group. It knows nothing of recording or checkpoints;
// train_run (training_run.cpp) drives it epoch by epoch.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "run_setup.h"
#include "progress.h"
#include "trainyard/data/batch_loader.h"
#include "trainyard/data/sample_cache.h"
#include "trainyard/train/lr_schedule.h"
#include "trainyard/train/training_run.h"

namespace trainyard {

/// One pass's figures, over every process's shard.
struct EpochTotals {
  double loss = 0.0;
  double accuracy = 0.0;
  std::int64_t samples = 0;
  double seconds = 0.0;
  double wait_seconds = 0.0;
  double learning_rate = 0.0;  // at the epoch's first step
};

/// Receives each evaluation batch's logits (float32, on the device) and labels: what an
/// evaluation counts beyond the loss and top-1 accuracy (evaluate_run.cpp).
class PredictionSink {
 public:
  virtual ~PredictionSink();
  virtual void add(const torch::Tensor& logits, const torch::Tensor& labels) = 0;
};

class Trainer {
 public:
  /// `plan` and `objects` must outlive the trainer. Throws InputError when a schedule is
  /// configured but the optimizer exposes no learning rate.
  Trainer(const ExperimentConfig& config, const ExecutionPlan& plan, RunObjects& objects, const RunOptions& options);

  /// One pass over `split` in epoch `epoch` (1-based). Loss and correct counts are accumulated on
  /// the device and read once at the end (or when the progress line redraws), so the loop never
  /// waits on the device. Returns nullopt when a stop was requested (on any process). An
  /// evaluation pass hands each batch's logits to `sink` when one is given.
  std::optional<EpochTotals> pass(Split split, std::int64_t epoch, PredictionSink* sink = nullptr);

  double loss_scale() const { return scaler_.scale_value(); }
  std::int64_t loss_scale_clean_steps() const { return scaler_.clean_steps(); }
  void restore_loss_scale(double scale, std::int64_t clean_steps);

 private:
  struct Accumulated;
  void load_shared_caches();
  void fill_cache(Split split);
  std::vector<std::int64_t> pass_order(Split split, std::int64_t epoch) const;
  BatchLoader::Options loader_options(Split split) const;
  torch::ScalarType sample_image_type() const { return objects_.pixels ? torch::kUInt8 : torch::kFloat32; }
  torch::Tensor model_input(const Batch& batch) const;
  void step(const Batch& batch, bool training, double progress, Accumulated& sums, PredictionSink* sink);
  void draw_progress(const std::string& label, const Accumulated& sums, std::int64_t num_batches, double elapsed);
  // Sums over every process's shard: loss sum, correct count, samples.
  std::array<double, 3> reduce(const Accumulated& sums) const;
  bool stop_requested() const;
  bool stop_agreed(bool at_collective_point);
  double set_learning_rate(double progress);
  void share_cache(Split split);

  const ExperimentConfig& config_;
  const ExecutionPlan& plan_;
  RunObjects& objects_;
  const RunOptions& options_;
  LossScaler scaler_;
  ProgressLine progress_;
  torch::Tensor pixel_mean_, pixel_std_;                      // [C, 1, 1] on the device, for 8-bit samples
  static constexpr std::size_t kSplits = 3;                   // train, test, val
  std::array<std::unique_ptr<SampleCache>, kSplits> caches_;  // by Split
  std::array<std::filesystem::path, kSplits> shared_files_;   // where other runs find them
  std::array<bool, kSplits> replace_shared_{};                // the file there was refused: write over it
  LearningRateSchedule schedule_;
  std::vector<double> base_rates_;  // as the optimizer was configured
  double first_rate_ = 0.0;
  std::int64_t steps_taken_ = 0;  // training steps of this process, for fault injection
};

}  // namespace trainyard
