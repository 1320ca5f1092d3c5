// Weights that Python reads (`runner --export RUN --format safetensors`): the safetensors format
// (https://huggingface.co/docs/safetensors), which `safetensors.torch.load_file` opens without
// running any code, unlike a pickle. The file: an 8-byte little-endian header length N, N bytes
// of JSON ({"__metadata__": {...}, NAME: {"dtype", "shape", "data_offsets": [BEGIN, END]}}),
// padded with spaces to a multiple of 8, then every tensor's bytes, row-major, back to back.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace trainyard {

/// The file's bytes for `tensors` (CPU or not, any layout: written row-major) in the order given,
/// with string `metadata`. Throws std::invalid_argument for a dtype safetensors has no name for,
/// or a name given twice.
std::string safetensors_bytes(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata);

/// True when the file starts as the format says (a header length that fits the file, then a
/// JSON object); nothing else is checked. `--export` replaces only such a file.
bool looks_like_safetensors(const std::filesystem::path& path);

}  // namespace trainyard
