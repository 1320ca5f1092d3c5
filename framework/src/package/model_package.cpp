#include "trainyard/package/model_package.h"

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "trainyard/config/experiment_config.h"
#include "trainyard/errors.h"
#include "trainyard/system/durable_file.h"

namespace fs = std::filesystem;

namespace trainyard {
namespace {

constexpr const char* kMagic = "TRAINYARD-MODEL-PACKAGE";
// The largest input side a package may declare: each image is made that size before the model
// sees it, so a crafted manifest must not ask for gigabytes per image (imagefolder allows 4096).
constexpr std::int64_t kMaxSide = 8192;

std::uint32_t crc32_of(const std::string& bytes, std::size_t length) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* data = reinterpret_cast<const Bytef*>(bytes.data());
  for (std::size_t done = 0; done < length;) {  // zlib takes at most 4 GiB at once
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(length - done, 1u << 30));
    crc = crc32(crc, data + done, chunk);
    done += chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

std::string manifest_yaml(const ModelPackage& p) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "model" << YAML::Value << YAML::Load(p.model_section_yaml);
  out << YAML::Key << "model_plugin_version" << YAML::Value << p.model_plugin_version;
  out << YAML::Key << "model_context" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "num_classes"
      << YAML::Value << p.model_context.num_classes << YAML::Key << "in_channels" << YAML::Value
      << p.model_context.in_channels << YAML::Key << "image_size" << YAML::Value << p.model_context.image_size
      << YAML::EndMap;
  out << YAML::Key << "classes" << YAML::Value << YAML::Flow << p.class_names;
  const Preprocessing& pre = p.preprocessing;
  auto floats = [&](const std::vector<float>& values) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const float v : values) out << YAML::Value << format_double(v);  // read back to the same float
    out << YAML::EndSeq;
  };
  out << YAML::Key << "preprocessing" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "height" << YAML::Value << pre.height << YAML::Key << "width" << YAML::Value << pre.width;
  out << YAML::Key << "channels" << YAML::Value << pre.channels;
  out << YAML::Key << "color" << YAML::Value << pre.color << YAML::Key << "resize" << YAML::Value << pre.resize;
  out << YAML::Key << "mean" << YAML::Value;
  floats(pre.mean);
  out << YAML::Key << "std" << YAML::Value;
  floats(pre.std);
  out << YAML::EndMap;
  out << YAML::Key << "inference" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "precision"
      << YAML::Value << p.precision << YAML::Key << "channels_last" << YAML::Value << p.channels_last << YAML::Key
      << "batch_size" << YAML::Value << p.batch_size << YAML::EndMap;
  out << YAML::Key << "provenance" << YAML::Value << YAML::BeginMap;
  for (const auto& [key, value] : p.provenance) out << YAML::Key << key << YAML::Value << value;
  out << YAML::EndMap << YAML::EndMap;
  return out.c_str();
}

// A manifest value, or an InputError naming the file and the key.
class ManifestReader {
 public:
  ManifestReader(const fs::path& path, const std::string& text) : path_(path) {
    try {
      root_ = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail("its manifest is not YAML (" + std::string(e.what()) + ")");
    }
    if (!root_.IsMap()) fail("its manifest is not a mapping");
  }
  // `key` of the manifest's top level, or of `parent` when one is given (a default Node is a
  // defined null, so "given" is told by the pointer).
  YAML::Node node(const std::string& key, const YAML::Node* parent = nullptr) const {
    const YAML::Node from = parent ? *parent : root_;
    const YAML::Node value = from[key];
    if (!value) fail("its manifest has no '" + key + "'");
    return value;
  }
  template <class T>
  T get(const std::string& key, const YAML::Node* parent = nullptr) const {
    try {
      return node(key, parent).as<T>();
    } catch (const YAML::Exception&) {
      fail("its manifest's '" + key + "' is not what a package holds there");
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError("model package '" + path_.string() + "': " + what);
  }

 private:
  fs::path path_;
  YAML::Node root_;
};

ModelPackage parse_manifest(const fs::path& path, const std::string& text) {
  const ManifestReader m(path, text);
  ModelPackage p;
  const YAML::Node model = m.node("model");
  p.model_plugin = m.get<std::string>("plugin", &model);
  p.model_section_yaml = YAML::Dump(model);
  p.model_plugin_version = m.get<std::string>("model_plugin_version");
  const YAML::Node context = m.node("model_context");
  p.model_context.num_classes = m.get<std::int64_t>("num_classes", &context);
  p.model_context.in_channels = m.get<std::int64_t>("in_channels", &context);
  p.model_context.image_size = m.get<std::int64_t>("image_size", &context);
  p.class_names = m.get<std::vector<std::string>>("classes");
  const YAML::Node pre = m.node("preprocessing");
  p.preprocessing.height = m.get<std::int64_t>("height", &pre);
  p.preprocessing.width = m.get<std::int64_t>("width", &pre);
  p.preprocessing.channels = m.get<std::int64_t>("channels", &pre);
  p.preprocessing.color = m.get<std::string>("color", &pre);
  p.preprocessing.resize = m.get<std::string>("resize", &pre);
  p.preprocessing.mean = m.get<std::vector<float>>("mean", &pre);
  p.preprocessing.std = m.get<std::vector<float>>("std", &pre);
  const YAML::Node inference = m.node("inference");
  p.precision = m.get<std::string>("precision", &inference);
  p.channels_last = m.get<bool>("channels_last", &inference);
  p.batch_size = m.get<std::int64_t>("batch_size", &inference);
  for (const auto& entry : m.node("provenance")) {
    p.provenance.emplace_back(entry.first.as<std::string>(), entry.second.as<std::string>());
  }
  if (static_cast<std::int64_t>(p.class_names.size()) != p.model_context.num_classes ||
      p.preprocessing.mean.size() != static_cast<std::size_t>(p.preprocessing.channels) ||
      p.preprocessing.std.size() != static_cast<std::size_t>(p.preprocessing.channels) || p.batch_size < 1 ||
      p.preprocessing.height < 1 || p.preprocessing.width < 1 || p.preprocessing.height > kMaxSide ||
      p.preprocessing.width > kMaxSide || p.preprocessing.channels < 1 || p.preprocessing.channels > 4 ||
      p.batch_size > (1 << 20) || (p.preprocessing.color == "rgb" && p.preprocessing.channels != 3) ||
      (p.preprocessing.color != "rgb" && p.preprocessing.color != "gray") || p.preprocessing.resize != "stretch") {
    m.fail("its manifest is inconsistent (class count, mean and std per channel, sizes, color or resize)");
  }
  return p;
}

// Reads "<word> <number>\n" at `at`; the number must leave room in the file.
std::size_t read_length(const std::string& bytes, std::size_t& at, const std::string& word, const fs::path& path) {
  const auto end = bytes.find('\n', at);
  const std::string line = end == std::string::npos ? bytes.substr(at, 64) : bytes.substr(at, end - at);
  unsigned long long length = 0;
  char rest = 0;
  if (end == std::string::npos || line.rfind(word + " ", 0) != 0 ||
      std::sscanf(line.c_str() + word.size() + 1, "%llu%c", &length, &rest) != 1) {
    throw InputError("model package '" + path.string() + "': expected '" + word + " LENGTH' at byte " +
                     std::to_string(at) + "; the file is truncated or not a package");
  }
  at = end + 1;
  if (length > bytes.size() - at) {
    throw InputError("model package '" + path.string() + "': its " + word + " declares " + std::to_string(length) +
                     " bytes and " + std::to_string(bytes.size() - at) + " remain; the file is truncated");
  }
  return static_cast<std::size_t>(length);
}

}  // namespace

void write_model_package(const fs::path& path, const ModelPackage& package) {
  const std::string manifest = manifest_yaml(package);
  std::string bytes = std::string(kMagic) + " " + std::to_string(kModelPackageVersion) + "\n";
  bytes += "manifest " + std::to_string(manifest.size()) + "\n" + manifest;
  bytes += "weights " + std::to_string(package.weights.size()) + "\n";
  bytes += package.weights;
  char trailer[32];
  std::snprintf(trailer, sizeof trailer, "crc32 %08x\n", crc32_of(bytes, bytes.size()));
  bytes += trailer;
  write_file_durably(path, bytes);
}

bool looks_like_model_package(const fs::path& path) {
  const std::string header = std::string(kMagic) + " ";
  std::string head(header.size(), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return in && head == header;
}

ModelPackage read_model_package(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("model package '" + path.string() + "' cannot be opened");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string header = std::string(kMagic) + " ";
  if (bytes.rfind(header, 0) != 0) {
    throw InputError("'" + path.string() + "' is not a Trainyard model package (runner --export writes them)");
  }
  std::size_t at = bytes.find('\n');
  const int version = at == std::string::npos ? 0 : std::atoi(bytes.substr(header.size(), at - header.size()).c_str());
  if (version != kModelPackageVersion) {
    throw InputError("model package '" + path.string() + "' has format version " + std::to_string(version) +
                     "; this Trainyard reads version " + std::to_string(kModelPackageVersion));
  }
  ++at;
  const std::size_t manifest_length = read_length(bytes, at, "manifest", path);
  const std::string manifest = bytes.substr(at, manifest_length);
  at += manifest_length;
  const std::size_t weights_length = read_length(bytes, at, "weights", path);
  const std::size_t weights_at = at;
  at += weights_length;
  char expected[32];
  std::snprintf(expected, sizeof expected, "crc32 %08x\n", crc32_of(bytes, at));
  if (bytes.compare(at, std::string::npos, expected) != 0) {
    throw InputError("model package '" + path.string() +
                     "' is corrupted: its checksum does not match its contents (export it again)");
  }
  ModelPackage package = parse_manifest(path, manifest);
  package.weights = bytes.substr(weights_at, weights_length);
  return package;
}

}  // namespace trainyard
