#pragma once
// safetensors: the weight-file format of Hugging Face and of PyTorch users, read and written by
// xgrad so a state dict moves between xgrad and PyTorch both ways.
//
//   xg::save_safetensors("vit.safetensors", {{"head.weight", w}, {"head.bias", b}});
//   xg::SafetensorsFile f = xg::load_safetensors("vit.safetensors");
//   xg::Tensor w2 = f.tensors.at("head.weight");
//
// Files are untrusted: a truncated, corrupt or hostile file is an xg::Error naming the file and
// the problem, never a crash, an out-of-bounds read or a huge allocation. The format and the
// checks are described at the top of core/safetensors.cpp.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace xg {

// Tensors by name, sorted (the order in which save_safetensors lays them out in the file).
using TensorMap = std::map<std::string, Tensor>;

struct SafetensorsFile {
    TensorMap tensors;                            // float32 / float64 / int64, not requiring grad
    std::map<std::string, std::string> metadata;  // the optional "__metadata__" of the header
};

// The bytes of a safetensors file holding `tensors` (F32, F64 or I64, written contiguous and
// little-endian, back to back in name order) and `metadata`. Only the values are saved: a
// tensor's grad and graph are not.
std::vector<uint8_t> serialize_safetensors(const TensorMap& tensors,
                                           const std::map<std::string, std::string>& metadata = {},
                                           SrcLoc loc = SrcLoc::current());

// Writes serialize_safetensors(tensors, metadata) to `path` atomically: the bytes go to a
// temporary file in the same directory, which is flushed to disk and then renamed over `path`.
// A crash mid-write leaves the old file (if any) intact, never a half-written one.
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      SrcLoc loc = SrcLoc::current());

// Reads and validates a whole safetensors file.
SafetensorsFile load_safetensors(const std::string& path, SrcLoc loc = SrcLoc::current());

// Validates and decodes `size` bytes of a safetensors file held in memory. `what` names the
// source in error messages (load_safetensors passes the path). The loader and the fuzzer
// (tools/fuzz/fuzz_safetensors.cpp) share this parser.
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& what,
                                  SrcLoc loc = SrcLoc::current());

}  // namespace xg
