// A TPE sweep's trials after its start-up draws: chosen one at a time, as a place to run one frees
// up, from what the results database records of the trials so far. The database is the search's
// only state, so a rerun of the sweep continues it where it stopped.
#pragma once

#include <optional>
#include <vector>

#include "trainyard/store/results_store.h"
#include "trainyard/sweep/sweep.h"

namespace trainyard {

/// The trials of `records` that `known` lacks (those an earlier run of the sweep chose), in the
/// order they started. A record without a value for each of tpe.params is not of this search and
/// is left out.
std::vector<SweepTrial> recorded_tpe_trials(const TpeSpec& tpe, const std::vector<SweepTrial>& known,
                                            const std::vector<SweepTrialRecord>& records);

/// The trial of the search whose key (SweepTrial::key) is `key`, as a worker reads a trial another
/// chose from the queue; nullopt when it is not one of this search's.
std::optional<SweepTrial> tpe_trial_of_key(const TpeSpec& tpe, const std::string& key);

/// Trial number known.size() of the search, learnt from the finished and pruned trials among
/// `records`; nullopt once the search has its tpe.trials.
std::optional<SweepTrial> next_tpe_trial(const TpeSpec& tpe, const std::vector<SweepTrial>& known,
                                         const std::vector<SweepTrialRecord>& records);

}  // namespace trainyard
