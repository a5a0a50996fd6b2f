#include "nn/modules/fold.h"

namespace xg::nn {

namespace F = functional;

Unfold::Unfold(F::IntPair kernel_size, F::IntPair dilation, F::IntPair padding, F::IntPair stride)
    : kernel_size(kernel_size), dilation(dilation), padding(padding), stride(stride) {}

Tensor Unfold::operator()(const Tensor& input, SrcLoc loc) {
    return F::unfold(input, kernel_size, dilation, padding, stride, loc);
}
Tensor Unfold::forward(const Tensor& input) { return F::unfold(input, kernel_size, dilation, padding, stride); }

// Printed as given: kernel_size=2 or kernel_size=(2, 3), as PyTorch stores the argument.
std::string Unfold::extra_repr() const {
    return "kernel_size=" + kernel_size.str() + ", dilation=" + dilation.str() + ", padding=" + padding.str() +
           ", stride=" + stride.str();
}

Fold::Fold(F::IntPair output_size, F::IntPair kernel_size, F::IntPair dilation, F::IntPair padding, F::IntPair stride)
    : output_size(output_size), kernel_size(kernel_size), dilation(dilation), padding(padding), stride(stride) {}

Tensor Fold::operator()(const Tensor& input, SrcLoc loc) {
    return F::fold(input, output_size, kernel_size, dilation, padding, stride, loc);
}
Tensor Fold::forward(const Tensor& input) { return F::fold(input, output_size, kernel_size, dilation, padding, stride); }

std::string Fold::extra_repr() const {
    return "output_size=" + output_size.str() + ", kernel_size=" + kernel_size.str() + ", dilation=" + dilation.str() +
           ", padding=" + padding.str() + ", stride=" + stride.str();
}

}  // namespace xg::nn
