#include "builtin_callbacks.h"

#include <spdlog/spdlog.h>

namespace trainyard {

TrainingCallback::~TrainingCallback() = default;

void EpochLogCallback::on_epoch_recorded(EpochEnd& epoch) {
  const EpochRecord& e = epoch.record;
  const std::string val =
      e.val_accuracy ? fmt::format("  val loss {:.4f} acc {:5.1f}%", *e.val_loss, 100 * *e.val_accuracy) : "";
  const std::string checkpoint =
      e.checkpoint_seconds >= 0.05 ? fmt::format("  checkpoint {:.1f} s", e.checkpoint_seconds) : "";
  spdlog::info(
      "epoch {:>3}/{}  train loss {:.4f} acc {:5.1f}%{}  test loss {:.4f} acc {:5.1f}%  lr {:.2e}  "
      "{:.1f} s  {:.1f} img/s{}{}",
      e.epoch, epoch.epochs, e.train_loss, 100 * e.train_accuracy, val, e.test_loss, 100 * e.test_accuracy,
      e.learning_rate, e.epoch_seconds, e.train_images_per_second, checkpoint, epoch.new_best ? "  *best" : "");
}

}  // namespace trainyard
