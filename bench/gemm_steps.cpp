// Steps 2 and 3 of bench/gemm_steps.h: the GEMM before packing. Kept as simple as each idea
// allows, to be read next to core/kernels/gemm.cpp (step 4).
#include "bench/gemm_steps.h"

#include <xsimd/xsimd.hpp>

#include <algorithm>

namespace xg::bench {

namespace {
using V = xsimd::batch<float>;
constexpr int64_t W = static_cast<int64_t>(V::size);
}  // namespace

// Step 2. C[i, :] += A[i, k] * B[k, :] for every k: the inner loop is a SIMD axpy along a row of
// B into a row of C. A block of KB rows of B is reused by every row i before moving on, and
// NB columns at a time keep the touched part of those rows small enough for L2.
void gemm_blocked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                  int64_t ldc) {
    constexpr int64_t KB = 256, NB = 512;
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    for (int64_t j0 = 0; j0 < N; j0 += NB) {
        const int64_t j1 = std::min(N, j0 + NB);
        for (int64_t k0 = 0; k0 < K; k0 += KB) {
            const int64_t k1 = std::min(K, k0 + KB);
            for (int64_t i = 0; i < M; ++i) {
                float* c = C + i * ldc;
                for (int64_t k = k0; k < k1; ++k) {
                    const V a(A[i * lda + k]);
                    const float* b = B + k * ldb;
                    int64_t j = j0;
                    for (; j + W <= j1; j += W)
                        xsimd::fma(a, V::load_unaligned(b + j), V::load_unaligned(c + j)).store_unaligned(c + j);
                    for (; j < j1; ++j) c[j] += A[i * lda + k] * b[j];
                }
            }
        }
    }
}

// Step 3. Step 2 loads and stores C at every k. Here a 6 x 16 tile of C stays in registers for a
// whole block of k (the micro-kernel of core/kernels/gemm.cpp, reading A and B where they lie).
// Per k: 2 loads of B, 6 broadcasts of A, 12 FMAs, and no traffic to C at all.
void gemm_register_blocked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                           float* C, int64_t ldc) {
    constexpr int64_t MR = 6, NR = 2 * W, KB = 256;
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    const int64_t m_full = M / MR * MR, n_full = N / NR * NR;
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
        const int64_t kb = std::min(KB, K - k0);
        for (int64_t j = 0; j < n_full; j += NR) {
            for (int64_t i = 0; i < m_full; i += MR) {
                V acc[MR][2];
                for (auto& row : acc) row[0] = row[1] = V(0.0f);
                for (int64_t k = k0; k < k0 + kb; ++k) {
                    const V b0 = V::load_unaligned(B + k * ldb + j), b1 = V::load_unaligned(B + k * ldb + j + W);
                    for (int64_t r = 0; r < MR; ++r) {
                        const V a(A[(i + r) * lda + k]);
                        acc[r][0] = xsimd::fma(a, b0, acc[r][0]);
                        acc[r][1] = xsimd::fma(a, b1, acc[r][1]);
                    }
                }
                for (int64_t r = 0; r < MR; ++r) {
                    float* c = C + (i + r) * ldc + j;
                    (acc[r][0] + V::load_unaligned(c)).store_unaligned(c);
                    (acc[r][1] + V::load_unaligned(c + W)).store_unaligned(c + W);
                }
            }
        }
        // The right and bottom edges that do not fill a tile: plain loops (this step is for
        // measuring the tile, not for odd shapes).
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = (i < m_full ? n_full : 0); j < N; ++j) {
                float sum = 0;
                for (int64_t k = k0; k < k0 + kb; ++k) sum += A[i * lda + k] * B[k * ldb + j];
                C[i * ldc + j] += sum;
            }
    }
}

}  // namespace xg::bench
