// The backward engine: reverse-mode automatic differentiation over the recorded graph.
//
// loss.backward() does, with no recursion anywhere (a 10,000-op chain is fine):
//   1. walk the graph from loss.grad_fn and count, for every node, how many edges point at it;
//   2. seed loss's gradient (1 for a scalar) and put its node on a ready stack;
//   3. pop a node, call its backward with the sum of the gradients it received, send each
//      input's gradient along its edge, and push a node once all its gradients have arrived;
//   4. leaves (AccumulateGrad) add what they receive into .grad.
// Unless retain_graph is set, each node's saved tensors are freed as soon as it has run.
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/ops.h"

namespace xg::autograd {

namespace {

bool anomaly_enabled = false;

bool has_nonfinite(const Tensor& t) {
    if (!is_floating(t.dtype())) return false;
    for (double v : t.to_vector<double>())
        if (!std::isfinite(v)) return true;
    return false;
}

std::string where(const Node& n) { return n.name() + " (created at " + format_loc(n.loc()) + ")"; }

struct Options {
    bool retain_graph = false;
    bool accumulate_leaves = true;                 // false for autograd::grad()
    std::unordered_map<Node*, Tensor>* captured = nullptr;  // gradients to hand back
};

// What the engine keeps per node during one backward: one hash-map entry per node (a map per
// field allocated four entries per node, a quarter of a small model's backward in malloc).
struct NodeState {
    int64_t deps = 0;             // edges from nodes that have not run yet
    bool seen = false;            // reached by the walk of step 1
    Tensor pending;               // gradient summed so far
    std::shared_ptr<Node> keep;   // keeps the node alive until it has run
};

void run(const std::vector<std::shared_ptr<Node>>& roots, const std::vector<Tensor>& root_grads,
         const Options& opt, const SrcLoc& loc) {
    std::unordered_map<Node*, NodeState> state;
    state.reserve(512);
    // 1. Dependencies: how many edges point at each node reachable from the roots.
    {
        std::vector<Node*> stack;
        for (auto& r : roots) {
            NodeState& st = state[r.get()];
            if (!st.seen) { st.seen = true; stack.push_back(r.get()); }
        }
        while (!stack.empty()) {
            Node* n = stack.back();
            stack.pop_back();
            for (auto& next : n->next_functions()) {
                if (!next) continue;
                NodeState& st = state[next.get()];
                ++st.deps;
                if (!st.seen) { st.seen = true; stack.push_back(next.get()); }
            }
        }
    }

    // 2. Seed.
    std::vector<Node*> ready;
    for (size_t i = 0; i < roots.size(); ++i) {
        Node* r = roots[i].get();
        NodeState& st = state[r];
        st.keep = roots[i];
        st.pending = st.pending.defined() ? add(st.pending, root_grads[i]) : root_grads[i];
        if (st.deps == 0 && std::find(ready.begin(), ready.end(), r) == ready.end()) ready.push_back(r);
    }

    NoGradGuard no_grad;  // backward closures compute gradients, they do not record graphs
    // 3. Run nodes in an order where each one has received all of its gradients.
    while (!ready.empty()) {
        Node* node = ready.back();
        ready.pop_back();
        NodeState& node_state = state[node];
        std::shared_ptr<Node> hold = std::move(node_state.keep);  // may be the last reference
        Tensor grad = std::move(node_state.pending);

        if (grad.defined()) {
            if (auto out = node->retained_output()) {  // retain_grad() on a non-leaf
                Tensor o(out);
                o.set_grad(o.grad().defined() ? add(o.grad(), grad) : grad.clone());
            }
            if (opt.captured) {
                if (auto it = opt.captured->find(node); it != opt.captured->end()) it->second = grad;
            }
        }

        std::vector<Tensor> input_grads;
        bool is_leaf_sink = dynamic_cast<AccumulateGrad*>(node) != nullptr;
        if (grad.defined() && (!is_leaf_sink || opt.accumulate_leaves)) {
            XG_CHECK(!node->released(), loc,
                     "backward: trying to backward through the graph a second time (or to use saved tensors after "
                     "they have been freed): the saved tensors of "
                         << where(*node)
                         << " were freed by the first backward. Pass retain_graph=true to the first backward if "
                            "you need to run it twice");
            try {
                input_grads = node->apply(grad);
            } catch (const Error& e) {
                throw Error(std::string(e.what()) + "\n  in the backward of " + where(*node));
            }
            if (!opt.retain_graph) node->release();
        }

        // 4. Send each input's gradient along its edge.
        const auto& next = node->next_functions();
        for (size_t i = 0; i < next.size(); ++i) {
            Node* nx = next[i].get();
            if (!nx) continue;
            NodeState& st = state[nx];
            if (i < input_grads.size() && input_grads[i].defined()) {
                Tensor g = input_grads[i];
                const auto& meta = node->input_meta()[i];
                if (g.shape() != meta.shape) {
                    throw Error("backward: " + where(*node) + " returned a gradient of shape " + shape_str(g.shape()) +
                                " for its input " + std::to_string(i) + ", which has shape " + shape_str(meta.shape));
                }
                if (g.dtype() != meta.dtype) g = g.to(meta.dtype);
                if (anomaly_enabled && has_nonfinite(g)) {
                    throw Error("backward (anomaly mode): " + where(*node) + " returned nan or inf values in its " +
                                std::to_string(i) + "th output (the gradient for input " + std::to_string(i) +
                                " of shape " + shape_str(meta.shape) + ")");
                }
                st.pending = st.pending.defined() ? add(st.pending, g) : g;
            }
            if (!st.keep) st.keep = next[i];
            if (--st.deps == 0) ready.push_back(nx);
        }
    }
}

}  // namespace

void detect_anomaly(bool enabled) { anomaly_enabled = enabled; }
bool is_anomaly_enabled() { return anomaly_enabled; }

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, SrcLoc loc) {
    XG_CHECK(!outputs.empty(), loc, "autograd::grad: no outputs given");
    XG_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), loc,
             "autograd::grad: got " << grad_outputs.size() << " grad_outputs for " << outputs.size() << " outputs");
    std::vector<std::shared_ptr<Node>> roots;
    std::vector<Tensor> seeds;
    for (size_t i = 0; i < outputs.size(); ++i) {
        const Tensor& o = outputs[i];
        XG_CHECK(o.defined() && o.requires_grad(), loc,
                 "autograd::grad: output " << i << " does not require grad and does not have a grad_fn");
        Tensor seed = grad_outputs.empty() ? Tensor() : grad_outputs[i];
        if (!seed.defined()) {
            XG_CHECK(o.numel() == 1, loc,
                     "autograd::grad: grad can be implicitly created only for scalar outputs (output "
                         << i << " has shape " << o.shape() << ")");
            seed = ones_like(o);
        }
        roots.push_back(gradient_edge(o));
        seeds.push_back(seed);
    }
    std::unordered_map<Node*, Tensor> captured;
    std::vector<Node*> wanted;
    for (size_t i = 0; i < inputs.size(); ++i) {
        XG_CHECK(inputs[i].defined() && inputs[i].requires_grad(), loc,
                 "autograd::grad: input " << i << " does not require grad");
        Node* n = gradient_edge(inputs[i]).get();
        captured[n] = Tensor();
        wanted.push_back(n);
    }
    Options opt;
    opt.retain_graph = retain_graph;
    opt.accumulate_leaves = false;
    opt.captured = &captured;
    run(roots, seeds, opt, loc);
    std::vector<Tensor> result;
    for (Node* n : wanted) result.push_back(captured[n]);
    return result;
}

}  // namespace xg::autograd

namespace xg {

void Tensor::backward(const Tensor& gradient, bool retain_graph, SrcLoc loc) const {
    XG_CHECK(defined(), loc, "backward: the tensor is undefined");
    XG_CHECK(requires_grad(), loc,
             "backward: element 0 of tensors does not require grad and does not have a grad_fn (shape "
                 << shape() << "); did you forget requires_grad() on a leaf, or run under NoGradGuard?");
    Tensor seed = gradient;
    if (!seed.defined()) {
        XG_CHECK(numel() == 1, loc,
                 "backward: grad can be implicitly created only for scalar outputs; this tensor has shape "
                     << shape() << ", so pass a gradient of that shape");
        seed = ones_like(*this);
    } else {
        XG_CHECK(seed.shape() == shape(), loc,
                 "backward: gradient has shape " << seed.shape() << " but the tensor has shape " << shape());
        if (seed.dtype() != dtype()) seed = seed.to(dtype());
    }
    autograd::Options opt;
    opt.retain_graph = retain_graph;
    autograd::run({autograd::gradient_edge(*this)}, {seed.detach()}, opt, loc);
}

}  // namespace xg
