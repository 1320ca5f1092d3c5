#include "trainyard/package/safetensors.h"

#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace trainyard {
namespace {

// The dtype names of the safetensors specification.
const char* dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kDouble: return "F64";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
    default: return nullptr;
  }
}

}  // namespace

std::string safetensors_bytes(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  std::set<std::string> names;
  std::size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (!names.insert(name).second) throw std::invalid_argument("safetensors: tensor '" + name + "' given twice");
    const char* dtype = dtype_name(tensor.scalar_type());
    if (!dtype) {
      throw std::invalid_argument("safetensors: tensor '" + name + "' has dtype " +
                                  std::string(c10::toString(tensor.scalar_type())) +
                                  ", which the format has no name for");
    }
    // Row-major on the CPU: a channels-last weight is written in the order Python's shape means.
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const std::size_t bytes = static_cast<std::size_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the tensors' bytes start 8-aligned
  std::string out(8, '\0');
  const std::uint64_t length = json.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& t : data) {
    // LibTorch's tensors are in the machine's byte order; every machine Trainyard runs on is
    // little-endian, as the format requires.
    out.append(static_cast<const char*>(t.data_ptr()), static_cast<std::size_t>(t.numel()) * t.element_size());
  }
  return out;
}

bool looks_like_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char length[8] = {};
  if (!in.read(reinterpret_cast<char*>(length), 8)) return false;
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | length[i];
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  char first = 0;
  return !ec && n >= 2 && n <= size - 8 && in.get(first) && first == '{';
}

}  // namespace trainyard
