#pragma once
// torch.optim.Adam and torch.optim.AdamW with PyTorch 1.13's exact single-tensor (foreach=False)
// updates. With t the parameter's step count (1 on its first update):
//
//   Adam:   g = grad + weight_decay * param            (L2 penalty folded into the gradient)
//   AdamW:  param = param * (1 - lr * weight_decay)    (decoupled weight decay, applied first)
//   m = beta1 * m + (1 - beta1) * g                    "exp_avg"
//   v = beta2 * v + (1 - beta2) * g * g                "exp_avg_sq"
//   v_max = max(v_max, v); use v_max for v             "max_exp_avg_sq" (amsgrad only)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   param = param - (lr / (1 - beta1^t)) * m / denom
//
//   PyTorch:  torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.05)
//   xgrad:    xg::nn::optim::AdamW(model->parameters(), 3e-4, {0.9, 0.95}, 1e-8, 0.05)
//
// State per parameter: "step" (0-d float32), "exp_avg", "exp_avg_sq", and "max_exp_avg_sq"
// with amsgrad. Group options: "lr", "betas.0", "betas.1", "eps", "weight_decay", "amsgrad" (0/1).
#include <utility>

#include "nn/optim/optimizer.h"

namespace xg::nn::optim {

using Betas = std::pair<double, double>;

class Adam : public Optimizer {
  public:
    explicit Adam(std::vector<Tensor> params, double lr = 1e-3, Betas betas = {0.9, 0.999}, double eps = 1e-8,
                  double weight_decay = 0, bool amsgrad = false, SrcLoc loc = SrcLoc::current());
    explicit Adam(std::vector<ParamGroup> groups, double lr = 1e-3, Betas betas = {0.9, 0.999}, double eps = 1e-8,
                  double weight_decay = 0, bool amsgrad = false, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "Adam"; }
    using Optimizer::step;
    void step(SrcLoc loc = SrcLoc::current()) override;

  protected:
    void validate_options(const Options& options, const SrcLoc& loc) const override;
    std::vector<std::string> state_names(const Options& options) const override;
};

class AdamW : public Optimizer {
  public:
    explicit AdamW(std::vector<Tensor> params, double lr = 1e-3, Betas betas = {0.9, 0.999}, double eps = 1e-8,
                   double weight_decay = 1e-2, bool amsgrad = false, SrcLoc loc = SrcLoc::current());
    explicit AdamW(std::vector<ParamGroup> groups, double lr = 1e-3, Betas betas = {0.9, 0.999}, double eps = 1e-8,
                   double weight_decay = 1e-2, bool amsgrad = false, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "AdamW"; }
    using Optimizer::step;
    void step(SrcLoc loc = SrcLoc::current()) override;

  protected:
    void validate_options(const Options& options, const SrcLoc& loc) const override;
    std::vector<std::string> state_names(const Options& options) const override;
};

}  // namespace xg::nn::optim
