// Training-time augmentation for ImageFolder: random resized crops and horizontal flips, drawn
// so that the k-th time a sample is asked for it is augmented the same way in every run of the
// same seed, whatever the order in which loader threads ask.
#pragma once

#include <cstdint>
#include <random>

#include <trainyard/image_io.h>

namespace trainyard::datasets {

struct AugmentOptions {
  bool random_resized_crop = false;
  double crop_scale_min = 0.08;  // smallest crop, as a fraction of the image's area
  bool horizontal_flip = false;
  bool any() const { return random_resized_crop || horizontal_flip; }
};

struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
};

/// The crop of "Going deeper with convolutions" (Szegedy et al., 2015) as torchvision's
/// RandomResizedCrop draws it: an area fraction in [scale_min, 1] and an aspect ratio
/// log-uniform in [3/4, 4/3]; after 10 misses, the central crop of the nearest allowed ratio.
CropBox random_resized_crop_box(int width, int height, double scale_min, std::mt19937_64& random);

RgbImage crop(const RgbImage& image, const CropBox& box);
void flip_horizontally(RgbImage& image);

/// The generator for sample `index` in epoch `epoch` under `seed`.
std::mt19937_64 augmentation_generator(std::uint64_t seed, std::uint64_t index, std::uint64_t epoch);

}  // namespace trainyard::datasets
