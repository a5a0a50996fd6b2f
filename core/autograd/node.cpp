// Graph nodes, saved tensors, and the helpers every differentiable op uses to record itself.
#include "core/autograd/node.h"

#include <atomic>

#include "core/autograd/grad_mode.h"
#include "core/ops.h"

namespace xg::autograd {

namespace {
std::atomic<uint64_t> next_sequence_nr{0};  // creation order, shown by to_dot
}

Node::~Node() {
    // Destroying a node drops its edges, which may destroy the next node, and so on down the
    // chain: done naively that recursion is as deep as the graph. Instead, take over the
    // edges of every node that is about to die with us and free them in a loop.
    std::vector<std::shared_ptr<Node>> stack = std::move(next_);
    while (!stack.empty()) {
        std::shared_ptr<Node> n = std::move(stack.back());
        stack.pop_back();
        if (n && n.use_count() == 1) {
            for (auto& e : n->next_) stack.push_back(std::move(e));
            n->next_.clear();
        }
        // n is freed here with no edges left to recurse into.
    }
}

std::vector<Tensor> Node::apply(const Tensor& grad) { return backward_(grad); }

void Node::release() {
    backward_ = nullptr;  // frees the saved tensors the closure captured
    released_ = true;
}

AccumulateGrad::AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf)
    : Node("AccumulateGrad", SrcLoc::current()), leaf_(leaf) {
    inputs_.push_back({leaf->shape, leaf->dtype});
    out_shape_ = leaf->shape;
    out_dtype_ = leaf->dtype;
}

// leaf.grad += grad. The first gradient becomes .grad: taken over as it is when nothing else
// can see it (a fresh contiguous tensor that only the engine holds, as the gradient of a matmul
// or of a sum is), else copied, so .grad never aliases another tensor. (Copying every first
// gradient was ~9% of a small model's training step.)
std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad) {
    std::shared_ptr<TensorImpl> leaf = leaf_.lock();
    if (!leaf) return {};
    if (!leaf->grad) {
        // Keep the incoming gradient itself when nothing else can see it: no other tensor holds
        // it or its memory, it is contiguous and uses all of that memory (a view counts too, e.g.
        // the transpose of a weight gradient matmul built in the weight's layout). Otherwise a
        // copy, so that accumulating into .grad later never changes someone else's tensor.
        TensorImpl& g = *grad.impl();
        const bool only_holder = grad.impl_ptr().use_count() == 1 && g.storage.use_count() == 1 && g.offset == 0 &&
                                 g.grad_fn == nullptr && grad.is_contiguous() &&
                                 g.storage->nbytes() == static_cast<size_t>(grad.numel()) * itemsize(grad.dtype());
        if (only_holder) g.is_view = false;  // its own tensor now
        leaf->grad = only_holder ? grad.impl_ptr() : grad.clone().impl_ptr();
    } else {
        Tensor(leaf->grad).add_(grad);
    }
    return {};
}

SavedTensor::SavedTensor(const Tensor& t) : data_(t.defined() ? t.detach() : Tensor()) {
    if (t.defined()) version_ = t._version();
}

const Tensor& SavedTensor::get() const {
    if (data_.defined() && data_._version() != version_) {
        throw Error("one of the variables needed for gradient computation has been modified by an inplace "
                    "operation: a tensor of shape " + shape_str(data_.shape()) + " is at version " +
                    std::to_string(data_._version()) + "; expected version " + std::to_string(version_) +
                    " instead");
    }
    return data_;
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
    if (!GradMode::is_enabled()) return false;
    for (const Tensor* t : inputs)
        if (t->defined() && t->requires_grad()) return true;
    return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
    if (!GradMode::is_enabled()) return false;
    for (const Tensor& t : inputs)
        if (t.defined() && t.requires_grad()) return true;
    return false;
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
    if (!t.defined() || !t.requires_grad()) return nullptr;
    if (t.grad_fn()) return t.grad_fn();
    // A leaf: one AccumulateGrad per leaf, shared by every op that uses it.
    TensorImpl* impl = t.impl();
    if (auto acc = impl->grad_accumulator.lock()) return acc;
    auto acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl->grad_accumulator = acc;
    return acc;
}

void attach(Tensor& out, const char* name, const SrcLoc& loc, const std::vector<Tensor>& inputs,
            Node::BackwardFn backward) {
    auto node = std::make_shared<Node>(name, loc);
    node->sequence_nr_ = next_sequence_nr++;
    node->next_.reserve(inputs.size());
    node->inputs_.reserve(inputs.size());
    for (const Tensor& in : inputs) {
        node->next_.push_back(gradient_edge(in));
        node->inputs_.push_back(in.defined() ? Node::InputMeta{in.shape(), in.dtype()}
                                             : Node::InputMeta{{}, DType::Float32});
    }
    node->out_shape_ = out.shape();
    node->out_dtype_ = out.dtype();
    node->backward_ = std::move(backward);
    out.impl()->grad_fn = std::move(node);
    out.impl()->requires_grad = false;  // derived from grad_fn from now on
}

}  // namespace xg::autograd
