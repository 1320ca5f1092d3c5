#include "trainyard/train/evaluate_run.h"

#include <algorithm>
#include <tuple>

#include <spdlog/spdlog.h>

#include "run_setup.h"
#include "trainer.h"
#include "trainyard/errors.h"
#include "trainyard/train/checkpoint.h"
#include "trainyard/train/device.h"

namespace trainyard {
namespace {

// Top-1 predictions as the trainer's accuracy takes them (argmax: the same class on a tie), and
// whether the true class is among the five highest logits.
class PredictionCounter final : public PredictionSink {
 public:
  explicit PredictionCounter(std::vector<std::string> class_names)
      : matrix_(std::move(class_names)),
        top_k_(std::min<std::int64_t>(5, static_cast<std::int64_t>(matrix_.class_names().size()))) {}

  void add(const torch::Tensor& logits, const torch::Tensor& labels) override {
    const auto predicted = logits.argmax(1).cpu();
    const auto top = std::get<1>(logits.topk(top_k_, 1)).cpu();
    const auto truth = labels.cpu();
    const auto* p = predicted.data_ptr<std::int64_t>();
    const auto* l = truth.data_ptr<std::int64_t>();
    const auto top_rows = top.accessor<int64_t, 2>();
    for (std::int64_t i = 0; i < truth.size(0); ++i) {
      matrix_.add(l[i], p[i]);
      for (std::int64_t k = 0; k < top_k_; ++k) {
        if (top_rows[i][k] == l[i]) {
          ++top_k_hits_;
          break;
        }
      }
    }
  }

  const ConfusionMatrix& matrix() const { return matrix_; }
  double top_k_accuracy() const {
    return matrix_.total() == 0 ? 0.0 : static_cast<double>(top_k_hits_) / static_cast<double>(matrix_.total());
  }

 private:
  ConfusionMatrix matrix_;
  std::int64_t top_k_;
  std::int64_t top_k_hits_ = 0;
};

void require_split(const Dataset& dataset, Split split, const ExperimentConfig& config) {
  if (dataset.size(split) > 0) return;
  throw InputError(std::string("the run's dataset '") + config.dataset.plugin + "' has no " + to_string(split) +
                   " split" + (split == Split::kVal ? " (it was trained without dataset.val_fraction)" : ""));
}

}  // namespace

EvaluationRecord evaluate_run(const ExperimentConfig& config, const PluginRegistry& registry,
                              const EvaluationRequest& request) {
  ExecutionPlan plan = plan_execution(config);
  if (plan.communicator) throw InputError("an evaluation runs in one process; start it without torchrun or srun");
  RunObjects objects = build_run_objects(config, registry, plan);
  require_split(*objects.dataset, request.split, config);
  const CheckpointInfo info = load_run_checkpoint(request.checkpoint, objects);
  RunOptions options;
  Trainer trainer(config, plan, objects, options);
  PredictionCounter counter(objects.class_names);
  const auto totals = trainer.pass(request.split, std::max<std::int64_t>(info.epoch, 1), &counter);
  if (!totals) throw InputError("the evaluation was stopped");

  EvaluationRecord record;
  record.checkpoint = request.checkpoint.string();
  record.checkpoint_epoch = info.epoch;
  record.data = to_string(request.split);
  record.images = totals->samples;
  record.loss = totals->loss;
  record.accuracy = totals->accuracy;  // the trainer's own figure, as the run recorded it
  if (objects.class_names.size() > 5) record.top5_accuracy = counter.top_k_accuracy();
  record.per_class = counter.matrix().per_class();
  record.confusion = counter.matrix().counts();
  record.device = describe_device(plan.device, plan.threads);
  record.precision = to_string(plan.precision);
  return record;
}

}  // namespace trainyard
