// Views: ops that return a tensor sharing the input's storage with a new shape/strides/offset.
// reshape view flatten transpose t permute unsqueeze squeeze expand expand_as.
// No data moves, so a write through the view is seen by the base (and vice versa).
// Each backward is the dual view: transpose <-> transpose, permute <-> inverse permute,
// unsqueeze <-> squeeze, expand <-> sum, view <-> view back to the input's shape.
#include <numeric>

#include "core/autograd/node.h"
#include "core/ops.h"

namespace xg {

namespace {

// Replaces one -1 in `shape` by the size that makes numel match; validates the rest.
Shape infer_size(const Shape& shape, int64_t numel, const char* op, const SrcLoc& loc) {
    Shape out = shape;
    int64_t known = 1;
    std::optional<size_t> infer;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == -1) {
            XG_CHECK(!infer, loc, op << ": only one dimension can be inferred (-1) in shape " << shape);
            infer = i;
        } else {
            XG_CHECK(out[i] >= 0, loc, op << ": invalid size " << out[i] << " in shape " << shape);
            known *= out[i];
        }
    }
    if (infer) {
        XG_CHECK(known != 0 && numel % known == 0, loc,
                 op << ": shape " << shape << " is invalid for input of size " << numel);
        out[*infer] = numel / known;
    }
    XG_CHECK(numel_of(out) == numel, loc, op << ": shape " << shape << " is invalid for input of size " << numel);
    return out;
}

// Strides that let `new_shape` view memory laid out as (old_shape, old_strides), or nothing
// when the dims being merged are not contiguous with each other (then a copy is needed).
// Walks groups of old dims that map onto groups of new dims with the same element count.
std::optional<Strides> view_strides(const Shape& old_shape, const Strides& old_strides, const Shape& new_shape) {
    Strides out(new_shape.size());
    if (old_shape.empty() || numel_of(old_shape) == 0) return contiguous_strides(new_shape);
    int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
    int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
    int64_t tensor_numel = 1, view_numel = 1;
    for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
        tensor_numel *= old_shape[static_cast<size_t>(d)];
        // At the start of a chunk of old dims that are contiguous with each other...
        if (d == 0 || (old_shape[static_cast<size_t>(d - 1)] != 1 &&
                       old_strides[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride)) {
            // ...give the matching new dims strides inside the chunk.
            while (view_d >= 0 && (view_numel < tensor_numel || new_shape[static_cast<size_t>(view_d)] == 1)) {
                out[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
                view_numel *= new_shape[static_cast<size_t>(view_d)];
                --view_d;
            }
            if (view_numel != tensor_numel) return std::nullopt;
            if (d > 0) {
                chunk_base_stride = old_strides[static_cast<size_t>(d - 1)];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if (view_d != -1) return std::nullopt;
    return out;
}

// y = view(x, shape)   =>   dL/dx = g.reshape(x.shape)
Tensor view_impl(const Tensor& x, const Shape& shape, const char* op, const char* node, const SrcLoc& loc) {
    XG_CHECK(x.defined(), loc, op << ": the input tensor is undefined");
    Shape s = infer_size(shape, x.numel(), op, loc);
    std::optional<Strides> st = view_strides(x.shape(), x.strides(), s);
    XG_CHECK(st, loc,
             op << ": view size " << s << " is not compatible with input tensor's size " << x.shape() << " and stride "
                << shape_str(x.strides())
                << " (at least one dimension spans across two contiguous subspaces); use .reshape(...) instead");
    Tensor out = detail::make_view(x, s, *st, x.storage_offset());
    if (autograd::needs_grad({&x}))
        autograd::attach(out, node, loc, {x}, [in = x.shape()](const Tensor& g) -> std::vector<Tensor> { return {g.reshape(in)}; });
    return out;
}

}  // namespace

Tensor Tensor::view(const Shape& shape, SrcLoc loc) const { return view_impl(*this, shape, "view", "ViewBackward0", loc); }

// reshape: a view when the strides allow one, otherwise a contiguous copy, then a view.
Tensor reshape(const Tensor& x, const Shape& shape, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "reshape: the input tensor is undefined");
    Shape s = infer_size(shape, x.numel(), "reshape", loc);
    if (s == x.shape()) return x;  // nothing to do, no node (PyTorch returns an alias too)
    if (view_strides(x.shape(), x.strides(), s)) return view_impl(x, s, "reshape", "ReshapeAliasBackward0", loc);
    return view_impl(x.contiguous(loc), s, "reshape", "UnsafeViewBackward0", loc);
}
Tensor Tensor::reshape(const Shape& shape, SrcLoc loc) const { return xg::reshape(*this, shape, loc); }

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "flatten: the input tensor is undefined");
    if (x.dim() == 0) return x.reshape({1}, loc);
    int64_t s = wrap_dim(start_dim, x.dim(), "flatten", loc), e = wrap_dim(end_dim, x.dim(), "flatten", loc);
    XG_CHECK(s <= e, loc, "flatten: start_dim (" << start_dim << ") cannot come after end_dim (" << end_dim << ")");
    Shape shape;
    for (int64_t i = 0; i < s; ++i) shape.push_back(x.shape()[static_cast<size_t>(i)]);
    int64_t merged = 1;
    for (int64_t i = s; i <= e; ++i) merged *= x.shape()[static_cast<size_t>(i)];
    shape.push_back(merged);
    for (int64_t i = e + 1; i < x.dim(); ++i) shape.push_back(x.shape()[static_cast<size_t>(i)]);
    return x.reshape(shape, loc);
}
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim, SrcLoc loc) const { return xg::flatten(*this, start_dim, end_dim, loc); }

// y = x.transpose(d0, d1)   =>   dL/dx = g.transpose(d0, d1)
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "transpose: the input tensor is undefined");
    if (x.dim() == 0) return x;
    int64_t a = wrap_dim(dim0, x.dim(), "transpose", loc), b = wrap_dim(dim1, x.dim(), "transpose", loc);
    Shape shape = x.shape();
    Strides strides = x.strides();
    std::swap(shape[static_cast<size_t>(a)], shape[static_cast<size_t>(b)]);
    std::swap(strides[static_cast<size_t>(a)], strides[static_cast<size_t>(b)]);
    Tensor out = detail::make_view(x, shape, strides, x.storage_offset());
    if (autograd::needs_grad({&x}))
        autograd::attach(out, "TransposeBackward0", loc, {x},
                         [a, b](const Tensor& g) -> std::vector<Tensor> { return {g.transpose(a, b)}; });
    return out;
}
Tensor Tensor::transpose(int64_t dim0, int64_t dim1, SrcLoc loc) const { return xg::transpose(*this, dim0, dim1, loc); }

Tensor Tensor::t(SrcLoc loc) const {
    XG_CHECK(dim() <= 2, loc, "t: expects a tensor with <= 2 dimensions, but got a tensor of shape " << shape());
    return dim() < 2 ? *this : xg::transpose(*this, 0, 1, loc);
}

// y = x.permute(p)   =>   dL/dx = g.permute(inverse of p)
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "permute: the input tensor is undefined");
    XG_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), loc,
             "permute: number of dims don't match (the input has " << x.dim() << " dims, got " << dims.size()
                                                                    << " in " << shape_str(dims) << ")");
    Shape shape(dims.size());
    Strides strides(dims.size());
    std::vector<int64_t> inverse(dims.size(), -1);
    for (size_t i = 0; i < dims.size(); ++i) {
        int64_t d = wrap_dim(dims[i], x.dim(), "permute", loc);
        XG_CHECK(inverse[static_cast<size_t>(d)] == -1, loc, "permute: dim " << d << " repeats in " << shape_str(dims));
        inverse[static_cast<size_t>(d)] = static_cast<int64_t>(i);
        shape[i] = x.shape()[static_cast<size_t>(d)];
        strides[i] = x.strides()[static_cast<size_t>(d)];
    }
    Tensor out = detail::make_view(x, shape, strides, x.storage_offset());
    if (autograd::needs_grad({&x}))
        autograd::attach(out, "PermuteBackward0", loc, {x},
                         [inverse](const Tensor& g) -> std::vector<Tensor> { return {g.permute(inverse)}; });
    return out;
}
Tensor Tensor::permute(const std::vector<int64_t>& dims, SrcLoc loc) const { return xg::permute(*this, dims, loc); }

// y = x.unsqueeze(d)   =>   dL/dx = g.squeeze(d)
Tensor unsqueeze(const Tensor& x, int64_t dim, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "unsqueeze: the input tensor is undefined");
    int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze", loc);
    Shape shape = x.shape();
    Strides strides = x.strides();
    int64_t st = d < x.dim() ? shape[static_cast<size_t>(d)] * strides[static_cast<size_t>(d)] : 1;
    shape.insert(shape.begin() + d, 1);
    strides.insert(strides.begin() + d, st);
    Tensor out = detail::make_view(x, shape, strides, x.storage_offset());
    if (autograd::needs_grad({&x}))
        autograd::attach(out, "UnsqueezeBackward0", loc, {x},
                         [d](const Tensor& g) -> std::vector<Tensor> { return {g.squeeze(d)}; });
    return out;
}
Tensor Tensor::unsqueeze(int64_t dim, SrcLoc loc) const { return xg::unsqueeze(*this, dim, loc); }

// y = x.squeeze(d)   =>   dL/dx = g.reshape(x.shape)
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "squeeze: the input tensor is undefined");
    Shape shape;
    Strides strides;
    std::optional<int64_t> d;
    if (dim) d = wrap_dim(*dim, x.dim(), "squeeze", loc);
    for (int64_t i = 0; i < x.dim(); ++i) {
        bool drop = x.shape()[static_cast<size_t>(i)] == 1 && (!d || *d == i);
        if (!drop) {
            shape.push_back(x.shape()[static_cast<size_t>(i)]);
            strides.push_back(x.strides()[static_cast<size_t>(i)]);
        }
    }
    if (shape.size() == static_cast<size_t>(x.dim())) return x;  // nothing to squeeze
    Tensor out = detail::make_view(x, shape, strides, x.storage_offset());
    if (autograd::needs_grad({&x}))
        autograd::attach(out, d ? "SqueezeBackward1" : "SqueezeBackward0", loc, {x},
                         [in = x.shape()](const Tensor& g) -> std::vector<Tensor> { return {g.reshape(in)}; });
    return out;
}
Tensor Tensor::squeeze(SrcLoc loc) const { return xg::squeeze(*this, std::nullopt, loc); }
Tensor Tensor::squeeze(int64_t dim, SrcLoc loc) const { return xg::squeeze(*this, dim, loc); }

// y = x.expand(shape) (size-1 dims repeated with stride 0, new leading dims added)
//   =>   dL/dx = sum_to(g, x.shape)
Tensor Tensor::expand(const Shape& shape_in, SrcLoc loc) const {
    XG_CHECK(defined(), loc, "expand: the input tensor is undefined");
    XG_CHECK(shape_in.size() >= static_cast<size_t>(dim()), loc,
             "expand: the number of sizes provided (" << shape_in.size()
                                                      << ") must be greater or equal to the number of dimensions in the tensor ("
                                                      << dim() << "); expanding " << shape() << " to " << shape_in);
    size_t lead = shape_in.size() - static_cast<size_t>(dim());
    Shape shape(shape_in.size());
    Strides strides(shape_in.size(), 0);
    for (size_t i = 0; i < shape_in.size(); ++i) {
        if (i < lead) {
            XG_CHECK(shape_in[i] >= 0, loc, "expand: the expanded size " << shape_in[i] << " is invalid for a new leading dim (in " << shape_in << ")");
            shape[i] = shape_in[i];
            continue;
        }
        int64_t have = this->shape()[i - lead];
        int64_t want = shape_in[i] == -1 ? have : shape_in[i];
        XG_CHECK(have == want || have == 1, loc,
                 "expand: the expanded size of the tensor (" << want << ") must match the existing size (" << have
                                                              << ") at non-singleton dimension " << i << ".  Target sizes: "
                                                              << shape_in << ".  Tensor sizes: " << this->shape());
        shape[i] = want;
        strides[i] = have == want ? this->strides()[i - lead] : 0;
    }
    if (shape == this->shape()) return *this;
    Tensor out = detail::make_view(*this, shape, strides, storage_offset());
    if (autograd::needs_grad({this}))
        autograd::attach(out, "ExpandBackward0", loc, {*this},
                         [in = this->shape()](const Tensor& g) -> std::vector<Tensor> { return {sum_to(g, in)}; });
    return out;
}

Tensor Tensor::expand_as(const Tensor& other, SrcLoc loc) const { return expand(other.shape(), loc); }

}  // namespace xg
