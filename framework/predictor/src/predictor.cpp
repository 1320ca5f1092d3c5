#include "trainyard/predictor.h"

#include <dlfcn.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "trainyard/config/validation.h"
#include "trainyard/data/batch_loader.h"
#include "trainyard/image_io.h"
#include "trainyard/package/model_package.h"
#include "trainyard/plugin/plugin_registry.h"
#include "trainyard/torch_compat.h"
#include "trainyard/train/device.h"

namespace fs = std::filesystem;

namespace trainyard {

struct Predictor::State {
  ModelPackage package;
  std::unique_ptr<PluginRegistry> registry;  // holds the model plugin's library open
  std::shared_ptr<Model> model;
  torch::Tensor mean, std;  // [C, 1, 1]
  at::ScalarType autocast_type = at::kBFloat16;
  bool autocast = false;  // bf16 autocast, as the run computed
  std::int64_t batch_size = 32;
  int loader_threads = 1;
};

namespace {

// The plugin folder of the installation this library belongs to: <libdir>/trainyard/plugins,
// wherever the program that links it lives.
fs::path installed_plugin_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&installed_plugin_folder), &info) == 0 || !info.dli_fname) return {};
  std::error_code ec;
  return fs::canonical(info.dli_fname, ec).parent_path() / "trainyard" / "plugins";
}

Params model_params(const ModelPackage& package, const LoadedPlugin& plugin, const std::string& file) {
  YAML::Node root;
  root["model"] = YAML::Load(package.model_section_yaml);
  const auto document = ExperimentDocument::parse(YAML::Dump(root), file);
  Problems problems;
  Params params = validate_section(document, document.section("model"), plugin.schema, "model",
                                   "model plugin '" + plugin.name() + "'", {"plugin"}, problems);
  if (!problems.empty()) problems.raise(file);
  return params;
}

const LoadedPlugin& find_model_plugin(const PluginRegistry& registry, const ModelPackage& package,
                                      const std::string& file) {
  const LoadedPlugin& plugin = registry.find(PluginKind::kModel, package.model_plugin);
  if (plugin.version() != package.model_plugin_version) {
    throw PluginError("model package '" + file + "' was made with model plugin '" + package.model_plugin + "' " +
                      package.model_plugin_version + "; the one found (" + plugin.path.string() + ") is version " +
                      plugin.version() + ". Install the plugin the model was trained with.");
  }
  return plugin;
}

std::shared_ptr<Model> build_model(const PluginRegistry& registry, const ModelPackage& package,
                                   const std::string& file) {
  const LoadedPlugin& plugin = find_model_plugin(registry, package, file);
  auto model = registry.make_model(package.model_plugin, model_params(package, plugin, file), package.model_context);
  torch::NoGradGuard no_grad;
  if (package.channels_last) {
    for (auto& p : model->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(package.weights.data(), package.weights.size());
    model->load(archive);
  } catch (const c10::Error& e) {
    throw InputError("model package '" + file + "': its weights do not fit model plugin '" + package.model_plugin +
                     "': " + e.what_without_backtrace());
  }
  model->eval();
  return model;
}

// PIL's convert("L") (libImaging/Convert.c): (19595 R + 38470 G + 7471 B + 0x8000) >> 16, which
// gives a gray file's own value back.
torch::Tensor gray_tensor(const RgbImage& image) {
  auto gray = torch::empty({1, image.height, image.width}, torch::kUInt8);
  auto* out = gray.data_ptr<std::uint8_t>();
  const std::size_t n = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* rgb = &image.pixels[3 * i];
    out[i] = static_cast<std::uint8_t>((19595u * rgb[0] + 38470u * rgb[1] + 7471u * rgb[2] + 0x8000u) >> 16);
  }
  return gray;
}

// The dataset's transform, as the package says it: what imagefolder's and idx's test splits do,
// through the same 8-bit resize and normalization as the run's batches.
torch::Tensor preprocess(const Predictor::State& s, const RgbImage& image) {
  const Preprocessing& p = s.package.preprocessing;
  torch::Tensor pixels;
  if (p.color == "gray") {
    pixels = resize_pixels(gray_tensor(image), p.height, p.width).expand({p.channels, -1, -1});
  } else {
    pixels = to_pixel_tensor(image, p.height, p.width);
  }
  return normalize_pixels(pixels, s.mean, s.std);
}

RgbImage read_for(const Predictor::State& s, const std::string& file) {
  const Preprocessing& p = s.package.preprocessing;
  return read_image(file, static_cast<int>(std::max(p.height, p.width)));
}

std::vector<Prediction> classify(const Predictor::State& s, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  auto x = s.package.channels_last ? images.contiguous(at::MemoryFormat::ChannelsLast) : images;
  torch::Tensor logits;
  {
    compat::AutocastGuard autocast(c10::DeviceType::CPU, s.autocast_type, s.autocast);
    logits = s.model->forward(x);
  }
  const auto scores = logits.to(torch::kFloat32).contiguous();
  const auto probabilities = torch::softmax(scores, 1).contiguous();
  const auto labels = scores.argmax(1);
  std::vector<Prediction> out;
  const auto classes = probabilities.size(1);
  for (std::int64_t i = 0; i < probabilities.size(0); ++i) {
    Prediction p;
    p.label = labels[i].item<std::int64_t>();
    p.class_name = s.package.class_names.at(static_cast<std::size_t>(p.label));
    const float* row = probabilities.data_ptr<float>() + i * classes;
    p.probabilities.assign(row, row + classes);
    const float* logit = scores.data_ptr<float>() + i * classes;
    p.logits.assign(logit, logit + classes);
    out.push_back(std::move(p));
  }
  return out;
}

// Files as a dataset, so that predict_files decodes on BatchLoader's threads as training does.
// A sample's label is its file's index, which finds its prediction again after skipped files.
class FileList final : public Dataset {
 public:
  FileList(const Predictor::State& state, const std::vector<std::string>& files) : state_(state), files_(files) {}
  std::vector<std::string> class_names() const override { return state_.package.class_names; }
  std::size_t size(Split split) const override { return split == Split::kTest ? files_.size() : 0; }
  ImageShape image_shape() const override {
    const auto& p = state_.package.preprocessing;
    return {p.channels, p.height, p.width};
  }
  std::optional<Sample> get(Split, std::size_t index) const override {
    try {
      return Sample{preprocess(state_, read_for(state_, files_.at(index))), static_cast<std::int64_t>(index)};
    } catch (const ImageDecodeError& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_.emplace_back(index, e.what());
      return std::nullopt;
    }
  }
  std::string summary() const override { return std::to_string(files_.size()) + " files"; }
  bool deterministic(Split) const override { return true; }
  std::vector<std::pair<std::size_t, std::string>> errors() const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto sorted = errors_;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }

 private:
  const Predictor::State& state_;
  const std::vector<std::string>& files_;
  mutable std::mutex mutex_;
  mutable std::vector<std::pair<std::size_t, std::string>> errors_;
};

}  // namespace

Predictor Predictor::open(const std::string& package_file) { return open(package_file, Options{}); }

Predictor Predictor::open(const std::string& package_file, const Options& options) {
  auto state = std::make_shared<State>();
  state->package = read_model_package(package_file);
  std::vector<fs::path> folders(options.plugin_folders.begin(), options.plugin_folders.end());
  if (auto installed = installed_plugin_folder(); !installed.empty()) folders.push_back(installed);
  for (const auto& folder : plugin_search_path()) folders.push_back(folder);
  state->registry = std::make_unique<PluginRegistry>();
  state->registry->discover(folders);
  state->model = build_model(*state->registry, state->package, package_file);
  const Preprocessing& p = state->package.preprocessing;
  state->mean = channel_statistics(p.mean);
  state->std = channel_statistics(p.std);
  // bf16 autocast as the run had it; a run trained in fp16 (on a GPU) predicts in fp32 on the
  // CPU, which has no fp16 autocast.
  state->autocast = state->package.precision == "bf16";
  state->autocast_type = at::kBFloat16;
  state->batch_size = options.batch_size > 0 ? options.batch_size : state->package.batch_size;
  if (options.threads >= 0) configure_cpu_threads(options.threads);
  const int cores = available_cpu_cores();
  state->loader_threads = options.loader_threads > 0 ? options.loader_threads : std::max(1, cores / 2);
  return Predictor(std::move(state));
}

const std::vector<std::string>& Predictor::class_names() const { return state_->package.class_names; }

const std::vector<std::pair<std::string, std::string>>& Predictor::provenance() const {
  return state_->package.provenance;
}

torch::Tensor Predictor::preprocess_file(const std::string& file) const {
  try {
    return preprocess(*state_, read_for(*state_, file));
  } catch (const ImageDecodeError& e) {
    throw InputError(e.what());
  }
}

Prediction Predictor::predict_file(const std::string& file) const {
  return classify(*state_, preprocess_file(file).unsqueeze(0)).at(0);
}

Prediction Predictor::predict(const torch::Tensor& image) const {
  const Preprocessing& p = state_->package.preprocessing;
  if (image.dim() != 3)
    throw InputError("predict: expected an image [C, H, W], got " + std::to_string(image.dim()) + " dimensions");
  if (image.scalar_type() == torch::kFloat32) {
    if (image.size(0) != p.channels || image.size(1) != p.height || image.size(2) != p.width) {
      throw InputError("predict: a float image must be preprocessed already, [" + std::to_string(p.channels) + ", " +
                       std::to_string(p.height) + ", " + std::to_string(p.width) + "]");
    }
    return classify(*state_, image.unsqueeze(0)).at(0);
  }
  if (image.scalar_type() != torch::kUInt8 || (image.size(0) != 1 && image.size(0) != 3)) {
    throw InputError("predict: expected uint8 pixels [1 or 3, H, W] or a preprocessed float32 image");
  }
  const auto hwc = image.expand({3, -1, -1}).permute({1, 2, 0}).contiguous();
  RgbImage rgb;
  rgb.height = static_cast<int>(hwc.size(0));
  rgb.width = static_cast<int>(hwc.size(1));
  rgb.pixels.assign(hwc.data_ptr<std::uint8_t>(), hwc.data_ptr<std::uint8_t>() + hwc.numel());
  return classify(*state_, preprocess(*state_, rgb).unsqueeze(0)).at(0);
}

std::vector<Prediction> Predictor::predict_files_skipping(
    const std::vector<std::string>& files, std::vector<std::pair<std::size_t, std::string>>& errors) const {
  std::vector<Prediction> out(files.size());
  if (files.empty()) return out;
  FileList list(*state_, files);
  BatchLoader::Options options;
  options.batch_size = state_->batch_size;
  options.threads = state_->loader_threads;
  std::vector<std::int64_t> order(files.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  BatchLoader loader(list, Split::kTest, std::move(order), options);
  while (auto batch = loader.next()) {
    auto predictions = classify(*state_, batch->images);
    const auto* index = batch->labels.data_ptr<std::int64_t>();
    for (std::size_t i = 0; i < predictions.size(); ++i)
      out[static_cast<std::size_t>(index[i])] = std::move(predictions[i]);
  }
  errors = list.errors();
  return out;
}

std::vector<Prediction> Predictor::predict_files(const std::vector<std::string>& files) const {
  std::vector<std::pair<std::size_t, std::string>> errors;
  auto predictions = predict_files_skipping(files, errors);
  if (!errors.empty()) throw InputError(errors.front().second);
  return predictions;
}

}  // namespace trainyard
