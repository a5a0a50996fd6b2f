#pragma once
// The loop every optimizer update is written with (internal: included by nn/optim/*.cpp only,
// because it pulls in xsimd).
//
//   simd_for<float>(n, [&]<class V>(int64_t i) {
//       V p = read<V>(param + i);               // V is xsimd::batch<float> over the body of the
//       write(param + i, p - V(lr) * read<V>(grad + i));   // buffer, then plain float for the tail
//   });
//
// The body is written once as a templated lambda; simd_for runs it on full SIMD batches and then
// on the scalar tail, so a learner reads one formula and the machine runs it 8 floats at a time.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/kernels/simd.h"

namespace xg::nn::optim::detail {

template <class T, class F>
inline void simd_for(int64_t n, F&& body) {
    using kernels::batch;
    constexpr int64_t W = kernels::simd_width<T>;
    int64_t i = 0;
    for (; i + W <= n; i += W) body.template operator()<batch<T>>(i);
    for (; i < n; ++i) body.template operator()<T>(i);
}

// Loads and stores that work for a batch and for a scalar.
template <class V, class T>
inline V read(const T* p) {
    if constexpr (std::is_same_v<V, T>) {
        return *p;
    } else {
        return V::load_unaligned(p);
    }
}
template <class T>
inline void write(T* p, T x) { *p = x; }
template <class T, class A>
inline void write(T* p, const xsimd::batch<T, A>& x) { x.store_unaligned(p); }

// a * b + c rounded once (a fused multiply-add), as PyTorch's CPU kernels compute
// `x.add_(y, alpha=a)` and `addcmul_` (vec::fmadd); sqrt and max, for both scalars and batches.
template <class T>
inline T fmadd(T a, T b, T c) { return std::fma(a, b, c); }
template <class T, class A>
inline xsimd::batch<T, A> fmadd(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b,
                                const xsimd::batch<T, A>& c) {
    return xsimd::fma(a, b, c);
}
template <class T>
inline T sqrt(T x) { return std::sqrt(x); }
template <class T, class A>
inline xsimd::batch<T, A> sqrt(const xsimd::batch<T, A>& x) { return xsimd::sqrt(x); }
template <class T>
inline T maximum(T a, T b) { return a < b ? b : a; }
template <class T, class A>
inline xsimd::batch<T, A> maximum(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) {
    return xsimd::max(a, b);
}

}  // namespace xg::nn::optim::detail

// ---- the parameter side of an update -------------------------------------------------------
#include "core/ops.h"

namespace xg::nn::optim::detail {

// The gradient as a contiguous buffer of the parameter's dtype (a copy only when it is not one).
inline Tensor contiguous_grad(const Tensor& param, const Tensor& grad, const std::string& op, const SrcLoc& loc) {
    XG_CHECK(grad.shape() == param.shape(), loc,
             op << ": the gradient has shape " << grad.shape() << " but its parameter has shape " << param.shape());
    Tensor g = grad.dtype() == param.dtype() ? grad : grad.to(param.dtype(), loc);
    return g.is_contiguous() ? g : g.contiguous(loc);
}

// The buffer an update writes: the parameter itself, or for a non-contiguous parameter (a view
// handed to the optimizer) a contiguous copy that finish_update copies back.
inline Tensor work_buffer(const Tensor& param) { return param.is_contiguous() ? param : param.contiguous(); }

// Ends an in-place update: copies a working copy home, and bumps the version counter, so a
// graph that saved the old value refuses to backward through it (as PyTorch does).
inline void finish_update(Tensor& param, const Tensor& work, const SrcLoc& loc) {
    if (work.impl() != param.impl()) {
        param.copy_(work, loc);  // bumps the version
    } else {
        param.impl()->storage->bump_version();
    }
}

// A fresh zero-filled state tensor shaped like the parameter (contiguous, same dtype).
inline Tensor zeros_state(const Tensor& param) { return zeros(param.shape(), dtype(param.dtype())); }

}  // namespace xg::nn::optim::detail
