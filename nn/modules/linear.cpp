#include "nn/modules/linear.h"

#include <cmath>

#include "core/ops.h"
#include "nn/functional.h"
#include "nn/init.h"

namespace xg::nn {

namespace F = functional;

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, SrcLoc loc)
    : in_features(in_features), out_features(out_features) {
    XG_CHECK(in_features >= 0 && out_features >= 0, loc,
             "Linear: in_features and out_features must be non-negative, got " << in_features << " and " << out_features);
    weight = empty({out_features, in_features}, requires_grad());
    if (bias) this->bias = empty({out_features}, requires_grad());
    reset_parameters();
}

void Linear::reset_parameters() {
    init::kaiming_uniform_(weight, std::sqrt(5.0));
    if (bias.defined()) {
        const int64_t fan_in = in_features;
        const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
        init::uniform_(bias, -bound, bound);
    }
}

Tensor Linear::operator()(const Tensor& input, SrcLoc loc) { return F::linear(input, weight, bias, loc); }
Tensor Linear::forward(const Tensor& input) { return F::linear(input, weight, bias); }

std::string Linear::extra_repr() const {
    return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
           ", bias=" + py_bool(bias.defined());
}

void Linear::visit(Visitor& v) {
    v.parameter("weight", weight);
    v.parameter("bias", bias);
}

}  // namespace xg::nn
