#pragma once
// xg::nn::functional: the math of the nn layers as plain functions, as torch.nn.functional.
//
//   namespace F = xg::nn::functional;
//   Tensor y = F::linear(x, weight, bias);
//   Tensor loss = F::cross_entropy(logits, label);
//
// Modules (nn/modules/) hold parameters and call these. Each function's forward and backward
// live in one file of nn/functional/ (named in the comment above each declaration), with the
// math of the backward in a one-line comment. Names, argument order and defaults are PyTorch
// 1.13's; every function checks its arguments and reports the caller's line on error.
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "core/ops.h"
#include "core/tensor.h"

namespace xg::nn::functional {

// An argument that is one int or an (h, w) pair, as PyTorch's `kernel_size=2` or
// `kernel_size=(2, 3)`. It remembers which form it was given in, because the module reprs
// print it back that way (`Unfold(kernel_size=2, ...)` vs `Unfold(kernel_size=(2, 3), ...)`).
struct IntPair {
    int64_t h = 0, w = 0;
    bool is_scalar = true;
    IntPair(int64_t v) : h(v), w(v), is_scalar(true) {}  // NOLINT: implicit, like Python's int
    IntPair(int64_t h, int64_t w) : h(h), w(w), is_scalar(false) {}
    IntPair(std::array<int64_t, 2> hw) : h(hw[0]), w(hw[1]), is_scalar(false) {}  // NOLINT
    bool operator==(const IntPair& o) const { return h == o.h && w == o.w; }
    std::string str() const;  // Python's repr: "2" or "(2, 3)"
};

// ---- linear (nn/functional/linear.cpp) --------------------------------------------------
// y = x W^T + b.   input: [*, in_features], weight: [out_features, in_features], bias: [out_features]
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, SrcLoc loc = SrcLoc::current());

// ---- normalization (nn/functional/layer_norm.cpp) -----------------------------------------
// Normalizes over the last len(normalized_shape) dims: y = (x - mean) / sqrt(var + eps) * weight + bias,
// var biased. One fused op (grad_fn NativeLayerNormBackward0).
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5, SrcLoc loc = SrcLoc::current());

// ---- dropout (nn/functional/dropout.cpp) ---------------------------------------------------
// Training: zero each element with probability p and scale the kept ones by 1 / (1 - p), so the
// expected value is unchanged. Not training (or p = 0): the input itself.
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true, SrcLoc loc = SrcLoc::current());

// ---- activations: the very functions of core (fused kernels in core/ops/unary_ops.cpp and
// core/ops/softmax.cpp), brought into F:: by using-declarations rather than wrapped, so that
// F::softmax and xg::softmax are one function: an unqualified softmax(x, -1) inside this
// namespace is not ambiguous between the two (argument-dependent lookup finds xg::softmax).
//   relu(x)                 y = max(x, 0)
//   gelu(x, "none"|"tanh")  y = x * Phi(x), or its tanh approximation
//   softmax(x, dim)         y = e^x / sum(e^x) along dim
//   log_softmax(x, dim)     y = x - log(sum(e^x)) along dim
using xg::gelu;
using xg::log_softmax;
using xg::relu;
using xg::softmax;

// ---- im2col / col2im (nn/functional/fold.cpp) ----------------------------------------------
// unfold: every kernel_size patch of the (padded) image becomes one column.
//   input: [N, C, H, W] (or [C, H, W])   ->   [N, C*kh*kw, L],  L = out_h * out_w
// The C*kh*kw rows are channel-major: row c*kh*kw + i*kw + j holds pixel (i, j) of channel c.
Tensor unfold(const Tensor& input, IntPair kernel_size, IntPair dilation = 1, IntPair padding = 0,
              IntPair stride = 1, SrcLoc loc = SrcLoc::current());
// fold: the adjoint of unfold. Each column is put back at its patch; overlapping patches add.
//   input: [N, C*kh*kw, L] (or [C*kh*kw, L])   ->   [N, C, output_size.h, output_size.w]
Tensor fold(const Tensor& input, IntPair output_size, IntPair kernel_size, IntPair dilation = 1,
            IntPair padding = 0, IntPair stride = 1, SrcLoc loc = SrcLoc::current());

// The keyword form, for when only some are given, as in Python's F.unfold(x, 4, stride=4):
//   F::unfold(image, patch_size, {.stride = patch_size})
struct UnfoldOptions {
    IntPair dilation = 1;
    IntPair padding = 0;
    IntPair stride = 1;
};
Tensor unfold(const Tensor& input, IntPair kernel_size, const UnfoldOptions& options, SrcLoc loc = SrcLoc::current());
Tensor fold(const Tensor& input, IntPair output_size, IntPair kernel_size, const UnfoldOptions& options,
            SrcLoc loc = SrcLoc::current());

// ---- convolution (nn/functional/conv.cpp) ----------------------------------------------------
// conv2d = unfold + matmul.  input: [N, C, H, W] (or [C, H, W]), weight: [O, C, kh, kw],
// bias: [O]   ->   [N, O, out_h, out_w]
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, IntPair stride = 1,
              IntPair padding = 0, IntPair dilation = 1, SrcLoc loc = SrcLoc::current());

// ---- losses (nn/functional/loss.cpp) ----------------------------------------------------------
// reduction: "mean" (the default), "sum" or "none" (one loss per sample).
//
// cross_entropy: input holds unnormalized logits [N, C] or [N, C, d1, ...] (or [C]); target the
// int64 class indices [N] or [N, d1, ...] (or []). Samples whose target is ignore_index add
// nothing and are left out of the mean. weight (optional, [C]) rescales each class. With label
// smoothing eps the loss is (1 - eps) * nll + eps * mean over classes of -log p.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     int64_t ignore_index = -100, const std::string& reduction = "mean",
                     double label_smoothing = 0.0, SrcLoc loc = SrcLoc::current());
// nll_loss: the same, for log-probabilities: loss_i = -weight[t_i] * input[i, t_i].
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {}, int64_t ignore_index = -100,
                const std::string& reduction = "mean", SrcLoc loc = SrcLoc::current());
// mse_loss: (input - target)^2, reduced. The two shapes must match or broadcast.
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                SrcLoc loc = SrcLoc::current());

}  // namespace xg::nn::functional
