// Elementwise math of one tensor: neg exp log sqrt rsqrt abs tanh sigmoid relu gelu sin cos clamp.
//
// Forward and backward are each one fused pass over memory: the forward maps x -> y with a
// generic lambda (SIMD batches over the body, scalars over the tail); the backward maps
// (saved, g) -> dL/dx in one more pass instead of a chain of tensor ops and temporaries.
#include <cmath>
#include <numbers>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/kernels/simd.h"
#include "core/ops.h"

namespace xg {

using autograd::SavedTensor;
namespace k = kernels;

namespace {

Tensor contiguous_data(const Tensor& x) { return x.is_contiguous() ? x.detach() : x.detach().contiguous(); }

void check_input(const Tensor& x, const char* op, const SrcLoc& loc, bool allow_int = false) {
    XG_CHECK(x.defined(), loc, op << ": the input tensor is undefined");
    XG_CHECK(allow_int || is_floating(x.dtype()), loc,
             op << ": expects a floating point tensor, got " << dtype_name(x.dtype())
                << " (convert with .to(xg::kFloat32))");
}

// y = f(x), elementwise, into a fresh contiguous tensor.
template <class F>
Tensor map(const Tensor& x, F f) {
    Tensor xc = contiguous_data(x);
    Tensor out = detail::make_empty(x.shape(), x.dtype());
    XG_DISPATCH(x.dtype(), T, [&] {
        T* o = out.data_ptr<T>();
        const T* a = xc.data_ptr<T>();
        parallel::parallel_for(x.numel(), 16, [&](int64_t begin, int64_t end) {
            k::map_contiguous(o + begin, a + begin, end - begin, f);
        });
    });
    return out;
}

// dL/dx = f(saved, g), elementwise, in one pass.
template <class F>
Tensor map_backward(const Tensor& saved, const Tensor& g, F f) {
    Tensor sc = contiguous_data(saved), gc = contiguous_data(g);
    Tensor out = detail::make_empty(saved.shape(), saved.dtype());
    XG_DISPATCH_FLOAT(saved.dtype(), T, [&] {
        T* o = out.data_ptr<T>();
        const T *s = sc.data_ptr<T>(), *gp = gc.data_ptr<T>();
        parallel::parallel_for(saved.numel(), 16, [&](int64_t begin, int64_t end) {
            k::map2_contiguous(o + begin, s + begin, gp + begin, end - begin, f);
        });
    });
    return out;
}

// Records `name` whose backward is dL/dx = f(saved, g) elementwise.
template <class F>
void attach_unary(Tensor& out, const char* name, const SrcLoc& loc, const Tensor& x, const Tensor& saved, F f) {
    autograd::attach(out, name, loc, {x}, [s = SavedTensor(saved), f](const Tensor& g) -> std::vector<Tensor> {
        return {map_backward(s.get(), g, f)};
    });
}

}  // namespace

// y = -x   =>   dL/dx = -g
Tensor neg(const Tensor& x, SrcLoc loc) {
    check_input(x, "neg", loc, /*allow_int=*/true);
    Tensor out = map(x, [](auto v) { return -v; });
    if (autograd::needs_grad({&x}))
        autograd::attach(out, "NegBackward0", loc, {x}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
    return out;
}

// y = e^x   =>   dL/dx = g * y
Tensor exp(const Tensor& x, SrcLoc loc) {
    check_input(x, "exp", loc);
    Tensor out = map(x, [](auto v) { return xsimd::exp(v); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "ExpBackward0", loc, x, out, [](auto y, auto g) { return g * y; });
    return out;
}

// y = ln x   =>   dL/dx = g / x
Tensor log(const Tensor& x, SrcLoc loc) {
    check_input(x, "log", loc);
    Tensor out = map(x, [](auto v) { return xsimd::log(v); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "LogBackward0", loc, x, x, [](auto v, auto g) { return g / v; });
    return out;
}

// y = sqrt(x)   =>   dL/dx = g / (2 y)
Tensor sqrt(const Tensor& x, SrcLoc loc) {
    check_input(x, "sqrt", loc);
    Tensor out = map(x, [](auto v) { return xsimd::sqrt(v); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "SqrtBackward0", loc, x, out, [](auto y, auto g) { return g / (y + y); });
    return out;
}

// y = 1 / sqrt(x)   =>   dL/dx = -g * y^3 / 2
Tensor rsqrt(const Tensor& x, SrcLoc loc) {
    check_input(x, "rsqrt", loc);
    Tensor out = map(x, [](auto v) { return decltype(v)(1) / xsimd::sqrt(v); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "RsqrtBackward0", loc, x, out,
                     [](auto y, auto g) { return decltype(y)(-0.5) * g * y * y * y; });
    return out;
}

// y = |x|   =>   dL/dx = g * sign(x)   (sign(0) = 0)
Tensor abs(const Tensor& x, SrcLoc loc) {
    check_input(x, "abs", loc, /*allow_int=*/true);
    Tensor out = map(x, [](auto v) {
        if constexpr (std::is_integral_v<decltype(v)>) return v < 0 ? -v : v;
        else return xsimd::abs(v);
    });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "AbsBackward0", loc, x, x, [](auto v, auto g) {
            using V = decltype(v);
            V zero(0), one(1);
            return g * (k::select(v > zero, one, zero) - k::select(v < zero, one, zero));
        });
    return out;
}

// y = tanh x   =>   dL/dx = g * (1 - y^2)
Tensor tanh(const Tensor& x, SrcLoc loc) {
    check_input(x, "tanh", loc);
    Tensor out = map(x, [](auto v) { return xsimd::tanh(v); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "TanhBackward0", loc, x, out, [](auto y, auto g) { return g * (decltype(y)(1) - y * y); });
    return out;
}

// y = 1 / (1 + e^-x)   =>   dL/dx = g * y * (1 - y)
Tensor sigmoid(const Tensor& x, SrcLoc loc) {
    check_input(x, "sigmoid", loc);
    Tensor out = map(x, [](auto v) { return decltype(v)(1) / (decltype(v)(1) + xsimd::exp(-v)); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "SigmoidBackward0", loc, x, out,
                     [](auto y, auto g) { return g * y * (decltype(y)(1) - y); });
    return out;
}

// y = max(x, 0)   =>   dL/dx = g where y > 0, else 0
Tensor relu(const Tensor& x, SrcLoc loc) {
    check_input(x, "relu", loc, /*allow_int=*/true);
    Tensor out = map(x, [](auto v) { return xsimd::max(v, decltype(v)(0)); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "ReluBackward0", loc, x, out,
                     [](auto y, auto g) { return k::select(y > decltype(y)(0), g, decltype(y)(0)); });
    return out;
}

// Exact:  y = x * Phi(x) = x/2 * (1 + erf(x / sqrt 2))
//         dL/dx = g * (Phi(x) + x * phi(x)),   phi(x) = e^(-x^2/2) / sqrt(2 pi)
// Tanh:   y = x/2 * (1 + tanh(u)),  u = sqrt(2/pi) * (x + 0.044715 x^3)
//         dL/dx = g * (1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2))
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kC = 0.044715;

namespace {

// The element type of a batch, or the type itself for a scalar.
template <class V> struct element_of { using type = V; };
template <class T, class A> struct element_of<xsimd::batch<T, A>> { using type = T; };

// Phi(x) = (1 + erf(z)) / 2 with z = x / sqrt 2, given e = exp(-z^2) (the backward shares e with
// phi(x) = e / sqrt(2 pi)). In float it is Abramowitz & Stegun 7.1.26, the formula PyTorch's
// vectorized CPU GELU uses:
//     erf(|z|) = 1 - t P(t) e,   t = 1 / (1 + 0.3275911 |z|),   P a degree-4 polynomial,
// absolute error below 1.5e-7 (float's own rounding is 6e-8), one division and the exp the
// backward needs anyway; xsimd::erf is about four times slower. In double, where the 1.5e-7
// would be far above the precision (and gradcheck would see it), the exact xsimd::erf.
template <class V> V gelu_cdf(V z, V e) {
    if constexpr (std::is_same_v<typename element_of<V>::type, float>) {
        const V a = xsimd::abs(z);
        const V t = V(1) / (V(0.3275911f) * a + V(1));
        const V poly = (((V(1.061405429f) * t + V(-1.453152027f)) * t + V(1.421413741f)) * t + V(-0.284496736f)) * t +
                       V(0.254829592f);
        const V erf_abs = V(1) - t * poly * e;
        return V(0.5) * (V(1) + k::select(z < V(0), -erf_abs, erf_abs));
    } else {
        (void)e;
        return V(0.5) * (V(1) + xsimd::erf(z));
    }
}

}  // namespace

Tensor gelu(const Tensor& x, const std::string& approximate, SrcLoc loc) {
    check_input(x, "gelu", loc);
    XG_CHECK(approximate == "none" || approximate == "tanh", loc,
             "gelu: approximate must be \"none\" or \"tanh\", got \"" << approximate << "\"");
    Tensor out;
    if (approximate == "none") {
        out = map(x, [](auto v) {
            using V = decltype(v);
            const V z = v * V(kInvSqrt2);
            return v * gelu_cdf<V>(z, xsimd::exp(-(z * z)));
        });
        if (autograd::needs_grad({&x}))
            attach_unary(out, "GeluBackward0", loc, x, x, [](auto v, auto g) {
                using V = decltype(v);
                const V z = v * V(kInvSqrt2);
                const V e = V(xsimd::exp(-(z * z)));  // e^(-x^2/2), in both Phi and phi
                return g * (gelu_cdf(z, e) + v * (V(kInvSqrt2Pi) * e));
            });
    } else {
        out = map(x, [](auto v) {
            using V = decltype(v);
            return V(0.5) * v * (V(1) + xsimd::tanh(V(kSqrt2OverPi) * (v + V(kC) * v * v * v)));
        });
        if (autograd::needs_grad({&x}))
            attach_unary(out, "GeluBackward0", loc, x, x, [](auto v, auto g) {
                using V = decltype(v);
                V t = xsimd::tanh(V(kSqrt2OverPi) * (v + V(kC) * v * v * v));
                V du = V(kSqrt2OverPi) * (V(1) + V(3 * kC) * v * v);
                return g * (V(0.5) * (V(1) + t) + V(0.5) * v * (V(1) - t * t) * du);
            });
    }
    return out;
}

// y = sin x   =>   dL/dx = g cos x
Tensor sin(const Tensor& x, SrcLoc loc) {
    check_input(x, "sin", loc);
    Tensor out = map(x, [](auto v) { return xsimd::sin(v); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "SinBackward0", loc, x, x, [](auto v, auto g) { return g * xsimd::cos(v); });
    return out;
}

// y = cos x   =>   dL/dx = -g sin x
Tensor cos(const Tensor& x, SrcLoc loc) {
    check_input(x, "cos", loc);
    Tensor out = map(x, [](auto v) { return xsimd::cos(v); });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "CosBackward0", loc, x, x, [](auto v, auto g) { return -g * xsimd::sin(v); });
    return out;
}

// y = min(max(x, lo), hi)   =>   dL/dx = g where lo <= x <= hi, else 0
Tensor clamp(const Tensor& x, std::optional<double> lo_in, std::optional<double> hi_in, SrcLoc loc) {
    check_input(x, "clamp", loc, /*allow_int=*/true);
    XG_CHECK(lo_in || hi_in, loc, "clamp: at least one of 'min' or 'max' must not be None");
    double lo = lo_in.value_or(-std::numeric_limits<double>::infinity());
    double hi = hi_in.value_or(std::numeric_limits<double>::infinity());
    Tensor out = XG_DISPATCH(x.dtype(), T, [&] {
        T l = std::is_integral_v<T> && !lo_in ? std::numeric_limits<T>::lowest() : static_cast<T>(lo);
        T h = std::is_integral_v<T> && !hi_in ? std::numeric_limits<T>::max() : static_cast<T>(hi);
        // PyTorch: min(max(x, lo), hi), so hi wins when lo > hi.
        return map(x, [l, h](auto v) { return xsimd::min(xsimd::max(v, decltype(v)(l)), decltype(v)(h)); });
    });
    if (autograd::needs_grad({&x}))
        attach_unary(out, "ClampBackward1", loc, x, x, [lo, hi](auto v, auto g) {
            using V = decltype(v);
            V zero(0);
            return k::select(v >= V(lo), k::select(v <= V(hi), g, zero), zero);
        });
    return out;
}

Tensor operator-(const Tensor& a) { return neg(a); }

Tensor Tensor::neg(SrcLoc loc) const { return xg::neg(*this, loc); }
Tensor Tensor::exp(SrcLoc loc) const { return xg::exp(*this, loc); }
Tensor Tensor::log(SrcLoc loc) const { return xg::log(*this, loc); }
Tensor Tensor::sqrt(SrcLoc loc) const { return xg::sqrt(*this, loc); }
Tensor Tensor::rsqrt(SrcLoc loc) const { return xg::rsqrt(*this, loc); }
Tensor Tensor::abs(SrcLoc loc) const { return xg::abs(*this, loc); }
Tensor Tensor::tanh(SrcLoc loc) const { return xg::tanh(*this, loc); }
Tensor Tensor::sigmoid(SrcLoc loc) const { return xg::sigmoid(*this, loc); }
Tensor Tensor::relu(SrcLoc loc) const { return xg::relu(*this, loc); }
Tensor Tensor::sin(SrcLoc loc) const { return xg::sin(*this, loc); }
Tensor Tensor::cos(SrcLoc loc) const { return xg::cos(*this, loc); }
Tensor Tensor::clamp(std::optional<double> min, std::optional<double> max, SrcLoc loc) const {
    return xg::clamp(*this, min, max, loc);
}

}  // namespace xg
