// Shape ops: slicing views (narrow, slice, select, split, chunk) and the copies that gather
// or assemble data (index_select, cat, stack, repeat, tile, flip).
//
// The slicing views share storage with their input, like the views of view_ops.cpp. Their
// backward scatters: a zero tensor of the input's shape with g written into the region the
// view covered. The copies' backwards are the dual gathers: cat <-> narrow, stack <-> select,
// index_select <-> index_add, repeat <-> sum over the repeats.
#include <algorithm>
#include <cstring>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops.h"

namespace xg {

namespace {

// ---- raw geometry (no checks, no autograd) ------------------------------------------------

// x[..., start : start + length*step : step, ...] on dim d, as a view.
Tensor slice_view(const Tensor& x, int64_t d, int64_t start, int64_t length, int64_t step) {
    Shape shape = x.shape();
    Strides strides = x.strides();
    int64_t offset = x.storage_offset() + start * strides[d];
    shape[d] = length;
    strides[d] *= step;
    return detail::make_view(x, shape, strides, offset);
}

// x[..., index, ...] on dim d, as a view with that dim removed.
Tensor select_view(const Tensor& x, int64_t d, int64_t index) {
    Shape shape = x.shape();
    Strides strides = x.strides();
    int64_t offset = x.storage_offset() + index * strides[d];
    shape.erase(shape.begin() + d);
    strides.erase(strides.begin() + d);
    return detail::make_view(x, shape, strides, offset);
}

// Product of the sizes before / after dim d: a contiguous tensor is then [outer, size_d, inner].
int64_t outer_size(const Shape& s, int64_t d) { return numel_of(Shape(s.begin(), s.begin() + d)); }
int64_t inner_size(const Shape& s, int64_t d) { return numel_of(Shape(s.begin() + d + 1, s.end())); }

// ---- slicing views ------------------------------------------------------------------------

// y = x[..., start::step, ...] (length elements)   =>   dL/dx = zeros(x.shape) with g written into that region
Tensor sliced(const Tensor& x, int64_t d, int64_t start, int64_t length, int64_t step, const char* node,
              const SrcLoc& loc) {
    Tensor out = slice_view(x, d, start, length, step);
    if (autograd::needs_grad({&x}))
        autograd::attach(out, node, loc, {x},
                         [in = x.shape(), d, start, length, step, loc](const Tensor& g) -> std::vector<Tensor> {
                             Tensor gx = zeros(in, dtype(g.dtype()));
                             detail::copy_into(slice_view(gx, d, start, length, step), g, loc);
                             return {gx};
                         });
    return out;
}

// Validates narrow's arguments (PyTorch's rules: start may be negative, or equal to the size
// for an empty result) and returns the non-negative start.
int64_t narrow_start(const Tensor& x, int64_t d, int64_t start, int64_t length, const char* op, const SrcLoc& loc) {
    int64_t size = x.shape()[d];
    XG_CHECK(start >= -size && start <= size, loc,
             op << ": start " << start << " is out of range for dim " << d << " of size " << size << " (tensor of shape "
                << x.shape() << ")");
    if (start < 0) start += size;
    XG_CHECK(length >= 0 && start + length <= size, loc,
             op << ": start (" << start << ") + length (" << length << ") exceeds dimension size (" << size
                << ") of dim " << d << " (tensor of shape " << x.shape() << ")");
    return start;
}

}  // namespace

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "narrow: the input tensor is undefined");
    XG_CHECK(x.dim() > 0, loc, "narrow: cannot be applied to a 0-dim tensor");
    int64_t d = wrap_dim(dim, x.dim(), "narrow", loc);
    int64_t s = narrow_start(x, d, start, length, "narrow", loc);
    return sliced(x, d, s, length, 1, "SliceBackward0", loc);
}
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length, SrcLoc loc) const {
    return xg::narrow(*this, dim, start, length, loc);
}

// Python slicing: x[start:end:step] with negative start/end counted from the end and both
// clamped to [0, size], so x[2:100] of a size-5 dim is x[2:5] and x[4:1] is empty.
Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step,
                     SrcLoc loc) const {
    XG_CHECK(defined(), loc, "slice: the input tensor is undefined");
    XG_CHECK(this->dim() > 0, loc, "slice: cannot be applied to a 0-dim tensor");
    XG_CHECK(step >= 1, loc, "slice: step must be positive, got " << step);
    int64_t d = wrap_dim(dim, this->dim(), "slice", loc);
    int64_t size = shape()[d];
    auto clamp_index = [size](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size); };
    int64_t s = clamp_index(start.value_or(0));
    int64_t e = std::max(s, clamp_index(end.value_or(size)));
    int64_t length = (e - s + step - 1) / step;
    return sliced(*this, d, s, length, step, "SliceBackward0", loc);
}

// y = x.select(d, i)   =>   dL/dx = zeros(x.shape) with g written into x[..., i, ...]
Tensor select(const Tensor& x, int64_t dim, int64_t index, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "select: the input tensor is undefined");
    XG_CHECK(x.dim() > 0, loc, "select: cannot be applied to a 0-dim tensor");
    int64_t d = wrap_dim(dim, x.dim(), "select", loc);
    int64_t size = x.shape()[d];
    XG_CHECK(index >= -size && index < size, loc,
             "select: index " << index << " is out of range for dim " << d << " of size " << size
                              << " (tensor of shape " << x.shape() << ")");
    int64_t i = index < 0 ? index + size : index;
    Tensor out = select_view(x, d, i);
    if (autograd::needs_grad({&x}))
        autograd::attach(out, "SelectBackward0", loc, {x},
                         [in = x.shape(), d, i, loc](const Tensor& g) -> std::vector<Tensor> {
                             Tensor gx = zeros(in, dtype(g.dtype()));
                             detail::copy_into(select_view(gx, d, i), g, loc);
                             return {gx};
                         });
    return out;
}
Tensor Tensor::select(int64_t dim, int64_t index, SrcLoc loc) const { return xg::select(*this, dim, index, loc); }
// IndexArg carries the caller's line (an operator cannot take a defaulted source_location).
Tensor Tensor::operator[](IndexArg index) const { return xg::select(*this, 0, index.i, index.loc); }

// ---- split and chunk: views, one SplitBackward0 node per piece --------------------------------

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "split: the input tensor is undefined");
    XG_CHECK(x.dim() > 0, loc, "split: expects at least a 1-dimensional tensor");
    XG_CHECK(split_size >= 0, loc, "split: split_size must be non-negative, got " << split_size);
    int64_t d = wrap_dim(dim, x.dim(), "split", loc);
    int64_t size = x.shape()[d];
    XG_CHECK(split_size > 0 || size == 0, loc,
             "split: split_size can only be 0 if the dimension size is 0, but dim " << d << " has size " << size);
    // At least one piece, even when split_size exceeds the size; the last piece may be shorter.
    int64_t pieces = split_size == 0 ? 1 : std::max<int64_t>((size + split_size - 1) / split_size, 1);
    std::vector<Tensor> out;
    for (int64_t p = 0; p < pieces; ++p) {
        int64_t start = p * split_size;
        out.push_back(sliced(x, d, start, std::min(split_size, size - start), 1, "SplitBackward0", loc));
    }
    return out;
}
std::vector<Tensor> Tensor::split(int64_t split_size, int64_t dim, SrcLoc loc) const {
    return xg::split(*this, split_size, dim, loc);
}

// split into pieces of the given sizes (PyTorch's split_with_sizes)
std::vector<Tensor> Tensor::split(const std::vector<int64_t>& split_sizes, int64_t dim, SrcLoc loc) const {
    XG_CHECK(defined(), loc, "split: the input tensor is undefined");
    XG_CHECK(this->dim() > 0, loc, "split: expects at least a 1-dimensional tensor");
    int64_t d = wrap_dim(dim, this->dim(), "split", loc);
    int64_t total = 0;
    for (int64_t s : split_sizes) {
        XG_CHECK(s >= 0, loc, "split: split sizes must be non-negative, got " << shape_str(split_sizes));
        total += s;
    }
    XG_CHECK(total == shape()[d], loc,
             "split: split sizes " << shape_str(split_sizes) << " sum to " << total << ", but dim " << d
                                   << " of the tensor of shape " << shape() << " has size " << shape()[d]);
    std::vector<Tensor> out;
    int64_t start = 0;
    for (int64_t s : split_sizes) {
        out.push_back(sliced(*this, d, start, s, 1, "SplitWithSizesBackward0", loc));
        start += s;
    }
    return out;
}

// Pieces of ceil(n / chunks) elements, so there may be fewer than `chunks` of them
// (a size-5 dim in 4 chunks gives sizes 2, 2, 1), exactly as torch.chunk.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "chunk: the input tensor is undefined");
    XG_CHECK(x.dim() > 0, loc, "chunk: expects at least a 1-dimensional tensor");
    XG_CHECK(chunks > 0, loc, "chunk: chunks must be greater than 0, got " << chunks);
    int64_t d = wrap_dim(dim, x.dim(), "chunk", loc);
    int64_t size = x.shape()[d];
    // An empty dim still gives `chunks` (empty) pieces.
    if (size == 0) return x.split(std::vector<int64_t>(static_cast<size_t>(chunks), 0), d, loc);
    return split(x, (size + chunks - 1) / chunks, d, loc);
}
std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t dim, SrcLoc loc) const {
    return xg::chunk(*this, chunks, dim, loc);
}

// ---- index_select -------------------------------------------------------------------------

// y = x.index_select(d, index): y[..., k, ...] = x[..., index[k], ...]
//   =>   dL/dx = zeros(x.shape).index_add(d, index, g)   (a repeated index accumulates)
Tensor index_select(const Tensor& x_in, int64_t dim, const Tensor& index_in, SrcLoc loc) {
    XG_CHECK(x_in.defined() && index_in.defined(), loc, "index_select: the input or index tensor is undefined");
    XG_CHECK(index_in.dtype() == kInt64, loc,
             "index_select: the index must be an int64 tensor, got " << dtype_name(index_in.dtype()));
    XG_CHECK(index_in.dim() <= 1, loc,
             "index_select: the index must be a 1-D (or 0-d) tensor, got shape " << index_in.shape());
    int64_t d = wrap_dim(dim, x_in.dim(), "index_select", loc);
    // Work on contiguous [outer, size, inner] blocks; a 0-d input acts as a size-1 vector.
    Tensor x = x_in.detach().reshape(x_in.dim() == 0 ? Shape{1} : x_in.shape(), loc).contiguous(loc);
    Tensor index = index_in.detach().contiguous(loc);
    const int64_t* idx = index.data_ptr<int64_t>(loc);
    const int64_t n = index.numel(), size = x.shape()[d];
    for (int64_t k = 0; k < n; ++k)
        XG_CHECK(idx[k] >= 0 && idx[k] < size, loc,
                 "index_select: index " << idx[k] << " is out of range for dim " << d << " of size " << size
                                        << " (input shape " << x_in.shape() << ")");

    Shape out_shape = x.shape();
    out_shape[d] = n;
    if (x_in.dim() == 0) {
        XG_CHECK(n == 1, loc, "index_select: a 0-dim input takes exactly one index, got " << n);
        out_shape = {};
    }
    Tensor out = detail::make_empty(out_shape, x.dtype());
    const int64_t outer = outer_size(x.shape(), d), inner = inner_size(x.shape(), d);
    const size_t row_bytes = static_cast<size_t>(inner) * itemsize(x.dtype());
    const char* src = static_cast<const char*>(x.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < n; ++k)
            std::memcpy(dst + static_cast<size_t>(o * n + k) * row_bytes,
                        src + static_cast<size_t>(o * size + idx[k]) * row_bytes, row_bytes);

    if (autograd::needs_grad({&x_in}))
        autograd::attach(out, "IndexSelectBackward0", loc, {x_in},
                         [in = x_in.shape(), xs = x.shape(), d, saved = autograd::SavedTensor(index)](
                             const Tensor& g_in) -> std::vector<Tensor> {
                             const Tensor& index = saved.get();
                             const int64_t* idx = index.data_ptr<int64_t>();
                             const int64_t n = index.numel(), size = xs[d];
                             const int64_t outer = outer_size(xs, d), inner = inner_size(xs, d);
                             Tensor g = g_in.contiguous();
                             Tensor gx = zeros(in, dtype(g.dtype()));
                             XG_DISPATCH_FLOAT(g.dtype(), T, [&] {
                                 const T* gp = g.data_ptr<T>();
                                 T* gxp = gx.data_ptr<T>();
                                 for (int64_t o = 0; o < outer; ++o)
                                     for (int64_t k = 0; k < n; ++k) {
                                         const T* from = gp + (o * n + k) * inner;
                                         T* to = gxp + (o * size + idx[k]) * inner;
                                         for (int64_t j = 0; j < inner; ++j) to[j] += from[j];
                                     }
                             });
                             return {gx};
                         });
    return out;
}
Tensor Tensor::index_select(int64_t dim, const Tensor& index, SrcLoc loc) const {
    return xg::index_select(*this, dim, index, loc);
}

// ---- cat and stack ------------------------------------------------------------------------

namespace {

// Writes the tensors one after another along dim d of a new tensor of dtype `dt`. Inputs are
// already checked. The ViT concatenates its class token every step, so the common case (a
// contiguous input of the output's dtype) is one memcpy per outer index: the output is
// [outer, total, inner] and input i fills the block [outer, offset_i : offset_i + size_i, inner].
Tensor cat_forward(const std::vector<Tensor>& tensors, int64_t d, DType dt, const SrcLoc& loc) {
    Shape out_shape = tensors[0].shape();
    out_shape[d] = 0;
    for (const Tensor& t : tensors) out_shape[d] += t.shape()[d];
    Tensor out = detail::make_empty(out_shape, dt);
    const int64_t outer = outer_size(out_shape, d), inner = inner_size(out_shape, d), total = out_shape[d];
    const size_t item = itemsize(dt);
    char* dst = static_cast<char*>(out.raw_data());
    int64_t offset = 0;
    for (const Tensor& t : tensors) {
        const int64_t size = t.shape()[d], start = offset;
        offset += size;
        if (t.numel() == 0) continue;  // nothing to copy (and no data pointer to read)
        if (t.is_contiguous() && t.dtype() == dt) {
            const char* src = static_cast<const char*>(t.raw_data());
            const size_t block = static_cast<size_t>(size * inner) * item;
            for (int64_t o = 0; o < outer; ++o)
                std::memcpy(dst + static_cast<size_t>((o * total + start) * inner) * item,
                            src + static_cast<size_t>(o) * block, block);
        } else {  // strided (e.g. an expanded class token) or another dtype: the general copy
            detail::copy_into(slice_view(out, d, start, size, 1), t, loc);
        }
    }
    return out;
}

}  // namespace

// y = cat([x0, x1, ...], d)   =>   dL/dx_i = g.narrow(d, offset_i, x_i.size(d))
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim, SrcLoc loc) {
    XG_CHECK(!tensors.empty(), loc, "cat: expected a non-empty list of tensors");
    const Tensor& first = tensors[0];
    DType dt = first.dtype();
    for (size_t i = 0; i < tensors.size(); ++i) {
        const Tensor& t = tensors[i];
        XG_CHECK(t.defined(), loc, "cat: tensor " << i << " is undefined");
        XG_CHECK(t.dim() > 0, loc, "cat: zero-dimensional tensor (at position " << i << ") cannot be concatenated");
        XG_CHECK(t.dim() == first.dim(), loc,
                 "cat: tensors must have the same number of dimensions: got " << first.shape() << " (tensor 0) and "
                                                                               << t.shape() << " (tensor " << i << ")");
        dt = promote(dt, t.dtype());
    }
    int64_t d = wrap_dim(dim, first.dim(), "cat", loc);
    for (size_t i = 1; i < tensors.size(); ++i)
        for (int64_t k = 0; k < first.dim(); ++k)
            XG_CHECK(k == d || tensors[i].shape()[k] == first.shape()[k], loc,
                     "cat: sizes of tensors must match except in dimension " << d << ": tensor 0 has shape "
                                                                             << first.shape() << " but tensor " << i
                                                                             << " has shape " << tensors[i].shape()
                                                                             << " (mismatch in dimension " << k << ")");
    Tensor out = cat_forward(tensors, d, dt, loc);
    if (autograd::needs_grad(tensors)) {
        std::vector<int64_t> sizes;
        for (const Tensor& t : tensors) sizes.push_back(t.shape()[d]);
        autograd::attach(out, "CatBackward0", loc, tensors, [d, sizes](const Tensor& g) -> std::vector<Tensor> {
            std::vector<Tensor> grads;
            int64_t offset = 0;
            for (int64_t s : sizes) {
                grads.push_back(g.narrow(d, offset, s));
                offset += s;
            }
            return grads;
        });
    }
    return out;
}

// y = stack([x0, x1, ...], d) = cat([x0.unsqueeze(d), ...], d)   =>   dL/dx_i = g.select(d, i)
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim, SrcLoc loc) {
    XG_CHECK(!tensors.empty(), loc, "stack: expected a non-empty list of tensors");
    DType dt = tensors[0].dtype();
    for (size_t i = 0; i < tensors.size(); ++i) {
        XG_CHECK(tensors[i].defined(), loc, "stack: tensor " << i << " is undefined");
        XG_CHECK(tensors[i].shape() == tensors[0].shape(), loc,
                 "stack: expects each tensor to be equal size, but got " << tensors[0].shape() << " at entry 0 and "
                                                                          << tensors[i].shape() << " at entry " << i);
        dt = promote(dt, tensors[i].dtype());
    }
    int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack", loc);
    Tensor out;
    {
        NoGradGuard no_grad;  // the unsqueezes are plumbing: the graph records one StackBackward0
        std::vector<Tensor> parts;
        for (const Tensor& t : tensors) parts.push_back(t.unsqueeze(d, loc));
        out = cat_forward(parts, d, dt, loc);
    }
    if (autograd::needs_grad(tensors))
        autograd::attach(out, "StackBackward0", loc, tensors, [d, n = tensors.size()](const Tensor& g) -> std::vector<Tensor> {
            std::vector<Tensor> grads;
            for (size_t i = 0; i < n; ++i) grads.push_back(g.select(d, static_cast<int64_t>(i)));
            return grads;
        });
    return out;
}

// ---- repeat and tile ------------------------------------------------------------------------

// x.repeat(r) lays x (with leading 1s to r's length) out r_i times along each dim i. Read as
// shape [r0, s0, r1, s1, ...], the result is x broadcast along the r dims: a copy of the
// stride-0 view x[None, :, None, :, ...].expand(r0, s0, r1, s1, ...), and the backward of a
// broadcast is a sum over the broadcast dims.
// y = x.repeat(r)   =>   dL/dx = g.reshape(r0, s0, r1, s1, ...).sum(dims of r0, r1, ...)
Tensor Tensor::repeat(const std::vector<int64_t>& repeats, SrcLoc loc) const {
    XG_CHECK(defined(), loc, "repeat: the input tensor is undefined");
    XG_CHECK(repeats.size() >= static_cast<size_t>(dim()), loc,
             "repeat: the number of repeats " << shape_str(repeats)
                                              << " can not be smaller than the number of dimensions of the tensor "
                                              << shape());
    const size_t n = repeats.size(), lead = n - static_cast<size_t>(dim());
    Shape pairs_shape, out_shape;      // [r0, s0, r1, s1, ...] and [r0*s0, r1*s1, ...]
    Strides pairs_strides;             // 0 on the r dims: every repeat reads the same x
    std::vector<int64_t> repeat_dims;  // 0, 2, 4, ...: the dims the backward sums over
    for (size_t i = 0; i < n; ++i) {
        XG_CHECK(repeats[i] >= 0, loc, "repeat: repeats must be non-negative, got " << shape_str(repeats));
        int64_t s = i < lead ? 1 : shape()[i - lead];
        int64_t st = i < lead ? 0 : strides()[i - lead];
        repeat_dims.push_back(static_cast<int64_t>(2 * i));
        pairs_shape.insert(pairs_shape.end(), {repeats[i], s});
        pairs_strides.insert(pairs_strides.end(), {0, st});
        out_shape.push_back(repeats[i] * s);
    }
    Tensor out = detail::make_empty(out_shape, dtype());
    // out's row-major memory read as [r0, s0, r1, s1, ...] is the same memory.
    Tensor out_pairs = detail::make_view(out, pairs_shape, contiguous_strides(pairs_shape), 0);
    detail::copy_into(out_pairs, detail::make_view(*this, pairs_shape, pairs_strides, storage_offset()), loc);
    if (autograd::needs_grad({this}))
        autograd::attach(out, "RepeatBackward0", loc, {*this},
                         [in = shape(), pairs_shape, repeat_dims](const Tensor& g) -> std::vector<Tensor> {
                             if (repeat_dims.empty()) return {g};  // a 0-d input with no repeats
                             return {g.reshape(pairs_shape).sum(repeat_dims).reshape(in)};
                         });
    return out;
}

// tile pads short reps with leading 1s (tile([2]) on a matrix repeats its columns), then repeats.
Tensor tile(const Tensor& x, const std::vector<int64_t>& reps, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "tile: the input tensor is undefined");
    std::vector<int64_t> r = reps;
    if (r.size() < static_cast<size_t>(x.dim())) r.insert(r.begin(), static_cast<size_t>(x.dim()) - r.size(), 1);
    return x.repeat(r, loc);
}
Tensor Tensor::tile(const std::vector<int64_t>& reps, SrcLoc loc) const { return xg::tile(*this, reps, loc); }

// ---- flip ---------------------------------------------------------------------------------------

// y = x.flip(dims): y[..., i, ...] = x[..., n-1-i, ...] along every dim in dims (torch.flip)
//   =>   dL/dx = g.flip(dims)          (a flip undoes itself, so its backward is the same flip)
//
// The copy is made first; then each flipped dim d, reading the copy as [outer, n, inner], has
// its n blocks of `inner` elements reversed in place by swapping block i with block n-1-i.
Tensor flip(const Tensor& x, const std::vector<int64_t>& dims, SrcLoc loc) {
    XG_CHECK(x.defined(), loc, "flip: the input tensor is undefined");
    std::vector<bool> flipped(static_cast<size_t>(x.dim()), false);
    for (int64_t dim : dims) {
        const int64_t d = wrap_dim(dim, x.dim(), "flip", loc);
        XG_CHECK(!flipped[static_cast<size_t>(d)], loc,
                 "flip: dim " << d << " appears multiple times in the list of dims " << shape_str(dims));
        flipped[static_cast<size_t>(d)] = true;
    }
    Tensor out = detail::make_empty(x.shape(), x.dtype());
    detail::copy_into(out, x, loc);
    auto* bytes = static_cast<unsigned char*>(out.raw_data());
    for (int64_t d = 0; d < x.dim(); ++d) {
        if (!flipped[static_cast<size_t>(d)]) continue;
        const int64_t outer = outer_size(x.shape(), d), n = x.shape()[static_cast<size_t>(d)];
        const auto block = static_cast<size_t>(inner_size(x.shape(), d)) * itemsize(x.dtype());
        for (int64_t o = 0; o < outer; ++o) {
            unsigned char* row = bytes + static_cast<size_t>(o * n) * block;
            for (int64_t i = 0, j = n - 1; i < j; ++i, --j)
                std::swap_ranges(row + static_cast<size_t>(i) * block, row + static_cast<size_t>(i + 1) * block,
                                 row + static_cast<size_t>(j) * block);
        }
    }
    if (autograd::needs_grad({x}))
        autograd::attach(out, "FlipBackward0", loc, {x},
                         [dims](const Tensor& g) -> std::vector<Tensor> { return {g.flip(dims)}; });
    return out;
}
Tensor Tensor::flip(const std::vector<int64_t>& dims, SrcLoc loc) const { return xg::flip(*this, dims, loc); }

}  // namespace xg
