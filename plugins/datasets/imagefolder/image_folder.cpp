#include "image_folder.h"

#include <algorithm>
#include <sstream>

#include <spdlog/spdlog.h>
#include <trainyard/seeded_permutation.h>
#include <trainyard/image_files.h>
#include <trainyard/image_io.h>

namespace fs = std::filesystem;

namespace trainyard::datasets {

ImageFolder::ImageFolder(ImageFolderOptions options) : options_(std::move(options)) {
  // Label i is the i-th class folder in byte order, as torchvision numbers them.
  ImageFolderIndex index = index_image_folder(options_.root, "dataset.root");
  classes_ = std::move(index.class_names);
  for (std::size_t i = 0; i < index.files.size(); ++i) entries_.push_back({std::move(index.files[i]), index.labels[i]});

  // A seeded random permutation, then the first train_fraction of it for training.
  const auto permutation = seeded_permutation(entries_.size(), options_.seed);
  const auto train_count = static_cast<std::size_t>(options_.train_fraction * static_cast<double>(entries_.size()));
  for (std::size_t i = 0; i < permutation.size(); ++i) {
    (i < train_count ? train_ : test_).push_back(static_cast<std::size_t>(permutation[i]));
  }
  try {
    val_ = carve_validation(train_, options_.val_fraction, options_.seed);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("dataset.") + e.what() + " (more images, or another val_fraction)");
  }

  content_key_ = make_content_key();
}

std::string ImageFolder::make_content_key() const {
  // FNV-1a over everything that decides the decoded samples: each file (path below the root,
  // size, modification time) in split order, and the transform. A changed file changes the key.
  std::uint64_t hash = 14695981039346656037ULL;
  auto mix = [&](const std::string& text) {
    for (unsigned char c : text) {
      hash ^= c;
      hash *= 1099511628211ULL;
    }
    hash ^= 0xff;  // field separator
    hash *= 1099511628211ULL;
  };
  mix("imagefolder 2");  // 2: 8-bit samples, resized as PIL resizes 8-bit images
  mix(std::to_string(options_.image_size));
  mix("mean 0.485 0.456 0.406 std 0.229 0.224 0.225");
  if (options_.augment.any()) mix("augmented");  // never shared: the samples vary
  for (const auto* split : {&train_, &test_, &val_}) {
    if (split == &val_ && val_.empty()) continue;  // keys of runs without one stay as they were
    mix(std::to_string(split->size()));
    for (std::size_t index : *split) {
      const Entry& e = entries_[index];
      std::error_code ec;
      mix(e.path.lexically_relative(options_.root).string());
      mix(std::to_string(e.label));
      mix(std::to_string(fs::file_size(e.path, ec)));
      mix(std::to_string(fs::last_write_time(e.path, ec).time_since_epoch().count()));
    }
  }
  char key[32];
  std::snprintf(key, sizeof key, "imagefolder-%016llx", static_cast<unsigned long long>(hash));
  return key;
}

const std::vector<std::size_t>& ImageFolder::indices(Split split) const {
  switch (split) {
    case Split::kTrain: return train_;
    case Split::kVal: return val_;
    case Split::kTest: break;
  }
  return test_;
}

std::size_t ImageFolder::size(Split split) const { return indices(split).size(); }

ImageShape ImageFolder::image_shape() const { return ImageShape{3, options_.image_size, options_.image_size}; }

const ImageFolder::Entry& ImageFolder::entry(Split split, std::size_t index) const {
  return entries_.at(indices(split).at(index));
}

const fs::path& ImageFolder::path(Split split, std::size_t index) const { return entry(split, index).path; }

std::optional<Sample> ImageFolder::get(Split split, std::size_t index) const {
  const Entry& e = entry(split, index);
  try {
    RgbImage image = read_image(e.path, static_cast<int>(options_.image_size), options_.max_image_pixels);
    if (split == Split::kTrain && options_.augment.any()) {
      const auto epoch = epoch_.load(std::memory_order_relaxed);
      auto random = augmentation_generator(options_.seed, index, static_cast<std::uint64_t>(epoch));
      if (options_.augment.random_resized_crop) {
        image =
            crop(image, random_resized_crop_box(image.width, image.height, options_.augment.crop_scale_min, random));
      }
      if (options_.augment.horizontal_flip && std::bernoulli_distribution(0.5)(random)) flip_horizontally(image);
    }
    // 8-bit pixels: the host keeps them as bytes and normalizes whole batches (pixel_normalization).
    return Sample{to_pixel_tensor(image, options_.image_size, options_.image_size), e.label};
  } catch (const ImageDecodeError& error) {
    if (!options_.skip_bad_images) {
      throw DataError(std::string(error.what()) + " (set dataset.on_bad_image: skip to leave such files out)");
    }
    std::lock_guard<std::mutex> lock(warned_mutex_);
    if (warned_.insert(e.path.string()).second) spdlog::warn("skipping image {}", error.what());
    return std::nullopt;
  }
}

std::string ImageFolder::summary() const {
  std::ostringstream out;
  out << "imagefolder '" << options_.root.string() << "': " << entries_.size() << " images in " << classes_.size()
      << " classes (";
  for (std::size_t i = 0; i < classes_.size(); ++i) out << (i ? ", " : "") << classes_[i];
  out << "), " << train_.size() << " train / ";
  if (!val_.empty()) out << val_.size() << " val / ";
  out << test_.size() << " test, " << options_.image_size << "x" << options_.image_size;
  return out.str();
}

std::optional<Preprocessing> ImageFolder::preprocessing() const {
  Preprocessing p;
  p.height = p.width = options_.image_size;
  p.channels = 3;
  p.color = "rgb";
  p.resize = "stretch";
  const auto normalization = *pixel_normalization();
  p.mean = normalization.mean;
  p.std = normalization.std;
  return p;
}

std::optional<PixelNormalization> ImageFolder::pixel_normalization() const {
  // ImageNet statistics, as the reference recipe (and most pretrained models) normalize.
  return PixelNormalization{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}

}  // namespace trainyard::datasets
