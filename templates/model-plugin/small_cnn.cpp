// A small CNN as a Trainyard model plugin: copy this folder, rename, change the network.
//
// Everything a plugin needs is in <trainyard/plugin_api.h>: its parameters (a typed schema the
// runner validates before calling you), the Model interface, and TRAINYARD_PLUGIN to export it.
#include <trainyard/batch_norm.h>  // torch::nn::BatchNorm2d that data-parallel runs can synchronize
#include <trainyard/plugin_api.h>

namespace {

// The network, written as LibTorch's own modules are: an Impl class whose submodules are
// registered, so parameters(), to(device), train()/eval() and checkpoints all work.
class SmallCnnImpl : public trainyard::Model {
 public:
  SmallCnnImpl(std::int64_t in_channels, std::int64_t num_classes, std::int64_t width, double dropout) {
    features_ = register_module(
        "features",
        torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, width, 3).padding(1).bias(false)),
                              trainyard::BatchNorm2d(width), torch::nn::ReLU(), torch::nn::MaxPool2d(2),
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(width, 2 * width, 3).padding(1).bias(false)),
                              trainyard::BatchNorm2d(2 * width), torch::nn::ReLU(), torch::nn::AdaptiveAvgPool2d(1)));
    dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
    classifier_ = register_module("classifier", torch::nn::Linear(2 * width, num_classes));
  }

  torch::Tensor forward(torch::Tensor images) override {
    return classifier_(dropout_(features_->forward(images).flatten(1)));
  }

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};

// The parameters experiment files may set under `model:`, with defaults and valid ranges. The
// runner rejects unknown keys and bad values before training, naming the file and line.
std::vector<trainyard::ParamSpec> schema() {
  return {
      trainyard::int_param("width", 16, "channels of the first convolution (the second has twice as many)").at_least(1),
      trainyard::float_param("dropout", 0.0, "dropout before the classifier").at_least(0.0).less_than(1.0),
  };
}

// Called with validated parameters and what the data says (classes, channels, image size).
std::shared_ptr<trainyard::Model> make(const trainyard::Params& params, const trainyard::ModelContext& context) {
  return std::make_shared<SmallCnnImpl>(context.in_channels, context.num_classes, params.get_int("width"),
                                        params.get_float("dropout"));
}

const trainyard::PluginInfo* info() {
  static const auto plugin = trainyard::model_plugin(
      "small_cnn", "1.0.0", "two convolutions, batch norm, global pooling (template example)", &schema, &make);
  return &plugin;
}

}  // namespace

TRAINYARD_PLUGIN(info)
