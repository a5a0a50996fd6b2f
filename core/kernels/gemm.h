#pragma once
// C[M, N] (+)= A[M, K] @ B[K, N] over strided operands: the one matrix-multiply kernel that
// matmul, mm, bmm and their backwards call.
//
// Element (i, k) of A is A[i * a_rs + k * a_cs] (row stride, column stride); likewise for B.
// C is written with rows c_rs apart and contiguous columns. Because the strides are free, a
// transposed operand is just a view: A^T is (A, a_cs, a_rs), with nothing copied. A stride of
// 0 is allowed (an expanded operand). C must not overlap A or B.
//
// accumulate = false: C = A @ B.   accumulate = true: C += A @ B (how the gradient of a
// broadcast operand sums the products of every batch into one matrix).
//
// gemm is a packed, cache-blocked GEMM with a 6 x 16 register-blocked FMA micro-kernel, threaded
// over blocks of C (see gemm.cpp; the result is bit-identical for any thread count). gemm_naive
// is the plain triple loop, kept as the reference the tests compare against and used for int64.
// This header includes only the standard library.
#include <cstdint>

namespace xg::kernels {

// Instantiated for float and double.
template <class T>
void gemm(int64_t M, int64_t N, int64_t K,
          const T* A, int64_t a_rs, int64_t a_cs,   // A: [M, K]
          const T* B, int64_t b_rs, int64_t b_cs,   // B: [K, N]
          T* C, int64_t c_rs,                       // C: [M, N], columns contiguous
          bool accumulate);

// C = A @ B + bias, bias a contiguous row of N values added to every row of C (nn.Linear's
// addmm): added by the micro-kernel as it stores C, so the bias costs no pass of its own.
// Instantiated for float and double.
template <class T>
void gemm_bias(int64_t M, int64_t N, int64_t K,
               const T* A, int64_t a_rs, int64_t a_cs,
               const T* B, int64_t b_rs, int64_t b_cs,
               T* C, int64_t c_rs,
               const T* bias);

// Instantiated for float, double and int64_t.
template <class T>
void gemm_naive(int64_t M, int64_t N, int64_t K,
                const T* A, int64_t a_rs, int64_t a_cs,
                const T* B, int64_t b_rs, int64_t b_cs,
                T* C, int64_t c_rs,
                bool accumulate);

}  // namespace xg::kernels
