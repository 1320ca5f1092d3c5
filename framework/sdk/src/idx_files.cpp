#include "trainyard/idx_files.h"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

#include "trainyard/errors.h"
#include "trainyard/suggest.h"

namespace trainyard {
namespace {
struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

// The largest payload read_idx accepts: far above any real IDX dataset (Fashion-MNIST's training
// images are 47 MB) and far below what a crafted header could declare (2^32 per dimension).
constexpr std::uint64_t kMaxIdxBytes = std::uint64_t{1} << 34;  // 16 GiB

void read_exact(gzFile file, void* out, std::size_t size, const std::filesystem::path& path) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size, 1u << 30));
    const int got = gzread(file, bytes, chunk);
    if (got <= 0) throw InputError("'" + path.string() + "': truncated IDX file (its header is cut short)");
    bytes += got;
    size -= static_cast<std::size_t>(got);
  }
}

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string text;
  for (const auto d : dims) text += (text.empty() ? "" : " x ") + std::to_string(d);
  return text;
}

// Reads the `size` payload bytes the header declared, growing `out` as bytes arrive: a header that
// declares more than the file holds costs what the file holds, not what the header says.
void read_payload(gzFile file, std::uint64_t size, std::vector<std::uint8_t>& out, const std::filesystem::path& path,
                  const std::vector<std::int64_t>& dims) {
  constexpr std::size_t kChunk = std::size_t{64} << 20;
  while (out.size() < size) {
    const std::size_t at = out.size();
    const auto chunk = static_cast<unsigned>(std::min<std::uint64_t>(size - at, kChunk));
    out.resize(at + chunk);
    const int got = gzread(file, out.data() + at, chunk);
    if (got < 0)
      throw InputError("'" + path.string() + "': cannot be read as IDX (zlib: " + gzerror(file, nullptr) + ")");
    out.resize(at + static_cast<std::size_t>(got));
    if (got == 0) {
      throw InputError("'" + path.string() + "': truncated IDX file: its header declares " + dims_text(dims) + " = " +
                       std::to_string(size) + " bytes of data, the file holds " + std::to_string(out.size()));
    }
  }
}
}  // namespace

IdxArray read_idx(const std::filesystem::path& path) {
  // gzopen reads plain files transparently, so .gz and uncompressed IDX files both work.
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) throw InputError("'" + path.string() + "': cannot open");
  unsigned char magic[4];
  read_exact(file.get(), magic, 4, path);
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4) {
    throw InputError("'" + path.string() + "': not an unsigned-byte IDX file (bad magic number)");
  }
  IdxArray array;
  std::uint64_t total = 1;
  bool too_large = false;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char be[4];
    read_exact(file.get(), be, 4, path);
    const std::uint64_t dim =
        (std::uint64_t{be[0]} << 24) | (std::uint64_t{be[1]} << 16) | (std::uint64_t{be[2]} << 8) | be[3];
    array.dims.push_back(static_cast<std::int64_t>(dim));
    too_large = too_large || __builtin_mul_overflow(total, dim, &total) || total > kMaxIdxBytes;
  }
  if (too_large) {
    throw InputError("'" + path.string() + "': IDX header declares " + dims_text(array.dims) +
                     " bytes, more than the 16 GiB this reader accepts (a corrupt or foreign file?)");
  }
  read_payload(file.get(), total, array.data, path, array.dims);
  return array;
}

IdxSplit read_idx_split(const std::filesystem::path& root, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    for (const char* extension : {".gz", ""}) {
      const auto path = root / (stem + extension);
      if (std::filesystem::exists(path)) return path;
    }
    throw InputError("'" + (root / stem).string() + "[.gz]' not found (IDX files " + prefix +
                     "-images-idx3-ubyte and " + prefix +
                     "-labels-idx1-ubyte; Debian's "
                     "dataset-fashion-mnist has them in /usr/share/datasets/fashion-mnist)");
  };
  const auto images_path = find(prefix + "-images-idx3-ubyte"), labels_path = find(prefix + "-labels-idx1-ubyte");
  IdxSplit split{read_idx(images_path), read_idx(labels_path)};
  const auto& image_dims = split.images.dims;
  if (image_dims.size() != 3 || image_dims[1] == 0 || image_dims[2] == 0) {
    throw InputError("'" + images_path.string() + "': expected images n x height x width (height, width > 0), got " +
                     dims_text(image_dims));
  }
  if (split.labels.dims.size() != 1 || image_dims[0] != split.labels.dims[0]) {
    throw InputError("'" + root.string() + "': the " + prefix +
                     " image and label files do not match: " + dims_text(image_dims) + " images, " +
                     dims_text(split.labels.dims) + " labels (expected n labels)");
  }
  return split;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"tshirt_top", "trouser", "pullover", "dress", "coat",
                                                 "sandal",     "shirt",   "sneaker",  "bag",   "ankle_boot"};
  return names;
}

std::vector<int> parse_idx_classes(const std::string& text, const std::string& what) {
  const auto& names = fashion_mnist_class_names();
  std::vector<int> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) continue;
    const auto named = std::find(names.begin(), names.end(), item);
    if (named != names.end()) {
      out.push_back(static_cast<int>(named - names.begin()));
      continue;
    }
    char* end = nullptr;
    const long label = std::strtol(item.c_str(), &end, 10);
    if (*end == '\0' && label >= 0 && label <= 9) {
      out.push_back(static_cast<int>(label));
      continue;
    }
    std::string message = what + ": '" + item + "' is neither a label 0-9 nor a class name";
    if (const auto near = nearest_name(item, names)) message += " (did you mean '" + *near + "'?)";
    throw InputError(message + "; names: " + join_names(names));
  }
  if (out.empty()) throw InputError(what + ": no class given");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace trainyard
