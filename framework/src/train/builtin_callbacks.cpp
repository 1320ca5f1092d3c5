#include "builtin_callbacks.h"

#include <spdlog/spdlog.h>

#include "trainyard/train/checkpoint.h"

namespace trainyard {

TrainingCallback::~TrainingCallback() = default;

CheckpointCallback::CheckpointCallback(const std::filesystem::path& run_folder, const ExecutionPlan& plan,
                                       RunObjects& objects, const Trainer& trainer, std::string config_yaml)
    : best_(run_folder / "best.pt"),
      last_(run_folder / "last.pt"),
      plan_(plan),
      objects_(objects),
      trainer_(trainer),
      config_yaml_(std::move(config_yaml)) {}

void CheckpointCallback::on_epoch_end(EpochEnd& epoch) {
  CheckpointInfo info;
  info.epoch = epoch.record.epoch;
  info.test_accuracy = epoch.record.test_accuracy;
  info.class_names = objects_.class_names;
  info.config_yaml = config_yaml_;
  info.owner = best_.parent_path().filename().string();
  info.generator_states = generator_states(plan_.device);
  info.loss_scale = trainer_.loss_scale();
  info.loss_scale_clean_steps = trainer_.loss_scale_clean_steps();
  state_ = serialize_checkpoint(*objects_.model, *objects_.optimizer, info);
  if (epoch.new_best) write_checkpoint(best_, state_);
}

void CheckpointCallback::on_epoch_recorded(EpochEnd&) {
  write_checkpoint(last_, state_);
  state_.clear();
}

void EpochLogCallback::on_epoch_recorded(EpochEnd& epoch) {
  const EpochRecord& e = epoch.record;
  const std::string val =
      e.val_accuracy ? fmt::format("  val loss {:.4f} acc {:5.1f}%", *e.val_loss, 100 * *e.val_accuracy) : "";
  spdlog::info(
      "epoch {:>3}/{}  train loss {:.4f} acc {:5.1f}%{}  test loss {:.4f} acc {:5.1f}%  lr {:.2e}  "
      "{:.1f} s  {:.1f} img/s{}",
      e.epoch, epoch.epochs, e.train_loss, 100 * e.train_accuracy, val, e.test_loss, 100 * e.test_accuracy,
      e.learning_rate, e.epoch_seconds, e.train_images_per_second, epoch.new_best ? "  *best" : "");
}

}  // namespace trainyard
