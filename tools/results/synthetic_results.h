// A results database of made-up runs, as many as asked for: what the results tool's tests and
// benchmark measure listing, sorting and filtering against.
#pragma once

#include <cstdint>
#include <string>

namespace trainyard::results {

/// Writes `runs` finished runs of `epochs` epochs each to a new database at `path` (through
/// ResultsStore, so the schema is the real one), in one transaction. Run i has seed i,
/// optimizer.lr from {1e-4, 3e-4, 1e-3, 3e-3} and train.batch_size from {16, 32, 64} in turn,
/// and accuracy curves that rise with noise drawn from `seed`; the first 12 runs are the trials
/// of a sweep named "synthetic-lr".
void write_synthetic_results(const std::string& path, std::int64_t runs, std::int64_t epochs, std::uint64_t seed = 1);

}  // namespace trainyard::results
