// sum and mean over dims, and sum_to (the reverse of broadcasting, used by every backward).
//
// A reduction is written here as "accumulate x into out, where out is broadcast over the
// reduced dims": out has stride 0 along every reduced dim, so walking x row by row either
//   - adds a whole row of x into one out element (the reduced dim is innermost), or
//   - adds a row of x into a row of out (a kept dim is innermost),
// and both are SIMD loops. No permutation or copy of x is needed.
#include <algorithm>
#include <limits>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/kernels/simd.h"
#include "core/kernels/strided_loop.h"
#include "core/ops.h"
#include "core/parallel.h"

namespace xg {

namespace {

struct ReducePlan {
    std::vector<bool> reduced;  // per input dim
    Shape keep_shape;           // output shape with keepdim=true
    Shape out_shape;            // output shape as requested
    int64_t count = 1;          // elements summed into each output element
};

ReducePlan plan_reduction(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const char* op,
                          const SrcLoc& loc) {
    ReducePlan p;
    const int64_t nd = x.dim();
    p.reduced.assign(static_cast<size_t>(nd), dims.empty());  // no dims = all dims
    for (int64_t d : dims) {
        int64_t w = wrap_dim(d, nd, op, loc);
        if (nd == 0) continue;
        XG_CHECK(!p.reduced[static_cast<size_t>(w)], loc, op << ": dim " << w << " appears more than once in the list of dims");
        p.reduced[static_cast<size_t>(w)] = true;
    }
    for (int64_t i = 0; i < nd; ++i) {
        int64_t s = x.shape()[static_cast<size_t>(i)];
        if (p.reduced[static_cast<size_t>(i)]) {
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

// The common case of a bias gradient: x contiguous [R, C] (R = the leading, reduced dims, C the
// kept trailing ones), out[c] += sum over r of x[r, c]. The rows are cut into blocks of
// kBlockRows, fixed whatever the thread count: each block is summed row after row into its own
// partial row, and the partials are then added in block order. So the bits do not depend on the
// thread count, and each thread streams whole rows from memory. (Cutting by columns instead reads
// every row in strips, which the prefetcher follows badly: 2.8x slower on two threads than on one
// for a [6400, 512] gradient that is not in cache.) Returns false when x does not have that form.
template <class T>
bool sum_leading_dims(const Tensor& x, const ReducePlan& p, const Tensor& out) {
    if constexpr (!std::is_floating_point_v<T>) {
        return false;
    } else {
        const size_t nd = p.reduced.size();
        size_t lead = 0;
        while (lead < nd && p.reduced[lead]) ++lead;
        for (size_t i = lead; i < nd; ++i)
            if (p.reduced[i]) return false;
        if (lead == 0 || lead == nd || !x.is_contiguous()) return false;
        const int64_t C = numel_of(Shape(x.shape().begin() + static_cast<std::ptrdiff_t>(lead), x.shape().end()));
        const int64_t R = C == 0 ? 0 : x.numel() / C;
        const T* src = x.data_ptr<T>();
        // acc[0..C) += rows [r0, r1) of x, one row after another
        auto add_rows = [&](T* acc, int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
                kernels::map2_contiguous(acc, acc, src + r * C, C, [](auto s, auto v) { return s + v; });
        };
        constexpr int64_t kBlockRows = 256;
        const int64_t blocks = (R + kBlockRows - 1) / kBlockRows;
        if (blocks <= 1) {
            add_rows(out.data_ptr<T>(), 0, R);
            return true;
        }
        Tensor partial = zeros({blocks, C}, dtype(x.dtype()));  // one row per block
        T* part = partial.data_ptr<T>();
        const int threads = parallel::threads_for(8.0 * static_cast<double>(R * C));  // 8: an add per element
        parallel::for_each_task(threads, blocks, [&](int64_t blk) {
            add_rows(part + blk * C, blk * kBlockRows, std::min(R, (blk + 1) * kBlockRows));
        });
        T* o = out.data_ptr<T>();
        for (int64_t blk = 0; blk < blocks; ++blk)
            kernels::map2_contiguous(o, o, part + blk * C, C, [](auto s, auto v) { return s + v; });
        return true;
    }
}

// out (shape keep_shape, zero-filled, contiguous) += x summed over the reduced dims.
template <class T>
void sum_kernel(const Tensor& x, const ReducePlan& p, const Tensor& out) {
    if (sum_leading_dims<T>(x, p, out)) return;
    Strides os = out.strides();
    for (size_t i = 0; i < os.size(); ++i)
        if (p.reduced[i]) os[i] = 0;
    T* o = out.data_ptr<T>();
    const T* src = x.data_ptr<T>();
    kernels::for_each_row<2>(x.shape(), {&os, &x.strides()}, [&](auto off, int64_t n, auto st) {
        T* op = o + off[0];
        const T* xp = src + off[1];
        int64_t i = 0;
        if (st[0] == 0) {  // the whole row adds into one element
            if constexpr (std::is_floating_point_v<T>) {
                if (st[1] == 1) {
                    constexpr int64_t W = kernels::simd_width<T>;
                    kernels::batch<T> acc0(T(0)), acc1(T(0));  // two chains hide the add latency
                    for (; i + 2 * W <= n; i += 2 * W) {
                        acc0 += kernels::batch<T>::load_unaligned(xp + i);
                        acc1 += kernels::batch<T>::load_unaligned(xp + i + W);
                    }
                    *op += xsimd::hadd(acc0 + acc1);
                }
            }
            T acc = 0;
            for (; i < n; ++i) acc += xp[i * st[1]];
            *op += acc;
        } else if (st[0] == 1 && st[1] == 1) {  // a row of x adds into a row of out
            if constexpr (std::is_floating_point_v<T>) {
                constexpr int64_t W = kernels::simd_width<T>;
                for (; i + W <= n; i += W)
                    (kernels::batch<T>::load_unaligned(op + i) + kernels::batch<T>::load_unaligned(xp + i))
                        .store_unaligned(op + i);
            }
            for (; i < n; ++i) op[i] += xp[i];
        } else {
            for (; i < n; ++i) op[i * st[0]] += xp[i * st[1]];
        }
    });
}

Tensor sum_impl(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool all, const SrcLoc& loc) {
    XG_CHECK(x.defined(), loc, "sum: the input tensor is undefined");
    ReducePlan p = plan_reduction(x, dims, keepdim, "sum", loc);
    Tensor out = zeros(p.keep_shape, dtype(x.dtype()));
    XG_DISPATCH(x.dtype(), T, [&] { sum_kernel<T>(x, p, out); });
    out.impl()->shape = p.out_shape;  // drop the kept size-1 dims unless keepdim
    out.impl()->strides = contiguous_strides(p.out_shape);
    // y = sum(x, dims)   =>   dL/dx = g broadcast back over the reduced dims
    if (autograd::needs_grad({&x})) {
        autograd::attach(out, all ? "SumBackward0" : "SumBackward1", loc, {x},
                         [keep = p.keep_shape, in_shape = x.shape()](const Tensor& g) -> std::vector<Tensor> {
                             return {g.reshape(keep).expand(in_shape)};
                         });
    }
    return out;
}

}  // namespace

Tensor sum(const Tensor& x, SrcLoc loc) { return sum_impl(x, {}, false, true, loc); }
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, SrcLoc loc) {
    return sum_impl(x, dims, keepdim, dims.empty(), loc);
}

// y = mean(x, dims) = sum(x, dims) / n   =>   dL/dx = g / n broadcast back over the reduced dims
namespace {
Tensor mean_impl(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool all, const SrcLoc& loc) {
    XG_CHECK(x.defined(), loc, "mean: the input tensor is undefined");
    XG_CHECK(is_floating(x.dtype()), loc,
             "mean: could not infer the output dtype; the input has dtype " << dtype_name(x.dtype())
                                                                           << " (convert it with .to(xg::kFloat32))");
    ReducePlan p = plan_reduction(x, dims, keepdim, "mean", loc);
    Tensor out;
    {
        NoGradGuard no_grad;
        out = div(sum(x, dims, keepdim, loc), static_cast<double>(std::max<int64_t>(p.count, 1)), loc);
        if (p.count == 0) out.fill_(std::numeric_limits<double>::quiet_NaN());  // mean of nothing, as PyTorch
    }
    if (autograd::needs_grad({&x})) {
        double n = static_cast<double>(p.count);
        autograd::attach(out, all ? "MeanBackward0" : "MeanBackward1", loc, {x},
                         [keep = p.keep_shape, in_shape = x.shape(), n](const Tensor& g) -> std::vector<Tensor> {
                             return {div(g, n).reshape(keep).expand(in_shape)};
                         });
    }
    return out;
}
}  // namespace

Tensor mean(const Tensor& x, SrcLoc loc) { return mean_impl(x, {}, false, true, loc); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, SrcLoc loc) {
    return mean_impl(x, dims, keepdim, dims.empty(), loc);
}

// The reverse of broadcasting: sum grad over the leading dims it has in excess of `shape`
// and over the dims where `shape` has 1 and grad does not. Built from sum and reshape, so it
// is differentiable too.
Tensor sum_to(const Tensor& grad, const Shape& shape, SrcLoc loc) {
    if (grad.shape() == shape) return grad;
    XG_CHECK(static_cast<int64_t>(shape.size()) <= grad.dim(), loc,
             "sum_to: cannot sum a tensor of shape " << grad.shape() << " to the larger rank shape " << shape);
    size_t lead = grad.shape().size() - shape.size();
    std::vector<int64_t> dims;
    for (size_t i = 0; i < grad.shape().size(); ++i) {
        if (i < lead) dims.push_back(static_cast<int64_t>(i));
        else if (shape[i - lead] == 1 && grad.shape()[i] != 1) dims.push_back(static_cast<int64_t>(i));
        else XG_CHECK(shape[i - lead] == grad.shape()[i], loc,
                      "sum_to: shape " << grad.shape() << " is not a broadcast of shape " << shape);
    }
    Tensor s = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true, loc);
    return s.reshape(shape, loc);
}

Tensor Tensor::sum(SrcLoc loc) const { return xg::sum(*this, loc); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim, SrcLoc loc) const { return xg::sum(*this, dims, keepdim, loc); }
Tensor Tensor::mean(SrcLoc loc) const { return xg::mean(*this, loc); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim, SrcLoc loc) const { return xg::mean(*this, dims, keepdim, loc); }

}  // namespace xg
