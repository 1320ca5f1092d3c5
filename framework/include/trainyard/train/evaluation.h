// What evaluating a trained model finds: loss, top-1 (and top-5) accuracy, each class's
// precision, recall, F1 and support, and the confusion matrix. Counted here from (true class,
// predicted class) pairs, with no LibTorch in sight, so the store and the tools can use it; the
// model's pass over the images is evaluate_run (evaluate_run.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trainyard {

/// One class's figures. Precision is of the images predicted as the class (0 when none was),
/// recall of the images that are of it (0 when none is), F1 their harmonic mean (0 when both are 0).
struct ClassFigures {
  std::string name;
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  std::int64_t support = 0;  // images of the class
};

/// Counts of (true class, predicted class): row = the true class, column = the prediction.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::vector<std::string> class_names);

  /// One image. Throws std::out_of_range for a class index outside the names.
  void add(std::int64_t true_class, std::int64_t predicted_class);

  const std::vector<std::string>& class_names() const { return names_; }
  const std::vector<std::vector<std::int64_t>>& counts() const { return counts_; }
  std::int64_t total() const { return total_; }
  /// Correct predictions over every image (0 when there is none).
  double accuracy() const;
  std::vector<ClassFigures> per_class() const;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<std::int64_t>> counts_;
  std::int64_t total_ = 0;
};

/// One evaluation of one checkpoint of a run, as the results database keeps it.
struct EvaluationRecord {
  std::string checkpoint;             // the file evaluated, absolute
  std::int64_t checkpoint_epoch = 0;  // the epoch it was saved after
  std::string data;                   // "test" or "val" (the run's own split), or the folder evaluated
  std::int64_t images = 0;
  double loss = 0.0;                    // mean cross-entropy
  double accuracy = 0.0;                // top-1
  std::optional<double> top5_accuracy;  // when there are more than 5 classes
  std::vector<ClassFigures> per_class;
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
  std::string device;
  std::string precision;
};

}  // namespace trainyard
