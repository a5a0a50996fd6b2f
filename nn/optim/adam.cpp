// Adam and AdamW: one fused pass over each parameter (the formulas are in nn/optim/adam.h).
// The two differ only in where weight decay goes, so they share adam_step below.
#include "nn/optim/adam.h"

#include <cmath>

#include "core/autograd/grad_mode.h"
#include "nn/optim/simd_loop.h"

namespace xg::nn::optim {

using detail::fmadd;
using detail::read;
using detail::maximum;
using detail::simd_for;
using detail::write;

namespace {

Options adam_defaults(double lr, Betas betas, double eps, double weight_decay, bool amsgrad) {
    return {{"lr", lr}, {"betas.0", betas.first}, {"betas.1", betas.second}, {"eps", eps},
            {"weight_decay", weight_decay}, {"amsgrad", amsgrad ? 1.0 : 0.0}};
}

void validate_adam(const std::string& name, const Options& o, const SrcLoc& loc) {
    using detail::format_double;
    XG_CHECK(o.at("lr") >= 0, loc, name << ": invalid learning rate: " << format_double(o.at("lr")) << " (must be >= 0)");
    XG_CHECK(o.at("eps") >= 0, loc, name << ": invalid epsilon value: " << format_double(o.at("eps")) << " (must be >= 0)");
    XG_CHECK(o.at("betas.0") >= 0 && o.at("betas.0") < 1, loc,
             name << ": invalid beta parameter at index 0: " << format_double(o.at("betas.0")) << " (must be in [0, 1))");
    XG_CHECK(o.at("betas.1") >= 0 && o.at("betas.1") < 1, loc,
             name << ": invalid beta parameter at index 1: " << format_double(o.at("betas.1")) << " (must be in [0, 1))");
    XG_CHECK(o.at("weight_decay") >= 0, loc,
             name << ": invalid weight_decay value: " << format_double(o.at("weight_decay")) << " (must be >= 0)");
}

std::vector<std::string> adam_state_names(const Options& o) {
    if (o.count("amsgrad") && o.at("amsgrad") != 0) return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"step", "exp_avg", "exp_avg_sq"};
}

// The per-step scalars, computed in double exactly as PyTorch's Python code does.
struct AdamScalars {
    double lr, beta1, beta2, eps, weight_decay;
    double step_size;              // lr / (1 - beta1^t)
    double bias_correction2_sqrt;  // sqrt(1 - beta2^t)
};

// One parameter of n contiguous elements. Rounding follows PyTorch's CPU kernels: each scalar
// is rounded to T first; `add_(g, alpha=a)` and `addcmul_` are fused multiply-adds;
// `addcdiv_(m, denom, value=s)` is param + (s * m) / denom.
template <class T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamScalars& s, bool decoupled_weight_decay) {
    const T beta1 = static_cast<T>(s.beta1), one_minus_beta1 = static_cast<T>(1 - s.beta1);
    const T beta2 = static_cast<T>(s.beta2), one_minus_beta2 = static_cast<T>(1 - s.beta2);
    const T wd = static_cast<T>(s.weight_decay);
    const T decay_factor = static_cast<T>(1 - s.lr * s.weight_decay);  // AdamW
    const T bias_correction2_sqrt = static_cast<T>(s.bias_correction2_sqrt);
    const T eps = static_cast<T>(s.eps);
    const T neg_step_size = static_cast<T>(-s.step_size);
    const bool l2 = !decoupled_weight_decay && s.weight_decay != 0;
    // Adam: g = grad + wd * param  |  AdamW: param = param * (1 - lr * wd)
    // m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g;   v_max = max(v_max, v)
    // param = param + (-step_size * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    simd_for<T>(n, [&]<class V>(int64_t i) {
        V p = read<V>(param + i);
        V g = read<V>(grad + i);
        if (l2) g = fmadd(V(wd), p, g);
        if (decoupled_weight_decay) p = p * V(decay_factor);
        V m = fmadd(V(one_minus_beta1), g, read<V>(exp_avg + i) * V(beta1));
        V v = fmadd(V(one_minus_beta2) * g, g, read<V>(exp_avg_sq + i) * V(beta2));
        write(exp_avg + i, m);
        write(exp_avg_sq + i, v);
        if (max_exp_avg_sq != nullptr) {
            v = maximum(read<V>(max_exp_avg_sq + i), v);
            write(max_exp_avg_sq + i, v);
        }
        V denom = detail::sqrt(v) / V(bias_correction2_sqrt) + V(eps);
        write(param + i, p + (V(neg_step_size) * m) / denom);
    });
}

void adam_step(Optimizer& opt, std::vector<ParamGroup>& groups, bool decoupled_weight_decay, const SrcLoc& loc) {
    NoGradGuard no_grad;
    const std::string op = opt.type_name() + ".step";
    for (ParamGroup& group : groups) {
        const bool amsgrad = group["amsgrad"] != 0;
        for (Tensor& p : group.params) {
            if (!p.grad().defined()) continue;  // parameters without a gradient are skipped
            Tensor grad = detail::contiguous_grad(p, p.grad(), op, loc);
            Tensor work = detail::work_buffer(p);

            // Lazy state initialization, on the parameter's first update (as PyTorch).
            ParamState& st = opt.state(p);
            if (st.empty()) {
                st["step"] = scalar_tensor(0.0, dtype(kFloat32));
                st["exp_avg"] = detail::zeros_state(p);
                st["exp_avg_sq"] = detail::zeros_state(p);
                if (amsgrad) st["max_exp_avg_sq"] = detail::zeros_state(p);
            }
            XG_CHECK(!amsgrad || st.count("max_exp_avg_sq"), loc,
                     op << ": amsgrad was turned on after this parameter's state was created");
            Tensor& step_t = st.at("step");
            Tensor exp_avg = st.at("exp_avg"), exp_avg_sq = st.at("exp_avg_sq");
            Tensor max_exp_avg_sq = amsgrad ? st.at("max_exp_avg_sq") : Tensor();

            // step_t += 1 (a float32 count, as PyTorch keeps it), then the bias corrections.
            const double step = static_cast<double>(static_cast<float>(step_t.item()) + 1.0f);
            step_t.fill_(step);
            AdamScalars s;
            s.lr = group["lr"];
            s.beta1 = group["betas.0"];
            s.beta2 = group["betas.1"];
            s.eps = group["eps"];
            s.weight_decay = group["weight_decay"];
            const double bias_correction1 = 1 - std::pow(s.beta1, step);
            const double bias_correction2 = 1 - std::pow(s.beta2, step);
            s.step_size = s.lr / bias_correction1;
            s.bias_correction2_sqrt = std::sqrt(bias_correction2);

            XG_DISPATCH_FLOAT(p.dtype(), scalar_t, [&] {
                adam_update<scalar_t>(work.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                                      exp_avg.data_ptr<scalar_t>(), exp_avg_sq.data_ptr<scalar_t>(),
                                      amsgrad ? max_exp_avg_sq.data_ptr<scalar_t>() : nullptr, p.numel(), s,
                                      decoupled_weight_decay);
            });
            exp_avg.impl()->storage->bump_version();
            exp_avg_sq.impl()->storage->bump_version();
            if (amsgrad) max_exp_avg_sq.impl()->storage->bump_version();
            detail::finish_update(p, work, loc);
        }
    }
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, double lr, Betas betas, double eps, double weight_decay, bool amsgrad,
           SrcLoc loc)
    : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, lr, betas, eps, weight_decay, amsgrad, loc) {}

Adam::Adam(std::vector<ParamGroup> groups, double lr, Betas betas, double eps, double weight_decay, bool amsgrad,
           SrcLoc loc)
    : Optimizer(adam_defaults(lr, betas, eps, weight_decay, amsgrad)) {
    init_groups(std::move(groups), loc);
}

void Adam::validate_options(const Options& o, const SrcLoc& loc) const { validate_adam("Adam", o, loc); }
std::vector<std::string> Adam::state_names(const Options& o) const { return adam_state_names(o); }
void Adam::step(SrcLoc loc) { adam_step(*this, groups_, /*decoupled_weight_decay=*/false, loc); }

AdamW::AdamW(std::vector<Tensor> params, double lr, Betas betas, double eps, double weight_decay, bool amsgrad,
             SrcLoc loc)
    : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, lr, betas, eps, weight_decay, amsgrad, loc) {}

AdamW::AdamW(std::vector<ParamGroup> groups, double lr, Betas betas, double eps, double weight_decay, bool amsgrad,
             SrcLoc loc)
    : Optimizer(adam_defaults(lr, betas, eps, weight_decay, amsgrad)) {
    init_groups(std::move(groups), loc);
}

void AdamW::validate_options(const Options& o, const SrcLoc& loc) const { validate_adam("AdamW", o, loc); }
std::vector<std::string> AdamW::state_names(const Options& o) const { return adam_state_names(o); }
void AdamW::step(SrcLoc loc) { adam_step(*this, groups_, /*decoupled_weight_decay=*/true, loc); }

}  // namespace xg::nn::optim
