#include "trainyard/train/evaluation.h"

#include <stdexcept>
#include <utility>

namespace trainyard {

ConfusionMatrix::ConfusionMatrix(std::vector<std::string> class_names)
    : names_(std::move(class_names)), counts_(names_.size(), std::vector<std::int64_t>(names_.size(), 0)) {}

void ConfusionMatrix::add(std::int64_t true_class, std::int64_t predicted_class) {
  const auto n = static_cast<std::int64_t>(names_.size());
  if (true_class < 0 || true_class >= n || predicted_class < 0 || predicted_class >= n) {
    throw std::out_of_range("class " + std::to_string(true_class) + " predicted as " + std::to_string(predicted_class) +
                            ": outside the " + std::to_string(n) + " classes");
  }
  ++counts_[static_cast<std::size_t>(true_class)][static_cast<std::size_t>(predicted_class)];
  ++total_;
}

double ConfusionMatrix::accuracy() const {
  std::int64_t correct = 0;
  for (std::size_t c = 0; c < counts_.size(); ++c) correct += counts_[c][c];
  return total_ == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(total_);
}

std::vector<ClassFigures> ConfusionMatrix::per_class() const {
  std::vector<ClassFigures> out;
  for (std::size_t c = 0; c < counts_.size(); ++c) {
    std::int64_t predicted = 0, actual = 0;
    for (std::size_t other = 0; other < counts_.size(); ++other) {
      predicted += counts_[other][c];
      actual += counts_[c][other];
    }
    const double hits = static_cast<double>(counts_[c][c]);
    ClassFigures figures;
    figures.name = names_[c];
    figures.support = actual;
    figures.precision = predicted == 0 ? 0.0 : hits / static_cast<double>(predicted);
    figures.recall = actual == 0 ? 0.0 : hits / static_cast<double>(actual);
    const double sum = figures.precision + figures.recall;
    figures.f1 = sum == 0.0 ? 0.0 : 2.0 * figures.precision * figures.recall / sum;
    out.push_back(std::move(figures));
  }
  return out;
}

}  // namespace trainyard
