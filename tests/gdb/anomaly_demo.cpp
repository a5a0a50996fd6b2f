// Anomaly mode (docs/debugging.md): a NaN gradient traced back to the op and the line that made it.
//
// A hand-written cross-entropy, -log(softmax(logits)[label]), is fine until the label's logit is
// far below the others: its probability underflows to exactly 0 in float32, log(0) = -inf, and
// the backward of log divides by that 0. The gradient turns into inf and nan on its way back to
// the weights, and nothing says where it started. With xg::autograd::detect_anomaly(true),
// backward stops at the first non-finite gradient and names the node (LogBackward0) and the line
// of this file that created it. The cure is log_softmax, which never forms the 0.
//
// Run:  ./build/dev/tests/gdb/anomaly_demo          (CTest gdb/anomaly_demo checks its output)
#include <cmath>
#include <iostream>

#include "xgrad.h"

using xg::Tensor;

namespace {

// loss = -log(softmax(logits)[label]) for one sample: the textbook formula, not the stable one.
Tensor naive_cross_entropy(const Tensor& logits, int64_t label) {
    Tensor probs = logits.softmax(-1);  // [num_classes]; exp(-180) is 0 in float32
    Tensor log_probs = probs.log();     // log(0) = -inf, and its backward g / probs divides by 0
    return -log_probs[label];
}

// The same loss, computed stably: log_softmax(x) = x - max - log(sum(exp(x - max))).
Tensor stable_cross_entropy(const Tensor& logits, int64_t label) {
    return -logits.log_softmax(-1)[label];
}

bool all_finite(const Tensor& t) {
    for (double v : t.to_vector<double>())
        if (!std::isfinite(v)) return false;
    return true;
}

}  // namespace

int main() {
    // A sure model: the logits 120, 0 and -60 say "class 0"; the label says class 2.
    const int64_t label = 2;
    Tensor w = xg::tensor({2.0, 0.0, -1.0}, xg::requires_grad()).set_name("w");

    // 1. Without anomaly mode: the loss is inf and w.grad is silently nan.
    Tensor loss = naive_cross_entropy(w * 60.0, label);
    loss.backward();
    std::cout << "naive loss = " << loss << "\n";
    std::cout << "w.grad = " << w.grad() << "   (nan, and no word about where it came from)\n";

    // 2. With anomaly mode: backward stops at the first inf and names the op and its line.
    xg::autograd::detect_anomaly(true);
    w.set_grad(Tensor());
    bool caught = false;
    try {
        naive_cross_entropy(w * 60.0, label).backward();
    } catch (const xg::Error& e) {
        caught = true;
        std::cout << "xg::Error: " << e.what() << "\n";
    }

    // 3. The fix: log_softmax. Same loss in exact arithmetic, finite in float32.
    w.set_grad(Tensor());
    Tensor stable = stable_cross_entropy(w * 60.0, label);
    stable.backward();
    xg::autograd::detect_anomaly(false);
    std::cout << "stable loss = " << stable << "\n";
    std::cout << "w.grad = " << w.grad() << "\n";

    const bool ok = caught && !all_finite(loss) && all_finite(stable) && all_finite(w.grad());
    std::cout << (ok ? "anomaly mode found the bad op: yes" : "anomaly mode found the bad op: NO") << "\n";
    return ok ? 0 : 1;
}
