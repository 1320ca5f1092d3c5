// The `imagefolder` dataset plugin: class folders of JPEG/PNG images, resized and normalized as
// the reference recipe does, split into train and test by a seeded random permutation.
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
      trainyard::string_param("on_bad_image", "fail",
                              "what to do with a file that cannot be decoded: fail the run, or "
                              "skip it with a warning")
          .one_of({"fail", "skip"}),
  };
}

std::shared_ptr<trainyard::Dataset> make(const trainyard::Params& params,
                                         const trainyard::DatasetContext& context) {
  trainyard::datasets::ImageFolderOptions options;
  options.root = params.get_string("root");
  options.image_size = params.get_int("image_size");
  options.train_fraction = params.get_float("train_fraction");
  options.skip_bad_images = params.get_string("on_bad_image") == "skip";
  options.seed = context.seed;
  return std::make_shared<trainyard::datasets::ImageFolder>(options);
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info = trainyard::dataset_plugin(
      "imagefolder", "1.0.0", "class folders of JPEG/PNG images (torchvision's ImageFolder layout)",
      &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
