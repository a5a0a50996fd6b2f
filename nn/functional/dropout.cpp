// F::dropout: zero random elements while training, scaling the survivors.
#include <memory>

#include "core/autograd/node.h"
#include "core/parallel.h"
#include "core/storage.h"
#include "nn/functional.h"
#include "nn/functional/dropout_mask.h"

namespace xg::nn::functional {

namespace detail {

DropoutMask::DropoutMask(int64_t n, double p)
    : keep_(std::make_shared<Storage>(static_cast<size_t>(n > 0 ? n : 1))), n_(n), p_(p) {
    xg::detail::bernoulli_bytes(static_cast<uint8_t*>(keep_->data()), n, 1.0 - p);
}

Tensor DropoutMask::apply(const Tensor& x_in) const {
    Tensor x = x_in.is_contiguous() ? x_in.detach() : x_in.detach().contiguous();
    Tensor out = xg::detail::make_empty(x.shape(), x.dtype());
    XG_DISPATCH_FLOAT(x.dtype(), T, [&] {
        const T* in = x.data_ptr<T>();
        T* o = out.data_ptr<T>();
        parallel::parallel_for(n_, 4, [&](int64_t begin, int64_t end) { apply(in + begin, o + begin, begin, end - begin); });
    });
    return out;
}

}  // namespace detail

// y = x * mask / (1 - p),  mask ~ Bernoulli(1 - p)   =>   dL/dx = g * mask / (1 - p)
//
// Why scale by 1 / (1 - p): each element survives with probability 1 - p, so E[y] = x and the
// next layer sees activations of the same size in training and in eval (where dropout is the
// identity).
//
// PyTorch 1.13 on the CPU does this in three tensor ops (noise = empty_like(x).bernoulli_(1 - p);
// noise.div_(1 - p); x * noise, grad_fn MulBackward0) and keeps the float noise tensor for the
// backward. We do it as one fused op, as PyTorch's GPU path does (torch.native_dropout, grad_fn
// NativeDropoutBackward0): one pass that draws the mask, one that writes y, and the mask kept
// as one byte per element, a quarter of a float mask. In a ViT training step those masks are
// most of the memory dropout holds for the backward (fmnist_train: ~130 MB of a ~700 MB peak).
// The numbers do not change: the draws are the ones bernoulli_(1 - p) makes from the same
// generator, and each kept element is multiplied by the same float 1/(1-p) (dropped ones by 0,
// so a NaN stays NaN as in x * noise), forward and backward.
Tensor dropout(const Tensor& input, double p, bool training, SrcLoc loc) {
    XG_CHECK(input.defined(), loc, "dropout: the input tensor is undefined");
    XG_CHECK(p >= 0.0 && p <= 1.0, loc, "dropout: dropout probability has to be between 0 and 1, but got " << p);
    XG_CHECK(is_floating(input.dtype()), loc,
             "dropout: expects a floating point input, got " << dtype_name(input.dtype()));
    if (!training || p == 0.0) return input;
    if (p == 1.0) return mul(input, zeros({}, dtype(input.dtype())), loc);  // everything dropped, still in the graph
    // The mask is drawn from xg's global generator, so manual_seed makes it reproducible. It
    // lives in a Storage (the caching allocator's memory) owned by the backward closure.
    detail::DropoutMask mask(input.numel(), p);
    Tensor out = mask.apply(input);
    if (autograd::needs_grad({&input}))
        autograd::attach(out, "NativeDropoutBackward0", loc, {input},
                         [mask](const Tensor& g) -> std::vector<Tensor> { return {mask.apply(g)}; });
    return out;
}

}  // namespace xg::nn::functional
