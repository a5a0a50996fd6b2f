// SGD's update: one fused pass over each parameter (see the formula in nn/optim/sgd.h).
#include "nn/optim/sgd.h"

#include "core/autograd/grad_mode.h"
#include "nn/optim/simd_loop.h"

namespace xg::nn::optim {

using detail::fmadd;
using detail::read;
using detail::simd_for;
using detail::write;

namespace {

Options sgd_defaults(double lr, double momentum, double dampening, double weight_decay, bool nesterov) {
    return {{"lr", lr}, {"momentum", momentum}, {"dampening", dampening},
            {"weight_decay", weight_decay}, {"nesterov", nesterov ? 1.0 : 0.0}};
}

// One parameter of n contiguous elements. `first` is true when the momentum buffer was just
// created: PyTorch then sets buf = g instead of decaying it.
//
// Rounding follows PyTorch's CPU kernels: `x.add_(y, alpha=a)` is one fused multiply-add,
// fma(a, y, x), and every scalar is first rounded to the parameter's type T.
template <class T>
void sgd_update(T* param, const T* grad, T* buf, int64_t n, double lr, double momentum, double dampening,
                double weight_decay, bool nesterov, bool first) {
    const T wd = static_cast<T>(weight_decay);
    const T mom = static_cast<T>(momentum);
    const T one_minus_dampening = static_cast<T>(1 - dampening);
    const T neg_lr = static_cast<T>(-lr);
    const bool use_wd = weight_decay != 0;
    // g = grad + wd * param;  buf = first ? g : mom * buf + (1 - dampening) * g;
    // g = nesterov ? g + mom * buf : buf;  param = param - lr * g
    simd_for<T>(n, [&]<class V>(int64_t i) {
        V p = read<V>(param + i);
        V g = read<V>(grad + i);
        if (use_wd) g = fmadd(V(wd), p, g);
        if (buf != nullptr) {
            V b = first ? g : fmadd(V(one_minus_dampening), g, read<V>(buf + i) * V(mom));
            write(buf + i, b);
            g = nesterov ? fmadd(V(mom), b, g) : b;
        }
        write(param + i, fmadd(V(neg_lr), g, p));
    });
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double dampening, double weight_decay,
         bool nesterov, SrcLoc loc)
    : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, lr, momentum, dampening, weight_decay, nesterov,
          loc) {}

SGD::SGD(std::vector<ParamGroup> groups, double lr, double momentum, double dampening, double weight_decay,
         bool nesterov, SrcLoc loc)
    : Optimizer(sgd_defaults(lr, momentum, dampening, weight_decay, nesterov)) {
    init_groups(std::move(groups), loc);
}

void SGD::validate_options(const Options& o, const SrcLoc& loc) const {
    using detail::format_double;
    XG_CHECK(o.at("lr") >= 0, loc, "SGD: invalid learning rate: " << format_double(o.at("lr")) << " (must be >= 0)");
    XG_CHECK(o.at("momentum") >= 0, loc,
             "SGD: invalid momentum value: " << format_double(o.at("momentum")) << " (must be >= 0)");
    XG_CHECK(o.at("weight_decay") >= 0, loc,
             "SGD: invalid weight_decay value: " << format_double(o.at("weight_decay")) << " (must be >= 0)");
    XG_CHECK(o.at("nesterov") == 0 || (o.at("momentum") > 0 && o.at("dampening") == 0), loc,
             "SGD: Nesterov momentum requires a momentum and zero dampening (momentum="
                 << format_double(o.at("momentum")) << ", dampening=" << format_double(o.at("dampening")) << ")");
}

std::vector<std::string> SGD::state_names(const Options& o) const {
    if (o.count("momentum") && o.at("momentum") != 0) return {"momentum_buffer"};
    return {};
}

void SGD::step(SrcLoc loc) {
    NoGradGuard no_grad;
    for (ParamGroup& group : groups_) {
        const double lr = group["lr"], momentum = group["momentum"], dampening = group["dampening"];
        const double weight_decay = group["weight_decay"];
        const bool nesterov = group["nesterov"] != 0;
        for (Tensor& p : group.params) {
            if (!p.grad().defined()) continue;  // parameters without a gradient are skipped
            Tensor grad = detail::contiguous_grad(p, p.grad(), "SGD.step", loc);
            Tensor work = detail::work_buffer(p);
            Tensor buf;
            bool first = false;
            if (momentum != 0) {
                ParamState& st = state(p);
                auto it = st.find("momentum_buffer");
                first = it == st.end();
                if (first) it = st.emplace("momentum_buffer", detail::zeros_state(p)).first;
                buf = it->second;
            }
            XG_DISPATCH_FLOAT(p.dtype(), scalar_t, [&] {
                sgd_update<scalar_t>(work.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                                     buf.defined() ? buf.data_ptr<scalar_t>() : nullptr, p.numel(), lr, momentum,
                                     dampening, weight_decay, nesterov, first);
            });
            if (buf.defined()) buf.impl()->storage->bump_version();
            detail::finish_update(p, work, loc);
        }
    }
}

}  // namespace xg::nn::optim
