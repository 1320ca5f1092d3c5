// The `imagefolder` dataset plugin: class folders of JPEG/PNG images, resized and normalized as
// the reference recipe does, split into train and test by a seeded random permutation.
#include <trainyard/image_io.h>
#include <trainyard/plugin_api.h>

#include "image_folder.h"

namespace {

std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::string_param("root", std::nullopt, "folder holding one sub-folder of images per class"),
      trainyard::int_param("image_size", 224, "images are resized to image_size x image_size")
          .at_least(8)
          .at_most(4096),
      trainyard::float_param("train_fraction", 0.8, "share of the images used for training")
          .greater_than(0)
          .less_than(1),
      trainyard::float_param("val_fraction", 0.0,
                             "share of the training images held out as a validation split, on which the best "
                             "epoch is chosen (train.select_on); 0: none, the best epoch is chosen on test")
          .at_least(0)
          .less_than(1),
      trainyard::string_param("on_bad_image", "fail",
                              "what to do with a file that cannot be decoded: fail the run, or "
                              "skip it with a warning")
          .one_of({"fail", "skip"}),
      trainyard::int_param("max_image_pixels", trainyard::kDefaultMaxImagePixels,
                           "an image whose header declares more pixels is a bad image (on_bad_image), refused "
                           "before it is decoded: a decompression bomb cannot exhaust memory")
          .at_least(1)
          .at_most(std::int64_t{1} << 40),
      trainyard::bool_param("random_resized_crop", false,
                            "training split: crop a random area and aspect ratio, then resize (Szegedy et al., 2015)"),
      trainyard::float_param("crop_scale_min", 0.08, "smallest random crop, as a fraction of the image's area")
          .greater_than(0)
          .at_most(1),
      trainyard::bool_param("horizontal_flip", false, "training split: mirror half of the images"),
  };
}

std::shared_ptr<trainyard::Dataset> make(const trainyard::Params& params, const trainyard::DatasetContext& context) {
  trainyard::datasets::ImageFolderOptions options;
  options.root = params.get_string("root");
  options.image_size = params.get_int("image_size");
  options.train_fraction = params.get_float("train_fraction");
  options.val_fraction = params.get_float("val_fraction");
  options.skip_bad_images = params.get_string("on_bad_image") == "skip";
  options.max_image_pixels = params.get_int("max_image_pixels");
  options.seed = context.seed;
  options.augment.random_resized_crop = params.get_bool("random_resized_crop");
  options.augment.crop_scale_min = params.get_float("crop_scale_min");
  options.augment.horizontal_flip = params.get_bool("horizontal_flip");
  return std::make_shared<trainyard::datasets::ImageFolder>(options);
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info = trainyard::dataset_plugin(
      "imagefolder", "1.0.0", "class folders of JPEG/PNG images (torchvision's ImageFolder layout)", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
