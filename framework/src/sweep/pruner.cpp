#include "trainyard/sweep/pruner.h"

#include <algorithm>
#include <functional>

#include <spdlog/spdlog.h>

#include "trainyard/store/results_store.h"

namespace trainyard {

SweepPeers::~SweepPeers() = default;

namespace {

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::optional<std::string> median_decision(const PrunerSpec& p, std::int64_t epoch, double value,
                                           const std::vector<double>& others, const std::string& metric) {
  if (epoch <= p.warmup_epochs || static_cast<std::int64_t>(others.size()) < p.min_trials) return std::nullopt;
  const double median = median_of(others);
  if (value >= median) return std::nullopt;
  return fmt::format("pruned at epoch {}: {} {:.4f} < median {:.4f} of {} other trial{}", epoch, metric, value, median,
                     others.size(), others.size() == 1 ? "" : "s");
}

// The rung `epoch` is, counted from 0, or -1 when it is none.
int rung_of(const PrunerSpec& p, std::int64_t epoch) {
  int rung = 0;
  for (std::int64_t at = p.min_epochs; at <= epoch; at *= p.reduction, ++rung) {
    if (at == epoch) return rung;
  }
  return -1;
}

std::optional<std::string> asha_decision(const PrunerSpec& p, std::int64_t epoch, double value,
                                         const std::vector<double>& others, const std::string& metric) {
  const int rung = rung_of(p, epoch);
  if (rung < 0) return std::nullopt;
  std::vector<double> competing = others;
  competing.push_back(value);
  std::sort(competing.begin(), competing.end(), std::greater<>());
  // The top 1/reduction go on; while fewer than `reduction` have reached the rung, the best.
  const std::size_t promoted = std::max<std::size_t>(1, competing.size() / static_cast<std::size_t>(p.reduction));
  const double needed = competing[promoted - 1];
  if (value >= needed) return std::nullopt;
  return fmt::format(
      "pruned at epoch {} (asha rung {}): {} {:.4f} is not in the top {} of {} trials at the rung "
      "(needs {:.4f})",
      epoch, rung, metric, value, promoted, competing.size(), needed);
}

class StoredSweepPeers final : public SweepPeers {
 public:
  StoredSweepPeers(const std::string& db, std::int64_t sweep_id, std::string trial_key)
      : store_(db), sweep_id_(sweep_id), trial_key_(std::move(trial_key)) {}
  std::vector<double> accuracies_at(std::int64_t epoch) const override {
    return store_.sweep_accuracies_at(sweep_id_, epoch, trial_key_);
  }

 private:
  ResultsStore store_;
  std::int64_t sweep_id_;
  std::string trial_key_;
};

}  // namespace

std::optional<std::string> prune_decision(const PrunerSpec& pruner, std::int64_t epoch, double value,
                                          const std::vector<double>& others, const std::string& metric) {
  if (pruner.kind == "median") return median_decision(pruner, epoch, value, others, metric);
  if (pruner.kind == "asha") return asha_decision(pruner, epoch, value, others, metric);
  return std::nullopt;
}

TrialPruner::TrialPruner(PrunerSpec pruner, std::unique_ptr<SweepPeers> peers)
    : pruner_(std::move(pruner)), peers_(std::move(peers)) {}

void TrialPruner::on_epoch_end(EpochEnd& epoch) {
  if (epoch.stop || epoch.record.epoch >= epoch.epochs) return;  // ending anyway
  const double value = selection_accuracy(epoch.record, epoch.select_on);
  const std::string metric = std::string(to_string(epoch.select_on)) + "_accuracy";
  if (auto reason =
          prune_decision(pruner_, epoch.record.epoch, value, peers_->accuracies_at(epoch.record.epoch), metric)) {
    epoch.stop = true;
    epoch.pruned = true;
    epoch.stop_reason = std::move(*reason);
  }
}

std::shared_ptr<TrialPruner> sweep_trial_pruner(const std::string& db, std::int64_t sweep_id,
                                                const std::string& trial_key) {
  const std::string spec_yaml = ResultsStore(db).sweep_spec_yaml(sweep_id);
  if (spec_yaml.empty()) return nullptr;
  const PrunerSpec pruner = parse_stored_sweep(spec_yaml).pruner;
  if (!pruner.enabled()) return nullptr;
  spdlog::info("sweep {}: trial pruned by {} when it falls behind the others", sweep_id, pruner.kind);
  return std::make_shared<TrialPruner>(pruner, std::make_unique<StoredSweepPeers>(db, sweep_id, trial_key));
}

}  // namespace trainyard
