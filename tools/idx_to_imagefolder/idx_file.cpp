#include "idx_file.h"

#include <zlib.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace trainyard::tools {
namespace {
struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

void read_exact(gzFile file, void* out, std::size_t size, const std::filesystem::path& path) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size, 1u << 30));
    const int got = gzread(file, bytes, chunk);
    if (got <= 0) throw std::runtime_error("'" + path.string() + "': truncated IDX file");
    bytes += got;
    size -= static_cast<std::size_t>(got);
  }
}
}  // namespace

IdxArray read_idx(const std::filesystem::path& path) {
  // gzopen reads plain files transparently, so .gz and uncompressed IDX files both work.
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) throw std::runtime_error("'" + path.string() + "': cannot open");
  unsigned char magic[4];
  read_exact(file.get(), magic, 4, path);
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4) {
    throw std::runtime_error("'" + path.string() +
                             "': not an unsigned-byte IDX file (bad magic number)");
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

}  // namespace trainyard::tools
