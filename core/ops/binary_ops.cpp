// Elementwise ops of two tensors, with broadcasting: add sub mul div pow maximum minimum where,
// the comparisons, their scalar overloads and the C++ operators.
//
// Every op here has the same shape:
//   1. check and promote the inputs (one dtype, broadcastable shapes),
//   2. run the forward kernel (SIMD over contiguous rows, see core/kernels/simd.h),
//   3. if an input requires grad, record the backward next to the forward.
// The backward of a broadcasting op sums the gradient back to each input's shape (sum_to).
#include <cmath>
#include <tuple>

#include "core/autograd/node.h"
#include "core/kernels/exact_inverse.h"
#include "core/kernels/simd.h"
#include "core/kernels/strided_loop.h"
#include "core/ops.h"

namespace xg {

using autograd::SavedTensor;

namespace {

// The strides of `t` seen from the broadcast shape `out`: 0 along broadcast dims.
Strides broadcast_strides(const Tensor& t, const Shape& out) {
    Strides s(out.size(), 0);
    size_t lead = out.size() - t.shape().size();
    for (size_t i = 0; i < t.shape().size(); ++i) s[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
    return s;
}

// out = f(a, b) elementwise over the broadcast shape. a and b have one dtype, T.
// `f` is a generic lambda that works on xsimd batches and on plain scalars.
template <class T, class F>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b, F&& f) {
    const Shape& shape = out.shape();
    Strides sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
    T* o = out.data_ptr<T>();
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    kernels::parallel_for_each_row<3>(shape, {&out.strides(), &sa, &sb}, 8, [&](auto off, int64_t n, auto st) {
        // out is fresh and contiguous, so its innermost stride is 1.
        kernels::map2_row(o + off[0], pa + off[1], st[1], pb + off[2], st[2], n, f);
    });
}

// The dtype both inputs are converted to, and the conversion (recorded by autograd).
// (Callers use std::tie, not structured bindings: clang < 16 cannot capture those in lambdas.)
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b, const char* op, const SrcLoc& loc) {
    XG_CHECK(a.defined() && b.defined(), loc, op << ": an input tensor is undefined");
    if (a.dtype() == b.dtype()) return {a, b};
    DType t = promote(a.dtype(), b.dtype());
    return {a.to(t, loc), b.to(t, loc)};
}

// A 0-d tensor holding `value` to combine with `t`: it takes t's dtype, except that a
// non-integral value with an int64 tensor gives float32 (PyTorch's rule for Python scalars).
Tensor scalar_for(const Tensor& t, double value) {
    DType d = t.dtype();
    if (d == DType::Int64 && value != std::floor(value)) d = DType::Float32;
    return scalar_tensor(value, dtype(d));
}

Tensor as_dtype_of_scalar(const Tensor& t, const Tensor& s, const SrcLoc& loc) {
    return t.dtype() == s.dtype() ? t : t.to(s.dtype(), loc);
}

}  // namespace

// ---- add / sub ------------------------------------------------------------------------------

// y = a + alpha * b   =>   dL/da = sum_to(g, a.shape),  dL/db = sum_to(alpha * g, b.shape)
Tensor add(const Tensor& a_in, const Tensor& b_in, double alpha, SrcLoc loc) {
    Tensor a, b;
    std::tie(a, b) = promoted(a_in, b_in, "add", loc);
    Shape shape = broadcast_shapes(a.shape(), b.shape(), "add", loc);
    Tensor out = detail::make_empty(shape, a.dtype());
    XG_DISPATCH(a.dtype(), T, [&] {
        if (alpha == 1) {
            binary_loop<T>(out, a, b, [](auto x, auto y) { return x + y; });
        } else {
            T al = static_cast<T>(alpha);
            binary_loop<T>(out, a, b, [al](auto x, auto y) { return x + decltype(y)(al) * y; });
        }
    });
    if (autograd::needs_grad({&a, &b})) {
        autograd::attach(out, alpha == -1 ? "SubBackward0" : "AddBackward0", loc, {a, b},
                         [sa = a.shape(), sb = b.shape(), alpha](const Tensor& g) -> std::vector<Tensor> {
                             return {sum_to(g, sa), sum_to(alpha == 1 ? g : mul(g, alpha), sb)};
                         });
    }
    return out;
}

Tensor add(const Tensor& a, const Tensor& b, SrcLoc loc) { return add(a, b, 1.0, loc); }
Tensor sub(const Tensor& a, const Tensor& b, SrcLoc loc) { return add(a, b, -1.0, loc); }
Tensor add(const Tensor& a, double b, SrcLoc loc) {
    Tensor s = scalar_for(a, b);
    return add(as_dtype_of_scalar(a, s, loc), s, 1.0, loc);
}
Tensor sub(const Tensor& a, double b, SrcLoc loc) {
    Tensor s = scalar_for(a, b);
    return add(as_dtype_of_scalar(a, s, loc), s, -1.0, loc);
}

// y = s - a   =>   dL/da = -g
Tensor rsub(const Tensor& a_in, double s, SrcLoc loc) {
    Tensor sc = scalar_for(a_in, s);
    Tensor a = as_dtype_of_scalar(a_in, sc, loc);
    Tensor out = detail::make_empty(a.shape(), a.dtype());
    XG_DISPATCH(a.dtype(), T, [&] { binary_loop<T>(out, sc, a, [](auto x, auto y) { return x - y; }); });
    if (autograd::needs_grad({&a}))
        autograd::attach(out, "RsubBackward1", loc, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
    return out;
}

// ---- mul / div ------------------------------------------------------------------------------

// y = a * b   =>   dL/da = sum_to(g * b, a.shape),  dL/db = sum_to(g * a, b.shape)
Tensor mul(const Tensor& a_in, const Tensor& b_in, SrcLoc loc) {
    Tensor a, b;
    std::tie(a, b) = promoted(a_in, b_in, "mul", loc);
    Shape shape = broadcast_shapes(a.shape(), b.shape(), "mul", loc);
    Tensor out = detail::make_empty(shape, a.dtype());
    XG_DISPATCH(a.dtype(), T, [&] { binary_loop<T>(out, a, b, [](auto x, auto y) { return x * y; }); });
    if (autograd::needs_grad({&a, &b})) {
        bool need_a = a.requires_grad(), need_b = b.requires_grad();
        // Save only what the backward will read: b for a's gradient, a for b's.
        autograd::attach(out, "MulBackward0", loc, {a, b},
                         [sa = need_b ? SavedTensor(a) : SavedTensor(), sb = need_a ? SavedTensor(b) : SavedTensor(),
                          shape_a = a.shape(), shape_b = b.shape()](const Tensor& g) -> std::vector<Tensor> {
                             Tensor ga = sb.defined() ? sum_to(mul(g, sb.get()), shape_a) : Tensor();
                             Tensor gb = sa.defined() ? sum_to(mul(g, sa.get()), shape_b) : Tensor();
                             return {ga, gb};
                         });
    }
    return out;
}

Tensor mul(const Tensor& a, double b, SrcLoc loc) {
    Tensor s = scalar_for(a, b);
    return mul(as_dtype_of_scalar(a, s, loc), s, loc);
}

// y = a / b   =>   dL/da = sum_to(g / b, a.shape),  dL/db = sum_to(-g * a / b^2, b.shape)
Tensor div(const Tensor& a_in, const Tensor& b_in, SrcLoc loc) {
    Tensor a, b;
    std::tie(a, b) = promoted(a_in, b_in, "div", loc);
    // True division, as torch.div: integer inputs give a float32 result.
    if (a.dtype() == DType::Int64) return div(a.to(kFloat32, loc), b.to(kFloat32, loc), loc);
    Shape shape = broadcast_shapes(a.shape(), b.shape(), "div", loc);
    Tensor out = detail::make_empty(shape, a.dtype());
    XG_DISPATCH_FLOAT(a.dtype(), T, [&] {
        // Dividing by one number that is a power of two: multiplying by its inverse, exactly
        // (core/kernels/exact_inverse.h).
        if (b.numel() == 1) {
            T inverse = 0;
            if (kernels::exact_inverse(*b.data_ptr<T>(), &inverse)) {
                binary_loop<T>(out, a, b, [inverse](auto x, auto) { return x * decltype(x)(inverse); });
                return;
            }
        }
        binary_loop<T>(out, a, b, [](auto x, auto y) { return x / y; });
    });
    if (autograd::needs_grad({&a, &b})) {
        bool need_b = b.requires_grad();
        autograd::attach(out, "DivBackward0", loc, {a, b},
                         [sa = need_b ? SavedTensor(a) : SavedTensor(), sb = SavedTensor(b), shape_a = a.shape(),
                          shape_b = b.shape()](const Tensor& g) -> std::vector<Tensor> {
                             const Tensor& bv = sb.get();
                             Tensor ga = sum_to(div(g, bv), shape_a);
                             Tensor gb = sa.defined() ? sum_to(neg(div(mul(g, sa.get()), mul(bv, bv))), shape_b) : Tensor();
                             return {ga, gb};
                         });
    }
    return out;
}

Tensor div(const Tensor& a, double b, SrcLoc loc) {
    Tensor s = scalar_for(a, b);
    if (s.dtype() == DType::Int64) s = s.to(kFloat32);
    return div(a, s, loc);
}

// y = s / a   =>   dL/da = -g * s / a^2
Tensor rdiv(const Tensor& a_in, double s, SrcLoc loc) {
    Tensor a = a_in.dtype() == DType::Int64 ? a_in.to(kFloat32, loc) : a_in;
    Tensor sc = scalar_for(a, s);
    Tensor out = detail::make_empty(a.shape(), a.dtype());
    XG_DISPATCH_FLOAT(a.dtype(), T, [&] { binary_loop<T>(out, sc, a, [](auto x, auto y) { return x / y; }); });
    if (autograd::needs_grad({&a})) {
        autograd::attach(out, "DivBackward0", loc, {a}, [sa = SavedTensor(a), s](const Tensor& g) -> std::vector<Tensor> {
            const Tensor& av = sa.get();
            return {mul(div(g, mul(av, av)), -s)};
        });
    }
    return out;
}

// ---- pow ------------------------------------------------------------------------------------

// y = a^e (e a number)   =>   dL/da = g * e * a^(e-1)
Tensor pow(const Tensor& a_in, double e, SrcLoc loc) {
    XG_CHECK(a_in.defined(), loc, "pow: the input tensor is undefined");
    Tensor a = a_in.dtype() == DType::Int64 && (e != std::floor(e) || e < 0) ? a_in.to(kFloat32, loc) : a_in;
    Tensor out = detail::make_empty(a.shape(), a.dtype());
    XG_DISPATCH(a.dtype(), T, [&] {
        const T* src = a.contiguous().template data_ptr<T>();
        T* dst = out.data_ptr<T>();
        int64_t n = a.numel();
        if constexpr (std::is_floating_point_v<T>) {
            T te = static_cast<T>(e);
            if (e == 2) kernels::map_contiguous(dst, src, n, [](auto x) { return x * x; });
            else if (e == 0.5) kernels::map_contiguous(dst, src, n, [](auto x) { return xsimd::sqrt(x); });
            else kernels::map_contiguous(dst, src, n, [te](auto x) { return xsimd::pow(x, decltype(x)(te)); });
        } else {
            for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(std::llround(std::pow(double(src[i]), e)));
        }
    });
    if (autograd::needs_grad({&a})) {
        autograd::attach(out, "PowBackward0", loc, {a}, [sa = SavedTensor(a), e](const Tensor& g) -> std::vector<Tensor> {
            if (e == 0) return {zeros_like(g)};
            const Tensor& av = sa.get();
            return {mul(mul(g, e == 2 ? av : pow(av, e - 1)), e)};
        });
    }
    return out;
}

// y = a^b   =>   dL/da = g * b * a^(b-1),  dL/db = g * y * log(a)
Tensor pow(const Tensor& a_in, const Tensor& b_in, SrcLoc loc) {
    Tensor a0, b0;
    std::tie(a0, b0) = promoted(a_in, b_in, "pow", loc);
    Tensor a = a0.dtype() == DType::Int64 ? a0.to(kFloat32, loc) : a0;
    Tensor b = b0.dtype() == DType::Int64 ? b0.to(kFloat32, loc) : b0;
    Shape shape = broadcast_shapes(a.shape(), b.shape(), "pow", loc);
    Tensor out = detail::make_empty(shape, a.dtype());
    XG_DISPATCH_FLOAT(a.dtype(), T, [&] {
        binary_loop<T>(out, a, b, [](auto x, auto y) {
            if constexpr (std::is_arithmetic_v<decltype(x)>) return std::pow(x, y);
            else return xsimd::pow(x, y);
        });
    });
    if (autograd::needs_grad({&a, &b})) {
        autograd::attach(out, "PowBackward1", loc, {a, b},
                         [sa = SavedTensor(a), sb = SavedTensor(b), so = SavedTensor(out.detach())](
                             const Tensor& g) -> std::vector<Tensor> {
                             const Tensor &av = sa.get(), &bv = sb.get();
                             Tensor ga = sum_to(mul(mul(g, bv), pow(av, sub(bv, 1.0))), av.shape());
                             // log(a) is -inf/nan where a <= 0; like PyTorch, a 0 base gives a 0 gradient.
                             Tensor gb = sum_to(mul(mul(g, so.get()), where(eq(av, 0.0), zeros_like(av), log(av))), bv.shape());
                             return {ga, gb};
                         });
    }
    return out;
}

Tensor pow(double base, const Tensor& exponent, SrcLoc loc) {
    Tensor e = exponent.dtype() == DType::Int64 ? exponent.to(kFloat32, loc) : exponent;
    return pow(scalar_for(e, base), e, loc);
}

// ---- maximum / minimum / where ----------------------------------------------------------------

namespace {
// y = max(a, b)   =>   dL/da = g where a > b (g/2 where a == b),  dL/db likewise
Tensor extremum(const Tensor& a_in, const Tensor& b_in, bool is_max, const SrcLoc& loc) {
    const char* op = is_max ? "maximum" : "minimum";
    Tensor a, b;
    std::tie(a, b) = promoted(a_in, b_in, op, loc);
    Shape shape = broadcast_shapes(a.shape(), b.shape(), op, loc);
    Tensor out = detail::make_empty(shape, a.dtype());
    XG_DISPATCH(a.dtype(), T, [&] {
        if (is_max) binary_loop<T>(out, a, b, [](auto x, auto y) {
                if constexpr (std::is_arithmetic_v<decltype(x)>) return std::max(x, y);
                else return xsimd::max(x, y);
            });
        else binary_loop<T>(out, a, b, [](auto x, auto y) {
                if constexpr (std::is_arithmetic_v<decltype(x)>) return std::min(x, y);
                else return xsimd::min(x, y);
            });
    });
    if (autograd::needs_grad({&a, &b})) {
        autograd::attach(out, is_max ? "MaximumBackward0" : "MinimumBackward0", loc, {a, b},
                         [sa = SavedTensor(a), sb = SavedTensor(b), is_max](const Tensor& g) -> std::vector<Tensor> {
                             const Tensor &av = sa.get(), &bv = sb.get();
                             Tensor a_wins = is_max ? gt(av, bv) : lt(av, bv);
                             Tensor tie = mul(eq(av, bv), 0.5);
                             Tensor wa = add(a_wins, tie), wb = rsub(add(a_wins, tie), 1.0);
                             return {sum_to(mul(g, wa), av.shape()), sum_to(mul(g, wb), bv.shape())};
                         });
    }
    return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b, SrcLoc loc) { return extremum(a, b, true, loc); }
Tensor minimum(const Tensor& a, const Tensor& b, SrcLoc loc) { return extremum(a, b, false, loc); }

// y = where(c, a, b)   =>   dL/da = sum_to(g where c, a.shape),  dL/db = sum_to(g where !c, b.shape)
Tensor where(const Tensor& cond, const Tensor& a_in, const Tensor& b_in, SrcLoc loc) {
    XG_CHECK(cond.defined(), loc, "where: the condition tensor is undefined");
    Tensor a, b;
    std::tie(a, b) = promoted(a_in, b_in, "where", loc);
    Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where", loc), b.shape(), "where", loc);
    Tensor out = detail::make_empty(shape, a.dtype());
    Tensor c = cond.dtype() == a.dtype() ? cond : cond.to(a.dtype(), loc);
    XG_DISPATCH(a.dtype(), T, [&] {
        Strides sc = broadcast_strides(c, shape), sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
        T* o = out.data_ptr<T>();
        const T *pc = c.data_ptr<T>(), *pa = a.data_ptr<T>(), *pb = b.data_ptr<T>();
        kernels::for_each_row<4>(shape, {&out.strides(), &sc, &sa, &sb}, [&](auto off, int64_t n, auto st) {
            for (int64_t i = 0; i < n; ++i)
                o[off[0] + i] = pc[off[1] + i * st[1]] != T(0) ? pa[off[2] + i * st[2]] : pb[off[3] + i * st[3]];
        });
    });
    if (autograd::needs_grad({&a, &b})) {
        autograd::attach(out, "WhereBackward0", loc, {a, b},
                         [sc = SavedTensor(c), shape_a = a.shape(), shape_b = b.shape()](const Tensor& g) -> std::vector<Tensor> {
                             Tensor zero = zeros_like(g);
                             return {sum_to(where(sc.get(), g, zero), shape_a), sum_to(where(sc.get(), zero, g), shape_b)};
                         });
    }
    return out;
}

// ---- comparisons (never differentiable) -------------------------------------------------------

namespace {
template <class Cmp>
Tensor compare(const Tensor& a_in, const Tensor& b_in, const char* op, const SrcLoc& loc, Cmp cmp) {
    XG_CHECK(a_in.defined() && b_in.defined(), loc, op << ": an input tensor is undefined");
    DType t = promote(a_in.dtype(), b_in.dtype());
    Tensor a = a_in.detach(), b = b_in.detach();
    if (a.dtype() != t) a = a.to(t);
    if (b.dtype() != t) b = b.to(t);
    Shape shape = broadcast_shapes(a.shape(), b.shape(), op, loc);
    Tensor out = detail::make_empty(shape, t);
    XG_DISPATCH(t, T, [&] {
        binary_loop<T>(out, a, b, [&cmp](auto x, auto y) {
            using V = decltype(x);
            if constexpr (std::is_arithmetic_v<V>) return cmp(x, y) ? V(1) : V(0);
            else return xsimd::select(cmp(x, y), V(1), V(0));
        });
    });
    return out;
}
}  // namespace

Tensor eq(const Tensor& a, const Tensor& b, SrcLoc loc) { return compare(a, b, "eq", loc, [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, const Tensor& b, SrcLoc loc) { return compare(a, b, "ne", loc, [](auto x, auto y) { return x != y; }); }
Tensor gt(const Tensor& a, const Tensor& b, SrcLoc loc) { return compare(a, b, "gt", loc, [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, const Tensor& b, SrcLoc loc) { return compare(a, b, "ge", loc, [](auto x, auto y) { return x >= y; }); }
Tensor lt(const Tensor& a, const Tensor& b, SrcLoc loc) { return compare(a, b, "lt", loc, [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, const Tensor& b, SrcLoc loc) { return compare(a, b, "le", loc, [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, double b, SrcLoc loc) { return gt(a, scalar_for(a, b), loc); }
Tensor lt(const Tensor& a, double b, SrcLoc loc) { return lt(a, scalar_for(a, b), loc); }
Tensor eq(const Tensor& a, double b, SrcLoc loc) { return eq(a, scalar_for(a, b), loc); }

// ---- C++ operators and Tensor methods ----------------------------------------------------------

Tensor operator+(const Tensor& a, TensorArg b) { return add(a, b.t, b.loc); }
Tensor operator-(const Tensor& a, TensorArg b) { return sub(a, b.t, b.loc); }
Tensor operator*(const Tensor& a, TensorArg b) { return mul(a, b.t, b.loc); }
Tensor operator/(const Tensor& a, TensorArg b) { return div(a, b.t, b.loc); }
Tensor operator+(const Tensor& a, ScalarArg b) { return add(a, b.v, b.loc); }
Tensor operator-(const Tensor& a, ScalarArg b) { return sub(a, b.v, b.loc); }
Tensor operator*(const Tensor& a, ScalarArg b) { return mul(a, b.v, b.loc); }
Tensor operator/(const Tensor& a, ScalarArg b) { return div(a, b.v, b.loc); }
Tensor operator+(ScalarArg a, const Tensor& b) { return add(b, a.v, a.loc); }
Tensor operator-(ScalarArg a, const Tensor& b) { return rsub(b, a.v, a.loc); }
Tensor operator*(ScalarArg a, const Tensor& b) { return mul(b, a.v, a.loc); }
Tensor operator/(ScalarArg a, const Tensor& b) { return rdiv(b, a.v, a.loc); }

Tensor Tensor::add(const Tensor& other, SrcLoc loc) const { return xg::add(*this, other, loc); }
Tensor Tensor::sub(const Tensor& other, SrcLoc loc) const { return xg::sub(*this, other, loc); }
Tensor Tensor::mul(const Tensor& other, SrcLoc loc) const { return xg::mul(*this, other, loc); }
Tensor Tensor::div(const Tensor& other, SrcLoc loc) const { return xg::div(*this, other, loc); }
Tensor Tensor::pow(double exponent, SrcLoc loc) const { return xg::pow(*this, exponent, loc); }
Tensor Tensor::pow(const Tensor& exponent, SrcLoc loc) const { return xg::pow(*this, exponent, loc); }

}  // namespace xg
