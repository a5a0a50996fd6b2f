// F::conv2d as unfold + matmul: the equivalence the ViT source teaches (its image2emb_naive
// and image2emb_conv compute the same patch embedding).
#include "nn/functional.h"

namespace xg::nn::functional {

// A 2-D convolution is a dot product of the kernel with every window of the image. unfold puts
// every window in a column, so all those dot products are one matrix product:
//   cols = unfold(x)                  x: [N, C, H, W]  ->  cols: [N, C*kh*kw, L]
//   out  = W.view(O, C*kh*kw) @ cols  -> [N, O, L],  then + b, then view [N, O, out_h, out_w]
// The rows of cols are channel-major (c, i, j), the same order as W[o].view(-1), so the
// reshape of the weight lines up with no permutation.
// y = conv2d(x, W) + b   =>   gradients flow back through matmul (dL/dW = g @ cols^T summed over
// N, dL/dcols = W^T @ g) and through unfold (dL/dx = fold(dL/dcols)); no backward of our own.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntPair stride, IntPair padding,
              IntPair dilation, SrcLoc loc) {
    // input: [N, C, H, W] or [C, H, W], weight: [O, C, kh, kw], bias: [O]
    XG_CHECK(input.defined() && weight.defined(), loc, "conv2d: input and weight must be defined tensors");
    XG_CHECK(weight.dim() == 4, loc, "conv2d: weight must be 4-D [out_channels, in_channels, kh, kw], got shape " << shape_str(weight.shape()));
    XG_CHECK(input.dim() == 3 || input.dim() == 4, loc,
             "conv2d: expected 3-D (unbatched) or 4-D (batched) input, but got input of size: " << shape_str(input.shape()));
    const bool batched = input.dim() == 4;
    Tensor x = batched ? input : input.unsqueeze(0, loc);  // [N, C, H, W]
    const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    const int64_t O = weight.shape()[0], kh = weight.shape()[2], kw = weight.shape()[3];
    XG_CHECK(weight.shape()[1] == C, loc,
             "conv2d: given groups=1, weight of size " << shape_str(weight.shape()) << ", expected input" << shape_str(input.shape())
                 << " to have " << weight.shape()[1] << " channels, but got " << C << " channels instead");
    XG_CHECK(!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == O), loc,
             "conv2d: bias must have shape [" << O << "], got " << shape_str(bias.shape()));

    XG_CHECK(H + 2 * padding.h >= dilation.h * (kh - 1) + 1 && W + 2 * padding.w >= dilation.w * (kw - 1) + 1, loc,
             "conv2d: calculated padded input size per channel: (" << H + 2 * padding.h << " x " << W + 2 * padding.w
                 << "). Kernel size: (" << dilation.h * (kh - 1) + 1 << " x " << dilation.w * (kw - 1) + 1
                 << "). Kernel size can't be greater than actual input size");

    Tensor cols = unfold(x, IntPair(kh, kw), dilation, padding, stride, loc);  // [N, C*kh*kw, L]
    Tensor out = matmul(weight.reshape({O, C * kh * kw}, loc), cols, loc);     // [N, O, L]
    if (bias.defined()) out = add(out, bias.view({O, 1}, loc), loc);           // one bias per output channel
    const int64_t out_h = (H + 2 * padding.h - dilation.h * (kh - 1) - 1) / stride.h + 1;
    const int64_t out_w = (W + 2 * padding.w - dilation.w * (kw - 1) - 1) / stride.w + 1;
    out = out.view({N, O, out_h, out_w}, loc);
    return batched ? out : out.squeeze(0, loc);
}

}  // namespace xg::nn::functional
