#include "nn/modules/activation.h"

#include "nn/functional.h"

namespace xg::nn {

namespace F = functional;

Tensor ReLU::operator()(const Tensor& input, SrcLoc loc) { return F::relu(input, loc); }
Tensor ReLU::forward(const Tensor& input) { return F::relu(input); }

GELU::GELU(std::string approximate_in, SrcLoc loc) : approximate(std::move(approximate_in)) {
    XG_CHECK(approximate == "none" || approximate == "tanh", loc,
             "GELU: approximate must be \"none\" or \"tanh\", got \"" << approximate << "\"");
}

Tensor GELU::operator()(const Tensor& input, SrcLoc loc) { return F::gelu(input, approximate, loc); }
Tensor GELU::forward(const Tensor& input) { return F::gelu(input, approximate); }

}  // namespace xg::nn
