#pragma once
// nn.Linear and nn.Identity.
#include <cstdint>
#include <string>

#include "nn/module.h"

namespace xg::nn {

// y = x W^T + b  (F::linear).   input: [*, in_features]  ->  [*, out_features]
class Linear : public Cloneable<Linear> {
  public:
    Linear(int64_t in_features, int64_t out_features, bool bias = true, SrcLoc loc = SrcLoc::current());

    // PyTorch's default init: weight ~ kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)),
    // and bias ~ U(-1/sqrt(in), 1/sqrt(in)). Drawn in that order, so after xg::manual_seed(s)
    // the values are PyTorch's after torch.manual_seed(s).
    void reset_parameters();

    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "Linear"; }
    std::string extra_repr() const override;
    void visit(Visitor& v) override;

    int64_t in_features, out_features;
    Tensor weight;  // [out_features, in_features]
    Tensor bias;    // [out_features]; undefined when bias=false
};

// y = x: a placeholder that keeps a model's structure (and state_dict names) when a layer is
// switched off, e.g. a head that is Linear or Identity.
class Identity : public Cloneable<Identity> {
  public:
    Identity() = default;
    Tensor forward(const Tensor& input) override { return input; }
    Tensor operator()(const Tensor& input) { return input; }
    std::string type_name() const override { return "Identity"; }
    void visit(Visitor&) override {}
};

}  // namespace xg::nn
