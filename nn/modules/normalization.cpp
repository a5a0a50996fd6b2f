#include "nn/modules/normalization.h"

#include "core/ops.h"
#include "nn/functional.h"
#include "nn/init.h"

namespace xg::nn {

namespace F = functional;

LayerNorm::LayerNorm(Shape normalized_shape_in, double eps, bool elementwise_affine, SrcLoc loc)
    : normalized_shape(std::move(normalized_shape_in)), eps(eps), elementwise_affine(elementwise_affine) {
    XG_CHECK(!normalized_shape.empty(), loc, "LayerNorm: normalized_shape must have at least one dim");
    for (int64_t s : normalized_shape)
        XG_CHECK(s > 0, loc, "LayerNorm: normalized_shape must be positive, got " << shape_str(normalized_shape));
    if (elementwise_affine) {
        weight = empty(normalized_shape, requires_grad());
        bias = empty(normalized_shape, requires_grad());
    }
    reset_parameters();
}

LayerNorm::LayerNorm(int64_t normalized_shape, double eps, bool elementwise_affine, SrcLoc loc)
    : LayerNorm(Shape{normalized_shape}, eps, elementwise_affine, loc) {}

void LayerNorm::reset_parameters() {
    if (!elementwise_affine) return;
    init::ones_(weight);
    init::zeros_(bias);
}

Tensor LayerNorm::operator()(const Tensor& input, SrcLoc loc) {
    return F::layer_norm(input, normalized_shape, weight, bias, eps, loc);
}
Tensor LayerNorm::forward(const Tensor& input) { return F::layer_norm(input, normalized_shape, weight, bias, eps); }

std::string LayerNorm::extra_repr() const {
    // normalized_shape prints as the Python tuple PyTorch stores: (8,) or (2, 3)
    std::string shape = "(";
    for (size_t i = 0; i < normalized_shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(normalized_shape[i]);
    shape += normalized_shape.size() == 1 ? ",)" : ")";
    return shape + ", eps=" + py_float(eps) + ", elementwise_affine=" + py_bool(elementwise_affine);
}

void LayerNorm::visit(Visitor& v) {
    v.parameter("weight", weight);
    v.parameter("bias", bias);
}

}  // namespace xg::nn
