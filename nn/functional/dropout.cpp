// F::dropout: zero random elements while training, scaling the survivors.
#include "nn/functional.h"

namespace xg::nn::functional {

// y = x * mask / (1 - p),  mask ~ Bernoulli(1 - p)   =>   dL/dx = g * mask / (1 - p)
//
// Why scale by 1 / (1 - p): each element survives with probability 1 - p, so E[y] = x and the
// next layer sees activations of the same size in training and in eval (where dropout is the
// identity). This is PyTorch's own recipe (noise.bernoulli_(1 - p); noise.div_(1 - p);
// input * noise), so the backward is the multiply's (core/ops/binary_ops.cpp), grad_fn
// MulBackward0 as in PyTorch, with the scaled mask as the saved factor.
Tensor dropout(const Tensor& input, double p, bool training, SrcLoc loc) {
    XG_CHECK(input.defined(), loc, "dropout: the input tensor is undefined");
    XG_CHECK(p >= 0.0 && p <= 1.0, loc, "dropout: dropout probability has to be between 0 and 1, but got " << p);
    XG_CHECK(is_floating(input.dtype()), loc,
             "dropout: expects a floating point input, got " << dtype_name(input.dtype()));
    if (!training || p == 0.0) return input;
    if (p == 1.0) return mul(input, zeros({}, dtype(input.dtype())), loc);  // everything dropped, still in the graph
    // The mask is drawn from xg's global generator, so manual_seed makes it reproducible.
    Tensor noise = bernoulli(input.shape(), 1.0 - p, dtype(input.dtype()), loc);
    noise.div_(1.0 - p, loc);
    return mul(input, noise, loc);
}

}  // namespace xg::nn::functional
