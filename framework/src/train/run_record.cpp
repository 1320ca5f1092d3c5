#include "trainyard/train/run_record.h"

#include <stdexcept>

namespace trainyard {
namespace {
constexpr RunStatus kStatuses[] = {RunStatus::kRunning, RunStatus::kFinished, RunStatus::kFailed,
                                   RunStatus::kInterrupted, RunStatus::kPruned};
}  // namespace

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kFinished: return "finished";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kInterrupted: return "interrupted";
    case RunStatus::kPruned: return "pruned";
  }
  return "unknown";
}

bool is_done(RunStatus status) { return status == RunStatus::kFinished || status == RunStatus::kPruned; }

std::optional<RunStatus> parse_run_status(const std::string& text) {
  for (const RunStatus status : kStatuses) {
    if (text == to_string(status)) return status;
  }
  return std::nullopt;
}

std::vector<std::string> run_status_names() {
  std::vector<std::string> names;
  for (const RunStatus status : kStatuses) names.emplace_back(to_string(status));
  return names;
}

const char* to_string(SelectionSplit split) { return split == SelectionSplit::kVal ? "val" : "test"; }

double selection_accuracy(const EpochRecord& epoch, SelectionSplit split) {
  if (split == SelectionSplit::kTest) return epoch.test_accuracy;
  if (!epoch.val_accuracy) {
    throw std::logic_error("epoch " + std::to_string(epoch.epoch) + " has no validation figures to select on");
  }
  return *epoch.val_accuracy;
}

bool better_epoch(const EpochRecord& epoch, const std::optional<EpochRecord>& best, SelectionSplit split) {
  return !best || selection_accuracy(epoch, split) > selection_accuracy(*best, split);
}

}  // namespace trainyard
