#include "nn/modules/dropout.h"

#include "nn/functional.h"

namespace xg::nn {

namespace F = functional;

Dropout::Dropout(double p, SrcLoc loc) : p(p) {
    XG_CHECK(p >= 0.0 && p <= 1.0, loc, "Dropout: dropout probability has to be between 0 and 1, but got " << p);
}

Tensor Dropout::operator()(const Tensor& input, SrcLoc loc) { return F::dropout(input, p, is_training(), loc); }
Tensor Dropout::forward(const Tensor& input) { return F::dropout(input, p, is_training()); }

std::string Dropout::extra_repr() const { return "p=" + py_float(p) + ", inplace=False"; }

}  // namespace xg::nn
