// Trainyard's inference API: a trained model, exported as a package (`runner --export RUN --out
// model.typkg`), classifying images from a C++ program. Link Trainyard::predictor.
//
//   trainyard::Predictor predictor = trainyard::Predictor::open("model.typkg");
//   trainyard::Prediction p = predictor.predict_file("x.jpg");
//   std::cout << p.class_name << " " << p.probabilities[p.label] << "\n";
//
// The package names its model plugin; open() finds it in the installed plugin folder and the
// folders of TRAINYARD_PLUGIN_PATH (or Options::plugin_folders), refuses one whose version differs
// from the package's, and applies the package's preprocessing itself, with the run's precision and
// layout: on the CPU a file gets exactly the figures `runner --predict` gives it. A Predictor may
// be shared by threads: predict calls run concurrently. Errors are trainyard::Error exceptions
// with the reason (InputError for a bad package or image, PluginError for the model plugin).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include <trainyard/errors.h>

namespace trainyard {

/// One image's class: the most probable label, its name, and the probability of every class.
struct Prediction {
  std::int64_t label = -1;
  std::string class_name;
  std::vector<float> probabilities;  // softmax of the model's logits, one per class
  std::vector<float> logits;         // the model's output (float32), one per class: losses are taken from it
};

class Predictor {
 public:
  struct Options {
    std::int64_t batch_size = 0;  // images per forward pass in predict_files; 0: the run's batch size
    int loader_threads = 0;       // decoding threads of predict_files; 0: half the cores (at least 1)
    /// LibTorch's intra-op threads, set for the whole process (as the runner does): 0, every core
    /// the process may use (LibTorch starts with one on some machines, a third of the speed on
    /// two cores); -1 leaves the count as the program set it.
    int threads = 0;
    std::vector<std::string> plugin_folders;  // searched before the installed ones
  };

  /// Reads and checks the package and builds its model on the CPU. Throws trainyard::Error.
  static Predictor open(const std::string& package_file, const Options& options);
  static Predictor open(const std::string& package_file);

  /// Class names, index = label.
  const std::vector<std::string>& class_names() const;
  /// What the package says of its run (run, database, experiment, checkpoint_epoch, ...).
  const std::vector<std::pair<std::string, std::string>>& provenance() const;

  /// Decodes, preprocesses and classifies one image file (JPEG or PNG).
  Prediction predict_file(const std::string& file) const;
  /// The same for many files, decoded on loader threads ahead of the model and classified in
  /// batches. A file that cannot be decoded throws InputError naming it; see predict_files_skipping.
  std::vector<Prediction> predict_files(const std::vector<std::string>& files) const;
  /// As predict_files, but an undecodable file gets a Prediction with label -1 (and no
  /// probabilities) and its reason in `errors` (index, message), instead of an exception.
  std::vector<Prediction> predict_files_skipping(const std::vector<std::string>& files,
                                                 std::vector<std::pair<std::size_t, std::string>>& errors) const;
  /// A decoded image [C, H, W]: uint8 pixels (0-255), preprocessed as a file would be (resized,
  /// converted to the package's color, normalized); or float32, taken as already preprocessed.
  Prediction predict(const torch::Tensor& image) const;

  /// The model input a file becomes: [C, H, W] float32, normalized (for tests and tools).
  torch::Tensor preprocess_file(const std::string& file) const;

  struct State;

 private:
  explicit Predictor(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

}  // namespace trainyard
