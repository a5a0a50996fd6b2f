// Tensor basics: construction of fresh and view tensors, metadata, element access, dtype
// conversion, contiguous copies, and the autograd entry points on Tensor.
#include "core/tensor.h"

#include <cstring>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/kernels/strided_loop.h"
#include "core/ops.h"

namespace xg {

namespace detail {

Tensor make_empty(const Shape& shape, DType dtype) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * itemsize(dtype));
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    impl->dtype = dtype;
    return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = base.impl()->storage;
    impl->offset = offset;
    impl->shape = std::move(shape);
    impl->strides = std::move(strides);
    impl->dtype = base.dtype();
    impl->is_view = true;
    return Tensor(std::move(impl));
}

}  // namespace detail

int64_t Tensor::size(int64_t d, SrcLoc loc) const { return shape()[wrap_dim(d, dim(), "size", loc)]; }
int64_t Tensor::stride(int64_t d, SrcLoc loc) const { return strides()[wrap_dim(d, dim(), "stride", loc)]; }

bool Tensor::is_contiguous() const {
    int64_t expected = 1;
    for (size_t i = impl_->shape.size(); i-- > 0;) {
        if (impl_->shape[i] == 1) continue;  // the stride of a size-1 dim does not matter
        if (impl_->strides[i] != expected) return false;
        expected *= impl_->shape[i];
    }
    return true;
}

void* Tensor::raw_data() const {
    return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<int64_t>(itemsize(dtype()));
}

template <class T>
T* Tensor::data_ptr(SrcLoc loc) const {
    XG_CHECK(defined(), loc, "data_ptr: the tensor is undefined");
    XG_CHECK(dtype() == dtype_v<T>, loc,
             "data_ptr: the tensor holds " << dtype_name(dtype()) << ", not " << dtype_name(dtype_v<T>));
    return static_cast<T*>(raw_data());
}
template float* Tensor::data_ptr<float>(SrcLoc) const;
template double* Tensor::data_ptr<double>(SrcLoc) const;
template int64_t* Tensor::data_ptr<int64_t>(SrcLoc) const;

double Tensor::item(SrcLoc loc) const {
    XG_CHECK(defined(), loc, "item: the tensor is undefined");
    XG_CHECK(numel() == 1, loc,
             "item: a Tensor with " << numel() << " elements cannot be converted to a scalar (shape "
                                    << shape() << ")");
    return XG_DISPATCH(dtype(), T, [&] { return static_cast<double>(*static_cast<const T*>(raw_data())); });
}

template <class T>
std::vector<T> Tensor::to_vector(SrcLoc loc) const {
    XG_CHECK(defined(), loc, "to_vector: the tensor is undefined");
    std::vector<T> out;
    out.reserve(static_cast<size_t>(numel()));
    XG_DISPATCH(dtype(), S, [&] {
        const S* base = static_cast<const S*>(raw_data());
        kernels::for_each_row<1>(shape(), {&strides()}, [&](auto off, int64_t n, auto st) {
            for (int64_t i = 0; i < n; ++i) out.push_back(static_cast<T>(base[off[0] + i * st[0]]));
        });
    });
    return out;
}
template std::vector<float> Tensor::to_vector<float>(SrcLoc) const;
template std::vector<double> Tensor::to_vector<double>(SrcLoc) const;
template std::vector<int64_t> Tensor::to_vector<int64_t>(SrcLoc) const;

// ---- copies --------------------------------------------------------------------------------

namespace {
// dst[...] = (Dst) src[...] elementwise over dst's shape (src already broadcast to it).
template <class Dst, class Src>
void strided_convert(const Tensor& dst, const Tensor& src, const Strides& src_strides) {
    Dst* d = static_cast<Dst*>(dst.raw_data());
    const Src* s = static_cast<const Src*>(src.raw_data());
    kernels::parallel_for_each_row<2>(dst.shape(), {&dst.strides(), &src_strides}, 4, [&](auto off, int64_t n, auto st) {
        Dst* dp = d + off[0];
        const Src* sp = s + off[1];
        if (st[0] == 1 && st[1] == 1 && std::is_same_v<Dst, Src>) {
            std::memcpy(dp, sp, static_cast<size_t>(n) * sizeof(Dst));
        } else {
            for (int64_t i = 0; i < n; ++i) dp[i * st[0]] = static_cast<Dst>(sp[i * st[1]]);
        }
    });
}
}  // namespace

namespace detail {
// Writes src (broadcastable to dst's shape, any dtype) into dst's elements. No autograd.
void copy_into(const Tensor& dst, const Tensor& src, const SrcLoc& loc) {
    Shape b = broadcast_shapes(dst.shape(), src.shape(), "copy_", loc);
    XG_CHECK(b == dst.shape(), loc,
             "copy_: source shape " << src.shape() << " cannot be broadcast to destination shape " << dst.shape());
    // The source's strides as seen from dst's shape: 0 on broadcast dims.
    Strides ss(dst.shape().size(), 0);
    size_t lead = dst.shape().size() - src.shape().size();
    for (size_t i = 0; i < src.shape().size(); ++i)
        ss[lead + i] = src.shape()[i] == 1 ? 0 : src.strides()[i];
    XG_DISPATCH(dst.dtype(), D, [&] {
        XG_DISPATCH(src.dtype(), S, [&] { strided_convert<D, S>(dst, src, ss); });
    });
}
}  // namespace detail

// y = x.to(dtype)   =>   dL/dx = g.to(x.dtype)
Tensor Tensor::to(DType target, SrcLoc loc) const {
    XG_CHECK(defined(), loc, "to: the tensor is undefined");
    if (target == dtype()) return *this;
    Tensor out = detail::make_empty(shape(), target);
    detail::copy_into(out, *this, loc);
    if (autograd::needs_grad({this})) {
        XG_CHECK(is_floating(target), loc, "to: cannot convert a tensor that requires grad to " << dtype_name(target)
                                                << " (integer tensors carry no gradient)");
        DType from = dtype();
        autograd::attach(out, "ToCopyBackward0", loc, {*this},
                         [from](const Tensor& g) -> std::vector<Tensor> { return {g.to(from)}; });
    }
    return out;
}

// y = x.clone()   =>   dL/dx = g
Tensor Tensor::clone(SrcLoc loc) const {
    XG_CHECK(defined(), loc, "clone: the tensor is undefined");
    Tensor out = detail::make_empty(shape(), dtype());
    detail::copy_into(out, *this, loc);
    if (autograd::needs_grad({this}))
        autograd::attach(out, "CloneBackward0", loc, {*this}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
    return out;
}

// contiguous() returns *this when already contiguous (PyTorch records no node then either);
// otherwise a row-major copy whose backward passes the gradient straight through.
Tensor Tensor::contiguous(SrcLoc loc) const {
    XG_CHECK(defined(), loc, "contiguous: the tensor is undefined");
    if (is_contiguous()) return *this;
    return clone(loc);
}

// ---- autograd entry points ------------------------------------------------------------------

Tensor& Tensor::requires_grad_(bool requires_grad, SrcLoc loc) {
    XG_CHECK(defined(), loc, "requires_grad_: the tensor is undefined");
    XG_CHECK(is_leaf() || requires_grad, loc,
             "requires_grad_: you can only change requires_grad flags of leaf variables (this tensor has grad_fn="
                 << impl_->grad_fn->name() << ")");
    XG_CHECK(!requires_grad || is_floating(dtype()), loc,
             "requires_grad_: only floating point tensors can require gradients (got " << dtype_name(dtype()) << ")");
    if (is_leaf()) impl_->requires_grad = requires_grad;
    return *this;
}

Tensor Tensor::grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) { impl_->grad = g.defined() ? g.impl_ptr() : nullptr; }

void Tensor::retain_grad() {
    if (is_leaf()) return;  // leaves keep .grad anyway
    impl_->retains_grad = true;
    impl_->grad_fn->retain_grad_of(impl_);
}

Tensor Tensor::detach() const {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = impl_->storage;
    impl->offset = impl_->offset;
    impl->shape = impl_->shape;
    impl->strides = impl_->strides;
    impl->dtype = impl_->dtype;
    impl->is_view = impl_->is_view;
    impl->name = impl_->name;
    return Tensor(std::move(impl));
}

}  // namespace xg
