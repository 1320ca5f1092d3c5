// Seeded shuffles that come out the same everywhere: a dataset's train/test split, an epoch's
// visiting order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace trainyard {

/// A permutation of 0..n-1 drawn from `seed` with LibTorch's CPU generator, whose algorithm is
/// fixed: the same on every platform and standard library (std::shuffle's is not).
std::vector<std::int64_t> seeded_permutation(std::size_t n, std::uint64_t seed);

}  // namespace trainyard
