#pragma once
// nn.Conv2d.
#include <string>

#include "nn/functional.h"
#include "nn/module.h"

namespace xg::nn {

// 2-D convolution as unfold + matmul (F::conv2d).
//   input: [N, in_channels, H, W]  ->  [N, out_channels, out_h, out_w]
// With kernel_size = stride = patch size it is the ViT patch embedding (image2emb_conv).
class Conv2d : public Cloneable<Conv2d> {
  public:
    Conv2d(int64_t in_channels, int64_t out_channels, functional::IntPair kernel_size, functional::IntPair stride = 1,
           functional::IntPair padding = 0, functional::IntPair dilation = 1, bool bias = true,
           SrcLoc loc = SrcLoc::current());

    // PyTorch's default init: weight ~ kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    // with fan_in = in_channels * kh * kw, and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    void reset_parameters();

    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input, SrcLoc loc = SrcLoc::current());

    std::string type_name() const override { return "Conv2d"; }
    std::string extra_repr() const override;
    void visit(Visitor& v) override;

    int64_t in_channels, out_channels;
    functional::IntPair kernel_size, stride, padding, dilation;
    Tensor weight;  // [out_channels, in_channels, kh, kw]
    Tensor bias;    // [out_channels]; undefined when bias=false
};

}  // namespace xg::nn
