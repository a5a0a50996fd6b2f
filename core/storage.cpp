#include "core/storage.h"

#include <cstdlib>
#include <new>

namespace xg {

static constexpr size_t kAlignment = 64;  // a cache line; also what AVX-512 loads like

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
    // aligned_alloc needs a size that is a multiple of the alignment; never allocate 0 bytes.
    size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    if (rounded == 0) rounded = kAlignment;
    data_ = std::aligned_alloc(kAlignment, rounded);
    if (!data_) throw std::bad_alloc();
}

Storage::~Storage() { std::free(data_); }

}  // namespace xg
