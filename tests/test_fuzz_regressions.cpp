// Replays the fuzzers' seeds and every input that once crashed them (tests/fuzz/regressions)
// through the code the fuzz targets run: each must end normally or with the error that bad
// input is documented to raise.
#include <gtest/gtest.h>

#include <filesystem>

#include "fuzz_inputs.h"
#include "test_support.h"
#include "trainyard/errors.h"
#include "trainyard/image_io.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"seeds", "regressions"}) {
    const fs::path folder = fs::path(TRAINYARD_SOURCE_DIR) / "tests/fuzz" / kind / target;
    if (!fs::exists(folder)) continue;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && entry.path().extension() != ".md") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST(FuzzRegressions, ExperimentFilesEndInAConfigOrAnInputError) {
  const auto files = inputs("experiment_config");
  ASSERT_GE(files.size(), 5u);
  int resolved = 0;
  for (const auto& file : files) {
    const std::string bytes = t::read_file(file);
    try {
      trainyard::fuzz::load_experiment(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++resolved;
    } catch (const trainyard::InputError&) {
      // documented for bad input (and for these seeds: no plugins are registered)
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": unexpected " << e.what();
    }
  }
  EXPECT_EQ(resolved, 0);  // every seed names plugins, and the fuzz registry has none
}

TEST(FuzzRegressions, ImagesDecodeOrFailWithImageDecodeError) {
  const auto files = inputs("image_decode");
  ASSERT_GE(files.size(), 5u);
  int decoded = 0;
  for (const auto& file : files) {
    const std::string bytes = t::read_file(file);
    try {
      trainyard::fuzz::decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++decoded;
    } catch (const trainyard::ImageDecodeError&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": unexpected " << e.what();
    }
  }
  EXPECT_GE(decoded, 5);  // the seeds are valid images
}

TEST(FuzzRegressions, IdxFilesReadBackWholeOrFailWithInputError) {
  const auto files = inputs("idx_reader");
  ASSERT_GE(files.size(), 6u);
  int read = 0, refused = 0;
  for (const auto& file : files) {
    const std::string bytes = t::read_file(file);
    try {
      trainyard::fuzz::read_idx_file(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++read;
    } catch (const trainyard::InputError&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": unexpected " << e.what();
    }
  }
  EXPECT_EQ(read, 4);     // the seeds are valid files
  EXPECT_EQ(refused, 2);  // the regressions: a header whose byte count wrapped to 0, a truncated file
}
