#include "tpe_trials.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "trainyard/sweep/tpe.h"

namespace trainyard {
namespace {

// The values of tpe.params among a run's overrides, in the params' order; nullopt when one is
// missing.
std::optional<std::vector<std::string>> recorded_values(const TpeSpec& tpe, const SweepTrialRecord& record) {
  std::vector<std::string> values;
  for (const auto& p : tpe.params) {
    const auto it =
        std::find_if(record.overrides.begin(), record.overrides.end(), [&](const auto& o) { return o.first == p.key; });
    if (it == record.overrides.end()) return std::nullopt;
    values.push_back(it->second);
  }
  return values;
}

// Whether a recorded value is one `p` can take now: a rerun may narrow the range or drop a choice,
// and a trial outside the space has nothing to teach its model.
bool within(const RandomParameter& p, const std::string& value) {
  if (p.distribution == "choice") return std::find(p.choices.begin(), p.choices.end(), value) != p.choices.end();
  char* end = nullptr;
  const double x = std::strtod(value.c_str(), &end);
  return end != value.c_str() && *end == '\0' && std::isfinite(x) && x >= p.low && x <= p.high;
}

std::vector<std::string> trial_values(const SweepTrial& trial) {
  std::vector<std::string> values;
  for (const auto& o : trial.overrides) values.push_back(o.value);
  return values;
}

// What TPE learns from: the finished trials by their best selection accuracy, the pruned ones by
// the one at their last epoch (Optuna takes a pruned trial's last intermediate value). Failed,
// interrupted and running trials teach nothing yet.
std::vector<TpeObservation> observations(const TpeSpec& tpe, const std::vector<SweepTrialRecord>& records) {
  constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();
  std::vector<TpeObservation> out;
  for (const auto& r : records) {
    if (!is_done(r.status)) continue;
    auto values = recorded_values(tpe, r);
    if (!values) continue;
    bool fits = true;
    for (std::size_t i = 0; i < values->size(); ++i) fits = fits && within(tpe.params[i], (*values)[i]);
    if (!fits) continue;
    TpeObservation o;
    o.values = std::move(*values);
    o.pruned = r.status == RunStatus::kPruned;
    const auto& accuracy = o.pruned ? r.last_selection_accuracy : r.best_selection_accuracy;
    o.accuracy = accuracy ? *accuracy : kMissing;
    o.epochs = r.epochs;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

std::vector<SweepTrial> recorded_tpe_trials(const TpeSpec& tpe, const std::vector<SweepTrial>& known,
                                            const std::vector<SweepTrialRecord>& records) {
  std::vector<SweepTrial> out;
  for (const auto& r : records) {
    const auto values = recorded_values(tpe, r);
    if (!values) continue;
    SweepTrial trial = tpe_trial(tpe, *values);
    const std::string key = trial.key();
    const auto same = [&](const SweepTrial& t) { return t.key() == key; };
    if (std::none_of(known.begin(), known.end(), same) && std::none_of(out.begin(), out.end(), same)) {
      out.push_back(std::move(trial));
    }
  }
  return out;
}

std::optional<SweepTrial> tpe_trial_of_key(const TpeSpec& tpe, const std::string& key) {
  // "k1=v1 k2=v2": the keys are the params' in order, so each value runs to the next " k=".
  std::vector<std::string> values;
  std::size_t at = 0;
  for (std::size_t i = 0; i < tpe.params.size(); ++i) {
    const std::string start = (i ? " " : "") + tpe.params[i].key + "=";
    if (key.compare(at, start.size(), start) != 0) return std::nullopt;
    at += start.size();
    const std::size_t end = i + 1 < tpe.params.size() ? key.find(" " + tpe.params[i + 1].key + "=", at) : key.size();
    if (end == std::string::npos) return std::nullopt;
    values.push_back(key.substr(at, end - at));
    at = end;
  }
  SweepTrial trial = tpe_trial(tpe, values);
  if (trial.key() != key) return std::nullopt;
  return trial;
}

std::optional<SweepTrial> next_tpe_trial(const TpeSpec& tpe, const std::vector<SweepTrial>& known,
                                         const std::vector<SweepTrialRecord>& records) {
  const auto number = static_cast<std::int64_t>(known.size());
  if (number >= tpe.trials) return std::nullopt;
  std::vector<std::vector<std::string>> tried;
  for (const auto& t : known) tried.push_back(trial_values(t));
  TpeSettings settings;
  settings.startup_trials = tpe.startup_trials;
  return tpe_trial(tpe, tpe_suggest(tpe.params, observations(tpe, records), tried, settings, tpe.seed, number));
}

}  // namespace trainyard
