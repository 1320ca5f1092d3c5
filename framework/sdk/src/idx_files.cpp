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

void read_exact(gzFile file, void* out, std::size_t size, const std::filesystem::path& path) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size, 1u << 30));
    const int got = gzread(file, bytes, chunk);
    if (got <= 0) throw InputError("'" + path.string() + "': truncated IDX file");
    bytes += got;
    size -= static_cast<std::size_t>(got);
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
  std::size_t total = 1;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char be[4];
    read_exact(file.get(), be, 4, path);
    const std::int64_t dim = (std::int64_t{be[0]} << 24) | (be[1] << 16) | (be[2] << 8) | be[3];
    array.dims.push_back(dim);
    total *= static_cast<std::size_t>(dim);
  }
  array.data.resize(total);
  read_exact(file.get(), array.data.data(), total, path);
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
  IdxSplit split{read_idx(find(prefix + "-images-idx3-ubyte")), read_idx(find(prefix + "-labels-idx1-ubyte"))};
  if (split.images.dims.size() != 3 || split.labels.dims.size() != 1 || split.images.dims[0] != split.labels.dims[0]) {
    throw InputError("'" + root.string() + "': the " + prefix +
                     " image and label files do not match (expected images n x h x w and n labels)");
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
