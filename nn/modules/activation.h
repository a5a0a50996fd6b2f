#pragma once
// nn.ReLU and nn.GELU.
#include <string>

#include "nn/module.h"

namespace xg::nn {

// y = max(x, 0)
class ReLU : public Cloneable<ReLU> {
  public:
    ReLU() = default;
    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "ReLU"; }
    void visit(Visitor&) override {}
};

// y = x * Phi(x) (approximate = "none") or its tanh approximation (approximate = "tanh")
class GELU : public Cloneable<GELU> {
  public:
    explicit GELU(std::string approximate = "none", SrcLoc loc = SrcLoc::current());
    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "GELU"; }
    std::string extra_repr() const override { return "approximate='" + approximate + "'"; }
    void visit(Visitor&) override {}

    std::string approximate;
};

}  // namespace xg::nn
