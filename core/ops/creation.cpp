// Factory functions: empty zeros ones full arange linspace eye, the *_like forms, and tensors
// made from C++ values. None of them records a graph; requires_grad makes a leaf.
#include <cmath>

#include "core/kernels/strided_loop.h"
#include "core/ops.h"

namespace xg {

namespace {
Tensor finish(Tensor t, const TensorOptions& o) {
    if (o.requires_grad_) t.requires_grad_(true);
    return t;
}

void fill_contiguous(const Tensor& t, double value) {
    XG_DISPATCH(t.dtype(), T, [&] {
        T* p = static_cast<T*>(t.raw_data());
        std::fill(p, p + t.numel(), static_cast<T>(value));
    });
}

TensorOptions like(const Tensor& t, const std::optional<TensorOptions>& o) {
    return o ? *o : TensorOptions{}.dtype(t.dtype());
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) {
    for (int64_t s : shape)
        XG_CHECK(s >= 0, SrcLoc::current(), "empty: negative dimension " << s << " in shape " << shape);
    return finish(detail::make_empty(shape, options.dtype_), options);
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
    Tensor t = empty(shape, options.requires_grad(false));
    fill_contiguous(t, value);
    return finish(t, options);
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }

Tensor arange(double end, TensorOptions options) { return arange(0, end, 1, options); }

// Values start, start+step, ... strictly before end (PyTorch's count: ceil((end-start)/step)).
Tensor arange(double start, double end, double step, TensorOptions options, SrcLoc loc) {
    XG_CHECK(step != 0, loc, "arange: step must be nonzero");
    XG_CHECK((end - start) / step >= 0, loc,
             "arange: upper bound and larger bound inconsistent with step sign (start " << start << ", end " << end
                                                                                       << ", step " << step << ")");
    int64_t n = static_cast<int64_t>(std::ceil((end - start) / step));
    Tensor t = empty({n}, options.requires_grad(false));
    XG_DISPATCH(t.dtype(), T, [&] {
        T* p = t.data_ptr<T>();
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
    });
    return finish(t, options);
}

// `steps` values evenly spaced from start to end inclusive. PyTorch fills the first half
// from start and the second half from end, so both endpoints are exact; we do the same.
Tensor linspace(double start, double end, int64_t steps, TensorOptions options, SrcLoc loc) {
    XG_CHECK(steps >= 0, loc, "linspace: number of steps must be non-negative (got " << steps << ")");
    Tensor t = empty({steps}, options.requires_grad(false));
    double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
    int64_t half = steps / 2;
    XG_DISPATCH(t.dtype(), T, [&] {
        T* p = t.data_ptr<T>();
        for (int64_t i = 0; i < steps; ++i)
            p[i] = static_cast<T>(i < half ? start + step * static_cast<double>(i)
                                           : end - step * static_cast<double>(steps - i - 1));
    });
    return finish(t, options);
}

Tensor eye(int64_t n, TensorOptions options) { return eye(n, n, options); }
Tensor eye(int64_t n, int64_t m, TensorOptions options) {
    Tensor t = zeros({n, m}, options.requires_grad(false));
    XG_DISPATCH(t.dtype(), T, [&] {
        T* p = t.data_ptr<T>();
        for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = T(1);
    });
    return finish(t, options);
}

Tensor empty_like(const Tensor& t, std::optional<TensorOptions> o) { return empty(t.shape(), like(t, o)); }
Tensor zeros_like(const Tensor& t, std::optional<TensorOptions> o) { return zeros(t.shape(), like(t, o)); }
Tensor ones_like(const Tensor& t, std::optional<TensorOptions> o) { return ones(t.shape(), like(t, o)); }
Tensor full_like(const Tensor& t, double v, std::optional<TensorOptions> o) { return full(t.shape(), v, like(t, o)); }

Tensor tensor(std::initializer_list<double> values, TensorOptions options) {
    return tensor(std::vector<double>(values), options);
}

Tensor tensor(const std::vector<double>& values, TensorOptions options) {
    return tensor(values, Shape{static_cast<int64_t>(values.size())}, options);
}

Tensor tensor(const std::vector<double>& values, const Shape& shape, TensorOptions options, SrcLoc loc) {
    XG_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), loc,
             "tensor: " << values.size() << " values do not fill shape " << shape << " (" << numel_of(shape)
                        << " elements)");
    Tensor t = empty(shape, options.requires_grad(false));
    XG_DISPATCH(t.dtype(), T, [&] {
        T* p = t.data_ptr<T>();
        for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
    });
    return finish(t, options);
}

Tensor tensor(const std::vector<float>& values, const Shape& shape, SrcLoc loc) {
    XG_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), loc,
             "tensor: " << values.size() << " values do not fill shape " << shape);
    Tensor t = empty(shape, dtype(kFloat32));
    std::copy(values.begin(), values.end(), t.data_ptr<float>());
    return t;
}

Tensor tensor(const std::vector<int64_t>& values, const Shape& shape, SrcLoc loc) {
    XG_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), loc,
             "tensor: " << values.size() << " values do not fill shape " << shape);
    Tensor t = empty(shape, dtype(kInt64));
    std::copy(values.begin(), values.end(), t.data_ptr<int64_t>());
    return t;
}

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

bool equal(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return false;
    return a.to_vector<double>() == b.to_vector<double>();
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, SrcLoc loc) {
    XG_CHECK(a.defined() && b.defined(), loc, "allclose: an input tensor is undefined");
    Shape s = broadcast_shapes(a.shape(), b.shape(), "allclose", loc);
    (void)s;
    std::vector<double> va = a.expand(s, loc).to_vector<double>(), vb = b.expand(s, loc).to_vector<double>();
    for (size_t i = 0; i < va.size(); ++i) {
        if (std::isnan(va[i]) || std::isnan(vb[i])) return false;
        if (std::abs(va[i] - vb[i]) > atol + rtol * std::abs(vb[i])) return false;
    }
    return true;
}

}  // namespace xg
