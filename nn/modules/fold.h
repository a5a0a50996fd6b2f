#pragma once
// nn.Unfold and nn.Fold: im2col and col2im as modules (no parameters).
#include <string>

#include "nn/functional.h"
#include "nn/module.h"

namespace xg::nn {

// [N, C, H, W] -> [N, C*kh*kw, L]: every sliding block becomes a column (F::unfold).
class Unfold : public Cloneable<Unfold> {
  public:
    explicit Unfold(functional::IntPair kernel_size, functional::IntPair dilation = 1, functional::IntPair padding = 0,
                    functional::IntPair stride = 1);
    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "Unfold"; }
    std::string extra_repr() const override;
    void visit(Visitor&) override {}

    functional::IntPair kernel_size, dilation, padding, stride;
};

// [N, C*kh*kw, L] -> [N, C, H, W]: columns back into an image, overlaps summed (F::fold).
class Fold : public Cloneable<Fold> {
  public:
    Fold(functional::IntPair output_size, functional::IntPair kernel_size, functional::IntPair dilation = 1,
         functional::IntPair padding = 0, functional::IntPair stride = 1);
    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "Fold"; }
    std::string extra_repr() const override;
    void visit(Visitor&) override {}

    functional::IntPair output_size, kernel_size, dilation, padding, stride;
};

}  // namespace xg::nn
