#pragma once
// The road from the triple loop to xgrad's GEMM, one step per function, so that bench_gemm can
// show what each idea buys (docs/performance.md has the measured numbers). All compute
// C[M, N] = A[M, K] @ B[K, N] with row-major operands (rows lda, ldb, ldc elements apart).
//
//   step 1  naive             xg::kernels::gemm_naive: one dot product per element of C; the
//                             inner loop walks a column of B, a cache miss per step at large N.
//   step 2  blocked           gemm_blocked (here): loops reordered to i-k-j so the inner loop
//                             runs along rows of B and C (unit stride, 8 floats per FMA), and
//                             k cut into blocks so the rows of B being reused stay in cache.
//   step 3  register-blocked  gemm_register_blocked (here): a 6 x 16 tile of C held in 12
//                             registers for the whole k loop, so each loaded value of A and B
//                             feeds several FMAs; operands read in place, no packing.
//   step 4  packed            xg::kernels::gemm on one thread: A and B copied into the order
//                             the micro-kernel reads them, cache blocks for L1/L2/L3.
//   step 5  threaded          xg::kernels::gemm with xg::set_num_threads(2).
#include <cstdint>

namespace xg::bench {

void gemm_blocked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                  int64_t ldc);

void gemm_register_blocked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                           float* C, int64_t ldc);

}  // namespace xg::bench
