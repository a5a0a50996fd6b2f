// Threads (xg::set_num_threads) and the caching allocator behind Storage (xg::empty_cache).
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

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

TEST_CASE("threads: a team runs every member once, a worker's exception reaches the caller, nested teams stay on one thread") {
    const int saved = xg::get_num_threads();
    for (int n : {2, 3, 4}) {  // more threads than cores must work too
        std::vector<std::atomic<int>> calls(static_cast<size_t>(n));
        std::atomic<int> nested_team{0};
        xg::parallel::run_team(n, [&](int id, int team) {
            CHECK(team == n);
            calls[static_cast<size_t>(id)].fetch_add(1);
            CHECK(xg::parallel::in_parallel());
            CHECK(xg::parallel::threads_for(1e12) == 1);  // a kernel inside a team stays on its thread
            xg::parallel::run_team(2, [&](int, int inner) { nested_team.store(inner); });
        });
        for (auto& c : calls) CHECK(c.load() == 1);
        CHECK(nested_team.load() == 1);
        CHECK_FALSE(xg::parallel::in_parallel());
    }
    // An exception on a worker (id 1) is rethrown on the caller, after the team has finished.
    std::atomic<int> finished{0};
    CHECK_THROWS_WITH_AS(xg::parallel::run_team(2,
                                                [&](int id, int) {
                                                    if (id == 1) throw std::runtime_error("worker failed");
                                                    finished.fetch_add(1);
                                                }),
                         "worker failed", std::runtime_error);
    CHECK(finished.load() == 1);
    // The pool still works afterwards, many times in a row.
    std::atomic<int64_t> total{0};
    for (int round = 0; round < 2000; ++round)
        xg::parallel::for_each_task(2, 7, [&](int64_t i) { total.fetch_add(i); });
    CHECK(total.load() == 2000 * 21);
    xg::set_num_threads(saved);
}

TEST_CASE("threads: parallel_for covers 0 .. n-1 once, in pieces that start at multiples of 64") {
    const int saved = xg::get_num_threads();
    xg::set_num_threads(2);
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{63}, int64_t{1000}, int64_t{1} << 20, (int64_t{1} << 20) + 37}) {
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        std::atomic<int> pieces{0};
        xg::parallel::parallel_for(n, 8, [&](int64_t begin, int64_t end) {
            CHECK(begin % 64 == 0);
            CHECK(begin < end);
            pieces.fetch_add(1);
            for (int64_t i = begin; i < end; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
        });
        int64_t once = 0;
        for (auto& v : seen) once += v.load() == 1;
        CHECK(once == n);
        if (n >= (int64_t{1} << 20)) CHECK(pieces.load() > 1);  // big enough to be split
    }
    xg::set_num_threads(saved);
}

TEST_CASE("threads: elementwise ops, softmax, column sums and copies give the same bits on 1 and 2 threads") {
    const int saved = xg::get_num_threads();
    auto run = [](int threads) {
        xg::set_num_threads(threads);
        xg::manual_seed(7);
        // Odd sizes: pieces end inside SIMD batches; a broadcast row; a transposed (strided) input.
        Tensor a = xg::randn({333, 1029}, xg::requires_grad());
        Tensor b = xg::randn({1029}, xg::requires_grad());
        Tensor c = xg::randn({1029, 333});
        Tensor y = (xg::gelu(a * b + c.t()).exp().softmax(1) - a.t().contiguous().t()).tanh();
        y.sum().backward();  // b's gradient: a sum over the 333 rows, columns shared out
        return std::vector<Tensor>{y, a.grad(), b.grad(), y.sum({0})};
    };
    std::vector<Tensor> one = run(1), two = run(2);
    for (size_t i = 0; i < one.size(); ++i) CHECK(xg::equal(one[i], two[i]));
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
