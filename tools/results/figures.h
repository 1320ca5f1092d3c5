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
/// (a config key); one point per trial, log scale when the values span two decades or more.
void plot_sweep(const ResultsReader& reader, const std::string& sweep, const std::string& parameter,
                const std::string& metric, const std::filesystem::path& file);

/// The confusion matrix of an evaluation (`runner --evaluate`): `which` is a run id (its newest
/// evaluation) or eval:ID (results show RUN lists them); each row shaded by the share of the
/// class's images in each cell, and labelled with the count.
void plot_confusion(const ResultsReader& reader, const std::string& which, const std::filesystem::path& file);

}  // namespace trainyard::results
