#pragma once
// Storage: one ref-counted, 64-byte-aligned buffer. Views (transpose, slices, expand, ...)
// share it, so a write through a view is seen by its base. The version counter lives here
// too: every in-place write bumps it, and backward refuses a saved tensor whose storage
// changed since it was saved.
//
// The memory comes from a caching allocator (core/storage.cpp): a freed buffer is kept in a
// free list for its size class and handed to the next tensor of that class, as PyTorch's CUDA
// allocator does. A training step allocates the same activations and gradients every time, so
// after the first step almost nothing reaches the system allocator, and no page is faulted in
// (and zeroed by the kernel) again.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace xg {

class Storage {
  public:
    explicit Storage(size_t nbytes);  // uninitialized memory
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() const { return data_; }
    size_t nbytes() const { return nbytes_; }

    uint64_t version() const { return version_; }
    void bump_version() { ++version_; }

  private:
    void* data_ = nullptr;
    size_t nbytes_ = 0;
    uint64_t version_ = 0;
};

// Returns every cached (free) buffer to the system, like torch.cuda.empty_cache(). Buffers
// still owned by tensors are not touched.
void empty_cache();

struct AllocatorStats {
    size_t cached_bytes = 0;    // free buffers held for reuse
    size_t cached_blocks = 0;
    size_t cache_limit = 0;     // above this, freed buffers go back to the system
    uint64_t hits = 0;          // allocations served from the cache ...
    uint64_t misses = 0;        // ... and from the system allocator
};
AllocatorStats allocator_stats();

// Caps the bytes the cache may hold (default: an eighth of the machine's memory, or
// XGRAD_CACHE_LIMIT_MB from the environment); 0 turns caching off. Shrinks the cache at once if
// it holds more.
void set_cache_limit(size_t bytes);

}  // namespace xg
