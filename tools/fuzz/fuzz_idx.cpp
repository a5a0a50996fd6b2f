// libFuzzer target for the IDX reader and its gzip layer (vit/data/idx.cpp). Build and run: see
// tools/fuzz/CMakeLists.txt.
//
// Any input must either parse or throw xg::Error: a crash, a sanitizer report (a read out of
// bounds, an integer overflow), another exception type, or an allocation beyond libFuzzer's
// -rss_limit_mb is a bug. Inputs that start with gzip's 1f 8b go through the inflater first,
// with a 4 MiB cap instead of the real 256 MiB so the fuzzer finds the cap (and spends its time
// on many small inputs rather than a few big ones); the others go straight to the IDX parser.
// An input that parses must survive a round trip: serialize it, parse that, get the same array.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "vit/data/idx.h"

namespace data = xg::vit::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
    constexpr size_t kFuzzMaxOutput = size_t{4} << 20;
    data::IdxArray array;
    try {
        array = data::parse_idx_maybe_gzip(bytes, size, "fuzz input", kFuzzMaxOutput);
    } catch (const xg::Error&) {
        return 0;  // a clear error is the right answer to a bad file
    }

    // Outside the try: the round trip of a valid array must not throw at all.
    const std::vector<uint8_t> again_bytes = data::serialize_idx(array);
    const data::IdxArray again = data::parse_idx(again_bytes.data(), again_bytes.size(), "round trip");
    if (again.dims != array.dims || again.data != array.data) __builtin_trap();
    // A raw (not gzip) input that parsed is exactly what serialize_idx writes: the format has
    // one encoding per array.
    if (!data::is_gzip(bytes, size) && again_bytes != std::vector<uint8_t>(bytes, bytes + size)) __builtin_trap();
    return 0;
}
