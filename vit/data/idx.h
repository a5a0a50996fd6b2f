#pragma once
// IDX files: the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/), read
// with every size checked, because the bytes come from outside (see docs/data.md).
//
//   xg::vit::data::IdxArray images = xg::vit::data::read_idx_gz(
//       "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
//   // images.dims == {60000, 28, 28}, images.data.size() == 60000 * 28 * 28
//
// The format, byte by byte (all integers big-endian):
//   [0, 2)           0x00 0x00
//   [2, 3)           the element type: 0x08 unsigned byte (the only one xgrad reads; the format
//                    also has 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)
//   [3, 4)           nd, the number of dimensions (images 3, labels 1)
//   [4, 4 + 4 nd)    the dimensions, one unsigned 32-bit integer each
//   [4 + 4 nd, end)  the elements, row-major, exactly product(dims) of them
// So an image file starts 00 00 08 03 (the "magic number" 0x00000803), a label file 00 00 08 01.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace xg::vit::data {

// An unsigned-byte IDX array: its dims and its elements in row-major order.
struct IdxArray {
    std::vector<int64_t> dims;
    std::vector<uint8_t> data;
};

// The largest IDX payload xgrad accepts: 256 MiB, five times Fashion-MNIST's largest file
// (47 MB of training images). It bounds what a lying header or a zip bomb can make us allocate.
inline constexpr size_t kMaxIdxBytes = size_t{256} << 20;
// IDX allows up to 255 dimensions; real files have 1 to 4. Any more is a corrupt header.
inline constexpr int kMaxIdxDims = 8;

// Parses the bytes of an (uncompressed) IDX file. `what` names the file in error messages:
//   parse_idx: train-images-idx3-ubyte.gz: bad magic number 0x1f8b0800 ...  (caller.cpp:12)
IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& what, SrcLoc loc = SrcLoc::current());

// The bytes of a gzip file's content (RFC 1952, one or more members), decompressed in memory
// with zlib. An error if the stream is corrupt or truncated, or would decompress to more than
// `max_output` bytes (a zip bomb: a few kilobytes can claim gigabytes).
std::vector<uint8_t> gunzip(const uint8_t* bytes, size_t size, const std::string& what,
                            size_t max_output = kMaxIdxBytes, SrcLoc loc = SrcLoc::current());

// True if the bytes start with gzip's magic 1f 8b.
bool is_gzip(const uint8_t* bytes, size_t size);

// Parses IDX bytes that may be gzip-compressed (decided by is_gzip), decompressing at most
// max_output bytes. What read_idx_gz does once the file is in memory; the fuzzer calls it.
IdxArray parse_idx_maybe_gzip(const uint8_t* bytes, size_t size, const std::string& what,
                              size_t max_output = kMaxIdxBytes, SrcLoc loc = SrcLoc::current());

// Reads an IDX file, gzip-compressed (as Debian and the MNIST site ship them) or not.
IdxArray read_idx_gz(const std::string& path, SrcLoc loc = SrcLoc::current());

// The bytes of an unsigned-byte IDX file holding `array` (tests and the fuzzer's round trip).
std::vector<uint8_t> serialize_idx(const IdxArray& array, SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit::data
