#pragma once
// The machine's FMA peak on one core, measured rather than taken from a data sheet: a loop of
// independent FMAs on registers only (no loads, no stores), as fast as the core can retire
// them. Both bench_gemm and bench_workloads report their GFLOP/s as a fraction of it.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace xg::bench {

// Best of `trials` runs (on a shared machine the best run is the one least disturbed).
inline double fma_peak_gflops(int trials = 20) {
    using V = xsimd::batch<float>;
    constexpr int64_t steps = 1 << 20;
    double best = 0;
    for (int t = 0; t < trials; ++t) {
        // 12 independent accumulators: 2 FMA units x 4 cycles of latency need >= 8 in flight.
        V acc[12];
        for (int i = 0; i < 12; ++i) acc[i] = V(static_cast<float>(i) * 1e-3f);
        const V x(0.999999f), y(1e-7f);
        const auto start = std::chrono::steady_clock::now();
        for (int64_t s = 0; s < steps; ++s)
            for (auto& a : acc) a = xsimd::fma(a, x, y);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        float sink = 0;
        for (auto& a : acc) sink += xsimd::hadd(a);
        // Keep the result alive so the loop is not optimized away.
        asm volatile("" : : "r"(sink));
        const double flops = 2.0 * steps * 12 * static_cast<double>(V::size);
        best = std::max(best, flops / seconds * 1e-9);
    }
    return best;
}

}  // namespace xg::bench
