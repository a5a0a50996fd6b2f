#pragma once
// nn.Dropout.
#include <string>

#include "nn/module.h"

namespace xg::nn {

// In training mode zeroes each element with probability p and scales the rest by 1 / (1 - p);
// in eval mode (module.eval()) passes the input through (F::dropout).
class Dropout : public Cloneable<Dropout> {
  public:
    explicit Dropout(double p = 0.5, SrcLoc loc = SrcLoc::current());

    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "Dropout"; }
    std::string extra_repr() const override;
    void visit(Visitor&) override {}

    double p;
};

}  // namespace xg::nn
