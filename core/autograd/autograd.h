#pragma once
// The public autograd API beyond Tensor::backward(): anomaly mode, graph export, gradcheck.
#include <functional>
#include <string>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/tensor.h"

namespace xg::autograd {

// Computes d(outputs)/d(inputs) weighted by grad_outputs, returning the gradients instead of
// accumulating them into .grad (torch.autograd.grad). Undefined where an input is unreachable.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         SrcLoc loc = SrcLoc::current());

// Anomaly mode: backward checks every gradient for NaN/Inf and names the op and the source
// line that created it (torch.autograd.set_detect_anomaly).
void detect_anomaly(bool enabled);
bool is_anomaly_enabled();

// The graph that produced `root` as Graphviz DOT: one box per op (name, output shape, source
// line), one ellipse per leaf (name or shape). Render with `dot -Tpng graph.dot -o graph.png`.
std::string to_dot(const Tensor& root);

// Checks backward against central finite differences in float64:
//   numeric d(sum(f(x) * w))/dx_i = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)
// with a fixed random weighting w of the outputs. All inputs must be float64 leaves that
// require grad. Returns true when every |analytic - numeric| <= atol + rtol * |numeric|;
// on failure throws xg::Error naming the input, the element and both values.
struct GradcheckOptions {
    double eps = 1e-6;
    double atol = 1e-5;
    double rtol = 1e-3;
};
bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
               const std::vector<Tensor>& inputs, GradcheckOptions options = {},
               SrcLoc loc = SrcLoc::current());

}  // namespace xg::autograd
