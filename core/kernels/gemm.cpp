// The GEMM kernels behind matmul: C[M, N] (+)= A[M, K] @ B[K, N] over strided operands.
//
// Three strategies, chosen from the strides (never by materializing a transpose):
//
//  (a) rows of B contiguous (b_cs == 1), as in x @ W or a^T @ g:
//      a register-blocked micro-kernel computes an MR x NR tile of C, NR being two SIMD
//      vectors of columns. Its 2*MR accumulators live in registers for the whole k loop;
//      each k step loads a piece of one row of B (two vectors), broadcasts MR scalars of A
//      and does 2*MR fused multiply-adds. A is read one scalar at a time, so it may have
//      any strides: A^T costs nothing.
//  (b) columns of B contiguous (b_rs == 1, B is a transposed view, as in q @ k^T or
//      g @ W^T), rows of A contiguous, and few rows of A (or a matrix @ vector; with many
//      rows (c) is faster): each C[i, j] is the dot product of two contiguous vectors.
//      A DR x DC block of dot products runs at once, SIMD over k, and each one is summed
//      across its lanes (xsimd::hadd) at the end.
//  (c) anything else: copy a KC x NR panel of B into a small contiguous buffer (packing;
//      K*N copies against M*N*K multiply-adds) and run (a) on it. (a) uses the same
//      packing for its last, narrower-than-NR panel, so no kernel reads past a row of B,
//      and for every panel when M is large enough for the copy to pay for itself.
//
// Cache blocking: N is cut into blocks of NC columns and K into blocks of KC, so that the
// B block being used (KC x NC) stays in L2 and the KC x NR panel one micro-kernel walks
// stays in L1 while every row tile reuses it; M is cut into blocks of MC rows so the A
// block (MC x KC) stays in L2 too. After the first k block, tiles add into C.
//
// The fully packed BLIS-style GEMM (A packed too, threads over blocks) is a later step;
// gemm_naive stays as the reference it will be tested against.
#include "core/kernels/gemm.h"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace xg::kernels {

namespace {

template <class T>
using Vec = xsimd::batch<T>;
template <class T>
constexpr int64_t W = static_cast<int64_t>(Vec<T>::size);  // lanes: 8 floats / 4 doubles with AVX2

constexpr int64_t KC = 256;  // k block (a multiple of every W, so only the last block has a k tail)
constexpr int64_t MC = 128;  // m block (strategy a)
constexpr int64_t NC = 512;  // n block
constexpr int64_t PACK_ROWS = 64;  // strategy (a) packs B when M is larger than this

// ---- strategy (a): MR x NR register tiles over rows of B ------------------------------------

constexpr int MR = 4;
template <class T>
constexpr int64_t NR = 2 * W<T>;

// C[R, NR] (+)= A[R, kc] @ Bp[kc, NR]. Rows of Bp are bp_rs apart and contiguous.
template <class T, int R>
void tile_rows(int64_t kc, const T* A, int64_t a_rs, int64_t a_cs, const T* Bp, int64_t bp_rs, T* C,
               int64_t c_rs, bool add) {
    Vec<T> lo[R], hi[R];  // row r of the tile: columns [0, W) and [W, 2W)
    for (int r = 0; r < R; ++r) lo[r] = hi[r] = Vec<T>(T(0));
    for (int64_t k = 0; k < kc; ++k) {
        const T* b = Bp + k * bp_rs;
        Vec<T> b_lo = Vec<T>::load_unaligned(b), b_hi = Vec<T>::load_unaligned(b + W<T>);
        const T* a = A + k * a_cs;
        for (int r = 0; r < R; ++r) {
            Vec<T> a_r(a[r * a_rs]);  // one scalar of A broadcast to every lane
            lo[r] = xsimd::fma(a_r, b_lo, lo[r]);
            hi[r] = xsimd::fma(a_r, b_hi, hi[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        T* c = C + r * c_rs;
        if (add) {
            lo[r] += Vec<T>::load_unaligned(c);
            hi[r] += Vec<T>::load_unaligned(c + W<T>);
        }
        lo[r].store_unaligned(c);
        hi[r].store_unaligned(c + W<T>);
    }
}

// tile_rows with the row count known only at run time (the last row tile may be short).
template <class T, int R = MR>
void tile_rows_n(int64_t rows, int64_t kc, const T* A, int64_t a_rs, int64_t a_cs, const T* Bp, int64_t bp_rs,
                 T* C, int64_t c_rs, bool add) {
    if constexpr (R > 1) {
        if (rows < R) return tile_rows_n<T, R - 1>(rows, kc, A, a_rs, a_cs, Bp, bp_rs, C, c_rs, add);
    }
    tile_rows<T, R>(kc, A, a_rs, a_cs, Bp, bp_rs, C, c_rs, add);
}

// Copies B[0:kc, j0:j0+NR] into dst[kc][NR], zero-filling columns past N.
template <class T>
void pack_panel(int64_t kc, int64_t j0, int64_t N, const T* B, int64_t b_rs, int64_t b_cs, T* dst) {
    constexpr int64_t nr = NR<T>;
    const int64_t cols = std::min(nr, N - j0);
    if (std::abs(b_rs) <= std::abs(b_cs)) {  // walk B along its shorter stride
        for (int64_t c = 0; c < cols; ++c)
            for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = B[k * b_rs + (j0 + c) * b_cs];
    } else {
        for (int64_t k = 0; k < kc; ++k)
            for (int64_t c = 0; c < cols; ++c) dst[k * nr + c] = B[k * b_rs + (j0 + c) * b_cs];
    }
    for (int64_t k = 0; k < kc; ++k)
        for (int64_t c = cols; c < nr; ++c) dst[k * nr + c] = T(0);
}

// Strategies (a) and (c).
template <class T>
void gemm_row_tiles(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B,
                    int64_t b_rs, int64_t b_cs, T* C, int64_t c_rs, bool accumulate) {
    constexpr int64_t nr = NR<T>;
    std::vector<T> packed;           // the B panels that are not read in place, KC x NR each
    alignas(64) T scratch[MR * nr];  // a full tile, of which the last panel keeps `cols` columns
    for (int64_t n0 = 0; n0 < N; n0 += NC) {
        const int64_t n1 = std::min(N, n0 + NC);
        // With few rows, (a) reads full-width panels of B in place and packs only a narrow last
        // one. With many, each panel is reused by many row tiles and packing it pays for itself
        // (one contiguous L1-resident stream instead of KC rows far apart: ~1.3x at 512, more at
        // 1024). (c) always packs.
        const bool in_place_ok = b_cs == 1 && M <= PACK_ROWS;
        const int64_t packed_from = in_place_ok ? n1 - (n1 - n0) % nr : n0;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = std::min(KC, K - k0);
            const bool add = accumulate || k0 > 0;
            const T* Bk = B + k0 * b_rs;
            packed.resize(static_cast<size_t>((n1 - packed_from + nr - 1) / nr * kc * nr));
            for (int64_t j0 = packed_from; j0 < n1; j0 += nr)
                pack_panel(kc, j0, n1, Bk, b_rs, b_cs, packed.data() + (j0 - packed_from) / nr * kc * nr);

            for (int64_t m0 = 0; m0 < M; m0 += MC) {
                const int64_t m1 = std::min(M, m0 + MC);
                for (int64_t j0 = n0; j0 < n1; j0 += nr) {
                    const int64_t cols = std::min(nr, n1 - j0);
                    const bool in_place = j0 < packed_from;
                    const T* Bp = in_place ? Bk + j0 : packed.data() + (j0 - packed_from) / nr * kc * nr;
                    const int64_t bp_rs = in_place ? b_rs : nr;
                    for (int64_t i = m0; i < m1; i += MR) {
                        const int64_t rows = std::min<int64_t>(MR, m1 - i);
                        const T* Ai = A + i * a_rs + k0 * a_cs;
                        T* Ci = C + i * c_rs + j0;
                        if (cols == nr) {
                            tile_rows_n<T>(rows, kc, Ai, a_rs, a_cs, Bp, bp_rs, Ci, c_rs, add);
                            continue;
                        }
                        tile_rows_n<T>(rows, kc, Ai, a_rs, a_cs, Bp, bp_rs, scratch, nr, false);
                        for (int64_t r = 0; r < rows; ++r)
                            for (int64_t c = 0; c < cols; ++c)
                                Ci[r * c_rs + c] = (add ? Ci[r * c_rs + c] : T(0)) + scratch[r * nr + c];
                    }
                }
            }
        }
    }
}

// ---- strategy (b): DR x DC blocks of dot products -------------------------------------------

constexpr int DR = 3;
constexpr int DC = 4;

// C[R, CC] (+)= A[R, kc] @ Bt[CC, kc]^T. Rows of A (a_rs apart) and of Bt (bt_rs apart, the
// columns of B) are contiguous. R*CC accumulators + R rows of A + one of Bt fit the 16 registers.
template <class T, int R, int CC>
void tile_dots(int64_t kc, const T* A, int64_t a_rs, const T* Bt, int64_t bt_rs, T* C, int64_t c_rs, bool add) {
    Vec<T> acc[R][CC];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < CC; ++c) acc[r][c] = Vec<T>(T(0));
    int64_t k = 0;
    for (; k + W<T> <= kc; k += W<T>) {
        Vec<T> a[R];
        for (int r = 0; r < R; ++r) a[r] = Vec<T>::load_unaligned(A + r * a_rs + k);
        for (int c = 0; c < CC; ++c) {
            Vec<T> b = Vec<T>::load_unaligned(Bt + c * bt_rs + k);
            for (int r = 0; r < R; ++r) acc[r][c] = xsimd::fma(a[r], b, acc[r][c]);
        }
    }
    for (int r = 0; r < R; ++r) {
        for (int c = 0; c < CC; ++c) {
            T dot = xsimd::hadd(acc[r][c]);
            for (int64_t kk = k; kk < kc; ++kk) dot += A[r * a_rs + kk] * Bt[c * bt_rs + kk];  // k tail
            T& out = C[r * c_rs + c];
            out = add ? out + dot : dot;
        }
    }
}

// tile_dots with the tile size known only at run time (the last row or column tile may be short).
template <class T, int R, int CC = DC>
void tile_dots_c(int64_t cols, int64_t kc, const T* A, int64_t a_rs, const T* Bt, int64_t bt_rs, T* C,
                 int64_t c_rs, bool add) {
    if constexpr (CC > 1) {
        if (cols < CC) return tile_dots_c<T, R, CC - 1>(cols, kc, A, a_rs, Bt, bt_rs, C, c_rs, add);
    }
    tile_dots<T, R, CC>(kc, A, a_rs, Bt, bt_rs, C, c_rs, add);
}
template <class T, int R = DR>
void tile_dots_n(int64_t rows, int64_t cols, int64_t kc, const T* A, int64_t a_rs, const T* Bt, int64_t bt_rs,
                 T* C, int64_t c_rs, bool add) {
    if constexpr (R > 1) {
        if (rows < R) return tile_dots_n<T, R - 1>(rows, cols, kc, A, a_rs, Bt, bt_rs, C, c_rs, add);
    }
    tile_dots_c<T, R>(cols, kc, A, a_rs, Bt, bt_rs, C, c_rs, add);
}

// Strategy (b). Requires a_cs == 1 and b_rs == 1.
template <class T>
void gemm_dot_tiles(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, const T* B, int64_t b_cs, T* C,
                    int64_t c_rs, bool accumulate) {
    for (int64_t n0 = 0; n0 < N; n0 += NC) {
        const int64_t n1 = std::min(N, n0 + NC);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = std::min(KC, K - k0);
            const bool add = accumulate || k0 > 0;
            for (int64_t i = 0; i < M; i += DR) {
                const int64_t rows = std::min<int64_t>(DR, M - i);
                for (int64_t j = n0; j < n1; j += DC) {
                    const int64_t cols = std::min<int64_t>(DC, n1 - j);
                    tile_dots_n<T>(rows, cols, kc, A + i * a_rs + k0, a_rs, B + j * b_cs + k0, b_cs, C + i * c_rs + j,
                                   c_rs, add);
                }
            }
        }
    }
}

}  // namespace

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
          int64_t b_cs, T* C, int64_t c_rs, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // an empty sum: C = 0 (or C unchanged)
        if (!accumulate)
            for (int64_t i = 0; i < M; ++i) std::fill(C + i * c_rs, C + i * c_rs + N, T(0));
        return;
    }
    if (b_cs == 1 && N >= W<T>) {
        gemm_row_tiles(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, accumulate);  // (a)
    } else if (b_rs == 1 && a_cs == 1 && (M <= PACK_ROWS || N < W<T>)) {
        // (b), also matrix @ vector. With many rows, packing B^T into panels and running (a)
        // measured ~1.5-2x faster (the dot tiles stream 4 rows of B^T from L2 per 3 rows of A).
        gemm_dot_tiles(M, N, K, A, a_rs, B, b_cs, C, c_rs, accumulate);
    } else {
        gemm_row_tiles(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, accumulate);  // (c): packs B
    }
}

template <class T>
void gemm_naive(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
                int64_t b_cs, T* C, int64_t c_rs, bool accumulate) {
    for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
            T sum = 0;
            for (int64_t k = 0; k < K; ++k) sum += A[i * a_rs + k * a_cs] * B[k * b_rs + j * b_cs];
            T& c = C[i * c_rs + j];
            c = accumulate ? c + sum : sum;
        }
    }
}

#define XG_GEMM_INSTANTIATE(T, fn)                                                                          \
    template void fn<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t, const T*, int64_t, int64_t, T*, \
                        int64_t, bool);
XG_GEMM_INSTANTIATE(float, gemm)
XG_GEMM_INSTANTIATE(double, gemm)
XG_GEMM_INSTANTIATE(float, gemm_naive)
XG_GEMM_INSTANTIATE(double, gemm_naive)
XG_GEMM_INSTANTIATE(int64_t, gemm_naive)
#undef XG_GEMM_INSTANTIATE

}  // namespace xg::kernels
