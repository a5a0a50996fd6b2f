#pragma once
// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (PyTorch 1.13).
//
//   PyTorch:  total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
//   xgrad:    Tensor total = xg::nn::optim::clip_grad_norm_(model->parameters(), 1.0);
//
// clip_grad_norm_: total_norm = || (||g_1||_p, ..., ||g_k||_p) ||_p  over the parameters that
// have a gradient (max |g| for p = inf); every gradient is then multiplied in place by
//   clip_coef = min(max_norm / (total_norm + 1e-6), 1)
// and total_norm (before clipping, a 0-d tensor of the gradients' dtype) is returned.
// clip_grad_value_: every gradient element is clamped to [-clip_value, clip_value].
#include <limits>
#include <vector>

#include "core/tensor.h"

namespace xg::nn::optim {

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false, SrcLoc loc = SrcLoc::current());

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value, SrcLoc loc = SrcLoc::current());

inline constexpr double inf = std::numeric_limits<double>::infinity();  // norm_type for the max norm

}  // namespace xg::nn::optim
