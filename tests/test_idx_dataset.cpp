// The idx dataset plugin: IDX files written here (gzip and plain) read back image for image and
// label for label; class filtering, limits and errors; and Debian's Fashion-MNIST.
#include <gtest/gtest.h>

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "test_support.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/errors.h"
#include "trainyard/idx_files.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;
using trainyard::Split;

namespace {

std::vector<std::uint8_t> idx_bytes(const std::vector<std::int64_t>& dims, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> bytes = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims) {
    for (int shift : {24, 16, 8, 0}) bytes.push_back(static_cast<std::uint8_t>((d >> shift) & 0xff));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

void write_plain(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

// Five 4x4 training images (pixel p of image i is 10 * i + p), labels 3 1 3 0 1; two test images.
class IdxDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::uint8_t> train, test;
    for (int i = 0; i < 5; ++i) {
      for (int p = 0; p < 16; ++p) train.push_back(static_cast<std::uint8_t>(10 * i + p));
    }
    for (int i = 0; i < 2; ++i) {
      for (int p = 0; p < 16; ++p) test.push_back(static_cast<std::uint8_t>(200 + i + p));
    }
    write_gzip(dir_ / "train-images-idx3-ubyte.gz", idx_bytes({5, 4, 4}, train));
    write_gzip(dir_ / "train-labels-idx1-ubyte.gz", idx_bytes({5}, {3, 1, 3, 0, 1}));
    write_plain(dir_ / "t10k-images-idx3-ubyte", idx_bytes({2, 4, 4}, test));
    write_plain(dir_ / "t10k-labels-idx1-ubyte", idx_bytes({2}, {1, 3}));
  }
  std::shared_ptr<trainyard::Dataset> make(const std::string& classes, std::int64_t per_class = 0,
                                           std::int64_t channels = 1, double val_fraction = 0) const {
    return t::build_registry().make_dataset("idx",
                                            trainyard::Params({{"root", dir_.path().string()},
                                                               {"classes", classes},
                                                               {"per_class", per_class},
                                                               {"test_per_class", std::int64_t{0}},
                                                               {"image_size", std::int64_t{4}},
                                                               {"channels", channels},
                                                               {"val_fraction", val_fraction},
                                                               {"names", std::string("fashion-mnist")}}),
                                            trainyard::DatasetContext{9});
  }
  t::TempDir dir_;
};

}  // namespace

TEST_F(IdxDataset, FirstImageAndLabelMatchTheFile) {
  const auto data = make("1,3");
  EXPECT_EQ(data->class_names(), (std::vector<std::string>{"trouser", "dress"}));
  ASSERT_EQ(data->size(Split::kTrain), 4u);  // labels 3 1 3 _ 1
  ASSERT_EQ(data->size(Split::kTest), 2u);
  // Normalized by the kept training images' mean and deviation: undo it and compare bytes.
  std::vector<double> kept;
  for (int i : {0, 1, 2, 4}) {
    for (int p = 0; p < 16; ++p) kept.push_back((10 * i + p) / 255.0);
  }
  double mean = 0, squares = 0;
  for (double v : kept) mean += v, squares += v * v;
  mean /= static_cast<double>(kept.size());
  const double deviation = std::sqrt(squares / static_cast<double>(kept.size()) - mean * mean);
  const auto normalization = data->pixel_normalization();
  ASSERT_TRUE(normalization);
  EXPECT_NEAR(normalization->mean.at(0), mean, 1e-6);
  EXPECT_NEAR(normalization->std.at(0), deviation, 1e-6);
  // The samples are the file's bytes, which the host normalizes with those statistics.
  const auto first = data->get(Split::kTrain, 0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->label, 1);  // file label 3 is the second kept class
  ASSERT_EQ(first->image.sizes(), (std::vector<std::int64_t>{1, 4, 4}));
  ASSERT_EQ(first->image.scalar_type(), torch::kUInt8);
  for (int p = 0; p < 16; ++p) EXPECT_EQ(first->image.flatten()[p].item<int>(), p) << p;
  EXPECT_EQ(data->get(Split::kTrain, 1)->label, 0);  // file label 1
  const auto test = data->get(Split::kTest, 1);
  EXPECT_EQ(test->label, 1);
  EXPECT_EQ(test->image.flatten()[0].item<int>(), 201);
}

TEST_F(IdxDataset, PerClassLimitKeepsTheFirstOfEachAndChannelsAreCopies) {
  const auto data = make("tshirt_top,trouser,dress", /*per_class=*/1, /*channels=*/3);
  EXPECT_EQ(data->size(Split::kTrain), 3u);  // first 3, first 1, first 0 in file order: images 0, 1, 3
  const auto sample = data->get(Split::kTrain, 2);
  EXPECT_EQ(sample->label, 0);  // tshirt_top (file label 0) is the first class
  ASSERT_EQ(sample->image.sizes(), (std::vector<std::int64_t>{3, 4, 4}));
  EXPECT_TRUE(torch::equal(sample->image[0], sample->image[2]));
  EXPECT_TRUE(data->deterministic(Split::kTrain));
}

// Issue 17: a validation split of the training file's images, seeded; the statistics that
// normalize every split are those of the images left to train on.
TEST_F(IdxDataset, AValidationSplitIsHeldOutOfTheTrainingFile) {
  const auto data = make("0,1,3", 0, 1, 0.4);
  ASSERT_EQ(data->size(Split::kVal), 2u);  // floor(0.4 x 5)
  ASSERT_EQ(data->size(Split::kTrain), 3u);
  EXPECT_EQ(data->size(Split::kTest), 2u);
  const auto pre = data->preprocessing();
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->color, "gray");
  EXPECT_EQ(pre->channels, 1);
  // Every image of the file is in exactly one of train and val.
  std::set<int> first_pixels;
  for (const auto split : {Split::kTrain, Split::kVal}) {
    for (std::size_t i = 0; i < data->size(split); ++i) {
      first_pixels.insert(data->get(split, i)->image.flatten()[0].item<int>());
    }
  }
  EXPECT_EQ(first_pixels, (std::set<int>{0, 10, 20, 30, 40}));
  // The mean is of the three training images' pixels alone.
  double sum = 0;
  for (std::size_t i = 0; i < data->size(Split::kTrain); ++i) {
    sum += data->get(Split::kTrain, i)->image.to(torch::kFloat64).div(255.0).sum().item<double>();
  }
  EXPECT_NEAR(sum / (3 * 16), pre->mean[0], 1e-5);
  EXPECT_THROW(make("0,1,3", 0, 1, 0.1), trainyard::PluginError);  // floor(0.5): no validation image
}

TEST_F(IdxDataset, MissingFilesBadMagicAndUnknownClassesAreNamed) {
  fs::remove(dir_ / "t10k-labels-idx1-ubyte");
  try {
    make("1");
    FAIL() << "accepted";
  } catch (const trainyard::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t10k-labels-idx1-ubyte[.gz]' not found"), std::string::npos) << e.what();
  }
  write_plain(dir_ / "t10k-labels-idx1-ubyte", {1, 2, 3, 4, 5, 6});
  try {
    make("1");
    FAIL() << "accepted";
  } catch (const trainyard::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an unsigned-byte IDX file"), std::string::npos) << e.what();
  }
  try {
    make("trousers");
    FAIL() << "accepted";
  } catch (const trainyard::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'trouser'"), std::string::npos) << e.what();
  }
}

// Issue 16: a 28-byte file whose header declared 16 x 2^30 x 2^30 made the byte count wrap to 0
// and the plugin read far past its buffer (SIGSEGV). Headers are now checked against the file.
TEST_F(IdxDataset, CraftedHeadersAreRefusedNamingTheFile) {
  const auto expect_refused = [&](const std::string& needle) {
    try {
      make("1,3");
      ADD_FAILURE() << "accepted a file that should be refused for: " << needle;
    } catch (const trainyard::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("t10k-images-idx3-ubyte"), std::string::npos) << e.what();
    }
  };
  const std::int64_t huge = std::int64_t{1} << 30;
  write_plain(dir_ / "t10k-images-idx3-ubyte", idx_bytes({16, huge, huge}, std::vector<std::uint8_t>(12)));
  expect_refused("more than the 16 GiB");
  // Plausible dimensions, too few bytes: refused without allocating what the header declares.
  write_plain(dir_ / "t10k-images-idx3-ubyte", idx_bytes({2, 20000, 20000}, std::vector<std::uint8_t>(40)));
  expect_refused("holds 40");
  write_plain(dir_ / "t10k-images-idx3-ubyte", idx_bytes({2, 0, 4}, {}));
  expect_refused("height, width > 0");
  // The test split read with the training split's 4x4 would run off its buffer.
  write_plain(dir_ / "t10k-images-idx3-ubyte", idx_bytes({2, 5, 5}, std::vector<std::uint8_t>(50)));
  try {
    make("1,3");
    ADD_FAILURE() << "accepted 5x5 test images beside 4x4 training images";
  } catch (const trainyard::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("both splits need one size"), std::string::npos) << e.what();
  }
}

TEST(IdxFiles, DebiansFashionMnistStartsWithAnAnkleBoot) {
  const fs::path root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root / "train-labels-idx1-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto files = trainyard::read_idx_split(root, /*train=*/true);
  EXPECT_EQ(files.images.dims, (std::vector<std::int64_t>{60000, 28, 28}));
  EXPECT_EQ(files.labels.data.front(), 9);  // ankle_boot, the dataset's first training image
  EXPECT_EQ(trainyard::read_idx_split(root, false).images.dims.front(), 10000);
}
