#include "nn/modules/conv.h"

#include <cmath>

#include "core/ops.h"
#include "nn/init.h"

namespace xg::nn {

namespace F = functional;

namespace {
// Conv2d stores every size as a pair, so it prints as a tuple even when given as one int.
F::IntPair as_pair(F::IntPair p) { return F::IntPair(p.h, p.w); }
}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, F::IntPair kernel_size, F::IntPair stride,
               F::IntPair padding, F::IntPair dilation, bool bias, SrcLoc loc)
    : in_channels(in_channels), out_channels(out_channels), kernel_size(as_pair(kernel_size)), stride(as_pair(stride)),
      padding(as_pair(padding)), dilation(as_pair(dilation)) {
    XG_CHECK(in_channels > 0 && out_channels > 0, loc,
             "Conv2d: in_channels and out_channels must be positive, got " << in_channels << " and " << out_channels);
    XG_CHECK(kernel_size.h > 0 && kernel_size.w > 0, loc, "Conv2d: kernel_size must be positive, got " << this->kernel_size.str());
    XG_CHECK(stride.h > 0 && stride.w > 0, loc, "Conv2d: stride must be positive, got " << this->stride.str());
    XG_CHECK(padding.h >= 0 && padding.w >= 0, loc, "Conv2d: negative padding is not supported, got " << this->padding.str());
    XG_CHECK(dilation.h > 0 && dilation.w > 0, loc, "Conv2d: dilation must be positive, got " << this->dilation.str());
    weight = empty({out_channels, in_channels, kernel_size.h, kernel_size.w}, requires_grad());
    if (bias) this->bias = empty({out_channels}, requires_grad());
    reset_parameters();
}

void Conv2d::reset_parameters() {
    init::kaiming_uniform_(weight, std::sqrt(5.0));
    if (bias.defined()) {
        const int64_t fan_in = init::_calculate_fan_in_and_fan_out(weight).fan_in;
        const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
        init::uniform_(bias, -bound, bound);
    }
}

Tensor Conv2d::operator()(const Tensor& input, SrcLoc loc) {
    return F::conv2d(input, weight, bias, stride, padding, dilation, loc);
}
Tensor Conv2d::forward(const Tensor& input) { return F::conv2d(input, weight, bias, stride, padding, dilation); }

// PyTorch's: padding and dilation only when not the default, bias only when absent.
std::string Conv2d::extra_repr() const {
    std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                    ", kernel_size=" + kernel_size.str() + ", stride=" + stride.str();
    if (!(padding == F::IntPair(0, 0))) s += ", padding=" + padding.str();
    if (!(dilation == F::IntPair(1, 1))) s += ", dilation=" + dilation.str();
    if (!bias.defined()) s += ", bias=False";
    return s;
}

void Conv2d::visit(Visitor& v) {
    v.parameter("weight", weight);
    v.parameter("bias", bias);
}

}  // namespace xg::nn
