// In-place ops: add_ sub_ mul_ div_ (tensor and scalar), zero_ fill_ copy_.
//
// Each one writes into the tensor's storage and bumps its version counter, so a backward that
// saved this tensor earlier notices (see SavedTensor in core/autograd/node.h).
// Under autograd, `y.add_(x)` on a non-leaf y re-points y.grad_fn at a new AddBackward0 node
// whose first edge is y's old grad_fn: the graph continues as if y = y_old + x. This is what
// makes the source's `token_embedding += position_embedding` differentiable.
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops.h"

namespace xg {

namespace {

void check_inplace(const Tensor& self, const Tensor* other, const char* op, const SrcLoc& loc) {
    XG_CHECK(self.defined(), loc, op << ": the tensor is undefined");
    if (!GradMode::is_enabled()) return;
    bool grad_needed = self.requires_grad() || (other && other->defined() && other->requires_grad());
    if (!grad_needed) return;
    XG_CHECK(!(self.is_leaf() && self.requires_grad()), loc,
             op << ": a leaf Variable that requires grad (shape " << self.shape()
                << ") is being used in an in-place operation; do it under xg::NoGradGuard or on a clone()");
    XG_CHECK(!self.impl()->is_view, loc,
             op << ": in-place operation on a view (shape " << self.shape()
                << ") inside a graph that requires grad is not supported by xgrad; use the out-of-place op instead");
    XG_CHECK(is_floating(self.dtype()), loc, op << ": cannot record an in-place op on an integer tensor");
}

// Writes `value` (computed out of place, same shape as self) into self and bumps its version.
void write_back(Tensor& self, const Tensor& value, const SrcLoc& loc) {
    detail::copy_into(self, value, loc);
    self.impl()->storage->bump_version();
}

// The broadcast result must keep self's shape.
void check_shape(const Tensor& self, const Tensor& other, const char* op, const SrcLoc& loc) {
    Shape s = broadcast_shapes(self.shape(), other.shape(), op, loc);
    XG_CHECK(s == self.shape(), loc,
             op << ": output with shape " << self.shape() << " doesn't match the broadcast shape " << s
                << " (other has shape " << other.shape() << ")");
}

// self <- f(self, other), recording `node` with backward `bw` when autograd needs it.
template <class F>
Tensor& inplace_binary(Tensor& self, const Tensor& other, const char* op, const char* node, const SrcLoc& loc, F f,
                       autograd::Node::BackwardFn (*make_bw)(const Tensor& self_before, const Tensor& other)) {
    check_inplace(self, &other, op, loc);
    check_shape(self, other, op, loc);
    bool record = autograd::needs_grad({&self, &other});
    Tensor before = record ? self.detach().clone() : Tensor();  // the value the backward may need
    Tensor result;
    {
        NoGradGuard no_grad;
        result = f(self, other.dtype() == self.dtype() ? other : other.to(self.dtype(), loc));
    }
    if (record) {
        // Edges first (to self's current grad_fn), then self becomes the new node's output.
        autograd::attach(self, node, loc, {self, other}, make_bw(before, other));
    }
    write_back(self, result, loc);
    return self;
}

autograd::Node::BackwardFn add_bw(const Tensor&, const Tensor& other) {
    // self = self + other   =>   d/dself = g, d/dother = sum_to(g, other.shape)
    return [so = other.shape()](const Tensor& g) -> std::vector<Tensor> { return {g, sum_to(g, so)}; };
}
autograd::Node::BackwardFn sub_bw(const Tensor&, const Tensor& other) {
    // self = self - other   =>   d/dself = g, d/dother = -sum_to(g, other.shape)
    return [so = other.shape()](const Tensor& g) -> std::vector<Tensor> { return {g, neg(sum_to(g, so))}; };
}
autograd::Node::BackwardFn mul_bw(const Tensor& before, const Tensor& other) {
    // self = self * other   =>   d/dself = g * other, d/dother = sum_to(g * self_before, other.shape)
    return [sb = autograd::SavedTensor(before), so = autograd::SavedTensor(other)](const Tensor& g) -> std::vector<Tensor> {
        return {mul(g, so.get()), sum_to(mul(g, sb.get()), so.get().shape())};
    };
}
autograd::Node::BackwardFn div_bw(const Tensor& before, const Tensor& other) {
    // self = self / other   =>   d/dself = g / other, d/dother = -sum_to(g * self_before / other^2)
    return [sb = autograd::SavedTensor(before), so = autograd::SavedTensor(other)](const Tensor& g) -> std::vector<Tensor> {
        const Tensor& o = so.get();
        return {div(g, o), neg(sum_to(div(mul(g, sb.get()), mul(o, o)), o.shape()))};
    };
}

Tensor scalar_like(const Tensor& self, double v) { return scalar_tensor(v, dtype(self.dtype())); }

}  // namespace

Tensor& Tensor::add_(const Tensor& other, SrcLoc loc) {
    return inplace_binary(*this, other, "add_", "AddBackward0", loc,
                          [&](const Tensor& a, const Tensor& b) { return xg::add(a, b, loc); }, add_bw);
}
Tensor& Tensor::add_(const Tensor& other, double alpha, SrcLoc loc) {
    if (alpha == 1) return add_(other, loc);
    return add_(xg::mul(other, alpha, loc), loc);
}
Tensor& Tensor::sub_(const Tensor& other, SrcLoc loc) {
    return inplace_binary(*this, other, "sub_", "SubBackward0", loc,
                          [&](const Tensor& a, const Tensor& b) { return xg::sub(a, b, loc); }, sub_bw);
}
Tensor& Tensor::mul_(const Tensor& other, SrcLoc loc) {
    return inplace_binary(*this, other, "mul_", "MulBackward0", loc,
                          [&](const Tensor& a, const Tensor& b) { return xg::mul(a, b, loc); }, mul_bw);
}
Tensor& Tensor::div_(const Tensor& other, SrcLoc loc) {
    XG_CHECK(defined() && is_floating(dtype()), loc,
             "div_: result type Float can't be cast to the desired output type Long (divide an int64 tensor out of place)");
    return inplace_binary(*this, other, "div_", "DivBackward0", loc,
                          [&](const Tensor& a, const Tensor& b) { return xg::div(a, b, loc); }, div_bw);
}
Tensor& Tensor::add_(double other, SrcLoc loc) { return add_(scalar_like(*this, other), loc); }
Tensor& Tensor::sub_(double other, SrcLoc loc) { return sub_(scalar_like(*this, other), loc); }
Tensor& Tensor::mul_(double other, SrcLoc loc) { return mul_(scalar_like(*this, other), loc); }
Tensor& Tensor::div_(double other, SrcLoc loc) { return div_(scalar_like(*this, other), loc); }

Tensor& Tensor::fill_(double value, SrcLoc loc) {
    check_inplace(*this, nullptr, "fill_", loc);
    write_back(*this, scalar_like(*this, value), loc);
    // A filled tensor no longer depends on anything: its gradient path is cut.
    if (autograd::needs_grad({this}))
        autograd::attach(*this, "FillBackward0", loc, {*this},
                         [](const Tensor& g) -> std::vector<Tensor> { return {zeros_like(g)}; });
    return *this;
}

Tensor& Tensor::zero_(SrcLoc loc) { return fill_(0.0, loc); }

// self[...] = src[...]   =>   d/dself = 0 (overwritten),  d/dsrc = sum_to(g, src.shape)
Tensor& Tensor::copy_(const Tensor& src, SrcLoc loc) {
    check_inplace(*this, &src, "copy_", loc);
    XG_CHECK(src.defined(), loc, "copy_: the source tensor is undefined");
    check_shape(*this, src, "copy_", loc);
    bool record = autograd::needs_grad({this, &src});
    write_back(*this, src, loc);
    if (record) {
        autograd::attach(*this, "CopyBackwards", loc, {*this, src},
                         [ss = src.shape(), sd = src.dtype()](const Tensor& g) -> std::vector<Tensor> {
                             return {zeros_like(g), sum_to(g, ss).to(sd)};
                         });
    }
    return *this;
}

}  // namespace xg
