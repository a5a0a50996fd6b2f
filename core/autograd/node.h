#pragma once
// A node of the autograd graph: the `grad_fn` of a tensor made by a differentiable op.
//
//   y = a * b          creates   MulBackward0 { inputs: [a's node, b's node],
//                                               backward: g -> [g * b, g * a] }
//
// The node knows its PyTorch-like name, the user's source line that ran the op, one edge per
// input (nullptr where that input needs no gradient), and a closure with the op's backward.
// It never holds its own output tensor (saved tensors are detached), so graphs have no
// reference cycles and are freed when the last tensor using them goes away.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace xg::autograd {

class Node {
  public:
    // grads_for_inputs = backward(grad_of_output)
    using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad)>;

    Node(std::string name, SrcLoc loc) : name_(std::move(name)), loc_(loc) {}
    virtual ~Node();  // iterative: freeing a 10,000-node chain must not recurse 10,000 deep
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    const std::string& name() const { return name_; }
    const SrcLoc& loc() const { return loc_; }
    uint64_t sequence_nr() const { return sequence_nr_; }

    // One per input of the op, in order; nullptr where the input does not require grad.
    const std::vector<std::shared_ptr<Node>>& next_functions() const { return next_; }
    // Shapes and dtypes of the op's inputs: the gradient for input i must match input_meta(i).
    struct InputMeta { Shape shape; DType dtype; };
    const std::vector<InputMeta>& input_meta() const { return inputs_; }
    // Shape of the op's output (the gradient this node receives).
    const Shape& output_shape() const { return out_shape_; }
    DType output_dtype() const { return out_dtype_; }

    // Runs the backward closure. The engine calls this; a learner puts a breakpoint in the
    // op's lambda (e.g. in core/ops/matmul.cpp) to stop in one op's backward.
    virtual std::vector<Tensor> apply(const Tensor& grad);
    // Drops the closure and with it the saved tensors (done by backward unless retain_graph).
    virtual void release();
    bool released() const { return released_; }

    // A non-leaf output that called retain_grad(): backward stores its gradient there too.
    void retain_grad_of(const std::shared_ptr<TensorImpl>& output) { retained_output_ = output; }
    std::shared_ptr<TensorImpl> retained_output() const { return retained_output_.lock(); }

  protected:
    friend void attach(Tensor&, const char*, const SrcLoc&, const std::vector<Tensor>&, BackwardFn);
    std::string name_;
    SrcLoc loc_;
    uint64_t sequence_nr_ = 0;
    std::vector<std::shared_ptr<Node>> next_;
    std::vector<InputMeta> inputs_;
    Shape out_shape_;
    DType out_dtype_ = DType::Float32;
    BackwardFn backward_;
    bool released_ = false;
    std::weak_ptr<TensorImpl> retained_output_;
};

// The sink of a leaf tensor (requires_grad set by the user): adds incoming gradients to .grad.
class AccumulateGrad final : public Node {
  public:
    explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf);
    std::vector<Tensor> apply(const Tensor& grad) override;
    void release() override {}  // nothing saved; a leaf can receive gradients many times
    std::shared_ptr<TensorImpl> leaf() const { return leaf_.lock(); }

  private:
    std::weak_ptr<TensorImpl> leaf_;  // weak: the leaf caches this node, so no cycle
};

// A tensor saved for backward. It is detached (no grad_fn, so no cycle back to the node that
// saved it) and remembers the storage version; get() refuses it if an in-place op changed it.
class SavedTensor {
  public:
    SavedTensor() = default;
    explicit SavedTensor(const Tensor& t);
    const Tensor& get() const;  // throws xg::Error when modified in place since saving
    bool defined() const { return data_.defined(); }

  private:
    Tensor data_;
    uint64_t version_ = 0;
};

// ---- helpers for writing an op ---------------------------------------------------------

// Grad mode is on (no NoGradGuard active) and at least one input requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Makes `out` the result of a differentiable op: creates the node `name` at `loc` with one
// edge per input and the given backward, and sets out.grad_fn. Call only when needs_grad().
void attach(Tensor& out, const char* name, const SrcLoc& loc, const std::vector<Tensor>& inputs,
            Node::BackwardFn backward);

// The node that receives the gradient of `t`: its grad_fn, or its leaf's AccumulateGrad
// (created once and cached), or nullptr if t does not require grad.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

}  // namespace xg::autograd
