// The `idx` dataset plugin: MNIST-format (IDX) files read straight from their folder, gzip or
// plain, as Debian's dataset-fashion-mnist ships Fashion-MNIST. The train split is the
// train-*-ubyte files, the test split the t10k-* files; labels may be narrowed to some classes.
#include <trainyard/errors.h>
#include <trainyard/idx_files.h>
#include <trainyard/image_io.h>
#include <trainyard/plugin_api.h>
#include <trainyard/seeded_permutation.h>

#include <cmath>
#include <map>

namespace {

struct IdxOptions {
  std::string root;
  std::vector<int> classes;                        // kept labels, sorted; the dataset's labels are their indices
  std::int64_t per_class = 0, test_per_class = 0;  // 0: all
  std::int64_t image_size = 28;
  std::int64_t channels = 3;
  bool digit_names = false;  // class names "0".."9" (MNIST) instead of Fashion-MNIST's
  double val_fraction = 0;   // of the kept training images, held out for validation
  std::uint64_t seed = 0;
};

class IdxDataset : public trainyard::Dataset {
 public:
  explicit IdxDataset(IdxOptions options) : options_(std::move(options)) {
    read_splits();
    carve_validation_split();
    normalize_with_training_statistics();
  }

 private:
  void read_splits() {
    for (const bool train : {true, false}) {
      auto files = trainyard::read_idx_split(options_.root, train);
      if (!train && (files.images.dims[1] != height_ || files.images.dims[2] != width_)) {
        // Every image is read with one height and width: a test file of another shape would be
        // read out of bounds.
        throw trainyard::InputError("'" + options_.root + "': the t10k images are " +
                                    std::to_string(files.images.dims[1]) + "x" + std::to_string(files.images.dims[2]) +
                                    ", the train images " + std::to_string(height_) + "x" + std::to_string(width_) +
                                    "; both splits need one size");
      }
      height_ = files.images.dims[1];
      width_ = files.images.dims[2];
      auto& split = splits_[train ? 0 : 1];
      split.pixels = std::make_shared<const std::vector<std::uint8_t>>(std::move(files.images.data));
      const std::int64_t limit = train ? options_.per_class : options_.test_per_class;
      std::map<int, std::int64_t> taken;
      for (std::size_t i = 0; i < files.labels.data.size(); ++i) {
        const int label = files.labels.data[i];
        const auto kept = std::find(options_.classes.begin(), options_.classes.end(), label);
        if (kept == options_.classes.end()) continue;
        if (limit > 0 && taken[label] >= limit) continue;
        ++taken[label];
        split.indices.push_back(i);  // the file's order: the first train sample is the file's first kept image
        split.labels.push_back(kept - options_.classes.begin());
      }
    }
  }

  // The validation images are the training file's, so they share its pixels.
  void carve_validation_split() {
    auto& train = splits_[0];
    auto& val = splits_[2];
    val.pixels = train.pixels;
    std::vector<std::size_t> positions(train.indices.size());
    for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = i;
    std::vector<std::size_t> held_out;
    try {
      held_out = trainyard::carve_validation(positions, options_.val_fraction, options_.seed);
    } catch (const std::invalid_argument& e) {
      throw trainyard::InputError(std::string("dataset.") + e.what() + " (more per_class, or another val_fraction)");
    }
    SplitData kept;
    kept.pixels = train.pixels;
    for (const auto i : positions) {
      kept.indices.push_back(train.indices[i]);
      kept.labels.push_back(train.labels[i]);
    }
    for (const auto i : held_out) {
      val.indices.push_back(train.indices[i]);
      val.labels.push_back(train.labels[i]);
    }
    train = std::move(kept);
  }

  void normalize_with_training_statistics() {
    // Normalized with the kept training images' own mean and deviation (one gray channel, copied
    // to `channels`): the ImageNet statistics of the RGB recipe do not fit these images.
    double sum = 0, squares = 0;
    const auto& train = splits_[0];
    const std::size_t pixels = static_cast<std::size_t>(height_ * width_);
    for (const auto i : train.indices) {
      for (std::size_t p = 0; p < pixels; ++p) {
        const double v = (*train.pixels)[i * pixels + p] / 255.0;
        sum += v;
        squares += v * v;
      }
    }
    const double n = static_cast<double>(train.indices.size() * pixels);
    mean_ = n > 0 ? sum / n : 0.0;
    std_ = n > 0 ? std::sqrt(std::max(squares / n - mean_ * mean_, 1e-12)) : 1.0;
  }

 public:
  std::vector<std::string> class_names() const override {
    std::vector<std::string> names;
    for (const int label : options_.classes) {
      names.push_back(options_.digit_names ? std::to_string(label) : trainyard::fashion_mnist_class_names()[label]);
    }
    return names;
  }
  std::size_t size(trainyard::Split split) const override { return splits_[index(split)].indices.size(); }
  trainyard::ImageShape image_shape() const override {
    return {options_.channels, options_.image_size, options_.image_size};
  }

  std::optional<trainyard::Sample> get(trainyard::Split split, std::size_t i) const override {
    const auto& s = splits_[index(split)];
    const std::size_t pixels = static_cast<std::size_t>(height_ * width_);
    const auto file_pixels = torch::from_blob(const_cast<std::uint8_t*>(s.pixels->data() + s.indices.at(i) * pixels),
                                              {1, height_, width_}, torch::kUInt8);
    // 8-bit pixels: the host normalizes whole batches (pixel_normalization).
    auto image = trainyard::resize_pixels(file_pixels, options_.image_size, options_.image_size)
                     .expand({options_.channels, -1, -1})
                     .contiguous();
    return trainyard::Sample{image, s.labels.at(i)};
  }

  std::string summary() const override {
    return "IDX files in " + options_.root + ": " + std::to_string(options_.classes.size()) + " classes, " +
           std::to_string(size(trainyard::Split::kTrain)) + " train (train-*) / " +
           (size(trainyard::Split::kVal) ? std::to_string(size(trainyard::Split::kVal)) + " val (train-*) / " : "") +
           std::to_string(size(trainyard::Split::kTest)) + " test (t10k-*) images of " + std::to_string(height_) + "x" +
           std::to_string(width_) + ", served at " + std::to_string(options_.image_size) + "x" +
           std::to_string(options_.image_size) + "x" + std::to_string(options_.channels);
  }
  bool deterministic(trainyard::Split) const override { return true; }
  // Files written from these images (tools/idx_to_imagefolder's gray PNGs) are read back to the
  // same tensors: gray, bilinear with antialiasing, these statistics.
  std::optional<trainyard::Preprocessing> preprocessing() const override {
    trainyard::Preprocessing p;
    p.height = p.width = options_.image_size;
    p.channels = options_.channels;
    p.color = "gray";
    p.resize = "stretch";
    const auto normalization = *pixel_normalization();
    p.mean = normalization.mean;
    p.std = normalization.std;
    return p;
  }
  std::optional<trainyard::PixelNormalization> pixel_normalization() const override {
    const auto channels = static_cast<std::size_t>(options_.channels);
    return trainyard::PixelNormalization{std::vector<float>(channels, static_cast<float>(mean_)),
                                         std::vector<float>(channels, static_cast<float>(std_))};
  }

 private:
  struct SplitData {
    std::shared_ptr<const std::vector<std::uint8_t>> pixels;  // the whole file's images
    std::vector<std::size_t> indices;                         // kept images, in file order
    std::vector<std::int64_t> labels;                         // their dataset labels
  };
  static int index(trainyard::Split split) {
    return split == trainyard::Split::kTrain ? 0 : split == trainyard::Split::kTest ? 1 : 2;
  }

  IdxOptions options_;
  SplitData splits_[3];  // train, test, val
  std::int64_t height_ = 0, width_ = 0;
  double mean_ = 0, std_ = 1;
};

std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::string_param("root", "/usr/share/datasets/fashion-mnist",
                              "folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"),
      trainyard::string_param("classes", "0,1,2,3,4,5,6,7,8,9",
                              "labels to keep, 0-9 or Fashion-MNIST names (tshirt_top, trouser, ...), comma-separated"),
      trainyard::int_param("per_class", 0, "training images per class, the file's first ones; 0: all").at_least(0),
      trainyard::int_param("test_per_class", 0, "test images per class; 0: all").at_least(0),
      trainyard::float_param("val_fraction", 0.0,
                             "share of the kept training images held out (seeded) as a validation split, on "
                             "which the best epoch is chosen (train.select_on); 0: none")
          .at_least(0)
          .less_than(1),
      trainyard::int_param("image_size", 28, "served as image_size x image_size (bilinear, antialiased)").at_least(1),
      trainyard::int_param("channels", 3, "1 (gray) or 3 (gray copied, for RGB models)").at_least(1).at_most(3),
      trainyard::string_param("names", "fashion-mnist", "class names: Fashion-MNIST's, or the digits (MNIST)")
          .one_of({"fashion-mnist", "digits"}),
  };
}

std::shared_ptr<trainyard::Dataset> make(const trainyard::Params& params, const trainyard::DatasetContext& context) {
  IdxOptions options;
  options.root = params.get_string("root");
  options.classes = trainyard::parse_idx_classes(params.get_string("classes"), "dataset.classes");
  options.per_class = params.get_int("per_class");
  options.test_per_class = params.get_int("test_per_class");
  options.image_size = params.get_int("image_size");
  options.channels = params.get_int("channels");
  options.digit_names = params.get_string("names") == "digits";
  options.val_fraction = params.get_float("val_fraction");
  options.seed = context.seed;
  if (options.channels == 2) throw trainyard::InputError("dataset.channels: 1 or 3, not 2");
  return std::make_shared<IdxDataset>(std::move(options));
}

const trainyard::PluginInfo* plugin_info() {
  static const trainyard::PluginInfo info = trainyard::dataset_plugin(
      "idx", "1.0.0", "MNIST-format IDX files, gzip or plain (Debian's Fashion-MNIST by default)", &schema, &make);
  return &info;
}

}  // namespace

TRAINYARD_PLUGIN(plugin_info)
