#include "nn/modules/loss.h"

#include "nn/functional.h"

namespace xg::nn {

namespace F = functional;

namespace {
void check_reduction(const char* module, const std::string& reduction, const SrcLoc& loc) {
    XG_CHECK(reduction == "mean" || reduction == "sum" || reduction == "none", loc,
             module << ": reduction must be \"mean\", \"sum\" or \"none\", got \"" << reduction << "\"");
}
}  // namespace

CrossEntropyLoss::CrossEntropyLoss(int64_t ignore_index, std::string reduction, double label_smoothing, SrcLoc loc)
    : CrossEntropyLoss(CrossEntropyLossOptions{Tensor(), ignore_index, std::move(reduction), label_smoothing}, loc) {}

CrossEntropyLoss::CrossEntropyLoss(CrossEntropyLossOptions o, SrcLoc loc)
    : weight(o.weight), ignore_index(o.ignore_index), reduction(std::move(o.reduction)), label_smoothing(o.label_smoothing) {
    check_reduction("CrossEntropyLoss", reduction, loc);
    XG_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, loc,
             "CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got " << label_smoothing);
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target, SrcLoc loc) {
    return F::cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing, loc);
}
Tensor CrossEntropyLoss::operator()(const Tensor& input, const Tensor& target, SrcLoc loc) {
    return forward(input, target, loc);
}

MSELoss::MSELoss(std::string reduction_in, SrcLoc loc) : reduction(std::move(reduction_in)) {
    check_reduction("MSELoss", reduction, loc);
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target, SrcLoc loc) {
    return F::mse_loss(input, target, reduction, loc);
}
Tensor MSELoss::operator()(const Tensor& input, const Tensor& target, SrcLoc loc) {
    return forward(input, target, loc);
}

}  // namespace xg::nn
