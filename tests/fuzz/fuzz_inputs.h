// What each fuzz target does with one input, shared by the libFuzzer targets and the test that
// replays every seed and every input that once crashed (tests/test_fuzz_regressions.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainyard::fuzz {

/// Parses the bytes as an experiment file (the first line also as a --set override when it has
/// an '='), and resolves it against an empty registry. Returns normally, or throws InputError.
void load_experiment(const std::uint8_t* data, std::size_t size);

/// Decodes the bytes as a JPEG or PNG (at a reduced scale when the first byte asks) and converts
/// a small result to a tensor. Returns normally, or throws ImageDecodeError.
void decode_image(const std::uint8_t* data, std::size_t size);

/// Reads the bytes as an IDX file (plain or gzip, as read_idx takes a file) and checks that what it
/// returns holds exactly the bytes its dimensions say. Returns normally, or throws InputError.
void read_idx_file(const std::uint8_t* data, std::size_t size);

}  // namespace trainyard::fuzz
