// F::relu, F::gelu, F::softmax, F::log_softmax: names in F:: as in torch.nn.functional.
// The fused forward/backward kernels are core's (core/ops/unary_ops.cpp, core/ops/softmax.cpp):
// the same math serves Tensor methods, free functions and these.
#include "nn/functional.h"

namespace xg::nn::functional {

// y = max(x, 0)   =>   dL/dx = g where y > 0   (core/ops/unary_ops.cpp)
Tensor relu(const Tensor& input, SrcLoc loc) { return xg::relu(input, loc); }

// y = x * Phi(x) ("none") or its tanh approximation ("tanh")   (core/ops/unary_ops.cpp)
Tensor gelu(const Tensor& input, const std::string& approximate, SrcLoc loc) {
    return xg::gelu(input, approximate, loc);
}

// y = e^x / sum(e^x) along dim   =>   dL/dx = y * (g - sum(g * y))   (core/ops/softmax.cpp)
Tensor softmax(const Tensor& input, int64_t dim, SrcLoc loc) { return xg::softmax(input, dim, loc); }

// y = x - log(sum(e^x)) along dim   =>   dL/dx = g - softmax(x) * sum(g)   (core/ops/softmax.cpp)
Tensor log_softmax(const Tensor& input, int64_t dim, SrcLoc loc) { return xg::log_softmax(input, dim, loc); }

}  // namespace xg::nn::functional
