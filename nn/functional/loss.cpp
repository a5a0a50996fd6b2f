// Losses: F::cross_entropy (fused log_softmax + NLL), F::nll_loss, F::mse_loss.
//
// Class-index losses see the input as [outer, C, inner]: outer = N (1 for an unbatched [C]
// input), C the classes on dim 1, inner = d1 * d2 * ... (1 for plain [N, C] logits). Sample
// s = o * inner + j has its C logits `inner` apart, and its target at target[s].
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd/node.h"
#include "nn/functional.h"

namespace xg::nn::functional {

using autograd::SavedTensor;

namespace {

enum class Reduction { None, Mean, Sum };

Reduction parse_reduction(const char* op, const std::string& reduction, const SrcLoc& loc) {
    if (reduction == "mean") return Reduction::Mean;
    if (reduction == "sum") return Reduction::Sum;
    XG_CHECK(reduction == "none", loc,
             op << ": reduction must be \"mean\", \"sum\" or \"none\", got \"" << reduction << "\"");
    return Reduction::None;
}

struct ClassLayout {
    int64_t outer = 1, C = 1, inner = 1;
    int64_t samples() const { return outer * inner; }
};

Tensor contiguous_data(const Tensor& t) { return t.is_contiguous() ? t.detach() : t.detach().contiguous(); }

// Shapes, dtypes and target values of a class-index loss; returns the [outer, C, inner] view.
ClassLayout check_class_loss(const char* op, const Tensor& input, const Tensor& target, const Tensor& weight,
                             int64_t ignore_index, const SrcLoc& loc) {
    XG_CHECK(input.defined() && target.defined(), loc, op << ": input and target must be defined tensors");
    XG_CHECK(is_floating(input.dtype()), loc, op << ": expects floating point input, got " << dtype_name(input.dtype()));
    XG_CHECK(target.dtype() == kInt64, loc,
             op << ": expects target of class indices with dtype torch.int64, got " << dtype_name(target.dtype())
                << " (class probabilities as targets are not supported)");
    XG_CHECK(input.dim() >= 1, loc, op << ": input must have at least one dim (the classes), got a 0-d tensor");
    ClassLayout l;
    if (input.dim() == 1) {  // unbatched: [C] logits, a 0-d target
        l.C = input.shape()[0];
        XG_CHECK(target.dim() == 0, loc,
                 op << ": for an unbatched input of shape " << shape_str(input.shape()) << " the target must be 0-d, got shape "
                    << shape_str(target.shape()));
    } else {
        // target: the input's shape without the class dim
        Shape expected = input.shape();
        expected.erase(expected.begin() + 1);
        XG_CHECK(target.shape() == expected, loc,
                 op << ": expected target of shape " << shape_str(expected) << " for input of shape " << shape_str(input.shape())
                    << " (classes on dim 1), got target of shape " << shape_str(target.shape()));
        l.outer = input.shape()[0];
        l.C = input.shape()[1];
        for (size_t d = 2; d < input.shape().size(); ++d) l.inner *= input.shape()[d];
    }
    XG_CHECK(l.C > 0, loc, op << ": input has no classes (dim of size 0), shape " << shape_str(input.shape()));
    if (weight.defined()) {
        XG_CHECK(weight.dim() == 1 && weight.shape()[0] == l.C, loc,
                 op << ": weight must be a 1-D tensor of " << l.C << " class weights, got shape " << shape_str(weight.shape()));
        XG_CHECK(weight.dtype() == input.dtype(), loc,
                 op << ": weight has dtype " << dtype_name(weight.dtype()) << " but the input has " << dtype_name(input.dtype()));
    }
    // Every target is a class in [0, C) or the ignore_index.
    std::vector<int64_t> t = target.to_vector<int64_t>(loc);
    for (size_t s = 0; s < t.size(); ++s)
        XG_CHECK(t[s] == ignore_index || (t[s] >= 0 && t[s] < l.C), loc,
                 op << ": target " << t[s] << " is out of bounds: the input has " << l.C << " classes (valid targets are 0 to "
                    << l.C - 1 << ", or ignore_index " << ignore_index << "); found at flat index " << s << " of the target");
    return l;
}

// The gradient factor of sample s: dL/dloss_s (g / total weight for "mean").
template <class T>
double grad_scale(Reduction r, const T* g, int64_t s, double total_weight) {
    if (r == Reduction::None) return static_cast<double>(g[s]);
    if (r == Reduction::Sum) return static_cast<double>(g[0]);
    return static_cast<double>(g[0]) / total_weight;
}

// Builds the output of a class-index loss from per-sample losses.
template <class T>
Tensor reduce_losses(const std::vector<double>& losses, double total_weight, Reduction r, const Shape& target_shape,
                     DType dt) {
    if (r == Reduction::None) {
        Tensor out = detail::make_empty(target_shape, dt);
        T* o = out.data_ptr<T>();
        for (size_t s = 0; s < losses.size(); ++s) o[s] = static_cast<T>(losses[s]);
        return out;
    }
    double sum = 0;
    for (double v : losses) sum += v;
    // "mean" divides by the summed weight of the non-ignored samples (their count without a
    // weight); with every sample ignored that is 0 / 0 = nan, as in PyTorch.
    return scalar_tensor(r == Reduction::Sum ? sum : sum / total_weight, dtype(dt));
}

}  // namespace

// Per sample s with target t, p = softmax(x_s), w the class weights (all 1 without weight):
//   loss_s = (1 - eps) * w_t * (-log p_t)  +  eps / C * sum_c w_c * (-log p_c)
// =>  dL/dx_{s,c} = g_s * [(1 - eps) * w_t * (p_c - [c == t])  +  eps / C * (p_c * sum(w) - w_c)]
// log p is computed as x - logsumexp(x) with the max subtracted first (see core/ops/softmax.cpp
// for why), and the backward rebuilds p from the saved logsumexp instead of saving p.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     const std::string& reduction, double label_smoothing, SrcLoc loc) {
    // input: [N, C, d1, ...] logits (or [C]), target: [N, d1, ...] int64 classes (or [])
    const Reduction red = parse_reduction("cross_entropy", reduction, loc);
    XG_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, loc,
             "cross_entropy: label_smoothing must be between 0.0 and 1.0, got " << label_smoothing);
    const ClassLayout l = check_class_loss("cross_entropy", input, target, weight, ignore_index, loc);
    const double eps = label_smoothing;
    const int64_t C = l.C, inner = l.inner, S = l.samples();

    Tensor x = contiguous_data(input);
    Tensor tgt = contiguous_data(target);
    Tensor w = weight.defined() ? contiguous_data(weight) : Tensor();
    std::vector<double> lse(static_cast<size_t>(S), 0.0), losses(static_cast<size_t>(S), 0.0);
    double total_weight = 0;  // sum of w_t over the samples that are not ignored
    Tensor out = XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
        const T* xp = x.data_ptr<T>();
        const int64_t* tp = tgt.data_ptr<int64_t>();
        const T* wp = w.defined() ? w.data_ptr<T>() : nullptr;
        double sum_w = 0;  // sum over classes of w_c
        for (int64_t c = 0; c < C; ++c) sum_w += wp ? static_cast<double>(wp[c]) : 1.0;
        for (int64_t s = 0; s < S; ++s) {
            const int64_t t = tp[s];
            if (t == ignore_index) continue;
            const T* row = xp + (s / inner) * C * inner + s % inner;  // x[o, :, j], stride inner
            double m = -std::numeric_limits<double>::infinity();
            for (int64_t c = 0; c < C; ++c) m = std::max(m, static_cast<double>(row[c * inner]));
            double sum_exp = 0, sum_wx = 0;
            for (int64_t c = 0; c < C; ++c) {
                const double v = static_cast<double>(row[c * inner]);
                sum_exp += std::exp(v - m);
                sum_wx += (wp ? static_cast<double>(wp[c]) : 1.0) * v;
            }
            const double logsumexp = m + std::log(sum_exp);
            const double w_t = wp ? static_cast<double>(wp[t]) : 1.0;
            const double nll = -w_t * (static_cast<double>(row[t * inner]) - logsumexp);
            const double smooth = sum_w * logsumexp - sum_wx;  // -sum_c w_c log p_c
            lse[static_cast<size_t>(s)] = logsumexp;
            losses[static_cast<size_t>(s)] = (1 - eps) * nll + eps / static_cast<double>(C) * smooth;
            total_weight += w_t;
        }
        return reduce_losses<T>(losses, total_weight, red, target.shape(), input.dtype());
    });

    if (autograd::needs_grad({&input})) {
        // PyTorch's cross_entropy is log_softmax + nll_loss (+ an add of the smoothing term),
        // so its loss prints grad_fn=<NllLossBackward0> (or <AddBackward0> with smoothing);
        // the fused node takes the same name so printed losses read the same.
        const char* name = eps > 0 ? "AddBackward0" : "NllLossBackward0";
        autograd::attach(
            out, name, loc, {input},
            [sx = SavedTensor(x), st = SavedTensor(tgt), sw = SavedTensor(w), lse = std::move(lse), red, eps, C,
             inner, S, ignore_index, total_weight](const Tensor& grad) -> std::vector<Tensor> {
                const Tensor& xs = sx.get();
                Tensor g = contiguous_data(grad);
                Tensor dx = zeros(xs.shape(), dtype(xs.dtype()));
                XG_DISPATCH_FLOAT(xs.dtype(), T, [&] {
                    const T* xp = xs.data_ptr<T>();
                    const T* gp = g.data_ptr<T>();
                    const int64_t* tp = st.get().data_ptr<int64_t>();
                    const T* wp = sw.defined() ? sw.get().data_ptr<T>() : nullptr;
                    T* dxp = dx.data_ptr<T>();
                    double sum_w = 0;
                    for (int64_t c = 0; c < C; ++c) sum_w += wp ? static_cast<double>(wp[c]) : 1.0;
                    for (int64_t s = 0; s < S; ++s) {
                        const int64_t t = tp[s];
                        if (t == ignore_index) continue;  // ignored samples get no gradient
                        const double scale = grad_scale(red, gp, s, total_weight);
                        const double w_t = wp ? static_cast<double>(wp[t]) : 1.0;
                        const int64_t base = (s / inner) * C * inner + s % inner;
                        for (int64_t c = 0; c < C; ++c) {
                            const double p = std::exp(static_cast<double>(xp[base + c * inner]) - lse[static_cast<size_t>(s)]);
                            const double w_c = wp ? static_cast<double>(wp[c]) : 1.0;
                            const double d = (1 - eps) * w_t * (p - (c == t ? 1.0 : 0.0)) +
                                             eps / static_cast<double>(C) * (p * sum_w - w_c);
                            dxp[base + c * inner] = static_cast<T>(scale * d);
                        }
                    }
                });
                return {dx};
            });
    }
    return out;
}

// loss_s = -w_t * x[s, t]   =>   dL/dx[s, t] = -g_s * w_t   (0 everywhere else)
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                const std::string& reduction, SrcLoc loc) {
    // input: [N, C, d1, ...] log-probabilities (or [C]), target: [N, d1, ...] int64 classes (or [])
    const Reduction red = parse_reduction("nll_loss", reduction, loc);
    const ClassLayout l = check_class_loss("nll_loss", input, target, weight, ignore_index, loc);
    const int64_t C = l.C, inner = l.inner, S = l.samples();
    Tensor x = contiguous_data(input);
    Tensor tgt = contiguous_data(target);
    Tensor w = weight.defined() ? contiguous_data(weight) : Tensor();
    std::vector<double> losses(static_cast<size_t>(S), 0.0);
    double total_weight = 0;
    Tensor out = XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
        const T* xp = x.data_ptr<T>();
        const int64_t* tp = tgt.data_ptr<int64_t>();
        const T* wp = w.defined() ? w.data_ptr<T>() : nullptr;
        for (int64_t s = 0; s < S; ++s) {
            const int64_t t = tp[s];
            if (t == ignore_index) continue;
            const double w_t = wp ? static_cast<double>(wp[t]) : 1.0;
            losses[static_cast<size_t>(s)] = -w_t * static_cast<double>(xp[(s / inner) * C * inner + t * inner + s % inner]);
            total_weight += w_t;
        }
        return reduce_losses<T>(losses, total_weight, red, target.shape(), input.dtype());
    });
    if (autograd::needs_grad({&input})) {
        autograd::attach(out, "NllLossBackward0", loc, {input},
                         [st = SavedTensor(tgt), sw = SavedTensor(w), shape = input.shape(), red, C, inner, S,
                          ignore_index, total_weight](const Tensor& grad) -> std::vector<Tensor> {
                             Tensor g = contiguous_data(grad);
                             Tensor dx = zeros(shape, dtype(grad.dtype()));
                             XG_DISPATCH_FLOAT(grad.dtype(), T, [&] {
                                 const T* gp = g.data_ptr<T>();
                                 const int64_t* tp = st.get().data_ptr<int64_t>();
                                 const T* wp = sw.defined() ? sw.get().data_ptr<T>() : nullptr;
                                 T* dxp = dx.data_ptr<T>();
                                 for (int64_t s = 0; s < S; ++s) {
                                     const int64_t t = tp[s];
                                     if (t == ignore_index) continue;
                                     const double w_t = wp ? static_cast<double>(wp[t]) : 1.0;
                                     dxp[(s / inner) * C * inner + t * inner + s % inner] =
                                         static_cast<T>(-grad_scale(red, gp, s, total_weight) * w_t);
                                 }
                             });
                             return {dx};
                         });
    }
    return out;
}

// loss = (a - b)^2, reduced   =>   dL/da = 2 (a - b) * g_i  (g / numel for "mean"),  dL/db = -dL/da
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction, SrcLoc loc) {
    // input and target: the same shape, or shapes that broadcast
    const Reduction red = parse_reduction("mse_loss", reduction, loc);
    XG_CHECK(input.defined() && target.defined(), loc, "mse_loss: input and target must be defined tensors");
    XG_CHECK(is_floating(input.dtype()) && input.dtype() == target.dtype(), loc,
             "mse_loss: input and target must have the same floating point dtype, got " << dtype_name(input.dtype())
                 << " and " << dtype_name(target.dtype()));
    const Shape shape = broadcast_shapes(input.shape(), target.shape(), "mse_loss", loc);
    // Broadcasting is an expand (a view); its backward sums the gradient back to each shape.
    Tensor a = input.shape() == shape ? input : input.expand(shape, loc);
    Tensor b = target.shape() == shape ? target : target.expand(shape, loc);
    Tensor diff = detail::make_empty(shape, input.dtype());  // a - b, kept for the backward
    const int64_t n = numel_of(shape);
    Tensor out = XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
        Tensor ac = contiguous_data(a), bc = contiguous_data(b);
        const T* ap = ac.data_ptr<T>();
        const T* bp = bc.data_ptr<T>();
        T* dp = diff.data_ptr<T>();
        for (int64_t i = 0; i < n; ++i) dp[i] = ap[i] - bp[i];
        if (red == Reduction::None) {
            Tensor o = detail::make_empty(shape, input.dtype());
            T* op = o.data_ptr<T>();
            for (int64_t i = 0; i < n; ++i) op[i] = dp[i] * dp[i];
            return o;
        }
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(dp[i]) * static_cast<double>(dp[i]);
        // the mean of no elements is 0 / 0 = nan, as torch.mean of an empty tensor
        return scalar_tensor(red == Reduction::Sum ? sum : sum / static_cast<double>(n), dtype(input.dtype()));
    });
    if (autograd::needs_grad({&a, &b})) {
        autograd::attach(out, "MseLossBackward0", loc, {a, b},
                         [sd = SavedTensor(diff), red, n](const Tensor& grad) -> std::vector<Tensor> {
                             const Tensor& d = sd.get();
                             Tensor g = contiguous_data(grad);
                             Tensor da = detail::make_empty(d.shape(), d.dtype());
                             XG_DISPATCH_FLOAT(d.dtype(), T, [&] {
                                 const T* dp = d.data_ptr<T>();
                                 const T* gp = g.data_ptr<T>();
                                 T* o = da.data_ptr<T>();
                                 const T k = red == Reduction::Mean ? T(2) / static_cast<T>(n) : T(2);
                                 for (int64_t i = 0; i < n; ++i) o[i] = k * dp[i] * (red == Reduction::None ? gp[i] : gp[0]);
                             });
                             return {da, neg(da)};
                         });
    }
    return out;
}

}  // namespace xg::nn::functional
