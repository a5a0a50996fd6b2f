#pragma once
// The three element types xgrad knows. float32 is the working type; float64 is for gradient
// checks (and learners who want exact numbers); int64 holds labels and indices (no gradients).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace xg {

enum class DType : uint8_t { Float32, Float64, Int64 };

// PyTorch's C++ spellings, so `xg::kFloat64` reads like `torch::kFloat64`.
inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;

constexpr size_t itemsize(DType t) { return t == DType::Float32 ? 4 : 8; }
constexpr bool is_floating(DType t) { return t != DType::Int64; }

// "torch.float32" style names, as PyTorch prints them.
constexpr std::string_view dtype_name(DType t) {
    switch (t) {
        case DType::Float32: return "torch.float32";
        case DType::Float64: return "torch.float64";
        case DType::Int64: return "torch.int64";
    }
    return "?";
}

// The type of `a op b`: int64 < float32 < float64 (PyTorch's promotion for tensor-tensor ops).
constexpr DType promote(DType a, DType b) {
    if (a == DType::Float64 || b == DType::Float64) return DType::Float64;
    if (a == DType::Float32 || b == DType::Float32) return DType::Float32;
    return DType::Int64;
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

}  // namespace xg

// Calls `__VA_ARGS__` (a generic lambda body or expression) with `scalar_t` bound to the C++
// type of `dtype`. Used inside kernels: XG_DISPATCH(t.dtype(), scalar_t, { loop<scalar_t>(...); });
#define XG_DISPATCH(dtype, scalar_t, ...)                           \
    [&] {                                                           \
        switch (dtype) {                                            \
            case ::xg::DType::Float32: { using scalar_t = float; return __VA_ARGS__(); }   \
            case ::xg::DType::Float64: { using scalar_t = double; return __VA_ARGS__(); }  \
            case ::xg::DType::Int64: { using scalar_t = int64_t; return __VA_ARGS__(); }   \
        }                                                           \
        __builtin_unreachable();                                    \
    }()

// Same, floating types only (the caller has already rejected int64).
#define XG_DISPATCH_FLOAT(dtype, scalar_t, ...)                     \
    [&] {                                                           \
        if ((dtype) == ::xg::DType::Float64) { using scalar_t = double; return __VA_ARGS__(); } \
        using scalar_t = float; return __VA_ARGS__();               \
    }()
