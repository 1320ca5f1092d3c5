#include "trainyard/seeded_permutation.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace trainyard {

std::vector<std::int64_t> seeded_permutation(std::size_t n, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto permutation =
      torch::randperm(static_cast<std::int64_t>(n), generator, torch::TensorOptions().dtype(torch::kInt64));
  const auto* p = permutation.data_ptr<std::int64_t>();
  return std::vector<std::int64_t>(p, p + n);
}

}  // namespace trainyard
