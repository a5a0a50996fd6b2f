// F::linear: y = x W^T + b, the affine map of nn.Linear.
#include "nn/functional.h"

namespace xg::nn::functional {

// y = x @ W^T + b   =>   dL/dx = g @ W,  dL/dW = g^T @ x (summed over the batch dims),
// dL/db = g summed over the batch dims. No backward of our own: the ops below record theirs
// (core/ops/matmul.cpp, core/ops/view_ops.cpp, core/ops/binary_ops.cpp). As in PyTorch 1.13's
// at::linear:
//   x 2-D, with bias:            addmm(b, x, W^T)                     grad_fn AddmmBackward0
//   x contiguous N-D, with bias: addmm(b, x.view(-1, in), W^T).view(...)   ViewBackward0 over it
//   otherwise:                   matmul(x, W^T) (+ b)                 BmmBackward0 / MmBackward0 (+ AddBackward0)
// addmm adds the bias inside the GEMM, as it stores the product: no separate pass over y.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias, SrcLoc loc) {
    // input: [*, in_features], weight: [out_features, in_features], bias: [out_features]
    XG_CHECK(input.defined() && weight.defined(), loc, "linear: input and weight must be defined tensors");
    XG_CHECK(weight.dim() == 2, loc, "linear: weight must be 2-D [out_features, in_features], got shape " << shape_str(weight.shape()));
    XG_CHECK(input.dim() >= 1, loc, "linear: input must have at least one dim, got a 0-d tensor");
    const int64_t in_features = weight.shape()[1], out_features = weight.shape()[0];
    XG_CHECK(input.shape().back() == in_features, loc,
             "linear: input shape " << shape_str(input.shape()) << " does not end in in_features = " << in_features
                                    << " (weight shape " << shape_str(weight.shape()) << ")");
    XG_CHECK(!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == out_features), loc,
             "linear: bias must have shape [" << out_features << "], got " << shape_str(bias.shape()));
    // W^T is a transposed view (strides swapped), not a copy: the GEMM reads it in place.
    const bool same_dtype = bias.defined() && input.dtype() == weight.dtype() && bias.dtype() == weight.dtype();
    if (same_dtype && is_floating(input.dtype()) && input.numel() > 0 && (input.dim() == 2 || (input.dim() > 2 && input.is_contiguous()))) {
        if (input.dim() == 2) return addmm(bias, input, weight.t(loc), loc);  // [N, out_features]
        Shape out_shape = input.shape();
        out_shape.back() = out_features;
        Tensor rows = input.view({input.numel() / in_features, in_features}, loc);  // [prod(*), in_features]
        return addmm(bias, rows, weight.t(loc), loc).view(out_shape, loc);          // [*, out_features]
    }
    Tensor out = matmul(input, weight.t(loc), loc);  // [*, out_features]
    if (bias.defined()) out = add(out, bias, loc);   // bias broadcasts over the batch dims
    return out;
}

}  // namespace xg::nn::functional
