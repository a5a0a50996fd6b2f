#pragma once
// torch.optim.SGD: stochastic gradient descent with optional momentum, dampening, Nesterov
// momentum and (L2) weight decay, with PyTorch 1.13's exact update (the foreach=False path):
//
//   g   = grad + weight_decay * param                    (when weight_decay != 0)
//   buf = g                                              (first step)
//   buf = momentum * buf + (1 - dampening) * g           (later steps; when momentum != 0)
//   g   = g + momentum * buf   (nesterov)   or   g = buf (plain momentum)
//   param = param - lr * g
//
//   PyTorch:  torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
//   xgrad:    xg::nn::optim::SGD(model->parameters(), 0.1, /*momentum=*/0.9, 0, 0, /*nesterov=*/true)
//
// State per parameter: "momentum_buffer" (only when momentum != 0).
#include "nn/optim/optimizer.h"

namespace xg::nn::optim {

class SGD : public Optimizer {
  public:
    SGD(std::vector<Tensor> params, double lr, double momentum = 0, double dampening = 0,
        double weight_decay = 0, bool nesterov = false, SrcLoc loc = SrcLoc::current());
    // Parameter groups; options a group leaves out take these values.
    SGD(std::vector<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0,
        double weight_decay = 0, bool nesterov = false, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "SGD"; }
    using Optimizer::step;
    void step(SrcLoc loc = SrcLoc::current()) override;

  protected:
    void validate_options(const Options& options, const SrcLoc& loc) const override;
    std::vector<std::string> state_names(const Options& options) const override;
};

}  // namespace xg::nn::optim
