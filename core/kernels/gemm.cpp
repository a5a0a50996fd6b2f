// The GEMM behind matmul: C[M, N] (+)= A[M, K] @ B[K, N] over strided operands.
//
// A fast GEMM is a question of where the numbers are when the multiply-adds need them. One
// core does 2 FMAs of 8 floats per cycle (32 flops), but L1 delivers ~2-3 vectors per cycle,
// L2 far less, and memory ~1 vector every few cycles. So every number must be used many times
// once it is close to the core. This is the design of BLIS (Goto & van de Geijn, "Anatomy of
// high-performance matrix multiplication", 2008; Van Zee & van de Geijn, "BLIS", 2015):
//
//   for jc in N by NC:                  B block  [KC x NC]  lives in L3
//     for pc in K by KC:
//       pack B[pc:+KC, jc:+NC] into slivers of NR columns
//       for ic in M by MC:              A block  [MC x KC]  lives in L2  (one per thread)
//         pack A[ic:+MC, pc:+KC] into slivers of MR rows
//         for jr in NC by NR:           B sliver [KC x NR]  lives in L1
//           for ir in MC by MR:         A sliver [MR x KC]  streams from L2
//             micro_kernel: C[ir:+MR, jr:+NR] (+)= A sliver @ B sliver   (MR x NR in registers)
//
// Why pack. The micro-kernel wants, at each step k, MR values of A's column k and NR values of
// B's row k, each contiguous and in the order it reads them. Copying the blocks into that order
// once (O(MK + KN) copies against O(MNK) multiply-adds) makes every later read a unit-stride,
// aligned, prefetch-friendly stream, whatever the strides of A and B were. It is also where
// transposed operands are handled: A^T or B^T is just a different read order while packing,
// so NN, NT, TN and TT all run the same micro-kernel, and no transpose is ever materialized.
// Edges: a sliver past the last row or column is padded with zeros, and the tiles at the bottom
// and right of C run micro-kernels of their own height (1..6 rows) and width (one or two
// vectors), so a 5-row product (5 tokens) does not pay for 6; only a width that is not a whole
// number of vectors goes through a scratch tile.
//
// Why these block sizes (this machine: Zen 4, 32 KB L1d, 1 MB L2 per core, 32 MB L3):
//   MR x NR = 6 x 16 floats: 12 accumulators + 2 vectors of B + 1 broadcast of A = 15 of the
//     16 ymm registers; each k step does 12 FMAs for 8 loads, enough to keep both FMA units busy
//     while hiding their 4-cycle latency (12 independent chains >= 2 units x 4 cycles).
//   KC = 256: the B sliver (256 x 16 x 4 B = 16 KB) and the A sliver (6 x 256 x 4 B = 6 KB) fit
//     L1 together, and a long k loop amortizes loading and storing the 12 accumulators.
//   MC = 144: the A block (144 x 256 x 4 B = 144 KB) stays in L2 next to the streaming B slivers.
//   NC = 4096: the B block (256 x 4096 x 4 B = 4 MB) stays in L3; for N <= 4096 there is one.
//   For double the tile is 6 x 8 (same registers) and the blocks hold the same bytes.
//
// Threads: one team per call (if the product is large enough to pay for it, see
// parallel::threads_for). C is cut into bands of rows (or columns) with fixed boundaries, and
// the threads run the loops above on one band after another, packing their own A and B (see
// gemm_threaded). Every element of C is computed by the same sequence of FMAs whichever thread
// computes it, so the result does not depend on the thread count at all.
//
// gemm_naive, the plain triple loop, stays as the reference the tests compare against; the
// intermediate steps between the two (blocked, register-blocked) are in bench/gemm_steps.cpp.
#include "core/kernels/gemm.h"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "core/parallel.h"

namespace xg::kernels {

namespace {

template <class T>
using Vec = xsimd::batch<T>;
template <class T>
constexpr int64_t W = static_cast<int64_t>(Vec<T>::size);  // lanes: 8 floats / 4 doubles with AVX2

// ---- block sizes (see the top of the file for why) -------------------------------------------

constexpr int64_t MR = 6;                  // rows of the register tile
template <class T>
constexpr int64_t NR = 2 * W<T>;           // columns of the register tile: two vectors
constexpr int64_t KC = 256;                // k block
template <class T>
constexpr int64_t MC = 576 / sizeof(T);    // m block: 144 floats, 72 doubles (multiples of MR)
template <class T>
constexpr int64_t NC = 16384 / sizeof(T);  // n block: 4096 floats, 2048 doubles (multiples of NR)
static_assert(MC<float> % MR == 0 && MC<double> % MR == 0);
static_assert(NC<float> % NR<float> == 0 && NC<double> % NR<double> == 0);

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- packing buffers ----------------------------------------------------------------------------

// A growing, 64-byte-aligned scratch buffer, one per thread and operand: packing allocates
// nothing after the first call of a given size, and threads never share one.
template <class T>
class PackBuffer {
  public:
    ~PackBuffer() { std::free(data_); }
    T* get(int64_t n) {
        if (n > capacity_) {
            std::free(data_);
            const size_t bytes = (static_cast<size_t>(n) * sizeof(T) + 63) / 64 * 64;
            data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
            if (!data_) throw std::bad_alloc();
            capacity_ = n;
        }
        return data_;
    }

  private:
    T* data_ = nullptr;
    int64_t capacity_ = 0;
};

template <class T>
T* a_buffer(int64_t n) {
    thread_local PackBuffer<T> buffer;
    return buffer.get(n);
}
template <class T>
T* b_buffer(int64_t n) {
    thread_local PackBuffer<T> buffer;
    return buffer.get(n);
}

// ---- packing --------------------------------------------------------------------------------
//
// Packing a transposed operand means transposing small blocks: reading 8 values along k from
// each of 8 rows and writing them as 8 rows of 8 along the other dim. One value at a time that is
// a load and a store per value; in registers it is 8 loads, 24 shuffles and 8 stores per 64
// values (2-4x faster; it matters for the small products of attention and of small batches,
// where packing is a large part of the work). xsimd 8.1 has no transpose, and its zip_lo/zip_hi
// interleave within 128-bit halves on AVX but across the whole register on SSE, so this one
// piece is written with AVX intrinsics; without AVX, and for double, the scalar loops pack.

#if defined(__AVX__)
// v[i][j] -> v[j][i] for an 8 x 8 block of floats: interleave pairs of rows (unpack), then pairs
// of pairs (shuffle), then swap 128-bit halves (permute2f128).
inline void transpose8x8(__m256 v[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

// A[0:mc, 0:kc] (element (i, k) at A[i*a_rs + k*a_cs]) into slivers of MR rows:
//   Ap[s][k][r] = A[s*MR + r, k],  each sliver kc*MR values, rows past mc zero.
// The micro-kernel then reads A's column k of a sliver as MR consecutive values.
template <class T>
void pack_a(int64_t mc, int64_t kc, const T* A, int64_t a_rs, int64_t a_cs, T* Ap) {
    if (a_rs == 1 && mc >= MR) {
        // A^T stored (the weight gradient g^T @ x): column k of A is contiguous, so copy it for
        // all whole slivers at once, k after k. Sliver after sliver, the same memory would be
        // read in 6-value pieces kc rows apart, each cache line fetched again for every sliver.
        const int64_t whole = mc / MR;
        for (int64_t k = 0; k < kc; ++k) {
            const T* column = A + k * a_cs;
            for (int64_t sl = 0; sl < whole; ++sl) std::memcpy(Ap + sl * MR * kc + k * MR, column + sl * MR, MR * sizeof(T));
        }
        if (whole * MR == mc) return;
        A += whole * MR;
        Ap += whole * MR * kc;
        mc -= whole * MR;
    }
    for (int64_t i0 = 0; i0 < mc; i0 += MR, Ap += MR * kc) {
        const int64_t rows = std::min(MR, mc - i0);
        const T* a = A + i0 * a_rs;
        int64_t k = 0;
        if (rows == MR && a_rs == 1) {  // A^T stored: the MR values of column k are contiguous
            for (; k < kc; ++k) std::memcpy(Ap + k * MR, a + k * a_cs, MR * sizeof(T));
        }
#if defined(__AVX__)
        if constexpr (std::is_same_v<T, float>) {
            if (rows == MR && a_cs == 1) {  // A stored by rows: transpose 6 (+2 unused) x 8 blocks
                for (; k + 8 <= kc; k += 8) {
                    __m256 v[8];
                    for (int64_t r = 0; r < MR; ++r) v[r] = _mm256_loadu_ps(a + r * a_rs + k);
                    v[6] = v[7] = _mm256_setzero_ps();
                    transpose8x8(v);
                    for (int64_t kk = 0; kk < 8; ++kk) {  // 6 of the 8 values: a 4 and a 2
                        float* dst = Ap + (k + kk) * MR;
                        _mm_storeu_ps(dst, _mm256_castps256_ps128(v[kk]));
                        _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), _mm256_extractf128_ps(v[kk], 1));
                    }
                }
            }
        }
#endif
        // Everything else, and the k tail: one value at a time, zero rows past the last.
        for (; k < kc; ++k)
            for (int64_t r = 0; r < MR; ++r) Ap[k * MR + r] = r < rows ? a[r * a_rs + k * a_cs] : T(0);
    }
}

// B[0:kc, 0:cols] (element (k, j) at B[k*b_rs + j*b_cs]), cols <= NR, into one sliver:
//   Bp[k][c] = B[k, c],  kc*NR values, columns past cols zero.
// (pack_b below handles the common case of rows of B contiguous itself.)
template <class T>
void pack_b_sliver(int64_t kc, int64_t cols, const T* B, int64_t b_rs, int64_t b_cs, T* Bp) {
    constexpr int64_t nr = NR<T>, w = W<T>;
    int64_t k = 0;
#if defined(__AVX__)
    if constexpr (std::is_same_v<T, float> && nr == 16) {
        if (b_rs == 1) {  // B^T stored (x @ W^T, q @ k^T): transpose 8 x 8 blocks, zeros past cols
            for (; k + 8 <= kc; k += 8)
                for (int64_t half = 0; half < nr; half += 8) {
                    __m256 v[8];
                    for (int64_t c = 0; c < 8; ++c)
                        v[c] = half + c < cols ? _mm256_loadu_ps(B + (half + c) * b_cs + k) : _mm256_setzero_ps();
                    transpose8x8(v);
                    for (int64_t kk = 0; kk < 8; ++kk) _mm256_store_ps(Bp + (k + kk) * nr + half, v[kk]);
                }
        }
    }
#endif
    // Anything else, and the k tail: zero the rest of the sliver (so columns past N are zeros),
    // then walk B along its shorter stride, so the reads are sequential.
    if (cols < nr) {
        for (int64_t kk = k; kk < kc; ++kk) {
            Vec<T>(T(0)).store_aligned(Bp + kk * nr);
            Vec<T>(T(0)).store_aligned(Bp + kk * nr + w);
        }
    }
    if (std::abs(b_rs) <= std::abs(b_cs)) {
        for (int64_t c = 0; c < cols; ++c)
            for (int64_t kk = k; kk < kc; ++kk) Bp[kk * nr + c] = B[kk * b_rs + c * b_cs];
    } else {
        for (int64_t kk = k; kk < kc; ++kk)
            for (int64_t c = 0; c < cols; ++c) Bp[kk * nr + c] = B[kk * b_rs + c * b_cs];
    }
}

// B[0:kc, 0:nc] into slivers (pack_b_sliver's layout, sliver j/NR at Bp + j*kc). With rows of B
// contiguous, B is read row by row, one sequential stream the hardware prefetcher follows,
// rather than sliver by sliver (kc short pieces of rows far apart, for each sliver).
template <class T>
void pack_b(int64_t kc, int64_t nc, const T* B, int64_t b_rs, int64_t b_cs, T* Bp) {
    constexpr int64_t nr = NR<T>, w = W<T>;
    int64_t full = 0;  // columns packed by the row-by-row loop
    if (b_cs == 1) {
        full = nc / nr * nr;
        for (int64_t k = 0; k < kc; ++k)
            for (int64_t j = 0; j < full; j += nr) {
                Vec<T>::load_unaligned(B + k * b_rs + j).store_aligned(Bp + j * kc + k * nr);
                Vec<T>::load_unaligned(B + k * b_rs + j + w).store_aligned(Bp + j * kc + k * nr + w);
            }
    }
    for (int64_t j = full; j < nc; j += nr) pack_b_sliver<T>(kc, std::min(nr, nc - j), B + j * b_cs, b_rs, b_cs, Bp + j * kc);
}

// ---- the micro-kernel ---------------------------------------------------------------------------
//
// C[0:6, 0:16] (+)= A[0:6, 0:kc] @ B[0:kc, 0:16], all twelve 8-float pieces of the tile of C held
// in registers for the whole k loop. One step k, float with AVX2:
//
//                          b0 = B(k, 0:8)      b1 = B(k, 8:16)       (2 loads)
//                       +-------------------+-------------------+
//   a = bcast(A(0, k))  | c00 += a * b0     | c01 += a * b1     |
//   a = bcast(A(1, k))  | c10 += a * b0     | c11 += a * b1     |
//   a = bcast(A(2, k))  | c20 += a * b0     | c21 += a * b1     |    12 FMAs per 8 loads
//   a = bcast(A(3, k))  | c30 += a * b0     | c31 += a * b1     |
//   a = bcast(A(4, k))  | c40 += a * b0     | c41 += a * b1     |
//   a = bcast(A(5, k))  | c50 += a * b0     | c51 += a * b1     |
//                       +-------------------+-------------------+
//   registers: c00..c51 = 12 accumulators, b0 b1 = 2, a = 1  ->  15 of 16 ymm
//
// In the code, c<r><v> is acc[r][v]. The same template, with R rows and NV vectors per row,
// serves the tiles at the bottom and right edges of C (R < 6 rows, or at most 8 columns with
// NV = 1): the compiler unrolls the fixed-size loops, so every variant keeps its accumulators in
// registers and no edge tile pays for rows or columns it does not have.
//
// A(r, k) is A[r * a_rs + k * a_cs]: a packed sliver (a_rs = 1, a_cs = MR) or, when packing A
// would not pay (see gemm_blocked), rows of A read where they lie (a_rs = lda, a_cs = 1). The
// broadcasts are loads either way; two row pointers (rows 0 and 3) plus x86's scaled addressing
// reach all six rows without extra instructions. Row k of B is at B + k * b_rs: a packed sliver
// (b_rs = NR) or, for small products, B itself.
//
// The accumulators start at zero and C is touched once, at the end: C = acc, or C += acc when
// adding to what an earlier k block (or the caller, accumulate = true) left there. That access
// would miss the cache (C is large, and we last saw it a whole k block ago) and stall the core
// with nothing left to overlap it with, so the tile of C is prefetched before the k loop starts:
// the memory system fetches it while the FMAs run (~10% at 1024 and for K > KC).
// xsimd picks the instruction set: with SSE2 or NEON the same code is a portable 6 x 8 tile of
// 4-lane vectors.
template <class T, int R, int NV>
void micro_kernel(int64_t kc, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs, T* C, int64_t c_rs,
                  bool add, const T* bias) {
    using V = Vec<T>;
    constexpr int64_t w = W<T>;
    for (int r = 0; r < R; ++r) {  // each row of the tile is NV*w values: one or two cache lines
        __builtin_prefetch(C + r * c_rs, 1);
        __builtin_prefetch(C + r * c_rs + NV * w - 1, 1);
    }
    V acc[R][NV];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = V(T(0));
    const T* a0 = A;                          // rows 0, 1, 2 at a0, a0 + a_rs, a0 + 2 a_rs
    const T* a3 = R > 3 ? A + 3 * a_rs : A;   // rows 3, 4, 5
    for (int64_t k = 0; k < kc; ++k, a0 += a_cs, a3 += a_cs, B += b_rs) {
        V b[NV];
        for (int v = 0; v < NV; ++v) b[v] = V::load_unaligned(B + v * w);
        for (int r = 0; r < R; ++r) {
            const V a(r < 3 ? a0[r * a_rs] : a3[(r - 3) * a_rs]);  // A(r, k) in every lane
            for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(a, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) {
            T* c = C + r * c_rs + v * w;
            if (add) acc[r][v] += V::load_unaligned(c);
            else if (bias) acc[r][v] += V::load_unaligned(bias + v * w);  // the first k block: C = A B + bias
            acc[r][v].store_unaligned(c);
        }
}

template <class T>
using MicroKernel = void (*)(int64_t, const T*, int64_t, int64_t, const T*, int64_t, T*, int64_t, bool, const T*);

// kernels<T>[nv - 1][rows - 1]: the micro-kernel for a tile of `rows` rows and nv vectors.
template <class T, int NV, int... R>
constexpr std::array<MicroKernel<T>, MR> kernels_with(std::integer_sequence<int, R...>) {
    return {&micro_kernel<T, R + 1, NV>...};
}
template <class T>
constexpr std::array<std::array<MicroKernel<T>, MR>, 2> kernels = {
    kernels_with<T, 1>(std::make_integer_sequence<int, MR>()), kernels_with<T, 2>(std::make_integer_sequence<int, MR>())};

// One tile of C: rows <= MR, cols <= NR. Written straight into C when its width is a whole
// number of vectors (always, but at the right edge); else computed into a scratch tile of which
// only the valid columns are copied. Every element gets the same arithmetic either way, so its
// value does not depend on where the tiles fall.
template <class T>
void tile(int64_t rows, int64_t cols, int64_t kc, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
          T* C, int64_t c_rs, bool add, const T* bias) {
    const int64_t nv = cols > W<T> ? 2 : 1;
    const MicroKernel<T> kernel = kernels<T>[static_cast<size_t>(nv - 1)][static_cast<size_t>(rows - 1)];
    if (cols == nv * W<T>) return kernel(kc, A, a_rs, a_cs, B, b_rs, C, c_rs, add, bias);
    alignas(64) T scratch[MR * NR<T>];
    kernel(kc, A, a_rs, a_cs, B, b_rs, scratch, NR<T>, false, nullptr);
    for (int64_t r = 0; r < rows; ++r) {
        T* out = C + r * c_rs;
        const T* in = scratch + r * NR<T>;
        // A fixed trip count with a test, rather than `c < cols`: the compiler unrolls it, where
        // it would turn the plain copy into a `rep movs` that costs more than the tile here.
        for (int64_t c = 0; c < NR<T>; ++c)
            if (c < cols) out[c] = add ? out[c] + in[c] : (bias ? in[c] + bias[c] : in[c]);
    }
}

// ---- the loops around the micro-kernel ------------------------------------------------------------

// C[M, N] (+)= A[M, K] @ B[K, N] on the calling thread: the five loops of the top of the file.
//
// Packing A pays when each packed sliver is reused by many B slivers. With few columns (N <=
// 256: 16 slivers or fewer, as in the ViT's [6400 x 512] @ [512 x 128]) and rows of A that are
// contiguous, copying A costs more than it saves, and the micro-kernel reads A in place
// (measured: 76 -> 88 GFLOP/s on that shape; at N = 1024 packing wins, 100 against 95). A stored
// transposed is always packed: read in place, each step k would touch a new cache line for 6 values.
//
// Likewise B, for the small products of attention ([50 x 50] @ [50 x 16] and the like, K <= 64,
// rows of B contiguous): its whole sliver fits L1 anyway, and reading it in place lets the core
// overlap those first loads with the FMAs instead of stalling in a packing loop (38 -> 45
// GFLOP/s on 1024 x [50 x 16] @ [16 x 50]). A narrow last sliver is still packed (zero-padded).
template <class T>
void gemm_blocked(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
                  int64_t b_cs, T* C, int64_t c_rs, bool accumulate, const T* bias) {
    constexpr int64_t nr = NR<T>, mc_max = MC<T>, nc_max = NC<T>;
    const int64_t kc_max = std::min(KC, K);
    const bool a_in_place = a_cs == 1 && N <= 16 * nr;
    const bool b_in_place = b_cs == 1 && K <= 64;
    T* Ap = a_in_place ? nullptr : a_buffer<T>(std::min(mc_max, ceil_div(M, MR) * MR) * kc_max);
    T* Bp = b_buffer<T>(std::min(nc_max, ceil_div(N, nr) * nr) * kc_max);
    for (int64_t jc = 0; jc < N; jc += nc_max) {
        const int64_t nc = std::min(nc_max, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            const bool add = accumulate || pc > 0;  // later k blocks add to what the first wrote
            const T* Bblock = B + pc * b_rs + jc * b_cs;
            const int64_t full = nc / nr * nr;  // columns of whole slivers
            if (!b_in_place) pack_b<T>(kc, nc, Bblock, b_rs, b_cs, Bp);
            else if (full < nc) pack_b_sliver<T>(kc, nc - full, Bblock + full, b_rs, b_cs, Bp + full * kc);
            for (int64_t ic = 0; ic < M; ic += mc_max) {
                const int64_t mc = std::min(mc_max, M - ic);
                const T* Ablock = A + ic * a_rs + pc * a_cs;
                if (!a_in_place) pack_a<T>(mc, kc, Ablock, a_rs, a_cs, Ap);
                for (int64_t jr = 0; jr < nc; jr += nr) {  // one B sliver stays in L1 ...
                    const int64_t cols = std::min(nr, nc - jr);
                    // This sliver of B: packed (rows NR apart), or where it lies.
                    const bool in_place = b_in_place && jr < full;
                    const T* bp = in_place ? Bblock + jr : Bp + jr * kc;
                    const int64_t bp_rs = in_place ? b_rs : nr;
                    for (int64_t ir = 0; ir < mc; ir += MR) {  // ... while the A slivers stream past it
                        const int64_t rows = std::min(MR, mc - ir);
                        T* c = C + (ic + ir) * c_rs + jc + jr;
                        // The bias is added once, by the first k block (the later ones add to C).
                        const T* bias_here = bias && !add ? bias + jc + jr : nullptr;
                        // This tile's rows of A: a packed sliver, or where they lie.
                        if (a_in_place) tile<T>(rows, cols, kc, Ablock + ir * a_rs, a_rs, 1, bp, bp_rs, c, c_rs, add, bias_here);
                        else tile<T>(rows, cols, kc, Ap + ir * kc, 1, MR, bp, bp_rs, c, c_rs, add, bias_here);
                    }
                }
            }
        }
    }
}

// The threaded GEMM: C is cut into bands of rows or of columns (whichever copies less), a few per
// thread, and each thread takes the next band left and runs gemm_blocked on it with its own
// packed A and B. Threads never wait for each other inside (no barrier but the end of the team),
// and a thread that starts late, its core busy with another process, finds its share done by the
// others. (The team still ends only once it has woken up: on a loaded machine that wait is the
// scheduler's, see docs/performance.md.) The price is that every band packs its own copy of the
// shared operand: a row band all of B (K*N copies against M*N*K/bands multiply-adds, ~1% at
// M = 128 rows per band), a column band all of A unless it reads A in place.
template <class T>
void gemm_threaded(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
                   int64_t b_cs, T* C, int64_t c_rs, bool accumulate, const T* bias) {
    const int threads = parallel::threads_for(static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K));
    if (threads == 1) return gemm_blocked(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, accumulate, bias);
    const int64_t row_tiles = ceil_div(M, MR), col_tiles = ceil_div(N, NR<T>);
    // Rows or columns? Every band reads all of the operand the bands share: a band of rows all of
    // B (K x N, packed again by each band), a band of columns all of A (M x K, packed, or streamed
    // in place from memory). Pick the cut that reads less: batch-1 inference ([50 x 128] @
    // [128 x 384]) cut into row bands packed the whole weight once per band and ran slower on two
    // threads than on one; a [12800 x 128] @ [128 x 512] cut into columns would stream its 6 MB
    // A once per band.
    const double bands_r = static_cast<double>(std::min<int64_t>(row_tiles, 4 * threads));
    const double bands_c = static_cast<double>(std::min<int64_t>(col_tiles, 4 * threads));
    const double mk = static_cast<double>(M) * static_cast<double>(K), kn = static_cast<double>(K) * static_cast<double>(N);
    const bool by_rows = col_tiles < threads || (row_tiles >= threads && bands_r * kn + mk <= bands_c * mk + kn);
    const int64_t tiles = by_rows ? row_tiles : col_tiles;
    // A few bands per thread, so that a thread whose core is busy elsewhere finds its share
    // taken; but one per thread when the shared operand is large enough that reading it four
    // times per thread would more than double what the product reads in all (the weight
    // gradient [128 x 6400]^T @ [6400 x 384]: A is 819K values, read 8 times in column bands).
    const double shared = by_rows ? kn : mk, other = by_rows ? mk : kn;
    const double n = static_cast<double>(threads);
    const bool few_bands = 4.0 * n * shared + other > 2.0 * (n * shared + other);
    const int64_t bands = std::min<int64_t>(tiles, few_bands ? threads : 4 * threads);  // band b: tiles [t0, t1)
    parallel::for_each_task(threads, bands, [&](int64_t band) {
        int64_t t0, t1;
        parallel::split(tiles, static_cast<int>(band), static_cast<int>(bands), t0, t1);
        if (by_rows) {
            const int64_t i0 = t0 * MR, i1 = std::min(M, t1 * MR);
            gemm_blocked(i1 - i0, N, K, A + i0 * a_rs, a_rs, a_cs, B, b_rs, b_cs, C + i0 * c_rs, c_rs, accumulate, bias);
        } else {
            const int64_t j0 = t0 * NR<T>, j1 = std::min(N, t1 * NR<T>);
            gemm_blocked(M, j1 - j0, K, A, a_rs, a_cs, B + j0 * b_cs, b_rs, b_cs, C + j0, c_rs, accumulate,
                         bias ? bias + j0 : nullptr);
        }
    });
}

// ---- matrix @ vector ----------------------------------------------------------------------------
//
// With one row (M == 1) or one column (N == 1) a 6 x 16 tile would be 5/6 or 15/16 padding, and
// there is no reuse for packing to buy: these are memory-bound loops, written directly.

// sum_k a[k] * b[k] over contiguous vectors: two SIMD accumulators (so the FMA latency is not
// the limit), summed across lanes at the end, then the tail.
template <class T>
T dot_contiguous(int64_t K, const T* a, const T* b) {
    constexpr int64_t w = W<T>;
    Vec<T> acc0(T(0)), acc1(T(0));
    int64_t k = 0;
    for (; k + 2 * w <= K; k += 2 * w) {
        acc0 = xsimd::fma(Vec<T>::load_unaligned(a + k), Vec<T>::load_unaligned(b + k), acc0);
        acc1 = xsimd::fma(Vec<T>::load_unaligned(a + k + w), Vec<T>::load_unaligned(b + k + w), acc1);
    }
    T sum = xsimd::hadd(acc0 + acc1);
    for (; k < K; ++k) sum += a[k] * b[k];
    return sum;
}

// C[0, :] (+)= A[0, :] @ B.
template <class T>
void gemv_row(int64_t N, int64_t K, const T* A, int64_t a_cs, const T* B, int64_t b_rs, int64_t b_cs, T* C,
              bool accumulate) {
    constexpr int64_t w = W<T>;
    int64_t j = 0;
    if (b_cs == 1) {  // rows of B contiguous: C += A[0, k] * row k of B, 4 vectors of C in registers
        for (; j + 4 * w <= N; j += 4 * w) {
            Vec<T> acc[4] = {Vec<T>(T(0)), Vec<T>(T(0)), Vec<T>(T(0)), Vec<T>(T(0))};
            for (int64_t k = 0; k < K; ++k) {
                const Vec<T> a(A[k * a_cs]);
                for (int64_t v = 0; v < 4; ++v)
                    acc[v] = xsimd::fma(a, Vec<T>::load_unaligned(B + k * b_rs + j + v * w), acc[v]);
            }
            for (int64_t v = 0; v < 4; ++v) {
                if (accumulate) acc[v] += Vec<T>::load_unaligned(C + j + v * w);
                acc[v].store_unaligned(C + j + v * w);
            }
        }
    } else if (b_rs == 1 && a_cs == 1) {  // columns of B contiguous (v @ W^T): one dot product each
        for (; j < N; ++j) {
            const T sum = dot_contiguous(K, A, B + j * b_cs);
            C[j] = accumulate ? C[j] + sum : sum;
        }
    }
    for (; j < N; ++j) {
        T sum = 0;
        for (int64_t k = 0; k < K; ++k) sum += A[k * a_cs] * B[k * b_rs + j * b_cs];
        C[j] = accumulate ? C[j] + sum : sum;
    }
}

// C[:, 0] (+)= A @ B[:, 0]: one dot product per row of C, SIMD over k when both are contiguous.
template <class T>
void gemv_col(int64_t M, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs, T* C,
              int64_t c_rs, bool accumulate) {
    for (int64_t i = 0; i < M; ++i) {
        const T* a = A + i * a_rs;
        T sum = 0;
        if (a_cs == 1 && b_rs == 1) {
            sum = dot_contiguous(K, a, B);
        } else {
            for (int64_t k = 0; k < K; ++k) sum += a[k * a_cs] * B[k * b_rs];
        }
        T& out = C[i * c_rs];
        out = accumulate ? out + sum : sum;
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
    if (M == 1) return gemv_row(N, K, A, a_cs, B, b_rs, b_cs, C, accumulate);
    if (N == 1) return gemv_col(M, K, A, a_rs, a_cs, B, b_rs, C, c_rs, accumulate);
    gemm_threaded(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, accumulate, static_cast<const T*>(nullptr));
}

template <class T>
void gemm_bias(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
               int64_t b_cs, T* C, int64_t c_rs, const T* bias) {
    if (M <= 0 || N <= 0) return;
    if (K > 0 && M > 1 && N > 1) return gemm_threaded(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, false, bias);
    // Matrix-vector and empty products: the product, then the bias, in the same order (A B + bias).
    gemm(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, false);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) C[i * c_rs + j] += bias[j];
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
template void gemm_bias<float>(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, int64_t,
                               float*, int64_t, const float*);
template void gemm_bias<double>(int64_t, int64_t, int64_t, const double*, int64_t, int64_t, const double*, int64_t,
                                int64_t, double*, int64_t, const double*);
XG_GEMM_INSTANTIATE(float, gemm_naive)
XG_GEMM_INSTANTIATE(double, gemm_naive)
XG_GEMM_INSTANTIATE(int64_t, gemm_naive)
#undef XG_GEMM_INSTANTIATE

}  // namespace xg::kernels
