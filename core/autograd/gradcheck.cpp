// gradcheck: compares the gradients backward computes with central finite differences.
//
// For a scalar L(x) = sum(f(x) * w), with w a fixed random weighting of f's outputs (so every
// output element matters and errors cannot cancel out), the numeric gradient is
//     dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
// and must match what backward returns, element by element. float64 keeps the finite
// difference error (~eps^2) far below the tolerance.
#include <cmath>
#include <sstream>

#include "core/autograd/autograd.h"
#include "core/ops.h"

namespace xg::autograd {

namespace {

// Element `flat` (row-major index) of t, as a pointer into its storage.
double* element(const Tensor& t, int64_t flat) {
    int64_t offset = 0;
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
        int64_t size = t.shape()[static_cast<size_t>(d)];
        offset += (flat % size) * t.strides()[static_cast<size_t>(d)];
        flat /= size;
    }
    return t.data_ptr<double>() + offset;
}

// A deterministic weighting in [0.5, 1.5) that does not touch the global generator.
Tensor weights_like(const Tensor& out) {
    std::vector<double> w(static_cast<size_t>(out.numel()));
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (double& v : w) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        v = 0.5 + static_cast<double>(state >> 11) / static_cast<double>(1ull << 53);
    }
    return tensor(w, out.shape(), dtype(kFloat64));
}

}  // namespace

bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
               GradcheckOptions opt, SrcLoc loc) {
    XG_CHECK(!inputs.empty(), loc, "gradcheck: no inputs given");
    for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& x = inputs[i];
        XG_CHECK(x.defined() && x.dtype() == kFloat64, loc,
                 "gradcheck: input " << i << " must be a float64 tensor (finite differences in float32 are too noisy)");
        XG_CHECK(x.is_leaf() && x.requires_grad(), loc, "gradcheck: input " << i << " must be a leaf that requires grad");
    }

    // Analytic: one backward of L = sum(f(x) * w).
    Tensor out = f(inputs);
    XG_CHECK(out.defined() && out.dtype() == kFloat64, loc, "gradcheck: f must return a float64 tensor");
    Tensor w = weights_like(out);
    XG_CHECK(out.requires_grad(), loc, "gradcheck: the output of f does not require grad (no path to the inputs)");
    std::vector<Tensor> analytic = grad({sum(mul(out, w))}, inputs, {}, /*retain_graph=*/false, loc);

    // Numeric: two evaluations per input element, without recording graphs.
    auto L = [&] {
        NoGradGuard no_grad;
        return sum(mul(f(inputs), w)).item();
    };
    for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& x = inputs[i];
        std::vector<double> a = analytic[i].defined() ? analytic[i].to_vector<double>()
                                                      : std::vector<double>(static_cast<size_t>(x.numel()), 0.0);
        for (int64_t j = 0; j < x.numel(); ++j) {
            double* p = element(x, j);
            double orig = *p;
            *p = orig + opt.eps;
            double plus = L();
            *p = orig - opt.eps;
            double minus = L();
            *p = orig;
            double numeric = (plus - minus) / (2 * opt.eps);
            double analytic_j = a[static_cast<size_t>(j)];
            if (!(std::abs(analytic_j - numeric) <= opt.atol + opt.rtol * std::abs(numeric))) {
                std::ostringstream os;
                os << "gradcheck: Jacobian mismatch for input " << i << " (shape " << x.shape() << ") at element " << j
                   << ": backward gives " << analytic_j << ", finite differences give " << numeric
                   << " (output grad_fn=" << (out.grad_fn() ? out.grad_fn()->name() : "none") << ")";
                throw_error(os.str(), loc);
            }
        }
    }
    return true;
}

}  // namespace xg::autograd
