// F::layer_norm: one fused op, forward and backward each one pass over memory per row.
//
// The input is viewed as [rows, D]: D = prod(normalized_shape) is the trailing block that is
// normalized, rows is everything before it (e.g. batch * tokens). For each row:
//   mean = sum(x) / D,   var = sum((x - mean)^2) / D   (biased, as PyTorch),
//   rstd = 1 / sqrt(var + eps),   xhat = (x - mean) * rstd,   y = xhat * w + b
// mean and rstd (one number per row) are saved for the backward, which rebuilds xhat from x
// instead of keeping a second full-size tensor.
#include <algorithm>
#include <cmath>

#include "core/autograd/node.h"
#include "core/parallel.h"
#include "core/kernels/simd.h"
#include "nn/functional.h"

namespace xg::nn::functional {

using autograd::SavedTensor;
namespace k = kernels;

namespace {

template <class T>
using B = k::batch<T>;

// sum(x) over n contiguous elements.
template <class T>
T row_sum(const T* x, int64_t n) {
    constexpr int64_t W = k::simd_width<T>;
    B<T> acc(T(0));
    int64_t i = 0;
    for (; i + W <= n; i += W) acc += B<T>::load_unaligned(x + i);
    T s = xsimd::hadd(acc);
    for (; i < n; ++i) s += x[i];
    return s;
}

// sum((x - c)^2) over n contiguous elements. Two passes (mean first, then this) instead of
// sum(x^2) - mean^2, which loses every digit when the mean is large next to the spread.
template <class T>
T row_sum_sq_dev(const T* x, T c, int64_t n) {
    constexpr int64_t W = k::simd_width<T>;
    B<T> acc(T(0)), vc(c);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        B<T> d = B<T>::load_unaligned(x + i) - vc;
        acc = xsimd::fma(d, d, acc);
    }
    T s = xsimd::hadd(acc);
    for (; i < n; ++i) s += (x[i] - c) * (x[i] - c);
    return s;
}

// One row forward: y = (x - mean) * rstd * w + b.
template <class T>
void forward_row(const T* x, const T* w, const T* b, T* y, int64_t D, T eps, T& mean, T& rstd) {
    mean = row_sum(x, D) / static_cast<T>(D);
    T var = row_sum_sq_dev(x, mean, D) / static_cast<T>(D);
    rstd = T(1) / std::sqrt(var + eps);
    constexpr int64_t W = k::simd_width<T>;
    B<T> vm(mean), vr(rstd);
    int64_t i = 0;
    for (; i + W <= D; i += W) {
        B<T> xhat = (B<T>::load_unaligned(x + i) - vm) * vr;
        xsimd::fma(xhat, B<T>::load_unaligned(w + i), B<T>::load_unaligned(b + i)).store_unaligned(y + i);
    }
    for (; i < D; ++i) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

// One row backward. With gw = g * w and xhat rebuilt from x:
//   dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))
// and this row's share of the parameter gradients is added into dw (g * xhat) and db (g).
template <class T>
void backward_row(const T* x, const T* g, const T* w, T mean, T rstd, int64_t D, T* dx, T* dw, T* db) {
    constexpr int64_t W = k::simd_width<T>;
    const B<T> vm(mean), vr(rstd);
    // Pass 1: the two row means, and the parameter gradients.
    B<T> acc_gw(T(0)), acc_gwx(T(0));
    int64_t i = 0;
    for (; i + W <= D; i += W) {
        B<T> xhat = (B<T>::load_unaligned(x + i) - vm) * vr;
        B<T> gv = B<T>::load_unaligned(g + i);
        B<T> gw = gv * B<T>::load_unaligned(w + i);
        acc_gw += gw;
        acc_gwx = xsimd::fma(gw, xhat, acc_gwx);
        if (dw) xsimd::fma(gv, xhat, B<T>::load_unaligned(dw + i)).store_unaligned(dw + i);
        if (db) (B<T>::load_unaligned(db + i) + gv).store_unaligned(db + i);
    }
    T sum_gw = xsimd::hadd(acc_gw), sum_gwx = xsimd::hadd(acc_gwx);
    for (; i < D; ++i) {
        T xhat = (x[i] - mean) * rstd;
        T gw = g[i] * w[i];
        sum_gw += gw;
        sum_gwx += gw * xhat;
        if (dw) dw[i] += g[i] * xhat;
        if (db) db[i] += g[i];
    }
    const T mean_gw = sum_gw / static_cast<T>(D), mean_gwx = sum_gwx / static_cast<T>(D);
    // Pass 2: dx.
    const B<T> va(mean_gw), vb(mean_gwx);
    i = 0;
    for (; i + W <= D; i += W) {
        B<T> xhat = (B<T>::load_unaligned(x + i) - vm) * vr;
        B<T> gw = B<T>::load_unaligned(g + i) * B<T>::load_unaligned(w + i);
        (vr * (gw - va - xhat * vb)).store_unaligned(dx + i);
    }
    for (; i < D; ++i) {
        T xhat = (x[i] - mean) * rstd;
        dx[i] = rstd * (g[i] * w[i] - mean_gw - xhat * mean_gwx);
    }
}

Tensor contiguous_data(const Tensor& t) { return t.is_contiguous() ? t.detach() : t.detach().contiguous(); }

}  // namespace

// y = xhat * w + b   =>   dL/dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)),
//                         dL/dw = sum over rows of g * xhat,   dL/db = sum over rows of g
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps, SrcLoc loc) {
    // input: [*, normalized_shape...], weight and bias: [normalized_shape...]
    XG_CHECK(input.defined(), loc, "layer_norm: the input tensor is undefined");
    XG_CHECK(is_floating(input.dtype()), loc,
             "layer_norm: expects a floating point input, got " << dtype_name(input.dtype()));
    XG_CHECK(!normalized_shape.empty(), loc, "layer_norm: normalized_shape must have at least one dim");
    const size_t nd = normalized_shape.size();
    bool trailing_match = input.shape().size() >= nd;
    for (size_t i = 0; trailing_match && i < nd; ++i)
        trailing_match = input.shape()[input.shape().size() - nd + i] == normalized_shape[i];
    XG_CHECK(trailing_match, loc,
             "layer_norm: given normalized_shape=" << shape_str(normalized_shape) << ", expected input with shape [*, "
                 << shape_str(normalized_shape).substr(1) << ", but got input of size " << shape_str(input.shape()));
    for (const Tensor* p : {&weight, &bias}) {
        if (!p->defined()) continue;
        const char* what = p == &weight ? "weight" : "bias";
        XG_CHECK(p->shape() == normalized_shape, loc,
                 "layer_norm: expected " << what << " of shape " << shape_str(normalized_shape) << ", got " << shape_str(p->shape()));
        XG_CHECK(p->dtype() == input.dtype(), loc,
                 "layer_norm: " << what << " has dtype " << dtype_name(p->dtype()) << " but the input has "
                                << dtype_name(input.dtype()));
    }
    XG_CHECK(eps >= 0, loc, "layer_norm: eps must be non-negative, got " << eps);

    const int64_t D = numel_of(normalized_shape);
    const int64_t rows = D == 0 ? 0 : input.numel() / D;
    const DType dt = input.dtype();
    // Absent weight/bias act as 1 and 0 so one kernel serves every case.
    Tensor x = contiguous_data(input);
    Tensor w = weight.defined() ? contiguous_data(weight) : ones({D}, dtype(dt));
    Tensor b = bias.defined() ? contiguous_data(bias) : zeros({D}, dtype(dt));
    Tensor out = detail::make_empty(input.shape(), dt);
    Tensor mean = detail::make_empty({rows}, dt), rstd = detail::make_empty({rows}, dt);
    XG_DISPATCH_FLOAT(dt, T, [&] {
        const T* xp = x.data_ptr<T>();
        T* yp = out.data_ptr<T>();
        T* mp = mean.data_ptr<T>();
        T* rp = rstd.data_ptr<T>();
        const T* wp = w.data_ptr<T>();
        const T* bp = b.data_ptr<T>();
        // Rows are independent: shared out over the threads (~16 flops per element).
        parallel::parallel_for(rows, 16.0 * static_cast<double>(D), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) forward_row(xp + r * D, wp, bp, yp + r * D, D, static_cast<T>(eps), mp[r], rp[r]);
        });
    });

    if (autograd::needs_grad({&input, &weight, &bias})) {
        const bool has_weight = weight.defined(), has_bias = bias.defined();
        autograd::attach(
            out, "NativeLayerNormBackward0", loc, {input, weight, bias},
            [sx = SavedTensor(x), sw = SavedTensor(w), smean = SavedTensor(mean), srstd = SavedTensor(rstd), D, rows,
             has_weight, has_bias](const Tensor& grad) -> std::vector<Tensor> {
                const Tensor& xs = sx.get();
                const Tensor& ws = sw.get();
                Tensor g = contiguous_data(grad);
                Tensor dx = detail::make_empty(xs.shape(), xs.dtype());
                // The rows are cut into blocks of kBlockRows, fixed whatever the thread count;
                // each block adds its rows' shares of dw and db into its own partial sums (in
                // row order), and the partials are then added in block order. So the threads
                // share the work, and the bits do not depend on how many there are.
                constexpr int64_t kBlockRows = 64;
                const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
                Tensor partial_w = has_weight ? zeros({std::max<int64_t>(blocks, 1), D}, dtype(xs.dtype())) : Tensor();
                Tensor partial_b = has_bias ? zeros({std::max<int64_t>(blocks, 1), D}, dtype(xs.dtype())) : Tensor();
                XG_DISPATCH_FLOAT(xs.dtype(), T, [&] {
                    const T* xp = xs.data_ptr<T>();
                    const T* gp = g.data_ptr<T>();
                    const T* wp = ws.data_ptr<T>();
                    const T* mp = smean.get().data_ptr<T>();
                    const T* rp = srstd.get().data_ptr<T>();
                    T* dxp = dx.data_ptr<T>();
                    T* pw = has_weight ? partial_w.data_ptr<T>() : nullptr;
                    T* pb = has_bias ? partial_b.data_ptr<T>() : nullptr;
                    const int threads = parallel::threads_for(16.0 * static_cast<double>(rows * D));
                    parallel::for_each_task(threads, blocks, [&](int64_t blk) {
                        const int64_t r0 = blk * kBlockRows, r1 = std::min(rows, r0 + kBlockRows);
                        T* bw = pw ? pw + blk * D : nullptr;
                        T* bb = pb ? pb + blk * D : nullptr;
                        for (int64_t r = r0; r < r1; ++r)
                            backward_row(xp + r * D, gp + r * D, wp, mp[r], rp[r], D, dxp + r * D, bw, bb);
                    });
                });
                Tensor dw = has_weight ? partial_w.sum({0}) : Tensor();
                Tensor db = has_bias ? partial_b.sum({0}) : Tensor();
                if (has_weight) dw = dw.reshape(ws.shape());
                if (has_bias) db = db.reshape(ws.shape());
                return {dx, dw, db};
            });
    }
    return out;
}

}  // namespace xg::nn::functional
