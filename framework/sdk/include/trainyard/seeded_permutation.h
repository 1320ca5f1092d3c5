// Seeded shuffles that come out the same everywhere: a dataset's train/test split, its validation
// split, an epoch's visiting order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace trainyard {

/// A permutation of 0..n-1 drawn from `seed` with LibTorch's CPU generator, whose algorithm is
/// fixed: the same on every platform and standard library (std::shuffle's is not).
std::vector<std::int64_t> seeded_permutation(std::size_t n, std::uint64_t seed);

/// Moves floor(`fraction` x size) of `train`, chosen by a permutation drawn from `seed`, into the
/// returned validation indices; both keep their order. The draw is not the one that made the
/// train/test split, so the test split (and what a run without validation tested on) is the same
/// whatever `fraction` is. Throws std::invalid_argument when `fraction` > 0 leaves no image on
/// either side.
std::vector<std::size_t> carve_validation(std::vector<std::size_t>& train, double fraction, std::uint64_t seed);

}  // namespace trainyard
