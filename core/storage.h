#pragma once
// Storage: one ref-counted, 64-byte-aligned buffer. Views (transpose, slices, expand, ...)
// share it, so a write through a view is seen by its base. The version counter lives here
// too: every in-place write bumps it, and backward refuses a saved tensor whose storage
// changed since it was saved.
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

}  // namespace xg
