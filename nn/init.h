#pragma once
// nn::init: the weight initializations of torch.nn.init, with PyTorch's formulas.
//
// Every function fills its tensor in place and returns it (the argument is a const handle:
// a Tensor refers to its data, as in libtorch). The version counter moves, as for any in-place
// op. They run under NoGradGuard (an initialization is not part of any graph) and draw from
// xg's global generator: after xg::manual_seed(s), uniform_ and normal_ draw the same numbers
// as torch.manual_seed(s) followed by PyTorch's uniform_ / normal_ on a contiguous tensor.
#include <optional>
#include <string>
#include <utility>

#include "core/tensor.h"

namespace xg::nn::init {

// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain):
//   linear, conv*, sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);  leaky_relu: sqrt(2 / (1 + slope^2))
//   (slope = param, default 0.01);  selu: 3/4.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt,
                     SrcLoc loc = SrcLoc::current());

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where the receptive
// field is the product of the dims after the first two (kh * kw for a conv weight). A Linear
// weight [out, in] has fan_in = in, fan_out = out.
struct Fans {
    int64_t fan_in = 0, fan_out = 0;
};
Fans _calculate_fan_in_and_fan_out(const Tensor& tensor, SrcLoc loc = SrcLoc::current());

Tensor uniform_(const Tensor& tensor, double a = 0.0, double b = 1.0, SrcLoc loc = SrcLoc::current());
Tensor normal_(const Tensor& tensor, double mean = 0.0, double std = 1.0, SrcLoc loc = SrcLoc::current());
// Normal(mean, std) restricted to [a, b], drawn by inverting the normal CDF on a uniform
// sample of [cdf(a), cdf(b)] (PyTorch's method).
Tensor trunc_normal_(const Tensor& tensor, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                     SrcLoc loc = SrcLoc::current());
Tensor constant_(const Tensor& tensor, double value, SrcLoc loc = SrcLoc::current());
Tensor zeros_(const Tensor& tensor, SrcLoc loc = SrcLoc::current());
Tensor ones_(const Tensor& tensor, SrcLoc loc = SrcLoc::current());

// Glorot: keeps the activation variance the same forwards and backwards.
//   uniform(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out));  normal std = gain * sqrt(2 / (fan_in + fan_out))
Tensor xavier_uniform_(const Tensor& tensor, double gain = 1.0, SrcLoc loc = SrcLoc::current());
Tensor xavier_normal_(const Tensor& tensor, double gain = 1.0, SrcLoc loc = SrcLoc::current());

// He: std = gain / sqrt(fan), fan = fan_in or fan_out (mode), gain = calculate_gain(nonlinearity, a).
//   uniform(-bound, bound) with bound = sqrt(3) * std;  normal(0, std)
// nn.Linear and nn.Conv2d use kaiming_uniform_(weight, a = sqrt(5)), which makes bound = 1 / sqrt(fan_in).
Tensor kaiming_uniform_(const Tensor& tensor, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", SrcLoc loc = SrcLoc::current());
Tensor kaiming_normal_(const Tensor& tensor, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu", SrcLoc loc = SrcLoc::current());

}  // namespace xg::nn::init
