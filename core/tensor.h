#pragma once
// xg::Tensor: a cheap value handle (one shared_ptr) to a TensorImpl that holds
//   storage (shared with views) + offset + shape + strides + dtype    -- the data
//   requires_grad, grad, grad_fn                                      -- the autograd state
// Copying a Tensor copies the handle, as in PyTorch (`b = a` aliases; `a.clone()` copies).
//
// This header includes only the standard library: xtensor and xsimd stay in the .cpp kernels.
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace xg {

namespace autograd {
class Node;
}

struct TensorImpl {
    std::shared_ptr<Storage> storage;
    int64_t offset = 0;  // in elements
    Shape shape;
    Strides strides;     // in elements
    DType dtype = DType::Float32;

    bool requires_grad = false;                // set on leaves by the user
    std::shared_ptr<autograd::Node> grad_fn;   // set on results of differentiable ops
    std::shared_ptr<TensorImpl> grad;          // accumulated by backward (leaves, retain_grad)
    std::weak_ptr<autograd::Node> grad_accumulator;  // the leaf's AccumulateGrad node, cached
    bool retains_grad = false;                 // non-leaf asked to keep its .grad
    bool is_view = false;                      // shares storage with another tensor
    std::string name;                          // optional, shown by to_dot and the debugger
};

// Options for factory functions, PyTorch C++ style:
//   xg::randn({2, 3}, xg::requires_grad());   xg::zeros({4}, xg::dtype(xg::kFloat64));
struct TensorOptions {
    DType dtype_ = DType::Float32;
    bool requires_grad_ = false;
    TensorOptions dtype(DType t) const { TensorOptions o = *this; o.dtype_ = t; return o; }
    TensorOptions requires_grad(bool r = true) const { TensorOptions o = *this; o.requires_grad_ = r; return o; }
};
inline TensorOptions dtype(DType t) { return TensorOptions{}.dtype(t); }
inline TensorOptions requires_grad(bool r = true) { return TensorOptions{}.requires_grad(r); }

class Tensor;

// A tensor argument of a C++ operator (`a + b`, `a * 2`) that remembers the caller's line.
// Operators cannot take a defaulted source_location parameter, but a converting constructor
// can, and it is evaluated where the conversion happens: in the user's expression.
struct TensorArg {
    const Tensor& t;
    SrcLoc loc;
    TensorArg(const Tensor& t, SrcLoc loc = SrcLoc::current()) : t(t), loc(loc) {}  // NOLINT: implicit on purpose
};
struct ScalarArg {
    double v;
    SrcLoc loc;
    ScalarArg(double v, SrcLoc loc = SrcLoc::current()) : v(v), loc(loc) {}  // NOLINT: implicit on purpose
};

struct IndexArg {
    int64_t i;
    SrcLoc loc;
    IndexArg(int64_t i, SrcLoc loc = SrcLoc::current()) : i(i), loc(loc) {}  // NOLINT: implicit on purpose
};

class Tensor {
  public:
    Tensor() = default;  // an undefined tensor (like torch's None gradient)
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    bool defined() const { return impl_ != nullptr; }
    TensorImpl* impl() const { return impl_.get(); }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

    // ---- metadata -------------------------------------------------------------------
    const Shape& shape() const { return impl_->shape; }
    const Shape& sizes() const { return impl_->shape; }
    int64_t size(int64_t dim, SrcLoc loc = SrcLoc::current()) const;
    int64_t dim() const { return static_cast<int64_t>(impl_->shape.size()); }
    int64_t numel() const { return numel_of(impl_->shape); }
    DType dtype() const { return impl_->dtype; }
    const Strides& strides() const { return impl_->strides; }
    int64_t stride(int64_t dim, SrcLoc loc = SrcLoc::current()) const;
    int64_t storage_offset() const { return impl_->offset; }
    bool is_contiguous() const;
    const std::string& name() const { return impl_->name; }
    Tensor& set_name(std::string name) { impl_->name = std::move(name); return *this; }

    // Pointer to element [0, 0, ...] (storage + offset). T must match dtype().
    template <class T> T* data_ptr(SrcLoc loc = SrcLoc::current()) const;
    void* raw_data() const;

    // The single value of a one-element tensor.
    double item(SrcLoc loc = SrcLoc::current()) const;
    template <class T> T item(SrcLoc loc = SrcLoc::current()) const { return static_cast<T>(item(loc)); }
    // All values in row-major order, converted to T (handy in tests and tutorials).
    template <class T> std::vector<T> to_vector(SrcLoc loc = SrcLoc::current()) const;

    // ---- autograd ----------------------------------------------------------------------
    bool requires_grad() const { return impl_->requires_grad || impl_->grad_fn != nullptr; }
    Tensor& requires_grad_(bool requires_grad = true, SrcLoc loc = SrcLoc::current());
    bool is_leaf() const { return impl_->grad_fn == nullptr; }
    const std::shared_ptr<autograd::Node>& grad_fn() const { return impl_->grad_fn; }
    Tensor grad() const;              // undefined until backward reaches this tensor
    void set_grad(const Tensor& g);   // replace (or clear with an undefined Tensor)
    void retain_grad();               // keep .grad on a non-leaf, as torch's retain_grad()
    // Reverse-mode autodiff from this tensor. `gradient` may be omitted for a one-element
    // tensor (it defaults to 1). The graph is freed unless retain_graph is true.
    void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                  SrcLoc loc = SrcLoc::current()) const;
    Tensor detach() const;            // same storage, no graph
    uint64_t _version() const { return impl_->storage->version(); }

    // ---- conversions and copies -------------------------------------------------------
    Tensor to(DType dtype, SrcLoc loc = SrcLoc::current()) const;
    Tensor contiguous(SrcLoc loc = SrcLoc::current()) const;
    Tensor clone(SrcLoc loc = SrcLoc::current()) const;

    // ---- views and shape (see core/ops/shape_ops.cpp, core/ops/view_ops.cpp) ----------
    Tensor reshape(const Shape& shape, SrcLoc loc = SrcLoc::current()) const;
    Tensor view(const Shape& shape, SrcLoc loc = SrcLoc::current()) const;
    Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1, SrcLoc loc = SrcLoc::current()) const;
    Tensor transpose(int64_t dim0, int64_t dim1, SrcLoc loc = SrcLoc::current()) const;
    Tensor t(SrcLoc loc = SrcLoc::current()) const;
    Tensor permute(const std::vector<int64_t>& dims, SrcLoc loc = SrcLoc::current()) const;
    Tensor unsqueeze(int64_t dim, SrcLoc loc = SrcLoc::current()) const;
    Tensor squeeze(SrcLoc loc = SrcLoc::current()) const;
    Tensor squeeze(int64_t dim, SrcLoc loc = SrcLoc::current()) const;
    Tensor expand(const Shape& shape, SrcLoc loc = SrcLoc::current()) const;
    Tensor expand_as(const Tensor& other, SrcLoc loc = SrcLoc::current()) const;
    Tensor narrow(int64_t dim, int64_t start, int64_t length, SrcLoc loc = SrcLoc::current()) const;
    // Python's x[..., start:end:step, ...] on one dim; end is clamped like Python slicing.
    Tensor slice(int64_t dim, std::optional<int64_t> start = std::nullopt,
                 std::optional<int64_t> end = std::nullopt, int64_t step = 1,
                 SrcLoc loc = SrcLoc::current()) const;
    Tensor select(int64_t dim, int64_t index, SrcLoc loc = SrcLoc::current()) const;
    Tensor operator[](IndexArg index) const;  // x[i] == x.select(0, i)
    Tensor index_select(int64_t dim, const Tensor& index, SrcLoc loc = SrcLoc::current()) const;
    std::vector<Tensor> split(int64_t split_size, int64_t dim = 0, SrcLoc loc = SrcLoc::current()) const;
    std::vector<Tensor> split(const std::vector<int64_t>& split_sizes, int64_t dim = 0,
                              SrcLoc loc = SrcLoc::current()) const;
    std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0, SrcLoc loc = SrcLoc::current()) const;
    Tensor tile(const std::vector<int64_t>& reps, SrcLoc loc = SrcLoc::current()) const;
    Tensor flip(const std::vector<int64_t>& dims, SrcLoc loc = SrcLoc::current()) const;
    Tensor repeat(const std::vector<int64_t>& repeats, SrcLoc loc = SrcLoc::current()) const;

    // ---- math (methods mirror the free functions in core/ops.h) -------------------------
    Tensor add(const Tensor& other, SrcLoc loc = SrcLoc::current()) const;
    Tensor sub(const Tensor& other, SrcLoc loc = SrcLoc::current()) const;
    Tensor mul(const Tensor& other, SrcLoc loc = SrcLoc::current()) const;
    Tensor div(const Tensor& other, SrcLoc loc = SrcLoc::current()) const;
    Tensor pow(double exponent, SrcLoc loc = SrcLoc::current()) const;
    Tensor pow(const Tensor& exponent, SrcLoc loc = SrcLoc::current()) const;
    Tensor neg(SrcLoc loc = SrcLoc::current()) const;
    Tensor exp(SrcLoc loc = SrcLoc::current()) const;
    Tensor log(SrcLoc loc = SrcLoc::current()) const;
    Tensor sqrt(SrcLoc loc = SrcLoc::current()) const;
    Tensor rsqrt(SrcLoc loc = SrcLoc::current()) const;
    Tensor abs(SrcLoc loc = SrcLoc::current()) const;
    Tensor tanh(SrcLoc loc = SrcLoc::current()) const;
    Tensor sigmoid(SrcLoc loc = SrcLoc::current()) const;
    Tensor relu(SrcLoc loc = SrcLoc::current()) const;
    Tensor sin(SrcLoc loc = SrcLoc::current()) const;
    Tensor cos(SrcLoc loc = SrcLoc::current()) const;
    Tensor clamp(std::optional<double> min, std::optional<double> max = std::nullopt,
                 SrcLoc loc = SrcLoc::current()) const;

    Tensor sum(SrcLoc loc = SrcLoc::current()) const;
    Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false, SrcLoc loc = SrcLoc::current()) const;
    Tensor mean(SrcLoc loc = SrcLoc::current()) const;
    Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false, SrcLoc loc = SrcLoc::current()) const;
    Tensor var(bool unbiased = true, SrcLoc loc = SrcLoc::current()) const;
    Tensor var(const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false,
               SrcLoc loc = SrcLoc::current()) const;
    Tensor std(bool unbiased = true, SrcLoc loc = SrcLoc::current()) const;
    Tensor std(const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false,
               SrcLoc loc = SrcLoc::current()) const;
    Tensor max(SrcLoc loc = SrcLoc::current()) const;
    Tensor min(SrcLoc loc = SrcLoc::current()) const;
    Tensor amax(const std::vector<int64_t>& dims, bool keepdim = false, SrcLoc loc = SrcLoc::current()) const;
    Tensor argmax(int64_t dim, bool keepdim = false, SrcLoc loc = SrcLoc::current()) const;

    Tensor matmul(const Tensor& other, SrcLoc loc = SrcLoc::current()) const;
    Tensor softmax(int64_t dim, SrcLoc loc = SrcLoc::current()) const;
    Tensor log_softmax(int64_t dim, SrcLoc loc = SrcLoc::current()) const;

    // ---- in-place (bump the version counter; see core/ops/inplace_ops.cpp) -------------
    Tensor& add_(const Tensor& other, SrcLoc loc = SrcLoc::current());
    Tensor& add_(const Tensor& other, double alpha, SrcLoc loc = SrcLoc::current());  // self += alpha * other
    Tensor& sub_(const Tensor& other, SrcLoc loc = SrcLoc::current());
    Tensor& mul_(const Tensor& other, SrcLoc loc = SrcLoc::current());
    Tensor& div_(const Tensor& other, SrcLoc loc = SrcLoc::current());
    Tensor& add_(double other, SrcLoc loc = SrcLoc::current());
    Tensor& sub_(double other, SrcLoc loc = SrcLoc::current());
    Tensor& mul_(double other, SrcLoc loc = SrcLoc::current());
    Tensor& div_(double other, SrcLoc loc = SrcLoc::current());
    Tensor& zero_(SrcLoc loc = SrcLoc::current());
    Tensor& fill_(double value, SrcLoc loc = SrcLoc::current());
    Tensor& copy_(const Tensor& src, SrcLoc loc = SrcLoc::current());

    Tensor& operator+=(TensorArg other) { return add_(other.t, other.loc); }
    Tensor& operator-=(TensorArg other) { return sub_(other.t, other.loc); }
    Tensor& operator*=(TensorArg other) { return mul_(other.t, other.loc); }
    Tensor& operator/=(TensorArg other) { return div_(other.t, other.loc); }
    Tensor& operator+=(ScalarArg other) { return add_(other.v, other.loc); }
    Tensor& operator-=(ScalarArg other) { return sub_(other.v, other.loc); }
    Tensor& operator*=(ScalarArg other) { return mul_(other.v, other.loc); }
    Tensor& operator/=(ScalarArg other) { return div_(other.v, other.loc); }

  private:
    std::shared_ptr<TensorImpl> impl_;
};

// PyTorch-style printing: tensor([[ 0.1234, -1.5000]], grad_fn=<MmBackward0>)
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// C++ operators; each records the line of the expression that used it.
Tensor operator+(const Tensor& a, TensorArg b);
Tensor operator-(const Tensor& a, TensorArg b);
Tensor operator*(const Tensor& a, TensorArg b);
Tensor operator/(const Tensor& a, TensorArg b);
Tensor operator+(const Tensor& a, ScalarArg b);
Tensor operator-(const Tensor& a, ScalarArg b);
Tensor operator*(const Tensor& a, ScalarArg b);
Tensor operator/(const Tensor& a, ScalarArg b);
Tensor operator+(ScalarArg a, const Tensor& b);
Tensor operator-(ScalarArg a, const Tensor& b);
Tensor operator*(ScalarArg a, const Tensor& b);
Tensor operator/(ScalarArg a, const Tensor& b);
Tensor operator-(const Tensor& a);
// Comparisons give float masks of 0/1 with a's dtype... see core/ops.h (gt, lt, eq).

// ---- internal helpers shared by ops ---------------------------------------------------
namespace detail {
// A fresh contiguous tensor (uninitialized memory).
Tensor make_empty(const Shape& shape, DType dtype);
// A view of `base`'s storage with new geometry; marks the result as a view.
Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset);
// dst[...] = src[...] with broadcasting and dtype conversion; no autograd, no version bump.
void copy_into(const Tensor& dst, const Tensor& src, const SrcLoc& loc);
}  // namespace detail

}  // namespace xg
