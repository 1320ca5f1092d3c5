// A dataset of computed 8-bit images, served either as bytes with a pixel_normalization() (as the
// in-tree datasets do) or normalized by the plugin itself as float32 (as a dataset of API 3 did):
// the same run over both must see the same model inputs.
#include <trainyard/plugin_api.h>

namespace {
const std::vector<float> kMean{0.45f, 0.5f, 0.55f};
const std::vector<float> kStd{0.2f, 0.25f, 0.3f};

class PatternDataset : public trainyard::Dataset {
 public:
  explicit PatternDataset(bool pixels) : pixels_(pixels) {}
  std::vector<std::string> class_names() const override { return {"dark", "light"}; }
  std::size_t size(trainyard::Split split) const override { return split == trainyard::Split::kTrain ? 16 : 8; }
  trainyard::ImageShape image_shape() const override { return {3, 8, 8}; }
  std::optional<trainyard::Sample> get(trainyard::Split split, std::size_t index) const override {
    const std::int64_t label = static_cast<std::int64_t>(index % 2);
    const auto seed = static_cast<std::int64_t>(index) * 7 + (split == trainyard::Split::kTrain ? 0 : 3);
    auto bytes = (torch::arange(3 * 8 * 8, torch::kInt64).view({3, 8, 8}) * 37 + seed * 11) % 97 + label * 120;
    auto image = bytes.to(torch::kUInt8);
    if (pixels_) return trainyard::Sample{image, label};
    const auto mean = torch::tensor(kMean).view({3, 1, 1});
    const auto std = torch::tensor(kStd).view({3, 1, 1});
    return trainyard::Sample{image.to(torch::kFloat32).div_(255.0f).sub_(mean).div_(std), label};
  }
  std::string summary() const override { return pixels_ ? "patterns as bytes" : "patterns as floats"; }
  bool deterministic(trainyard::Split) const override { return true; }
  std::optional<trainyard::PixelNormalization> pixel_normalization() const override {
    if (!pixels_) return std::nullopt;
    return trainyard::PixelNormalization{kMean, kStd};
  }

 private:
  bool pixels_;
};

std::vector<trainyard::ParamSpec> schema() {
  return {trainyard::bool_param("pixels", true, "serve uint8 pixels (else normalized floats)")};
}
std::shared_ptr<trainyard::Dataset> make(const trainyard::Params& params, const trainyard::DatasetContext&) {
  return std::make_shared<PatternDataset>(params.get_bool("pixels"));
}
const trainyard::PluginInfo* info() {
  static const auto i = trainyard::dataset_plugin("pattern", "1.0.0", "computed 8x8 images", &schema, &make);
  return &i;
}
}  // namespace
TRAINYARD_PLUGIN(info)
