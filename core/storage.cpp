// Storage and the caching allocator behind it.
//
// Sizes are rounded up to a size class, and each class keeps a free list:
//   <= 1 KiB       multiples of 64 bytes (a cache line: also the alignment we promise)
//   larger         four classes per power of two (1, 1.25, 1.5, 1.75 x 2^k), so a buffer is
//                  at most 25% larger than asked for
// A freed buffer goes to its class's free list (unless the cache is over its limit); the next
// request of that class takes it back: no system call, no page faults, no zeroing by the kernel.
// The lists are guarded by one mutex; tensors are created and freed on the user's thread (the
// kernels' worker threads never allocate tensors), so it is never contended in practice.
//
// Under AddressSanitizer a cached buffer is poisoned while it sits in the cache and only the
// requested bytes are unpoisoned when it is reused, so a use after free (or a read past the
// end into the rounding slack) is still reported, as with plain malloc.
#include "core/storage.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define XG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define XG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define XG_POISON(p, n) ((void)(p), (void)(n))
#define XG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace xg {

namespace {

constexpr size_t kAlignment = 64;  // a cache line; also what AVX-512 loads like

// The size class of a request: the bytes actually allocated for it.
size_t size_class(size_t nbytes) {
    if (nbytes <= 1024) return nbytes == 0 ? kAlignment : (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    size_t power = 1024;  // the largest power of two <= nbytes
    while (power <= nbytes / 2) power *= 2;
    const size_t quarter = power / 4;
    return (nbytes + quarter - 1) / quarter * quarter;
}

// XGRAD_CACHE_LIMIT_MB if set, else an eighth of the machine's memory (2.9 GB on this 23 GB
// machine): enough for a ViT training step's activations and gradients (0.7 GB at batch 128 on
// Fashion-MNIST) and for batch-256 inference, whose buffers come in more sizes (1 GB was not).
size_t default_limit() {
    if (const char* env = std::getenv("XGRAD_CACHE_LIMIT_MB")) {
        try {
            return static_cast<size_t>(std::stoull(env)) << 20;
        } catch (const std::exception&) {
            // not a number: keep the default
        }
    }
    const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page_size <= 0) return size_t(1) << 30;
    return std::max(size_t(256) << 20, static_cast<size_t>(pages) * static_cast<size_t>(page_size) / 8);
}

struct Cache {
    std::mutex mutex;
    std::unordered_map<size_t, std::vector<void*>> free;  // size class -> free buffers
    size_t cached_bytes = 0, cached_blocks = 0;
    size_t limit = default_limit();
    uint64_t hits = 0, misses = 0;

    // Frees cached buffers, a whole size class at a time, until at most `keep` bytes remain.
    // Caller holds the mutex.
    void trim(size_t keep) {
        for (auto it = free.begin(); it != free.end() && cached_bytes > keep;) {
            for (void* p : it->second) {
                XG_UNPOISON(p, it->first);
                std::free(p);
                cached_bytes -= it->first;
                --cached_blocks;
            }
            it = free.erase(it);
        }
    }
};

// Never destroyed: tensors in static storage may be freed after main returns, and must still
// find the cache. The memory it holds stays reachable, so leak checkers do not report it.
Cache& cache() {
    static Cache* c = new Cache;
    return *c;
}

void* allocate(size_t nbytes) {
    const size_t bytes = size_class(nbytes);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        auto it = c.free.find(bytes);
        if (it != c.free.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.cached_bytes -= bytes;
            --c.cached_blocks;
            ++c.hits;
            XG_UNPOISON(p, nbytes);
            return p;
        }
        ++c.misses;
    }
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (!p) {
        empty_cache();  // maybe the cache holds what the system is missing: retry once
        p = std::aligned_alloc(kAlignment, bytes);
        if (!p) throw std::bad_alloc();
    }
    XG_POISON(static_cast<char*>(p) + nbytes, bytes - nbytes);  // the rounding slack
    return p;
}

void release(void* p, size_t nbytes) {
    const size_t bytes = size_class(nbytes);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        if (c.cached_bytes + bytes <= c.limit) {
            XG_POISON(p, bytes);
            c.free[bytes].push_back(p);
            c.cached_bytes += bytes;
            ++c.cached_blocks;
            return;
        }
    }
    XG_UNPOISON(p, bytes);
    std::free(p);
}

}  // namespace

Storage::Storage(size_t nbytes) : data_(allocate(nbytes)), nbytes_(nbytes) {}

Storage::~Storage() { release(data_, nbytes_); }

void empty_cache() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.trim(0);
}

AllocatorStats allocator_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    AllocatorStats s;
    s.cached_bytes = c.cached_bytes;
    s.cached_blocks = c.cached_blocks;
    s.cache_limit = c.limit;
    s.hits = c.hits;
    s.misses = c.misses;
    return s;
}

void set_cache_limit(size_t bytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.limit = bytes;
    c.trim(bytes);
}

}  // namespace xg
