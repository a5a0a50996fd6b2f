#pragma once
// nn.CrossEntropyLoss and nn.MSELoss: modules around F::cross_entropy and F::mse_loss.
#include <cstdint>
#include <string>

#include "nn/module.h"

namespace xg::nn {

// PyTorch's keyword arguments, for the forms that set only some of them:
//   nn::CrossEntropyLoss loss_fn({.label_smoothing = 0.1});
struct CrossEntropyLossOptions {
    Tensor weight = {};  // optional [C] class weights (a buffer, as in PyTorch)
    int64_t ignore_index = -100;
    std::string reduction = "mean";
    double label_smoothing = 0.0;
};

// logits [N, C] (or [N, C, d1, ...]) and class indices [N] (int64)  ->  the loss (0-d for mean/sum)
class CrossEntropyLoss : public Cloneable<CrossEntropyLoss> {
  public:
    explicit CrossEntropyLoss(int64_t ignore_index = -100, std::string reduction = "mean", double label_smoothing = 0.0,
                              SrcLoc loc = SrcLoc::current());
    explicit CrossEntropyLoss(CrossEntropyLossOptions options, SrcLoc loc = SrcLoc::current());

    using Module::forward;
    Tensor forward(const Tensor& input, const Tensor& target, SrcLoc loc = SrcLoc::current());
    Tensor operator()(const Tensor& input, const Tensor& target, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "CrossEntropyLoss"; }
    void visit(Visitor& v) override { v.buffer("weight", weight); }

    Tensor weight;
    int64_t ignore_index;
    std::string reduction;
    double label_smoothing;
};

// mean (or sum, or none) of (input - target)^2
class MSELoss : public Cloneable<MSELoss> {
  public:
    explicit MSELoss(std::string reduction = "mean", SrcLoc loc = SrcLoc::current());

    using Module::forward;
    Tensor forward(const Tensor& input, const Tensor& target, SrcLoc loc = SrcLoc::current());
    Tensor operator()(const Tensor& input, const Tensor& target, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "MSELoss"; }
    void visit(Visitor&) override {}

    std::string reduction;
};

}  // namespace xg::nn
