// What --predict and --evaluate --data classify with, and what they classify: a run of the
// results database (packaged on the fly, exactly as --export would) or a model package file,
// opened as a Predictor; and the images named on the command line, folders walked.
#pragma once

#include <string>
#include <vector>

#include <trainyard/predictor.h>

#include "commands.h"

namespace trainyard::runner {

struct ModelSource {
  Predictor predictor;
  /// What an image that cannot be decoded does: --on-bad-image when given, else the run's
  /// dataset.on_bad_image (a package file: fail).
  std::string on_bad_image;
};

/// `source` is a run id (of --db, or the default database) or a package file. Throws InputError
/// for a missing run or a bad package or --on-bad-image, PluginError for the model plugin.
ModelSource open_model_source(const Invocation& invocation, const std::string& source, PluginRegistry& registry,
                              const std::string& option);

/// A run's package (package_stored_run) opened.
ModelSource open_packaged_run(const Invocation& invocation, const PackagedRun& packaged, const std::string& option);

/// The files named and every image below the folders named (sorted within each folder, hidden
/// entries skipped, as the imagefolder dataset walks). InputError when a path is neither, or
/// when there is no image at all.
std::vector<std::string> image_files(const std::vector<std::string>& inputs, const std::string& option);

/// The `top` classes of a prediction, most probable first; the model's own top-1 (argmax) leads
/// on a tie.
std::vector<std::size_t> ranked_classes(const Prediction& p, std::size_t top);

/// Predictions of `files` with the failures named: each is logged and left out under "skip";
/// under "fail" the first one is thrown, with the count.
std::vector<Prediction> classify_files(const ModelSource& model, const std::vector<std::string>& files,
                                       const std::string& option, std::size_t& skipped);

}  // namespace trainyard::runner
