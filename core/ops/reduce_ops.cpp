// Reductions beyond sum/mean: var std, max min (all elements or over one dim, with indices),
// amax amin (over a list of dims) and argmax.
//
// They follow the pattern of core/ops/sum.cpp: the output is allocated with keepdim's shape
// and seen from x with stride 0 along every reduced dim, so walking x row by row either
//   - folds a whole row of x into one output element (a reduced dim is innermost), or
//   - folds a row of x into a row of the output (a kept dim is innermost).
// Both are plain loops over memory with SIMD bodies for contiguous float rows.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/kernels/simd.h"
#include "core/kernels/strided_loop.h"
#include "core/ops.h"

namespace xg {

using autograd::SavedTensor;
namespace k = kernels;

namespace {

struct ReducePlan {
    std::vector<bool> reduced;        // per input dim
    std::vector<int64_t> dims;        // the reduced dims, ascending and non-negative
    Shape keep_shape;                 // output shape with keepdim=true
    Shape out_shape;                  // output shape as requested
    int64_t count = 1;                // elements folded into each output element
};

ReducePlan plan_reduction(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const char* op,
                          const SrcLoc& loc) {
    ReducePlan p;
    const int64_t nd = x.dim();
    p.reduced.assign(static_cast<size_t>(nd), dims.empty());  // no dims = all dims
    for (int64_t d : dims) {
        int64_t w = wrap_dim(d, nd, op, loc);
        if (nd == 0) continue;  // a 0-d tensor accepts dim 0 / -1 and reduces nothing
        XG_CHECK(!p.reduced[static_cast<size_t>(w)], loc, op << ": dim " << w << " appears more than once in the list of dims");
        p.reduced[static_cast<size_t>(w)] = true;
    }
    for (int64_t i = 0; i < nd; ++i) {
        int64_t s = x.shape()[static_cast<size_t>(i)];
        if (p.reduced[static_cast<size_t>(i)]) {
            p.dims.push_back(i);
            p.count *= s;
            p.keep_shape.push_back(1);
            if (keepdim) p.out_shape.push_back(1);
        } else {
            p.keep_shape.push_back(s);
            p.out_shape.push_back(s);
        }
    }
    return p;
}

// The output (contiguous, keep_shape) as seen from x: stride 0 along the reduced dims.
Strides broadcast_out_strides(const ReducePlan& p) {
    Strides s = contiguous_strides(p.keep_shape);
    for (size_t i = 0; i < s.size(); ++i)
        if (p.reduced[i]) s[i] = 0;
    return s;
}

// A fresh contiguous keep_shape tensor is returned in the requested shape (drops the kept
// size-1 dims unless keepdim). Only valid on a tensor no one else has seen yet.
void set_result_shape(Tensor& out, const ReducePlan& p) {
    out.impl()->shape = p.out_shape;
    out.impl()->strides = contiguous_strides(p.out_shape);
}

// max and min cannot fold nothing (there is no identity to return), so a reduced dim of
// size 0 is an error, as in PyTorch.
void check_nonempty_reduction(const Tensor& x, const ReducePlan& p, const char* op, const SrcLoc& loc) {
    for (int64_t d : p.dims)
        XG_CHECK(x.shape()[static_cast<size_t>(d)] != 0, loc,
                 op << "(): Expected reduction dim " << d << " to have non-zero size (input shape "
                    << x.shape() << ")");
}

void check_input(const Tensor& x, const char* op, const SrcLoc& loc, bool allow_int) {
    XG_CHECK(x.defined(), loc, op << ": the input tensor is undefined");
    XG_CHECK(allow_int || is_floating(x.dtype()), loc,
             op << ": expects a floating point tensor, got " << dtype_name(x.dtype())
                << " (convert with .to(xg::kFloat32))");
}

// ==== var / std ============================================================================

// acc (contiguous keep_shape, zero-filled) += (x - mean)^2 folded over the reduced dims.
// Two passes (mean first, then squared deviations) rather than sum(x^2) - sum(x)^2/N, which
// cancels catastrophically when the mean is large compared to the spread.
template <class T>
void sum_sq_dev_kernel(const Tensor& x, const ReducePlan& p, const Tensor& mean, const Tensor& acc) {
    Strides os = broadcast_out_strides(p);  // mean and acc share this layout
    const T* xs = x.data_ptr<T>();
    const T* ms = mean.data_ptr<T>();
    T* as = acc.data_ptr<T>();
    constexpr int64_t W = k::simd_width<T>;
    k::for_each_row<2>(x.shape(), {&os, &x.strides()}, [&](auto off, int64_t n, auto st) {
        const T* xp = xs + off[1];
        const T* mp = ms + off[0];
        T* ap = as + off[0];
        int64_t i = 0;
        if (st[0] == 0) {  // the whole row folds into one element, around one mean
            const T m = *mp;
            T total = 0;
            if (st[1] == 1) {
                k::batch<T> vm(m), acc0(T(0)), acc1(T(0));  // two chains hide the add latency
                for (; i + 2 * W <= n; i += 2 * W) {
                    k::batch<T> d0 = k::batch<T>::load_unaligned(xp + i) - vm;
                    k::batch<T> d1 = k::batch<T>::load_unaligned(xp + i + W) - vm;
                    acc0 += d0 * d0;
                    acc1 += d1 * d1;
                }
                total = xsimd::hadd(acc0 + acc1);
            }
            for (; i < n; ++i) {
                T d = xp[i * st[1]] - m;
                total += d * d;
            }
            *ap += total;
        } else if (st[0] == 1 && st[1] == 1) {  // a row of x folds into a row of acc
            for (; i + W <= n; i += W) {
                k::batch<T> d = k::batch<T>::load_unaligned(xp + i) - k::batch<T>::load_unaligned(mp + i);
                (k::batch<T>::load_unaligned(ap + i) + d * d).store_unaligned(ap + i);
            }
            for (; i < n; ++i) ap[i] += (xp[i] - mp[i]) * (xp[i] - mp[i]);
        } else {
            for (; i < n; ++i) {
                T d = xp[i * st[1]] - mp[i * st[0]];
                ap[i * st[0]] += d * d;
            }
        }
    });
}

// dx = (x - mean) * coef, with mean and coef (contiguous keep_shape) broadcast over the
// reduced dims: the whole var/std backward in one pass.
template <class T>
void scaled_dev_kernel(const Tensor& x, const ReducePlan& p, const Tensor& mean, const Tensor& coef, const Tensor& dx) {
    Strides os = broadcast_out_strides(p);
    const T* xs = x.data_ptr<T>();
    const T* ms = mean.data_ptr<T>();
    const T* cs = coef.data_ptr<T>();
    T* ds = dx.data_ptr<T>();
    constexpr int64_t W = k::simd_width<T>;
    k::for_each_row<3>(x.shape(), {&dx.strides(), &x.strides(), &os}, [&](auto off, int64_t n, auto st) {
        // dx is fresh and contiguous, so its innermost stride is 1.
        T* dp = ds + off[0];
        const T* xp = xs + off[1];
        const T* mp = ms + off[2];
        const T* cp = cs + off[2];
        int64_t i = 0;
        if (st[2] == 0 && st[1] == 1) {  // one mean and one coef for the whole row
            k::batch<T> vm(*mp), vc(*cp);
            for (; i + W <= n; i += W)
                ((k::batch<T>::load_unaligned(xp + i) - vm) * vc).store_unaligned(dp + i);
        } else if (st[2] == 1 && st[1] == 1) {
            for (; i + W <= n; i += W)
                ((k::batch<T>::load_unaligned(xp + i) - k::batch<T>::load_unaligned(mp + i)) *
                 k::batch<T>::load_unaligned(cp + i))
                    .store_unaligned(dp + i);
        }
        for (; i < n; ++i) dp[i] = (xp[i * st[1]] - mp[i * st[2]]) * cp[i * st[2]];
    });
}

Tensor var_std_impl(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased, bool keepdim, bool take_sqrt,
                    const SrcLoc& loc) {
    const char* op = take_sqrt ? "std" : "var";
    check_input(x, op, loc, /*allow_int=*/false);
    ReducePlan p = plan_reduction(x, dims, keepdim, op, loc);
    // Bessel's correction: the deviations are taken from the sample mean, which is itself fitted
    // to the data, so sum((x - mean)^2) / (N - 1) is the unbiased estimate of the variance.
    const double divisor = static_cast<double>(p.count) - (unbiased ? 1.0 : 0.0);
    Tensor xd = x.detach();

    Tensor mean;
    {
        NoGradGuard no_grad;
        mean = div(sum(xd, dims, /*keepdim=*/true, loc), static_cast<double>(std::max<int64_t>(p.count, 1)), loc);
    }
    Tensor out = zeros(p.keep_shape, dtype(x.dtype()));
    XG_DISPATCH_FLOAT(x.dtype(), T, [&] {
        sum_sq_dev_kernel<T>(xd, p, mean, out);
        T* o = out.data_ptr<T>();
        for (int64_t j = 0; j < out.numel(); ++j) {
            // The variance of nothing is NaN, as in PyTorch (and N - correction <= 0 gives inf/NaN).
            T v = p.count == 0 ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(o[j] / divisor);
            o[j] = take_sqrt ? std::sqrt(v) : v;
        }
    });
    set_result_shape(out, p);

    // y = var(x)  =>  dL/dx = g * 2 (x - mean) / (N - correction)
    // y = std(x) = sqrt(var(x))  =>  dL/dx = g * (x - mean) / ((N - correction) * y)   (0 where y = 0)
    if (autograd::needs_grad({&x})) {
        autograd::attach(
            out, take_sqrt ? "StdBackward0" : "VarBackward0", loc, {x},
            [sx = SavedTensor(x), mean, sy = take_sqrt ? SavedTensor(out) : SavedTensor(), p, divisor, take_sqrt](const Tensor& g) -> std::vector<Tensor> {
                const Tensor& xs = sx.get();
                Tensor gc = g.contiguous();  // same element order as keep_shape
                Tensor coef = detail::make_empty(p.keep_shape, xs.dtype());
                Tensor dx = detail::make_empty(xs.shape(), xs.dtype());
                XG_DISPATCH_FLOAT(xs.dtype(), T, [&] {
                    const T* gp = gc.data_ptr<T>();
                    const T* yp = take_sqrt ? sy.get().data_ptr<T>() : nullptr;
                    T* cp = coef.data_ptr<T>();
                    for (int64_t j = 0; j < coef.numel(); ++j) {
                        if (!take_sqrt) cp[j] = static_cast<T>(2.0 * gp[j] / divisor);
                        else cp[j] = yp[j] == T(0) ? T(0) : static_cast<T>(gp[j] / (divisor * yp[j]));
                    }
                    scaled_dev_kernel<T>(xs, p, mean, coef, dx);
                });
                return {dx};
            });
    }
    return out;
}

// ==== max / min ============================================================================

// Whether v replaces cur in a max (min) fold. A NaN always wins, so max/min propagate NaN as
// PyTorch does (plain `v > cur` is false for NaN and would drop it).
template <bool IsMax, class T>
bool beats(T v, T cur) {
    bool wins = IsMax ? v > cur : v < cur;
    if constexpr (std::is_floating_point_v<T>) wins = wins || (std::isnan(v) && !std::isnan(cur));
    return wins;
}

// The extremum of two candidates, for scalars and SIMD batches alike.
template <bool IsMax, class V>
V pick(const V& acc, const V& v) {
    if constexpr (std::is_arithmetic_v<V>) {
        return beats<IsMax>(v, acc) ? v : acc;
    } else {
        auto wins = IsMax ? (v > acc) : (v < acc);
        return xsimd::select(wins | xsimd::isnan(v), v, acc);
    }
}

// The starting value of a max (min) fold: -inf (+inf), or the extreme integer.
template <class T, bool IsMax>
T fold_identity() {
    if constexpr (std::is_floating_point_v<T>)
        return IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else
        return IsMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
}

// The extremum of n contiguous elements; SIMD for floats.
template <class T, bool IsMax>
T row_extreme(const T* xp, int64_t n, T acc) {
    int64_t i = 0;
    if constexpr (std::is_floating_point_v<T>) {
        constexpr int64_t W = k::simd_width<T>;
        if (n >= W) {
            k::batch<T> va(acc);
            for (; i + W <= n; i += W) va = pick<IsMax>(va, k::batch<T>::load_unaligned(xp + i));
            alignas(64) std::array<T, static_cast<size_t>(W)> lanes;
            va.store_aligned(lanes.data());
            for (T l : lanes) acc = pick<IsMax>(acc, l);
        }
    }
    for (; i < n; ++i) acc = pick<IsMax>(acc, xp[i]);
    return acc;
}

// out (contiguous keep_shape, filled with fold_identity) = extremum of x over the reduced dims.
template <class T, bool IsMax>
void extreme_kernel(const Tensor& x, const ReducePlan& p, const Tensor& out) {
    Strides os = broadcast_out_strides(p);
    const T* xs = x.data_ptr<T>();
    T* o = out.data_ptr<T>();
    k::for_each_row<2>(x.shape(), {&os, &x.strides()}, [&](auto off, int64_t n, auto st) {
        const T* xp = xs + off[1];
        T* op = o + off[0];
        int64_t i = 0;
        if (st[0] == 0 && st[1] == 1) {  // the whole row folds into one element
            *op = row_extreme<T, IsMax>(xp, n, *op);
            return;
        }
        if constexpr (std::is_floating_point_v<T>) {
            if (st[0] == 1 && st[1] == 1) {  // a row of x folds into a row of out
                constexpr int64_t W = k::simd_width<T>;
                for (; i + W <= n; i += W)
                    pick<IsMax>(k::batch<T>::load_unaligned(op + i), k::batch<T>::load_unaligned(xp + i))
                        .store_unaligned(op + i);
            }
        }
        for (; i < n; ++i) op[i * st[0]] = pick<IsMax>(op[i * st[0]], xp[i * st[1]]);
    });
}

// values/indices (contiguous keep_shape; values filled with fold_identity, indices with 0) =
// extremum of x along `dim` and the first index where it occurs.
//
// The index along `dim` comes from a third "operand" of the row walker whose strides are 1
// along `dim` and 0 elsewhere: its offset is then exactly the position along `dim`.
template <class T, bool IsMax>
void extreme_index_kernel(const Tensor& x, const ReducePlan& p, int64_t dim, const Tensor& values,
                          const Tensor& indices) {
    Strides os = broadcast_out_strides(p);
    Strides is(static_cast<size_t>(x.dim()), 0);
    if (x.dim() > 0) is[static_cast<size_t>(dim)] = 1;
    const T* xs = x.data_ptr<T>();
    T* vs = values.data_ptr<T>();
    int64_t* ids = indices.data_ptr<int64_t>();
    k::for_each_row<3>(x.shape(), {&os, &x.strides(), &is}, [&](auto off, int64_t n, auto st) {
        const T* xp = xs + off[1];
        T* vp = vs + off[0];
        int64_t* ip = ids + off[0];
        if (st[0] == 0 && st[1] == 1) {
            // A contiguous row along `dim`: find the extremum with SIMD, then its first position.
            T best = row_extreme<T, IsMax>(xp, n, fold_identity<T, IsMax>());
            int64_t at = 0;
            while (at < n && !(xp[at] == best || (std::isnan(best) && std::isnan(xp[at])))) ++at;
            if (at < n && beats<IsMax>(best, *vp)) {
                *vp = best;
                *ip = off[2] + at;
            }
            return;
        }
        // Positions along `dim` are visited in increasing order and only a strictly better
        // value replaces the current one, so ties keep the first index (PyTorch's CPU rule).
        for (int64_t i = 0; i < n; ++i) {
            T v = xp[i * st[1]];
            T& cur = vp[i * st[0]];
            if (beats<IsMax>(v, cur)) {
                cur = v;
                ip[i * st[0]] = off[2] + i * st[2];
            }
        }
    });
}

// amax, amin, max(x), min(x): the extremum over `dims`, its gradient shared among the ties.
Tensor extreme_impl(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool is_max, const char* op,
                    const char* node, const SrcLoc& loc) {
    check_input(x, op, loc, /*allow_int=*/true);
    ReducePlan p = plan_reduction(x, dims, keepdim, op, loc);
    check_nonempty_reduction(x, p, op, loc);
    Tensor out = detail::make_empty(p.keep_shape, x.dtype());
    XG_DISPATCH(x.dtype(), T, [&] {
        std::fill_n(out.data_ptr<T>(), out.numel(), is_max ? fold_identity<T, true>() : fold_identity<T, false>());
        if (is_max) extreme_kernel<T, true>(x, p, out);
        else extreme_kernel<T, false>(x, p, out);
    });
    set_result_shape(out, p);

    // y = amax(x, dims)  =>  dL/dx = g / (number of maxima) at each maximum of x, 0 elsewhere
    // (ties share the gradient evenly, as in PyTorch; a NaN result sends it to the NaNs)
    if (autograd::needs_grad({&x})) {
        autograd::attach(out, node, loc, {x},
                         [sx = SavedTensor(x), sy = SavedTensor(out), p](const Tensor& g) -> std::vector<Tensor> {
                             const Tensor& xs = sx.get();
                             Tensor y = sy.get().reshape(p.keep_shape);
                             Tensor mask = where(ne(y, y), ne(xs, xs), eq(xs, y));
                             Tensor count = p.dims.empty() ? mask : sum(mask, p.dims, /*keepdim=*/true);
                             return {mul(mask, div(g.reshape(p.keep_shape), count))};
                         });
    }
    return out;
}

// max(x, dim) / min(x, dim) / argmax: values and int64 indices along one dim.
ValuesIndices extreme_dim_impl(const Tensor& x, int64_t dim_in, bool keepdim, bool is_max, const char* op,
                               const SrcLoc& loc) {
    check_input(x, op, loc, /*allow_int=*/true);
    int64_t dim = wrap_dim(dim_in, x.dim(), op, loc);
    ReducePlan p = plan_reduction(x, {dim}, keepdim, op, loc);
    check_nonempty_reduction(x, p, op, loc);
    Tensor values = detail::make_empty(p.keep_shape, x.dtype());
    Tensor indices = zeros(p.keep_shape, dtype(kInt64));
    XG_DISPATCH(x.dtype(), T, [&] {
        std::fill_n(values.data_ptr<T>(), values.numel(), is_max ? fold_identity<T, true>() : fold_identity<T, false>());
        if (is_max) extreme_index_kernel<T, true>(x, p, dim, values, indices);
        else extreme_index_kernel<T, false>(x, p, dim, values, indices);
    });
    set_result_shape(values, p);
    set_result_shape(indices, p);

    // (values, indices) = max(x, dim)  =>  dL/dx = g at x[..., indices, ...] along dim, 0 elsewhere
    if (autograd::needs_grad({&x})) {
        autograd::attach(
            values, is_max ? "MaxBackward0" : "MinBackward0", loc, {x},
            [si = SavedTensor(indices), in_shape = x.shape(), p, dim](const Tensor& g) -> std::vector<Tensor> {
                Tensor gc = g.contiguous();
                Tensor dx = zeros(in_shape, dtype(g.dtype()));
                Strides ks = contiguous_strides(p.keep_shape);  // g and indices, as keep_shape
                const int64_t step = in_shape.empty() ? 0 : dx.strides()[static_cast<size_t>(dim)];
                const int64_t* ip = si.get().data_ptr<int64_t>();
                XG_DISPATCH_FLOAT(g.dtype(), T, [&] {
                    const T* gp = gc.data_ptr<T>();
                    T* dp = dx.data_ptr<T>();
                    // Walk the output positions; dx's stride along dim is irrelevant here (size 1).
                    k::for_each_row<2>(p.keep_shape, {&dx.strides(), &ks}, [&](auto off, int64_t n, auto st) {
                        for (int64_t i = 0; i < n; ++i)
                            dp[off[0] + i * st[0] + ip[off[1] + i * st[1]] * step] = gp[off[1] + i * st[1]];
                    });
                });
                return {dx};
            });
    }
    return {values, indices};
}

}  // namespace

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased, bool keepdim, SrcLoc loc) {
    return var_std_impl(x, dims, unbiased, keepdim, /*take_sqrt=*/false, loc);
}
Tensor std(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased, bool keepdim, SrcLoc loc) {
    return var_std_impl(x, dims, unbiased, keepdim, /*take_sqrt=*/true, loc);
}

Tensor max(const Tensor& x, SrcLoc loc) {
    XG_CHECK(!x.defined() || x.numel() != 0, loc,
             "max(): Expected reduction dim to be specified for input.numel() == 0 (input shape "
                 << x.shape() << "). Specify the reduction dim with the 'dim' argument.");
    return extreme_impl(x, {}, false, /*is_max=*/true, "max", "MaxBackward1", loc);
}
Tensor min(const Tensor& x, SrcLoc loc) {
    XG_CHECK(!x.defined() || x.numel() != 0, loc,
             "min(): Expected reduction dim to be specified for input.numel() == 0 (input shape "
                 << x.shape() << "). Specify the reduction dim with the 'dim' argument.");
    return extreme_impl(x, {}, false, /*is_max=*/false, "min", "MinBackward1", loc);
}
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim, SrcLoc loc) {
    return extreme_dim_impl(x, dim, keepdim, /*is_max=*/true, "max", loc);
}
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim, SrcLoc loc) {
    return extreme_dim_impl(x, dim, keepdim, /*is_max=*/false, "min", loc);
}
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, SrcLoc loc) {
    return extreme_impl(x, dims, keepdim, /*is_max=*/true, "amax", "AmaxBackward0", loc);
}
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, SrcLoc loc) {
    return extreme_impl(x, dims, keepdim, /*is_max=*/false, "amin", "AminBackward0", loc);
}

// argmax is never differentiable: only the indices of max(x, dim) are kept.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim, SrcLoc loc) {
    NoGradGuard no_grad;
    return extreme_dim_impl(x, dim, keepdim, /*is_max=*/true, "argmax", loc).indices;
}
// The index into the flattened tensor, as torch.argmax(x) with no dim.
Tensor argmax(const Tensor& x, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "argmax: the input tensor is undefined");
    XG_CHECK(x.numel() != 0, loc,
             "argmax(): Expected reduction dim to be specified for input.numel() == 0 (input shape " << x.shape() << ")");
    NoGradGuard no_grad;
    return extreme_dim_impl(x.reshape({x.numel()}, loc), 0, false, /*is_max=*/true, "argmax", loc).indices;
}

Tensor Tensor::var(bool unbiased, SrcLoc loc) const { return xg::var(*this, {}, unbiased, false, loc); }
Tensor Tensor::var(const std::vector<int64_t>& dims, bool unbiased, bool keepdim, SrcLoc loc) const {
    return xg::var(*this, dims, unbiased, keepdim, loc);
}
Tensor Tensor::std(bool unbiased, SrcLoc loc) const { return xg::std(*this, {}, unbiased, false, loc); }
Tensor Tensor::std(const std::vector<int64_t>& dims, bool unbiased, bool keepdim, SrcLoc loc) const {
    return xg::std(*this, dims, unbiased, keepdim, loc);
}
Tensor Tensor::max(SrcLoc loc) const { return xg::max(*this, loc); }
Tensor Tensor::min(SrcLoc loc) const { return xg::min(*this, loc); }
Tensor Tensor::amax(const std::vector<int64_t>& dims, bool keepdim, SrcLoc loc) const {
    return xg::amax(*this, dims, keepdim, loc);
}
Tensor Tensor::argmax(int64_t dim, bool keepdim, SrcLoc loc) const { return xg::argmax(*this, dim, keepdim, loc); }

}  // namespace xg
