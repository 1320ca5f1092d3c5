// Trainyard plugin API: the whole contract between the runner and a plugin library.
//
// A plugin is a shared library that exports exactly one entry point, declared with
// TRAINYARD_PLUGIN(fn). The runner loads the library, calls fn(), and reads the PluginInfo it
// returns: first the layout-stable prefix (API version, build fingerprint, name), and only if
// both match the host, the rest (kind, schema, factory). One library holds one plugin.
//
// A minimal model plugin:
//
//   #include <trainyard/plugin_api.h>
//   namespace {
//   std::vector<trainyard::ParamSpec> schema() { return {trainyard::int_param("width", 64, "channels")}; }
//   std::shared_ptr<trainyard::Model> make(const trainyard::Params& p, const trainyard::ModelContext& c) {
//     return std::make_shared<MyNetImpl>(p.get_int("width"), c.num_classes);
//   }
//   const trainyard::PluginInfo* info() {
//     static const auto i = trainyard::model_plugin("mynet", "1.0.0", "My network", &schema, &make);
//     return &i;
//   }
//   }  // namespace
//   TRAINYARD_PLUGIN(info)
//
// Exceptions thrown from schema() or a factory are caught by the host at the plugin boundary and
// reported with the plugin's name and file; they never take the runner down.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <boost/dll/alias.hpp>
#include <torch/torch.h>
#include <torch/version.h>

namespace trainyard {

/// The plugin API version. Bump it whenever a plugin built against the previous header could
/// misbehave with the new host: a change to the layout of any struct below, to a virtual function
/// of Model or Dataset, to a factory signature, or to the meaning of a field. Adding a free
/// function or a new helper that plugins need not call does not require a bump.
// 2: Dataset::begin_epoch().
// 3: Split::kVal (a validation split the dataset carves from its training images) and
//    Dataset::preprocessing() (the transform as data, for model packages).
// 4: Dataset::pixel_normalization(): samples may be 8-bit pixels that the host normalizes.
inline constexpr std::uint32_t kPluginApiVersion = 4;

/// The name of the one symbol every plugin library exports (see TRAINYARD_PLUGIN).
inline constexpr const char* kPluginEntrySymbol = "trainyard_plugin";

#define TRAINYARD_STRINGIFY_IMPL(x) #x
#define TRAINYARD_STRINGIFY(x) TRAINYARD_STRINGIFY_IMPL(x)
#if defined(_GLIBCXX_USE_CXX11_ABI)
#define TRAINYARD_CXX11_ABI TRAINYARD_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)
#else
#define TRAINYARD_CXX11_ABI "n/a"
#endif
/// What a plugin was compiled against, captured when *the plugin* is compiled. LibTorch's classes
/// cross the plugin boundary, so the LibTorch version and the C++ standard library ABI must match
/// the host's exactly.
#define TRAINYARD_BUILD_FINGERPRINT                                             \
  "libtorch " TRAINYARD_STRINGIFY(TORCH_VERSION_MAJOR) "." TRAINYARD_STRINGIFY( \
      TORCH_VERSION_MINOR) "." TRAINYARD_STRINGIFY(TORCH_VERSION_PATCH) ", C++11 ABI " TRAINYARD_CXX11_ABI

/// The fingerprint of the host (the framework library), for comparison with a plugin's.
const char* host_build_fingerprint();

// ---------------------------------------------------------------------------------------------
// Parameters: every plugin declares a schema; the host validates the YAML section against it and
// hands the plugin typed values with defaults filled in.

/// What a plugin makes: a network, a dataset, or an optimizer for a network's parameters.
enum class PluginKind : std::uint32_t { kModel = 1, kDataset = 2, kOptimizer = 3 };

/// "model", "dataset" or "optimizer": the YAML section and folder name of the kind.
const char* to_string(PluginKind kind);

/// The type of a parameter, as YAML gives it: true/false, an integer, a number, a string.
enum class ParamType : std::uint32_t { kBool, kInt, kFloat, kString };

/// "bool", "integer", "number" or "string", as error messages name them.
const char* to_string(ParamType type);

/// A parameter's value; the alternative matches its ParamType.
using ParamValue = std::variant<bool, std::int64_t, double, std::string>;

/// One bound of a numeric parameter's accepted range.
struct Bound {
  double value = 0.0;
  bool inclusive = true;
};

/// One parameter of a plugin (or of a framework section): name, type, default, what it means and
/// which values are accepted. A parameter without a default is required.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  std::optional<ParamValue> default_value;
  std::string description;
  std::optional<Bound> min;          // kInt and kFloat only
  std::optional<Bound> max;          // kInt and kFloat only
  std::vector<std::string> choices;  // kString only; empty accepts any string

  // Chained after a helper below: int_param("width", 16, "...").at_least(1).
  ParamSpec& at_least(double v) {
    min = Bound{v, true};
    return *this;
  }
  ParamSpec& greater_than(double v) {
    min = Bound{v, false};
    return *this;
  }
  ParamSpec& at_most(double v) {
    max = Bound{v, true};
    return *this;
  }
  ParamSpec& less_than(double v) {
    max = Bound{v, false};
    return *this;
  }
  ParamSpec& one_of(std::vector<std::string> values) {
    choices = std::move(values);
    return *this;
  }
};

// Helpers to declare parameters. Pass std::nullopt as the default to make a parameter required.
ParamSpec bool_param(std::string name, std::optional<bool> default_value, std::string description);
ParamSpec int_param(std::string name, std::optional<std::int64_t> default_value, std::string description);
ParamSpec float_param(std::string name, std::optional<double> default_value, std::string description);
ParamSpec string_param(std::string name, std::optional<std::string> default_value, std::string description);

/// "accepted: a number > 0 and <= 1", "one of: fail, skip": what a spec accepts, for messages.
std::string describe_accepted(const ParamSpec& spec);

/// Validated parameter values, one per schema entry, defaults filled in.
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue> values);

  /// The value of `name`, which must be declared with that type; throws std::logic_error
  /// naming the key otherwise (a plugin reading a key its schema lacks).
  bool get_bool(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  bool contains(const std::string& name) const { return values_.count(name) != 0; }
  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  const ParamValue& at(const std::string& name) const;
  std::map<std::string, ParamValue> values_;
};

// ---------------------------------------------------------------------------------------------
// The three kinds of plugin.

/// What a model is told about the data it will see.
struct ModelContext {
  std::int64_t num_classes = 0;
  std::int64_t in_channels = 3;
  std::int64_t image_size = 224;  // square inputs of image_size x image_size
};

/// An image classifier: images [N, C, H, W] in, logits [N, num_classes] out. Implement it as
/// `class MyNetImpl : public trainyard::Model` with register_module() for every submodule, as
/// LibTorch's own modules do, so that parameters(), to(), train()/eval() and save() work.
class Model : public torch::nn::Module {
 public:
  ~Model() override;
  virtual torch::Tensor forward(torch::Tensor images) = 0;
};

/// The splits a dataset serves. kVal is carved from the training images (the dataset's
/// `val_fraction`, seeded) and served as the test split is, without augmentation: the run picks
/// its best epoch on it, so the test split stays unseen until the end. A dataset without a
/// validation split returns size(kVal) == 0 and is never asked for a kVal sample.
enum class Split : std::uint32_t { kTrain = 0, kTest = 1, kVal = 2 };

/// "train", "test" or "val".
const char* to_string(Split split);

/// One decoded example and its class index. The image is [C, H, W]: float32, already
/// normalized; or, from a dataset that declares a pixel_normalization(), uint8 pixels (0..255)
/// that the host normalizes after batching.
struct Sample {
  torch::Tensor image;
  std::int64_t label = 0;
};

/// Image shape every sample of a dataset has.
struct ImageShape {
  std::int64_t channels = 3;
  std::int64_t height = 0;
  std::int64_t width = 0;
};

/// How a dataset turns an image file into a model input, as data: what a model package keeps so
/// that prediction from files applies the dataset's own transform without the dataset plugin.
/// The file is decoded to 8-bit RGB (image_io.h's read_image, JPEGs at a reduced scale that keeps
/// both sides >= the larger of height and width), converted to `color`, resized by `resize`,
/// scaled to [0, 1] and normalized per channel: (x - mean[c]) / std[c] (image_io.h's
/// normalize_pixels, as the host normalizes a dataset's 8-bit batches).
struct Preprocessing {
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t channels = 3;  // of the model's input
  /// "rgb"; or "gray": PIL's convert("L") of the decoded image, (299 R + 587 G + 114 B) / 1000
  /// in integers (a gray file's own values), copied to every channel.
  std::string color = "rgb";
  /// "stretch": bilinear with antialiasing to height x width, the aspect ratio not kept, rounded
  /// to 8 bits (image_io.h's resize_pixels; torchvision's Resize((h, w)) of a PIL image).
  std::string resize = "stretch";
  std::vector<float> mean;  // one per channel
  std::vector<float> std;   // one per channel
};

/// How the host turns a batch of 8-bit samples into model inputs: x / 255, then
/// (x - mean[c]) / std[c] per channel (torchvision's ToTensor and Normalize).
struct PixelNormalization {
  std::vector<float> mean;  // one per channel
  std::vector<float> std;   // one per channel
};

/// What a dataset is told by the host.
struct DatasetContext {
  std::uint64_t seed = 0;  // the experiment's seed: make the train/test split from it
};

/// Thrown by a dataset for one sample it cannot produce (a corrupt file, say). The message should
/// name the file. The host fails the run with it.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~DataError() override;
};

/// A labelled image dataset, already split into train and test. The host batches, shuffles and
/// prefetches: get() is called concurrently from several loader threads and must be thread-safe.
class Dataset {
 public:
  virtual ~Dataset();
  /// Class names, index = label.
  virtual std::vector<std::string> class_names() const = 0;
  virtual std::size_t size(Split split) const = 0;
  virtual ImageShape image_shape() const = 0;
  /// Decodes sample `index` of `split` (0 <= index < size(split)). Returns std::nullopt for a
  /// sample the dataset was configured to skip (it reports why itself); throws DataError otherwise.
  virtual std::optional<Sample> get(Split split, std::size_t index) const = 0;
  /// One line for the log: what was found, where.
  virtual std::string summary() const = 0;
  /// True when get(split, i) returns the same sample on every call (no random augmentation), so
  /// the host may keep decoded samples in memory. The default, false, is always safe.
  virtual bool deterministic(Split split) const;
  /// Names the decoded samples: two datasets with the same key promise the same sample for every
  /// (split, index): same files (by size and time), same transform, same split. The host may then
  /// share decoded samples between runs (the trials of a sweep) through a file cache. The
  /// default, an empty key, never shares.
  virtual std::string content_key() const;
  /// Called before each epoch's passes (1, 2, ...), before any get() of that epoch and never
  /// during one. A dataset with random augmentation should draw sample i's transform of epoch e
  /// from (seed, i, e) alone: then a resumed run, and a run whose epoch is shared out over several
  /// processes, see exactly the draws of one uninterrupted process. The default does nothing.
  virtual void begin_epoch(std::int64_t epoch);
  /// The test split's transform from an image file, when it can be said as a Preprocessing;
  /// nullopt (the default) when it cannot: the run's model can then be evaluated on this dataset
  /// but not packaged for prediction from files.
  virtual std::optional<Preprocessing> preprocessing() const;
  /// Set when get() returns uint8 pixels rather than normalized floats: the host then keeps
  /// decoded samples as bytes (a quarter of the memory, in its cache and in the cache files it
  /// shares between runs) and normalizes each batch with these statistics where the model runs
  /// (the GPU, when there is one). nullopt (the default): get() returns normalized float images.
  /// Every sample of such a dataset must be uint8, of every other float32: the host refuses a
  /// sample of the other type with a DataError.
  virtual std::optional<PixelNormalization> pixel_normalization() const;
};

/// What an optimizer is told by the host.
struct OptimizerContext {
  std::vector<torch::Tensor> parameters;  // the model's trainable parameters
};

// ---------------------------------------------------------------------------------------------
// The entry point.

/// Returns the plugin's parameters. Called once when the library is loaded.
using SchemaFunction = std::vector<ParamSpec> (*)();
/// Make the plugin's object from validated parameters (every schema key present, in range) and
/// what the host knows. May throw: the host reports the exception with the plugin's name and file.
using ModelFactory = std::shared_ptr<Model> (*)(const Params&, const ModelContext&);
using DatasetFactory = std::shared_ptr<Dataset> (*)(const Params&, const DatasetContext&);
using OptimizerFactory = std::shared_ptr<torch::optim::Optimizer> (*)(const Params&, const OptimizerContext&);

/// What a plugin library describes itself with. Its strings must live as long as the library
/// (literals, or static std::strings' c_str()). The first three fields are a layout-stable
/// prefix that never changes across API versions: the host reads them from any plugin, old or
/// new, to refuse it with a clear message. Everything after them is read only when api_version
/// and build_fingerprint match the host's.
struct PluginInfo {
  std::uint32_t api_version;      // kPluginApiVersion when the plugin was compiled
  const char* build_fingerprint;  // TRAINYARD_BUILD_FINGERPRINT when the plugin was compiled
  const char* name;               // the name YAML files use: `model: {plugin: <name>}`
  // --- valid only when the prefix matches the host ---
  PluginKind kind;
  const char* version;              // the plugin's own version, e.g. "1.0.0"
  const char* description;          // one line
  SchemaFunction schema;            // the parameters it accepts
  ModelFactory make_model;          // set for kModel, null otherwise
  DatasetFactory make_dataset;      // set for kDataset, null otherwise
  OptimizerFactory make_optimizer;  // set for kOptimizer, null otherwise
};

/// The signature of the function TRAINYARD_PLUGIN exports.
using PluginEntry = const PluginInfo*();

// Build a PluginInfo of each kind with this header's API version and fingerprint filled in.
inline PluginInfo model_plugin(const char* name, const char* version, const char* description, SchemaFunction schema,
                               ModelFactory factory) {
  return PluginInfo{kPluginApiVersion,
                    TRAINYARD_BUILD_FINGERPRINT,
                    name,
                    PluginKind::kModel,
                    version,
                    description,
                    schema,
                    factory,
                    nullptr,
                    nullptr};
}
inline PluginInfo dataset_plugin(const char* name, const char* version, const char* description, SchemaFunction schema,
                                 DatasetFactory factory) {
  return PluginInfo{kPluginApiVersion,
                    TRAINYARD_BUILD_FINGERPRINT,
                    name,
                    PluginKind::kDataset,
                    version,
                    description,
                    schema,
                    nullptr,
                    factory,
                    nullptr};
}
inline PluginInfo optimizer_plugin(const char* name, const char* version, const char* description,
                                   SchemaFunction schema, OptimizerFactory factory) {
  return PluginInfo{kPluginApiVersion,
                    TRAINYARD_BUILD_FINGERPRINT,
                    name,
                    PluginKind::kOptimizer,
                    version,
                    description,
                    schema,
                    nullptr,
                    nullptr,
                    factory};
}

}  // namespace trainyard

/// Exports `info_function` (a `const trainyard::PluginInfo* ()`) as the plugin's entry point.
/// Use it once per plugin library, at namespace scope.
#define TRAINYARD_PLUGIN(info_function) BOOST_DLL_ALIAS(info_function, trainyard_plugin)
