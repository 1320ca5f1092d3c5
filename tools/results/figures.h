// The figures `results plot` draws, built from the database.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "trainyard/store/results_reader.h"

namespace trainyard::results {

/// Train (dashed) and test (solid) loss and accuracy per epoch, one colour per run.
void plot_curves(const ResultsReader& reader, const std::vector<std::int64_t>& ids, const std::filesystem::path& file);

/// A sweep's `metric` (a run metric, e.g. best_test_accuracy) against the swept `parameter`
/// (a config key); one point per trial, pruned trials marked, log scale when the values span a
/// decade or more.
void plot_sweep(const ResultsReader& reader, const std::string& sweep, const std::string& parameter,
                const std::string& metric, const std::filesystem::path& file);

/// Parallel coordinates of a sweep: one axis per swept key (from the trials' keys) and one for
/// `metric`, one line per trial (its latest run), the best orange and pruned trials grey: which
/// combinations of values go with the better trials.
void plot_sweep_parallel(const ResultsReader& reader, const std::string& sweep, const std::string& metric,
                         const std::filesystem::path& file);

/// A sweep's search over time: every epoch it trained, in the order they were committed, by
/// its selection accuracy (pruned trials' epochs marked), and the best so far as a line; what a
/// sampler and a pruner bought for the epochs they spent.
void plot_sweep_history(const ResultsReader& reader, const std::string& sweep, const std::filesystem::path& file);

/// The confusion matrix of an evaluation (`runner --evaluate`): `which` is a run id (its newest
/// evaluation) or eval:ID (results show RUN lists them); each row shaded by the share of the
/// class's images in each cell, and labelled with the count.
void plot_confusion(const ResultsReader& reader, const std::string& which, const std::filesystem::path& file);

}  // namespace trainyard::results
