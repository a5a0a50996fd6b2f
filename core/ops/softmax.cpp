// softmax and log_softmax along one dim, forward and backward as fused kernels.
//
// The input is viewed as [outer, n, inner] where n is the softmax dim, outer the product of the
// dims before it and inner of the dims after it (the tensor is made contiguous first):
//   - inner == 1 (softmax over the last dim, as in attention and classifiers): every row of n
//     elements is contiguous and is done in three SIMD passes: max, exp + sum, scale.
//   - inner > 1: the n elements of one softmax are `inner` apart, but `inner` neighbouring
//     softmaxes sit side by side in memory, so the same three passes run across them with
//     SIMD over the inner index, keeping one running max and sum per softmax in a buffer.
// No transpose or extra copy is needed for either case.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd/node.h"
#include "core/kernels/simd.h"
#include "core/kernels/softmax_row.h"
#include "core/ops.h"

namespace xg {

using autograd::SavedTensor;
namespace k = kernels;

namespace {

enum class Kind { Softmax, LogSoftmax };

struct Layout {
    int64_t outer = 1, n = 1, inner = 1;
};

Layout layout_of(const Shape& shape, int64_t dim) {
    Layout l;
    for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
        int64_t s = shape[static_cast<size_t>(i)];
        if (i < dim) l.outer *= s;
        else if (i == dim) l.n = s;
        else l.inner *= s;
    }
    return l;
}

template <class T>
using B = k::batch<T>;

// ---- forward -------------------------------------------------------------------------------

// Why subtract the max: softmax(x) = e^x / sum(e^x) is unchanged by x -> x - c for any c, and
// with c = max(x) every exponent is <= 0, so e^(x - c) lies in (0, 1] and cannot overflow
// (e^1000 is inf in float32 and float64, and inf / inf is NaN), while the largest term is
// exactly 1 so the sum cannot underflow to 0 either. log_softmax then is
// (x - c) - log(sum(e^(x - c))), with no log of a rounded-to-0 probability.

// One softmax over n contiguous elements: y = softmax(x) or log_softmax(x).
template <class T>
void forward_row(const T* x, T* y, int64_t n, Kind kind) {
    constexpr int64_t W = k::simd_width<T>;
    // Pass 1: c = max(x).
    T c = -std::numeric_limits<T>::infinity();
    int64_t i = 0;
    if (n >= W) {
        B<T> vc(c);
        for (; i + W <= n; i += W) vc = xsimd::max(vc, B<T>::load_unaligned(x + i));
        alignas(64) T lanes[W];
        vc.store_aligned(lanes);
        for (T l : lanes) c = std::max(c, l);
    }
    for (; i < n; ++i) c = std::max(c, x[i]);

    // Pass 2: e = exp(x - c) (kept in y for softmax) and s = sum(e).
    T s = 0;
    i = 0;
    {
        B<T> vc(c), vs(T(0));
        for (; i + W <= n; i += W) {
            B<T> e = xsimd::exp(B<T>::load_unaligned(x + i) - vc);
            if (kind == Kind::Softmax) e.store_unaligned(y + i);
            vs += e;
        }
        s = xsimd::hadd(vs);
    }
    for (; i < n; ++i) {
        T e = std::exp(x[i] - c);
        if (kind == Kind::Softmax) y[i] = e;
        s += e;
    }

    // Pass 3: softmax y = e / s;  log_softmax y = x - (c + log s).
    if (kind == Kind::Softmax) {
        k::map_contiguous(y, y, n, [r = T(1) / s](auto e) { return e * decltype(e)(r); });
    } else {
        k::map_contiguous(y, x, n, [shift = c + std::log(s)](auto v) { return v - decltype(v)(shift); });
    }
}

// `inner` side-by-side softmaxes, each of n elements `inner` apart (x and y point at [o, 0, 0]).
// c and s are scratch buffers of `inner` elements.
template <class T>
void forward_strided(const T* x, T* y, int64_t n, int64_t inner, Kind kind, T* c, T* s) {
    std::fill_n(c, inner, -std::numeric_limits<T>::infinity());
    std::fill_n(s, inner, T(0));
    for (int64_t j = 0; j < n; ++j)  // pass 1: running max per softmax
        k::map2_contiguous(c, c, x + j * inner, inner, [](auto a, auto b) { return xsimd::max(a, b); });
    for (int64_t j = 0; j < n; ++j) {  // pass 2: exp(x - c), summed per softmax
        const T* xr = x + j * inner;
        T* yr = y + j * inner;
        k::map2_contiguous(yr, xr, c, inner, [](auto v, auto m) { return xsimd::exp(v - m); });
        k::map2_contiguous(s, s, yr, inner, [](auto a, auto e) { return a + e; });
    }
    if (kind == Kind::Softmax) {  // pass 3: normalise
        for (int64_t j = 0; j < n; ++j)
            k::map2_contiguous(y + j * inner, y + j * inner, s, inner, [](auto e, auto t) { return e / t; });
    } else {
        // log_softmax: y = x - (c + log s); reuse c as the shift.
        k::map2_contiguous(c, c, s, inner, [](auto m, auto t) { return m + xsimd::log(t); });
        for (int64_t j = 0; j < n; ++j)
            k::map2_contiguous(y + j * inner, x + j * inner, c, inner, [](auto v, auto shift) { return v - shift; });
    }
}

// ---- backward ------------------------------------------------------------------------------

// One row: softmax dx = y * (g - sum(g * y));  log_softmax dx = g - exp(y) * sum(g).
template <class T>
void backward_row(const T* y, const T* g, T* dx, int64_t n, Kind kind) {
    constexpr int64_t W = k::simd_width<T>;
    T dot = 0;  // sum(g * y) for softmax, sum(g) for log_softmax
    int64_t i = 0;
    {
        B<T> acc(T(0));
        for (; i + W <= n; i += W) {
            B<T> gv = B<T>::load_unaligned(g + i);
            acc += kind == Kind::Softmax ? gv * B<T>::load_unaligned(y + i) : gv;
        }
        dot = xsimd::hadd(acc);
    }
    for (; i < n; ++i) dot += kind == Kind::Softmax ? g[i] * y[i] : g[i];
    if (kind == Kind::Softmax)
        k::map2_contiguous(dx, y, g, n, [dot](auto yv, auto gv) { return yv * (gv - decltype(gv)(dot)); });
    else
        k::map2_contiguous(dx, y, g, n, [dot](auto yv, auto gv) { return gv - xsimd::exp(yv) * decltype(gv)(dot); });
}

// `inner` side-by-side softmaxes (see forward_strided); acc is a scratch buffer of `inner`.
template <class T>
void backward_strided(const T* y, const T* g, T* dx, int64_t n, int64_t inner, Kind kind, T* acc) {
    std::fill_n(acc, inner, T(0));
    for (int64_t j = 0; j < n; ++j) {
        const T* yr = y + j * inner;
        const T* gr = g + j * inner;
        if (kind == Kind::Softmax) {
            // acc += g * y, written as two 2-operand passes through dx as scratch.
            k::map2_contiguous(dx + j * inner, gr, yr, inner, [](auto a, auto b) { return a * b; });
            k::map2_contiguous(acc, acc, dx + j * inner, inner, [](auto a, auto b) { return a + b; });
        } else {
            k::map2_contiguous(acc, acc, gr, inner, [](auto a, auto b) { return a + b; });
        }
    }
    for (int64_t j = 0; j < n; ++j) {
        const T* yr = y + j * inner;
        const T* gr = g + j * inner;
        T* dr = dx + j * inner;
        if (kind == Kind::Softmax) {
            k::map2_contiguous(dr, gr, acc, inner, [](auto gv, auto a) { return gv - a; });
            k::map2_contiguous(dr, dr, yr, inner, [](auto d, auto yv) { return d * yv; });
        } else {
            k::map2_contiguous(dr, yr, acc, inner, [](auto yv, auto a) { return xsimd::exp(yv) * a; });
            k::map2_contiguous(dr, gr, dr, inner, [](auto gv, auto e) { return gv - e; });
        }
    }
}

// Runs a row or strided kernel over every [o, :, :] block of a contiguous [outer, n, inner] tensor.
template <class T, class RowFn, class StridedFn>
void for_each_block(const Layout& l, int64_t scratch_buffers, RowFn row, StridedFn strided) {
    if (l.inner == 1) {  // rows are independent: spread them over the threads (an exp per element)
        parallel::parallel_for(l.outer, 32.0 * static_cast<double>(l.n), [&](int64_t begin, int64_t end) {
            for (int64_t o = begin; o < end; ++o) row(o * l.n);
        });
        return;
    }
    std::vector<T> scratch(static_cast<size_t>(scratch_buffers * l.inner));
    for (int64_t o = 0; o < l.outer; ++o) strided(o * l.n * l.inner, scratch.data());
}

// dL/dx from g = dL/dy and y (the forward's contiguous output): one pass per row.
Tensor backward_impl(const Tensor& g, const Tensor& y, const Layout& l, Kind kind) {
    Tensor gc = g.contiguous();
    Tensor dx = detail::make_empty(y.shape(), y.dtype());
    XG_DISPATCH_FLOAT(y.dtype(), T, [&] {
        const T* yp = y.data_ptr<T>();
        const T* gp = gc.data_ptr<T>();
        T* dp = dx.data_ptr<T>();
        for_each_block<T>(
            l, 1, [&](int64_t at) { backward_row(yp + at, gp + at, dp + at, l.n, kind); },
            [&](int64_t at, T* scratch) { backward_strided(yp + at, gp + at, dp + at, l.n, l.inner, kind, scratch); });
    });
    return dx;
}

Tensor softmax_impl(const Tensor& x, int64_t dim_in, Kind kind, const SrcLoc& loc) {
    const char* op = kind == Kind::Softmax ? "softmax" : "log_softmax";
    XG_CHECK(x.defined(), loc, op << ": the input tensor is undefined");
    XG_CHECK(is_floating(x.dtype()), loc,
             op << ": expects a floating point tensor, got " << dtype_name(x.dtype())
                << " (convert with .to(xg::kFloat32))");
    const int64_t dim = wrap_dim(dim_in, x.dim(), op, loc);
    const Layout l = layout_of(x.shape(), dim);
    Tensor xc = x.is_contiguous() ? x.detach() : x.detach().contiguous();
    Tensor out = detail::make_empty(x.shape(), x.dtype());
    XG_DISPATCH_FLOAT(x.dtype(), T, [&] {
        const T* xp = xc.data_ptr<T>();
        T* yp = out.data_ptr<T>();
        for_each_block<T>(
            l, 2, [&](int64_t at) { forward_row(xp + at, yp + at, l.n, kind); },
            [&](int64_t at, T* scratch) { forward_strided(xp + at, yp + at, l.n, l.inner, kind, scratch, scratch + l.inner); });
    });

    // y = softmax(x)      =>  dL/dx = y * (g - sum(g * y, dim))
    // y = log_softmax(x)  =>  dL/dx = g - exp(y) * sum(g, dim)
    if (autograd::needs_grad({&x})) {
        autograd::attach(out, kind == Kind::Softmax ? "SoftmaxBackward0" : "LogSoftmaxBackward0", loc, {x},
                         [sy = SavedTensor(out), l, kind](const Tensor& g) -> std::vector<Tensor> {
                             return {backward_impl(g, sy.get(), l, kind)};
                         });
    }
    return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim, SrcLoc loc) { return softmax_impl(x, dim, Kind::Softmax, loc); }
Tensor log_softmax(const Tensor& x, int64_t dim, SrcLoc loc) { return softmax_impl(x, dim, Kind::LogSoftmax, loc); }

Tensor softmax_backward_data(const Tensor& grad, const Tensor& output, int64_t dim_in, SrcLoc loc) {
    const char* op = "softmax_backward_data";
    XG_CHECK(grad.defined() && output.defined(), loc, op << ": grad and output must be defined tensors");
    XG_CHECK(is_floating(output.dtype()) && grad.dtype() == output.dtype(), loc,
             op << ": expects grad and output of one floating dtype, got " << dtype_name(grad.dtype()) << " and "
                << dtype_name(output.dtype()));
    XG_CHECK(grad.shape() == output.shape(), loc,
             op << ": grad " << shape_str(grad.shape()) << " and output " << shape_str(output.shape())
                << " must have the same shape");
    const int64_t dim = wrap_dim(dim_in, output.dim(), op, loc);
    Tensor y = output.is_contiguous() ? output.detach() : output.detach().contiguous();
    return backward_impl(grad.detach(), y, layout_of(output.shape(), dim), Kind::Softmax);
}

Tensor Tensor::softmax(int64_t dim, SrcLoc loc) const { return xg::softmax(*this, dim, loc); }
Tensor Tensor::log_softmax(int64_t dim, SrcLoc loc) const { return xg::log_softmax(*this, dim, loc); }

// The row kernels for fused ops (core/kernels/softmax_row.h).
template <class T>
void kernels::softmax_row(const T* x, T* y, int64_t n) {
    forward_row(x, y, n, Kind::Softmax);
}
template <class T>
void kernels::softmax_backward_row(const T* y, const T* g, T* dx, int64_t n) {
    backward_row(y, g, dx, n, Kind::Softmax);
}
template void kernels::softmax_row<float>(const float*, float*, int64_t);
template void kernels::softmax_row<double>(const double*, double*, int64_t);
template void kernels::softmax_backward_row<float>(const float*, const float*, float*, int64_t);
template void kernels::softmax_backward_row<double>(const double*, const double*, double*, int64_t);

}  // namespace xg
