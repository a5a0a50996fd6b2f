// Threads (xg::set_num_threads) and the caching allocator behind Storage (xg::empty_cache).
#include <doctest/doctest.h>

#include <string>

#include "xgrad.h"

using xg::Tensor;

TEST_CASE("threads: set_num_threads / get_num_threads round trip, and the error for n < 1") {
    const int saved = xg::get_num_threads();
    CHECK(saved >= 1);
    xg::set_num_threads(1);
    CHECK(xg::get_num_threads() == 1);
    xg::set_num_threads(3);
    CHECK(xg::get_num_threads() == 3);
    std::string message;
    try {
        xg::set_num_threads(0);
    } catch (const xg::Error& e) {
        message = e.what();
    }
    CHECK(message.find("set_num_threads: the number of threads must be at least 1, got 0") != std::string::npos);
    CHECK(message.find("test_parallel_storage.cpp") != std::string::npos);  // the caller's line
    CHECK(xg::get_num_threads() == 3);  // unchanged by the failed call
    xg::set_num_threads(saved);
}

TEST_CASE("threads: small work stays on the calling thread, large work gets the team") {
    const int saved = xg::get_num_threads();
    xg::set_num_threads(2);
    CHECK(xg::parallel::threads_for(1000) == 1);
    CHECK(xg::parallel::threads_for(1e9) == 2);
    xg::set_num_threads(1);
    CHECK(xg::parallel::threads_for(1e9) == 1);
    xg::set_num_threads(saved);
}

TEST_CASE("allocator: a freed buffer is reused by the next tensor of its size class") {
    xg::empty_cache();
    CHECK(xg::allocator_stats().cached_bytes == 0);
    const void* first = nullptr;
    {
        Tensor a = xg::empty({1000, 3});
        first = a.raw_data();
    }
    const xg::AllocatorStats after_free = xg::allocator_stats();
    CHECK(after_free.cached_blocks >= 1);
    CHECK(after_free.cached_bytes >= 12000);
    Tensor b = xg::empty({2999});  // 11996 bytes: the same size class as 12000
    CHECK(b.raw_data() == first);
    CHECK(xg::allocator_stats().hits == after_free.hits + 1);
}

TEST_CASE("allocator: buffers stay 64-byte aligned, empty_cache releases, a limit of 0 turns caching off") {
    for (int64_t n : {1, 7, 16, 100, 1000, 5000, 123457}) {
        Tensor t = xg::zeros({n});
        CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
        CHECK(t.sum().item() == 0);  // zeros() really zeroes a reused buffer
        t.fill_(1.0);
    }
    CHECK(xg::allocator_stats().cached_bytes > 0);
    xg::empty_cache();
    CHECK(xg::allocator_stats().cached_bytes == 0);
    CHECK(xg::allocator_stats().cached_blocks == 0);

    const size_t limit = xg::allocator_stats().cache_limit;
    xg::set_cache_limit(0);
    { Tensor t = xg::empty({4096}); }
    CHECK(xg::allocator_stats().cached_bytes == 0);
    xg::set_cache_limit(limit);
    { Tensor t = xg::empty({4096}); }
    CHECK(xg::allocator_stats().cached_bytes >= 4096 * 4);
}

TEST_CASE("allocator: a training-like loop stops asking the system for memory after its first step") {
    xg::manual_seed(0);
    Tensor w = xg::randn({64, 32}, xg::requires_grad());
    auto step = [&] {
        Tensor x = xg::randn({16, 64});
        Tensor loss = xg::matmul(x, w).relu().sum();
        loss.backward();
        w.set_grad(Tensor());
    };
    step();
    step();
    const uint64_t misses = xg::allocator_stats().misses;
    for (int i = 0; i < 5; ++i) step();
    CHECK(xg::allocator_stats().misses == misses);
}
