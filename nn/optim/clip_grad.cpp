// clip_grad_norm_ and clip_grad_value_ (formulas in nn/optim/clip_grad.h).
#include "nn/optim/clip_grad.h"

#include <algorithm>
#include <cmath>

#include "core/autograd/grad_mode.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/simd_loop.h"

namespace xg::nn::optim {

namespace {

// ||g||_p of one contiguous buffer, accumulated in double (the norm of a float32 gradient is
// then rounded to float32, as torch.norm returns it).
template <class T>
double norm_of(const T* g, int64_t n, double norm_type) {
    double acc = 0;
    if (std::isinf(norm_type)) {
        for (int64_t i = 0; i < n; ++i) acc = std::max(acc, std::abs(static_cast<double>(g[i])));
        return acc;
    }
    if (norm_type == 2) {
        for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(g[i]) * static_cast<double>(g[i]);
        return std::sqrt(acc);
    }
    if (norm_type == 1) {
        for (int64_t i = 0; i < n; ++i) acc += std::abs(static_cast<double>(g[i]));
        return acc;
    }
    for (int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(static_cast<double>(g[i])), norm_type);
    return std::pow(acc, 1 / norm_type);
}

// The gradients that exist, each checked to be a floating point tensor.
std::vector<Tensor> grads_of(const std::vector<Tensor>& parameters, const char* op, const SrcLoc& loc) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < parameters.size(); ++i) {
        XG_CHECK(parameters[i].defined(), loc, op << ": parameter " << i << " is an undefined tensor");
        Tensor g = parameters[i].grad();
        if (g.defined()) grads.push_back(g);
    }
    return grads;
}

// g *= coef in place, through any strides.
void scale_(Tensor& g, double coef, const SrcLoc& loc) {
    if (g.is_contiguous()) {
        XG_DISPATCH_FLOAT(g.dtype(), scalar_t, [&] {
            scalar_t* d = g.data_ptr<scalar_t>();
            const scalar_t c = static_cast<scalar_t>(coef);
            detail::simd_for<scalar_t>(g.numel(), [&]<class V>(int64_t i) {
                detail::write(d + i, detail::read<V>(d + i) * V(c));
            });
        });
        g.impl()->storage->bump_version();
    } else {
        g.mul_(coef, loc);
    }
}

}  // namespace

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite, SrcLoc loc) {
    XG_CHECK(norm_type > 0, loc,
             "clip_grad_norm_: norm_type must be > 0 or inf, got " << detail::format_double(norm_type));
    NoGradGuard no_grad;
    std::vector<Tensor> grads = grads_of(parameters, "clip_grad_norm_", loc);
    if (grads.empty()) return scalar_tensor(0.0, dtype(kFloat32));
    const DType dt = grads[0].dtype();
    auto round = [&](double v) { return dt == kFloat32 ? static_cast<double>(static_cast<float>(v)) : v; };

    // The norm of the per-gradient norms.
    std::vector<double> norms;
    for (const Tensor& g : grads) {
        Tensor c = g.is_contiguous() ? g : g.contiguous(loc);
        norms.push_back(round(XG_DISPATCH_FLOAT(c.dtype(), scalar_t,
                                                [&] { return norm_of(c.data_ptr<scalar_t>(), c.numel(), norm_type); })));
    }
    const double total_norm = round(norm_of(norms.data(), static_cast<int64_t>(norms.size()), norm_type));
    XG_CHECK(!error_if_nonfinite || std::isfinite(total_norm), loc,
             "clip_grad_norm_: the total norm of order " << detail::format_double(norm_type)
                 << " for gradients from `parameters` is non-finite (" << total_norm
                 << "), so it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                    "norm anyway, set error_if_nonfinite=false");

    // clip_coef = min(max_norm / (total_norm + 1e-6), 1), in the gradients' precision as PyTorch's
    // tensor arithmetic does; the gradients are always multiplied (by 1 when there is nothing to clip).
    double clip_coef;
    if (dt == kFloat32) {
        const float coef = static_cast<float>(max_norm) / (static_cast<float>(total_norm) + 1e-6f);
        clip_coef = std::min(coef, 1.0f);
    } else {
        clip_coef = std::min(max_norm / (total_norm + 1e-6), 1.0);
    }
    for (Tensor& g : grads) scale_(g, clip_coef, loc);
    return scalar_tensor(total_norm, dtype(dt));
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value, SrcLoc loc) {
    XG_CHECK(clip_value >= 0, loc, "clip_grad_value_: clip_value must be >= 0, got " << detail::format_double(clip_value));
    NoGradGuard no_grad;
    for (Tensor& g : grads_of(parameters, "clip_grad_value_", loc)) {
        // g = clamp(g, -clip_value, clip_value)
        g.copy_(g.clamp(-clip_value, clip_value, loc), loc);
    }
}

}  // namespace xg::nn::optim
