#pragma once
// The one place xsimd is included for elementwise kernels. A kernel is written once as a
// generic lambda over `x` that works both for xsimd::batch<T> and for T, and `map` runs it:
// full SIMD batches over the body of a contiguous row, plain scalars over the tail.
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <type_traits>

namespace xg::kernels {

template <class T>
using batch = xsimd::batch<T>;

template <class T>
inline constexpr int64_t simd_width = static_cast<int64_t>(batch<T>::size);

// out[i] = f(a[i]) over n contiguous elements.
template <class T, class F>
inline void map_contiguous(T* out, const T* a, int64_t n, F&& f) {
    int64_t i = 0;
    if constexpr (std::is_floating_point_v<T>) {  // int64 stays scalar (AVX2 lacks 64-bit mul)
        constexpr int64_t W = simd_width<T>;
        for (; i + W <= n; i += W) f(batch<T>::load_unaligned(a + i)).store_unaligned(out + i);
    }
    for (; i < n; ++i) out[i] = f(a[i]);
}

// out[i] = f(a[i * sa], b[i * sb]); out is contiguous. Strides 0 (a broadcast scalar) and 1
// take the SIMD path; any other stride runs scalar.
template <class T, class F>
inline void map2_row(T* out, const T* a, int64_t sa, const T* b, int64_t sb, int64_t n, F&& f) {
    int64_t i = 0;
    if constexpr (std::is_floating_point_v<T>) {
    constexpr int64_t W = simd_width<T>;
    if (sa == 1 && sb == 1) {
        for (; i + W <= n; i += W)
            f(batch<T>::load_unaligned(a + i), batch<T>::load_unaligned(b + i)).store_unaligned(out + i);
    } else if (sa == 1 && sb == 0) {
        batch<T> vb(*b);
        for (; i + W <= n; i += W) f(batch<T>::load_unaligned(a + i), vb).store_unaligned(out + i);
    } else if (sa == 0 && sb == 1) {
        batch<T> va(*a);
        for (; i + W <= n; i += W) f(va, batch<T>::load_unaligned(b + i)).store_unaligned(out + i);
    }
    }
    for (; i < n; ++i) out[i] = f(a[i * sa], b[i * sb]);
}

}  // namespace xg::kernels

namespace xg::kernels {

// select(mask, a, b) for both scalars and batches, so one generic lambda serves both paths.
template <class T>
inline T select(bool mask, T a, T b) {
    return mask ? a : b;
}
template <class T, class A>
inline xsimd::batch<T, A> select(const xsimd::batch_bool<T, A>& mask, const xsimd::batch<T, A>& a,
                                 const xsimd::batch<T, A>& b) {
    return xsimd::select(mask, a, b);
}

// out[i] = f(a[i], b[i]) over n contiguous elements (a fused backward: grad and saved value).
template <class T, class F>
inline void map2_contiguous(T* out, const T* a, const T* b, int64_t n, F&& f) {
    map2_row(out, a, 1, b, 1, n, f);
}

}  // namespace xg::kernels
