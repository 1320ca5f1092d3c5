// An ImageFolder dataset, as torchvision's: root/<class>/**/<image>, classes sorted by name.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <trainyard/image_io.h>
#include <trainyard/plugin_api.h>

#include "augmentation.h"

namespace trainyard::datasets {

struct ImageFolderOptions {
  std::filesystem::path root;
  std::int64_t image_size = 224;
  double train_fraction = 0.8;
  double val_fraction = 0.0;     // of the training images, held out for choosing the best epoch
  bool skip_bad_images = false;  // false: a file that cannot be decoded fails the run
  std::int64_t max_image_pixels = kDefaultMaxImagePixels;  // larger headers are bad images, unread
  std::uint64_t seed = 0;
  AugmentOptions augment;  // applied to the training split only
};

class ImageFolder : public trainyard::Dataset {
 public:
  /// Scans the folder and splits it. Throws std::invalid_argument for a missing root, a root
  /// without class folders, or a class folder without images.
  explicit ImageFolder(ImageFolderOptions options);

  std::vector<std::string> class_names() const override { return classes_; }
  std::size_t size(Split split) const override;
  ImageShape image_shape() const override;
  std::optional<Sample> get(Split split, std::size_t index) const override;
  std::string summary() const override;
  /// The test and validation splits always are; the training split is unless it is augmented.
  bool deterministic(Split split) const override { return split != Split::kTrain || !options_.augment.any(); }
  std::string content_key() const override { return content_key_; }
  void begin_epoch(std::int64_t epoch) override { epoch_.store(epoch, std::memory_order_relaxed); }
  std::optional<Preprocessing> preprocessing() const override;
  std::optional<PixelNormalization> pixel_normalization() const override;

  /// The file behind a sample (for tests and messages).
  const std::filesystem::path& path(Split split, std::size_t index) const;

 private:
  struct Entry {
    std::filesystem::path path;
    std::int64_t label;
  };
  const std::vector<std::size_t>& indices(Split split) const;
  const Entry& entry(Split split, std::size_t index) const;
  std::string make_content_key() const;

  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<Entry> entries_;
  std::vector<std::size_t> train_;  // indices into entries_
  std::vector<std::size_t> test_;
  std::vector<std::size_t> val_;  // carved from the training images
  std::string content_key_;
  // The epoch being served: training sample i of epoch e is augmented with the draw (seed, i, e),
  // so epochs differ, runs of one seed repeat exactly, and neither a resume nor sharding the
  // epoch over processes changes a draw.
  std::atomic<std::int64_t> epoch_{1};
  mutable std::mutex warned_mutex_;
  mutable std::set<std::string> warned_;
};

}  // namespace trainyard::datasets
