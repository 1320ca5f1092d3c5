// Fine-tuning and weights for Python (issue 17): `model.init_from` starts a run's model from a run
// of the same database, a checkpoint or a model package; the classifier head of another class
// count starts fresh and is named; any other mismatch is refused unless `model.init_skip` names
// it; the source is recorded with the run. `runner --export --format safetensors` writes the
// weights as the safetensors specification lays them out, which this test reads back by it.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "test_support.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

namespace {

// A safetensors file read as the specification says: an 8-byte little-endian header length, the
// JSON header, the tensors' bytes; every tensor's offsets checked to tile the buffer exactly.
struct SafetensorsFile {
  nlohmann::json header;
  std::map<std::string, std::vector<float>> f32;
  std::map<std::string, std::vector<std::int64_t>> shapes;
};

SafetensorsFile read_safetensors(const fs::path& path) {
  const std::string bytes = t::read_file(path);
  SafetensorsFile file;
  if (bytes.size() < 8) throw std::runtime_error("shorter than its header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  if (8 + n > bytes.size()) throw std::runtime_error("the header runs past the file");
  if ((8 + n) % 8 != 0) throw std::runtime_error("the tensors' bytes do not start 8-aligned");
  file.header = nlohmann::json::parse(bytes.substr(8, n));
  const std::string buffer = bytes.substr(8 + n);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  for (const auto& [name, entry] : file.header.items()) {
    if (name == "__metadata__") continue;
    const auto begin = entry["data_offsets"][0].get<std::uint64_t>(),
               end = entry["data_offsets"][1].get<std::uint64_t>();
    std::uint64_t count = 1;
    for (const auto& d : entry["shape"]) count *= d.get<std::uint64_t>();
    const std::string dtype = entry["dtype"];
    const std::uint64_t size = dtype == "F32" ? 4 : dtype == "I64" ? 8 : 0;
    if (size == 0) throw std::runtime_error(name + ": unexpected dtype " + dtype);
    if (end - begin != count * size) throw std::runtime_error(name + ": offsets do not match its shape");
    spans.emplace_back(begin, end);
    file.shapes[name] = entry["shape"].get<std::vector<std::int64_t>>();
    if (dtype == "F32") {
      std::vector<float> values(count);
      std::memcpy(values.data(), buffer.data() + begin, end - begin);
      file.f32[name] = std::move(values);
    }
  }
  std::sort(spans.begin(), spans.end());
  std::uint64_t at = 0;
  for (const auto& [begin, end] : spans) {
    if (begin != at) throw std::runtime_error("the tensors leave a hole or overlap in the buffer");
    at = end;
  }
  if (at != buffer.size()) throw std::runtime_error("bytes after the last tensor");
  return file;
}

class FineTune : public ::testing::Test {
 protected:
  // The source: a 3-class run (run 1), trained until its head is sure, and its package.
  static void SetUpTestSuite() {
    dir_ = new t::TempDir();
    t::make_image_folder(*dir_ / "three", {{"a", 8}, {"b", 8}, {"c", 8}}, 12);
    t::make_image_folder(*dir_ / "two", {{"a", 8}, {"b", 8}}, 12);
    write_experiment("source.yaml", "three", "lr: 1.0e-2", "epochs: 4", "");
    const auto source = runner("source.yaml");
    ASSERT_EQ(source.exit_code, 0) << source.output;
    const auto exported = runner("--export 1 --db results/f.db --out source.typkg");
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // A run on `data` whose model section has `init` (init_from and init_skip lines).
  static void write_experiment(const std::string& file, const std::string& data, const std::string& lr,
                               const std::string& epochs, const std::string& init, int width = 4) {
    t::write_file(*dir_ / file, "name: " + file + "\nseed: 5\ndevice: cpu\nmodel:\n  plugin: tiny\n  width: " +
                                    std::to_string(width) + "\n" + init +
                                    "dataset:   {plugin: imagefolder, root: " + data +
                                    ", image_size: 12, train_fraction: 0.75}\n"
                                    "optimizer: {plugin: adam, " +
                                    lr + "}\ntrain:     {" + epochs +
                                    ", batch_size: 4, threads: 1}\n"
                                    "output:    {db: results/f.db, checkpoints: results/checkpoints}\n");
  }
  static t::CommandResult runner(const std::string& arguments) {
    return t::run_command(t::runner_command(dir_->path(), arguments, t::tiny_model_environment()));
  }
  static std::int64_t last_run() {
    SQLite::Database db((*dir_ / "results/f.db").string(), SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT max(id) FROM runs").getInt64();
  }
  static std::string init_source(std::int64_t run) {
    SQLite::Database db((*dir_ / "results/f.db").string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT coalesce(init_source, '') FROM runs WHERE id = ?");
    q.bind(1, static_cast<std::int64_t>(run));
    return q.executeStep() ? q.getColumn(0).getString() : "(no run)";
  }
  static SafetensorsFile weights(std::int64_t run, const std::string& name, const std::string& checkpoint) {
    const auto exported = runner("--export " + std::to_string(run) + " --db results/f.db --format safetensors --out " +
                                 name + " --checkpoint " + checkpoint);
    EXPECT_EQ(exported.exit_code, 0) << exported.output;
    return read_safetensors(*dir_ / name);
  }
  static double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
    double most = 0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
      most = std::max(most, std::abs(static_cast<double>(a[i]) - b[i]));
    return a.size() == b.size() ? most : 1e9;
  }
  static t::TempDir* dir_;
};
t::TempDir* FineTune::dir_ = nullptr;

TEST_F(FineTune, ARunStartsFromAnotherRunsWeightsWithAFreshHeadForItsClasses) {
  // A learning rate too small to move a weight measurably: what the run ends with is what it began with.
  write_experiment("tuned.yaml", "two", "lr: 1.0e-12", "epochs: 1", "  init_from: 1\n");
  const auto tuned = runner("tuned.yaml");
  ASSERT_EQ(tuned.exit_code, 0) << tuned.output;
  EXPECT_NE(tuned.output.find("initialized from best.pt of run 1"), std::string::npos) << tuned.output;
  EXPECT_NE(tuned.output.find("2 tensors loaded"), std::string::npos) << tuned.output;
  EXPECT_NE(tuned.output.find("re-initialized for 2 classes (the source had 3): fc.weight, fc.bias"), std::string::npos)
      << tuned.output;
  const std::int64_t run = last_run();
  EXPECT_NE(init_source(run).find("best.pt of run 1"), std::string::npos) << init_source(run);

  write_experiment("scratch.yaml", "two", "lr: 1.0e-12", "epochs: 1", "");
  ASSERT_EQ(runner("scratch.yaml").exit_code, 0);
  const std::int64_t scratch = last_run();
  EXPECT_EQ(init_source(scratch), "");

  const auto source = weights(1, "source.safetensors", "best");
  const auto after = weights(run, "tuned.safetensors", "last");
  const auto fresh = weights(scratch, "scratch.safetensors", "last");
  for (const char* name : {"conv.weight", "conv.bias"}) {
    EXPECT_LT(max_difference(after.f32.at(name), source.f32.at(name)), 1e-6) << name;
    // The same seed builds the same initial conv: only the source's training tells them apart.
    EXPECT_GT(max_difference(fresh.f32.at(name), source.f32.at(name)), 1e-3) << name;
  }
  EXPECT_EQ(source.shapes.at("fc.weight"), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(after.shapes.at("fc.weight"), (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(source.shapes.at("conv.weight"), (std::vector<std::int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(source.header["__metadata__"]["trainyard_class_names"], "a\nb\nc");
  EXPECT_EQ(source.header["__metadata__"]["trainyard_run"], "1");
}

TEST_F(FineTune, APackageOrACheckpointFileIsASourceToo) {
  write_experiment("from-package.yaml", "two", "lr: 1.0e-3", "epochs: 1", "  init_from: source.typkg\n");
  const auto from_package = runner("from-package.yaml");
  ASSERT_EQ(from_package.exit_code, 0) << from_package.output;
  EXPECT_NE(from_package.output.find("(model package of run 1): 2 tensors loaded"), std::string::npos)
      << from_package.output;
  EXPECT_NE(init_source(last_run()).find("source.typkg (model package of run 1)"), std::string::npos);

  const fs::path best = t::recorded_run_dir(*dir_ / "results/f.db", 1) / "best.pt";
  write_experiment("from-file.yaml", "three", "lr: 1.0e-3", "epochs: 1",
                   "  init_from: " + t::shell_quote(best.string()) + "\n");
  const auto from_file = runner("from-file.yaml");
  ASSERT_EQ(from_file.exit_code, 0) << from_file.output;
  EXPECT_NE(from_file.output.find("(checkpoint, epoch "), std::string::npos) << from_file.output;
  EXPECT_NE(from_file.output.find("4 tensors loaded"), std::string::npos) << from_file.output;
  EXPECT_NE(from_file.output.find("classifier head is kept (the same 3 classes)"), std::string::npos)
      << from_file.output;
}

TEST_F(FineTune, MismatchesAreRefusedUnlessSkippedAndNothingIsRecorded) {
  const std::int64_t runs = last_run();
  auto refused = [&](const std::string& init, int width, const std::string& expected) {
    write_experiment("bad.yaml", "two", "lr: 1.0e-3", "epochs: 1", init, width);
    const auto result = runner("bad.yaml");
    EXPECT_EQ(result.exit_code, 2) << init << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << expected << "\n" << result.output;
    return result.output;
  };
  const std::string wider = refused("  init_from: 1\n", 8, "conv.weight [8, 3, 3, 3]: the source's is [4, 3, 3, 3]");
  EXPECT_NE(wider.find("fc.weight [2, 8]: the source's is [3, 4]"), std::string::npos) << wider;
  EXPECT_NE(wider.find("List what should keep the plugin's init in model.init_skip"), std::string::npos) << wider;
  refused("  init_from: 1\n  init_skip: fcc\n", 4,
          "'fcc' names no parameter or buffer of the model (did you mean 'fc'?)");
  refused("  init_skip: fc\n", 4, "model.init_skip without model.init_from");
  refused("  init_from: 99\n", 4, "no run 99 in");
  refused("  init_from: missing.pt\n", 4, "'missing.pt' is not a file");
  t::write_file(*dir_ / "notes.txt", "not weights");
  refused("  init_from: notes.txt\n", 4, "is neither a Trainyard checkpoint nor a model package");
  refused("  init_form: 1\n", 4, "did you mean 'model.init_from'?");
  EXPECT_EQ(last_run(), runs);

  write_experiment("skipped.yaml", "two", "lr: 1.0e-3", "epochs: 1", "  init_from: 1\n  init_skip: conv, fc\n", 8);
  const auto skipped = runner("skipped.yaml");
  ASSERT_EQ(skipped.exit_code, 0) << skipped.output;
  EXPECT_NE(skipped.output.find("0 tensors loaded"), std::string::npos) << skipped.output;
  EXPECT_NE(skipped.output.find("left as built (model.init_skip): conv.weight, conv.bias, fc.weight, fc.bias"),
            std::string::npos)
      << skipped.output;
}

TEST_F(FineTune, ExportAsSafetensorsNeverOverwritesAnotherKindOfFile) {
  t::write_file(*dir_ / "keep.bin", "someone's file");
  const auto refused = runner("--export 1 --db results/f.db --format safetensors --out keep.bin");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("exists and is not a safetensors file"), std::string::npos) << refused.output;
  EXPECT_EQ(t::read_file(*dir_ / "keep.bin"), "someone's file");
  const auto other = runner("--export 1 --db results/f.db --format onnx --out x.onnx");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("accepted: package, safetensors"), std::string::npos) << other.output;
}

}  // namespace
