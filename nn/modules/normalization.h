#pragma once
// nn.LayerNorm.
#include <string>

#include "nn/module.h"

namespace xg::nn {

// Normalizes each sample over its last dims (normalized_shape) to mean 0, variance 1, then
// scales and shifts by the learned weight and bias (F::layer_norm).
//   input: [*, normalized_shape...]  ->  same shape
class LayerNorm : public Cloneable<LayerNorm> {
  public:
    explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                       SrcLoc loc = SrcLoc::current());
    explicit LayerNorm(int64_t normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                       SrcLoc loc = SrcLoc::current());

    void reset_parameters();  // weight = 1, bias = 0: the layer starts as a plain normalization

    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "LayerNorm"; }
    std::string extra_repr() const override;
    void visit(Visitor& v) override;

    Shape normalized_shape;
    double eps;
    bool elementwise_affine;
    Tensor weight;  // [normalized_shape...]; undefined without elementwise_affine
    Tensor bias;    // [normalized_shape...]; undefined without elementwise_affine
};

}  // namespace xg::nn
