// libFuzzer target for the safetensors parser (core/safetensors.cpp). Build and run: see
// tools/fuzz/CMakeLists.txt.
//
// Any input must either parse or throw xg::Error. Anything else (a crash, an AddressSanitizer
// report of an out-of-bounds read, UndefinedBehaviorSanitizer's integer overflow, another
// exception type, an allocation beyond libFuzzer's -rss_limit_mb) is a bug the fuzzer reports.
// An input that parses must also survive a round trip: serialize it, parse that, and get the
// same tensors and metadata back, byte for byte.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/safetensors.h"

namespace {

bool same_bytes(const xg::Tensor& a, const xg::Tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
    size_t nbytes = static_cast<size_t>(a.numel()) * xg::itemsize(a.dtype());
    return nbytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), nbytes) == 0;  // memcmp: NaNs compare too
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    xg::SafetensorsFile file;
    try {
        file = xg::parse_safetensors(data, size, "fuzz input");
    } catch (const xg::Error&) {
        return 0;  // a clear error is the right answer to a bad file
    }

    // Outside the try: the round trip of a valid file must not throw at all.
    std::vector<uint8_t> bytes = xg::serialize_safetensors(file.tensors, file.metadata);
    xg::SafetensorsFile again = xg::parse_safetensors(bytes.data(), bytes.size(), "round trip");
    if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size()) __builtin_trap();
    for (const auto& [name, t] : file.tensors) {
        auto it = again.tensors.find(name);
        if (it == again.tensors.end() || !same_bytes(t, it->second)) __builtin_trap();
    }
    return 0;
}
