// The imagefolder dataset plugin: scanning, class order, split, decoding, bad files.
#include <gtest/gtest.h>

#include <algorithm>

#include <trainyard/errors.h>

#include "augmentation.h"
#include "test_support.h"
#include "trainyard/image_io.h"
#include "trainyard/plugin/plugin_registry.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;
using trainyard::Split;

namespace {
std::shared_ptr<trainyard::Dataset> open(const fs::path& root, std::uint64_t seed = 1,
                                         const std::string& on_bad = "fail", std::int64_t size = 8,
                                         double train_fraction = 0.8) {
  return t::build_registry().make_dataset("imagefolder",
                                          trainyard::Params({{"root", root.string()},
                                                             {"image_size", size},
                                                             {"train_fraction", train_fraction},
                                                             {"on_bad_image", on_bad}}),
                                          trainyard::DatasetContext{seed});
}

std::string open_error(const fs::path& root) {
  try {
    open(root);
  } catch (const trainyard::PluginError& e) {
    return e.what();
  }
  ADD_FAILURE() << "opened " << root;
  return "";
}

// The visiting order of a split, as (label, first pixel) pairs: enough to tell orders apart.
std::vector<std::pair<std::int64_t, float>> fingerprint(const trainyard::Dataset& d, Split split) {
  std::vector<std::pair<std::int64_t, float>> out;
  for (std::size_t i = 0; i < d.size(split); ++i) {
    auto s = d.get(split, i);
    out.emplace_back(s->label, s->image.flatten()[0].item<float>());
  }
  return out;
}
}  // namespace

TEST(ImageFolder, ClassesAreSortedByNameAndLabelledInThatOrder) {
  t::TempDir dir;
  t::make_image_folder(dir.path(), {{"zebra", 2}, {"Apple", 2}, {"mango", 2}});
  auto d = open(dir.path());
  EXPECT_EQ(d->class_names(), (std::vector<std::string>{"Apple", "mango", "zebra"}));
  EXPECT_EQ(d->size(Split::kTrain) + d->size(Split::kTest), 6u);
}

TEST(ImageFolder, FindsImagesByExtensionInAnyCaseAndInSubfolders) {
  t::TempDir dir;
  t::make_image_folder(dir.path(), {{"a", 1}, {"b", 1}});
  const auto image = t::solid_image(4, 4, 1, 2, 3);
  trainyard::write_png(dir / "a/UPPER.PNG", image);
  trainyard::write_jpeg(dir / "a/photo.JpEg", image);
  fs::create_directories(dir / "b/nested/deeper");
  trainyard::write_png(dir / "b/nested/deeper/x.png", image);
  t::write_file(dir / "a/notes.txt", "not an image");
  t::write_file(dir / "a/.hidden.png", "hidden files are ignored");
  fs::create_directories(dir / ".git");
  trainyard::write_png(dir / ".git/not_a_class.png", image);
  auto d = open(dir.path());
  EXPECT_EQ(d->class_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d->size(Split::kTrain) + d->size(Split::kTest), 3u + 2u);
}

TEST(ImageFolder, SplitFollowsTrainFractionAndIsDeterministicPerSeed) {
  t::TempDir dir;
  t::make_image_folder(dir.path(), {{"a", 10}, {"b", 10}, {"c", 5}});
  auto first = open(dir.path(), 42);
  EXPECT_EQ(first->size(Split::kTrain), 20u);  // floor(0.8 * 25)
  EXPECT_EQ(first->size(Split::kTest), 5u);
  auto again = open(dir.path(), 42);
  EXPECT_EQ(fingerprint(*first, Split::kTrain), fingerprint(*again, Split::kTrain));
  EXPECT_EQ(fingerprint(*first, Split::kTest), fingerprint(*again, Split::kTest));
  auto other = open(dir.path(), 43);
  EXPECT_NE(fingerprint(*first, Split::kTrain), fingerprint(*other, Split::kTrain));
  auto half = open(dir.path(), 42, "fail", 8, 0.5);
  EXPECT_EQ(half->size(Split::kTrain), 12u);
}

TEST(ImageFolder, SamplesAreResizedRgbPixelsNormalizedWithImageNetStatistics) {
  t::TempDir dir;
  fs::create_directories(dir / "white");
  fs::create_directories(dir / "gray");
  trainyard::write_png(dir / "white/w.png", t::solid_image(5, 7, 255, 255, 255));
  trainyard::write_png(dir / "gray/g.png", trainyard::GrayImage{3, 3, std::vector<std::uint8_t>(9, 0)});
  auto d = open(dir.path(), 1, "fail", 12, 0.5);
  EXPECT_EQ(d->image_shape().channels, 3);
  for (Split split : {Split::kTrain, Split::kTest}) {
    auto s = d->get(split, 0);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->image.sizes(), (std::vector<std::int64_t>{3, 12, 12}));
    ASSERT_EQ(s->image.scalar_type(), torch::kUInt8);
    const bool white = d->class_names()[static_cast<std::size_t>(s->label)] == "white";
    for (int c = 0; c < 3; ++c) EXPECT_EQ(s->image[c][6][6].item<int>(), white ? 255 : 0) << c;
  }
  const auto normalization = d->pixel_normalization();
  ASSERT_TRUE(normalization);
  EXPECT_EQ(normalization->mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(normalization->std, (std::vector<float>{0.229f, 0.224f, 0.225f}));
  // The host's normalization of those pixels: white is (1 - mean) / std per channel.
  const auto mean = torch::tensor(normalization->mean).view({3, 1, 1});
  const auto std = torch::tensor(normalization->std).view({3, 1, 1});
  const auto white = trainyard::normalize_pixels(torch::full({3, 2, 2}, 255, torch::kUInt8), mean, std);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(white[c][1][1].item<float>(), (1.0f - normalization->mean[c]) / normalization->std[c], 1e-6) << c;
  }
}

TEST(ImageFolder, CorruptFileFailsWithItsPathOrIsSkipped) {
  t::TempDir dir;
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  t::write_file(dir / "a/broken.png", "garbage that is not a png");
  t::write_file(dir / "b/empty.jpg", "");
  auto failing = open(dir.path(), 1, "fail", 8, 0.5);
  for (Split split : {Split::kTrain, Split::kTest}) {
    try {
      failing->get(split, 0);
      ADD_FAILURE() << "decoded a corrupt file";
    } catch (const trainyard::DataError& e) {
      const std::string message = e.what();
      EXPECT_TRUE(message.find("broken.png") != std::string::npos || message.find("empty.jpg") != std::string::npos)
          << message;
      EXPECT_NE(message.find("on_bad_image: skip"), std::string::npos) << message;
    }
  }
  auto skipping = open(dir.path(), 1, "skip", 8, 0.5);
  EXPECT_FALSE(skipping->get(Split::kTrain, 0).has_value());
  EXPECT_FALSE(skipping->get(Split::kTest, 0).has_value());
}

TEST(ImageFolder, EmptyClassFolderIsAClearError) {
  t::TempDir dir;
  t::make_image_folder(dir.path(), {{"full", 2}});
  fs::create_directories(dir / "empty");
  t::write_file(dir / "empty/readme.txt", "no images here");
  const std::string message = open_error(dir.path());
  EXPECT_NE(message.find("class folder '" + (dir / "empty").string() + "' has no images"), std::string::npos)
      << message;
  EXPECT_NE(message.find("dataset plugin 'imagefolder'"), std::string::npos) << message;
}

TEST(ImageFolder, RootWithoutClassFoldersOrMissingIsAClearError) {
  t::TempDir dir;
  trainyard::write_png(dir / "loose.png", t::solid_image(2, 2, 0, 0, 0));
  EXPECT_NE(open_error(dir.path()).find("has no class folders"), std::string::npos);
  EXPECT_NE(open_error(dir / "missing").find("does not exist"), std::string::npos);
}

TEST(ImageFolderAugmentation, CropBoxesStayInsideWithTheirAreaAndRatioBounds) {
  auto random = trainyard::datasets::augmentation_generator(7, 0, 0);
  for (int i = 0; i < 500; ++i) {
    const auto box = trainyard::datasets::random_resized_crop_box(64, 48, 0.25, random);
    ASSERT_GE(box.x, 0);
    ASSERT_GE(box.y, 0);
    ASSERT_LE(box.x + box.width, 64);
    ASSERT_LE(box.y + box.height, 48);
    const double area = static_cast<double>(box.width) * box.height / (64.0 * 48.0);
    EXPECT_GE(area, 0.22);  // 0.25 less rounding
    const double ratio = static_cast<double>(box.width) / box.height;
    EXPECT_GE(ratio, 0.7);
    EXPECT_LE(ratio, 1.4);
  }
  // A strip too thin for any allowed ratio falls back to a centred crop of ratio 4:3.
  auto fallback = trainyard::datasets::random_resized_crop_box(400, 10, 0.9, random);
  EXPECT_EQ(fallback.height, 10);
  EXPECT_EQ(fallback.width, 13);
  EXPECT_EQ(fallback.x, (400 - 13) / 2);
}

TEST(ImageFolderAugmentation, FlipMirrorsRows) {
  trainyard::RgbImage image = t::solid_image(3, 2, 0, 0, 0);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i);
  const auto original = image.pixels;
  trainyard::datasets::flip_horizontally(image);
  EXPECT_EQ(image.pixels[0], original[6]);  // first pixel of row 0 is its last
  EXPECT_EQ(image.pixels[3], original[3]);  // the middle stays
  trainyard::datasets::flip_horizontally(image);
  EXPECT_EQ(image.pixels, original);
}

TEST(ImageFolderAugmentation, TrainingSamplesVaryPerEpochButRepeatPerSeedAndTestStaysFixed) {
  t::TempDir dir;
  t::make_image_folder(dir / "data", {{"a", 5}, {"b", 5}}, 32);
  auto open_augmented = [&] {
    return t::build_registry().make_dataset("imagefolder",
                                            trainyard::Params({{"root", (dir / "data").string()},
                                                               {"image_size", std::int64_t{16}},
                                                               {"random_resized_crop", true},
                                                               {"horizontal_flip", true}}),
                                            trainyard::DatasetContext{3});
  };
  const auto first = open_augmented();
  const auto second = open_augmented();
  const auto plain = t::build_registry().make_dataset(
      "imagefolder", trainyard::Params({{"root", (dir / "data").string()}, {"image_size", std::int64_t{16}}}),
      trainyard::DatasetContext{3});
  EXPECT_FALSE(first->deterministic(Split::kTrain));
  EXPECT_TRUE(first->deterministic(Split::kTest));
  EXPECT_TRUE(plain->deterministic(Split::kTrain));
  const std::size_t n = first->size(Split::kTrain);
  std::vector<torch::Tensor> epoch1, epoch2;
  first->begin_epoch(1);
  for (std::size_t i = 0; i < n; ++i) epoch1.push_back(first->get(Split::kTrain, i)->image);
  for (std::size_t i = 0; i < n; ++i) {  // asked again within the epoch: the same draw
    EXPECT_TRUE(torch::equal(epoch1[i], first->get(Split::kTrain, i)->image)) << i;
  }
  first->begin_epoch(2);
  for (std::size_t i = 0; i < n; ++i) epoch2.push_back(first->get(Split::kTrain, i)->image);
  // A second dataset of the same seed that starts at epoch 2 (a resumed run, or another process
  // serving part of epoch 2) and visits in reverse order draws exactly what the first drew.
  second->begin_epoch(2);
  int differing = 0;
  for (std::size_t k = n; k-- > 0;) {
    EXPECT_TRUE(torch::equal(epoch2[k], second->get(Split::kTrain, k)->image)) << k;
    if (!torch::equal(epoch1[k], epoch2[k])) ++differing;
  }
  EXPECT_GE(differing, 6);  // of 8 training images, almost all change between epochs
  for (std::size_t i = 0; i < first->size(Split::kTest); ++i) {
    EXPECT_TRUE(torch::equal(first->get(Split::kTest, i)->image, plain->get(Split::kTest, i)->image)) << i;
  }
}

// Issue 17: the validation split is carved from the training images with the seed, served
// without augmentation, and leaves the test split exactly as a run without one has it.
TEST(ImageFolder, AValidationSplitComesOutOfTrainingAndLeavesTestAsItWas) {
  t::TempDir dir;
  t::make_image_folder(dir / "data", {{"a", 10}, {"b", 10}}, 16);
  auto open_with = [&](double val_fraction, bool augment) {
    return t::build_registry().make_dataset("imagefolder",
                                            trainyard::Params({{"root", (dir / "data").string()},
                                                               {"image_size", std::int64_t{8}},
                                                               {"val_fraction", val_fraction},
                                                               {"horizontal_flip", augment},
                                                               {"random_resized_crop", augment}}),
                                            trainyard::DatasetContext{7});
  };
  const auto plain = open_with(0.0, false);
  const auto validated = open_with(0.25, true);
  EXPECT_EQ(plain->size(Split::kVal), 0u);
  ASSERT_EQ(validated->size(Split::kVal), 4u);  // floor(0.25 x 16 training images)
  EXPECT_EQ(validated->size(Split::kTrain), 12u);
  EXPECT_EQ(fingerprint(*validated, Split::kTest), fingerprint(*plain, Split::kTest));
  EXPECT_TRUE(validated->deterministic(Split::kVal));
  EXPECT_FALSE(validated->deterministic(Split::kTrain));

  // Without augmentation, training and validation together are the plain split's training images.
  const auto unaugmented = open_with(0.25, false);
  auto train_and_val = fingerprint(*unaugmented, Split::kTrain);
  const auto val = fingerprint(*unaugmented, Split::kVal);
  train_and_val.insert(train_and_val.end(), val.begin(), val.end());
  auto plain_train = fingerprint(*plain, Split::kTrain);
  std::sort(train_and_val.begin(), train_and_val.end());
  std::sort(plain_train.begin(), plain_train.end());
  EXPECT_EQ(train_and_val, plain_train);
  EXPECT_EQ(fingerprint(*open_with(0.25, true), Split::kVal), fingerprint(*validated, Split::kVal));  // seeded

  // Validation samples are the plain transform of their file: no crop, no flip, in any epoch.
  validated->begin_epoch(3);
  for (std::size_t i = 0; i < validated->size(Split::kVal); ++i) {
    EXPECT_TRUE(torch::equal(validated->get(Split::kVal, i)->image, unaugmented->get(Split::kVal, i)->image)) << i;
  }
}

TEST(ImageFolder, DescribesItsTransformForModelPackages) {
  t::TempDir dir;
  t::make_image_folder(dir / "data", {{"a", 2}, {"b", 2}});
  const auto pre = open(dir / "data", 1, "fail", 24)->preprocessing();
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->height, 24);
  EXPECT_EQ(pre->width, 24);
  EXPECT_EQ(pre->channels, 3);
  EXPECT_EQ(pre->color, "rgb");
  EXPECT_EQ(pre->resize, "stretch");
  EXPECT_EQ(pre->mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(pre->std, (std::vector<float>{0.229f, 0.224f, 0.225f}));
}
