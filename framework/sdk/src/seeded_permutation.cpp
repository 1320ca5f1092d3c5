#include "trainyard/seeded_permutation.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>

namespace trainyard {

std::vector<std::int64_t> seeded_permutation(std::size_t n, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto permutation =
      torch::randperm(static_cast<std::int64_t>(n), generator, torch::TensorOptions().dtype(torch::kInt64));
  const auto* p = permutation.data_ptr<std::int64_t>();
  return std::vector<std::int64_t>(p, p + n);
}

std::vector<std::size_t> carve_validation(std::vector<std::size_t>& train, double fraction, std::uint64_t seed) {
  if (fraction <= 0) return {};
  const auto count = static_cast<std::size_t>(fraction * static_cast<double>(train.size()));
  if (count == 0 || count >= train.size()) {
    std::ostringstream message;
    message << "val_fraction " << fraction << " of " << train.size() << " training images leaves " << count
            << " for validation and " << train.size() - std::min(count, train.size())
            << " for training; both need at least one";
    throw std::invalid_argument(message.str());
  }
  // A draw of its own (the golden ratio's bits mixed into the seed), not the split's permutation.
  const auto permutation = seeded_permutation(train.size(), seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<bool> to_validation(train.size(), false);
  for (std::size_t i = 0; i < count; ++i) to_validation[static_cast<std::size_t>(permutation[i])] = true;
  std::vector<std::size_t> kept, validation;
  for (std::size_t i = 0; i < train.size(); ++i) (to_validation[i] ? validation : kept).push_back(train[i]);
  train = std::move(kept);
  return validation;
}

}  // namespace trainyard
