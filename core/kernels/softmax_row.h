#pragma once
// The row kernels of xg::softmax and its backward (core/ops/softmax.cpp), for fused ops that
// work one small matrix at a time (the fused attention, one head at a time, while its scores are
// still in the cache). Same code as the tensor ops, so the same bits. Instantiated for float and
// double. This header includes only the standard library.
#include <cstdint>

namespace xg::kernels {

// y = softmax(x) over n contiguous values (y may be x).
template <class T>
void softmax_row(const T* x, T* y, int64_t n);

// dx = y * (g - sum(g * y)), softmax's backward over n contiguous values (dx may be g).
template <class T>
void softmax_backward_row(const T* y, const T* g, T* dx, int64_t n);

}  // namespace xg::kernels
