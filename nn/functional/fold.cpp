// F::unfold (im2col) and F::fold (col2im): each is the other's adjoint, so each one's backward
// is the other one.
//
// Sliding a kh x kw window over a padded C x H x W image with the given stride and dilation
// gives out_h x out_w window positions:
//   out_h = (H + 2*ph - dh*(kh - 1) - 1) / sh + 1     (likewise out_w)
// unfold lays each window out as one column of a [C*kh*kw, L = out_h*out_w] matrix; row
// (c*kh + i)*kw + j of column (oy*out_w + ox) holds pixel
//   x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]     (0 where that falls in the padding).
// That is all a convolution needs: conv2d = weight.view(O, C*kh*kw) @ unfold(x) (conv.cpp).
#include <sstream>

#include "core/autograd/node.h"
#include "nn/functional.h"

namespace xg::nn::functional {

std::string IntPair::str() const {
    std::ostringstream os;
    if (is_scalar) os << h;
    else os << "(" << h << ", " << w << ")";
    return os.str();
}

namespace {

// "(2, 3)" whichever way the pair was given, for error messages (PyTorch prints tuples there).
std::string tuple(const IntPair& p) { return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")"; }

struct Geometry {
    int64_t C = 0, H = 0, W = 0;  // one image: [C, H, W]
    int64_t kh = 0, kw = 0, dh = 0, dw = 0, ph = 0, pw = 0, sh = 0, sw = 0;
    int64_t out_h = 0, out_w = 0;
    int64_t rows() const { return C * kh * kw; }
    int64_t blocks() const { return out_h * out_w; }
};

void check_window_args(const char* op, const IntPair& kernel, const IntPair& dilation, const IntPair& padding,
                       const IntPair& stride, const SrcLoc& loc) {
    XG_CHECK(kernel.h > 0 && kernel.w > 0, loc, op << ": kernel_size should be greater than zero, but got kernel_size=" << tuple(kernel));
    XG_CHECK(dilation.h > 0 && dilation.w > 0, loc, op << ": dilation should be greater than zero, but got dilation=" << tuple(dilation));
    XG_CHECK(padding.h >= 0 && padding.w >= 0, loc, op << ": padding should be non-negative, but got padding=" << tuple(padding));
    XG_CHECK(stride.h > 0 && stride.w > 0, loc, op << ": stride should be greater than zero, but got stride=" << tuple(stride));
}

Geometry make_geometry(int64_t C, int64_t H, int64_t W, const IntPair& kernel, const IntPair& dilation,
                       const IntPair& padding, const IntPair& stride) {
    Geometry g;
    g.C = C, g.H = H, g.W = W;
    g.kh = kernel.h, g.kw = kernel.w, g.dh = dilation.h, g.dw = dilation.w;
    g.ph = padding.h, g.pw = padding.w, g.sh = stride.h, g.sw = stride.w;
    // Integer division floors here because the numerator is checked to be >= 0 by callers
    // (a negative one means the kernel does not fit: out_h <= 0 is reported as an error).
    int64_t span_h = H + 2 * g.ph - g.dh * (g.kh - 1) - 1;
    int64_t span_w = W + 2 * g.pw - g.dw * (g.kw - 1) - 1;
    g.out_h = span_h < 0 ? 0 : span_h / g.sh + 1;
    g.out_w = span_w < 0 ? 0 : span_w / g.sw + 1;
    return g;
}

// cols[C*kh*kw, L] = windows of one image x[C, H, W] (zeros in the padding).
template <class T>
void im2col(const T* x, T* cols, const Geometry& g) {
    const int64_t L = g.blocks();
    for (int64_t c = 0; c < g.C; ++c)
        for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
                T* row = cols + ((c * g.kh + i) * g.kw + j) * L;
                for (int64_t oy = 0; oy < g.out_h; ++oy) {
                    const int64_t iy = oy * g.sh - g.ph + i * g.dh;
                    T* dst = row + oy * g.out_w;
                    for (int64_t ox = 0; ox < g.out_w; ++ox) {
                        const int64_t ix = ox * g.sw - g.pw + j * g.dw;
                        bool inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
                        dst[ox] = inside ? x[(c * g.H + iy) * g.W + ix] : T(0);
                    }
                }
            }
}

// x[C, H, W] += every column of cols[C*kh*kw, L] put back at its window (overlaps add; the
// padding entries are dropped). x must start zeroed.
template <class T>
void col2im(const T* cols, T* x, const Geometry& g) {
    const int64_t L = g.blocks();
    for (int64_t c = 0; c < g.C; ++c)
        for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
                const T* row = cols + ((c * g.kh + i) * g.kw + j) * L;
                for (int64_t oy = 0; oy < g.out_h; ++oy) {
                    const int64_t iy = oy * g.sh - g.ph + i * g.dh;
                    if (iy < 0 || iy >= g.H) continue;
                    const T* src = row + oy * g.out_w;
                    for (int64_t ox = 0; ox < g.out_w; ++ox) {
                        const int64_t ix = ox * g.sw - g.pw + j * g.dw;
                        if (ix >= 0 && ix < g.W) x[(c * g.H + iy) * g.W + ix] += src[ox];
                    }
                }
            }
}

}  // namespace

// cols = unfold(x)   =>   dL/dx = fold(g): each pixel collects the gradient of every window
// position it was copied to (im2col's adjoint is col2im).
Tensor unfold(const Tensor& input, IntPair kernel_size, IntPair dilation, IntPair padding, IntPair stride, SrcLoc loc) {
    // input: [N, C, H, W] or [C, H, W]
    XG_CHECK(input.defined(), loc, "unfold: the input tensor is undefined");
    XG_CHECK(is_floating(input.dtype()), loc, "unfold: expects a floating point input, got " << dtype_name(input.dtype()));
    XG_CHECK(input.dim() == 3 || input.dim() == 4, loc,
             "unfold: expected a 3-D (unbatched) or 4-D (batched) input [N, C, H, W], got shape " << shape_str(input.shape()));
    check_window_args("unfold", kernel_size, dilation, padding, stride, loc);
    const bool batched = input.dim() == 4;
    const int64_t N = batched ? input.shape()[0] : 1;
    const int64_t o = batched ? 1 : 0;
    const Shape& s = input.shape();
    Geometry g = make_geometry(s[static_cast<size_t>(o)], s[static_cast<size_t>(o + 1)], s[static_cast<size_t>(o + 2)],
                               kernel_size, dilation, padding, stride);
    XG_CHECK(g.out_h >= 1 && g.out_w >= 1, loc,
             "unfold: given input with spatial size (" << g.H << ", " << g.W << "), kernel_size=" << tuple(kernel_size)
                 << ", dilation=" << tuple(dilation) << ", padding=" << tuple(padding)
                 << ", calculated shape of the array of sliding blocks as (" << g.out_h << ", " << g.out_w
                 << "), but its components must be at least one");

    Tensor x = input.is_contiguous() ? input.detach() : input.detach().contiguous();
    Shape out_shape = batched ? Shape{N, g.rows(), g.blocks()} : Shape{g.rows(), g.blocks()};
    Tensor out = detail::make_empty(out_shape, input.dtype());
    XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
        const int64_t image = g.C * g.H * g.W, col = g.rows() * g.blocks();
        for (int64_t n = 0; n < N; ++n) im2col(x.data_ptr<T>() + n * image, out.data_ptr<T>() + n * col, g);
    });
    if (autograd::needs_grad({&input})) {
        IntPair image_size(g.H, g.W);
        autograd::attach(out, "Im2ColBackward0", loc, {input},
                         [=](const Tensor& grad) -> std::vector<Tensor> {
                             return {fold(grad, image_size, kernel_size, dilation, padding, stride, loc)};
                         });
    }
    return out;
}

// x = fold(cols)   =>   dL/dcols = unfold(g): each column entry reads the gradient of the
// pixel it was added into.
Tensor fold(const Tensor& input, IntPair output_size, IntPair kernel_size, IntPair dilation, IntPair padding,
            IntPair stride, SrcLoc loc) {
    // input: [N, C*kh*kw, L] or [C*kh*kw, L]
    XG_CHECK(input.defined(), loc, "fold: the input tensor is undefined");
    XG_CHECK(is_floating(input.dtype()), loc, "fold: expects a floating point input, got " << dtype_name(input.dtype()));
    XG_CHECK(input.dim() == 2 || input.dim() == 3, loc,
             "fold: expected a 2-D (unbatched) or 3-D (batched) input [N, C*kh*kw, L], got shape " << shape_str(input.shape()));
    check_window_args("fold", kernel_size, dilation, padding, stride, loc);
    XG_CHECK(output_size.h > 0 && output_size.w > 0, loc,
             "fold: output_size should be greater than zero, but got output_size=" << tuple(output_size));
    const bool batched = input.dim() == 3;
    const int64_t N = batched ? input.shape()[0] : 1;
    const int64_t rows = input.shape()[batched ? 1 : 0], L = input.shape()[batched ? 2 : 1];
    const int64_t patch = kernel_size.h * kernel_size.w;
    XG_CHECK(rows % patch == 0, loc,
             "fold: expected size of input's dimension " << (batched ? 1 : 0)
                 << " to be divisible by the product of kernel_size, but got input.size(" << (batched ? 1 : 0)
                 << ")=" << rows << " and kernel_size=" << tuple(kernel_size));
    Geometry g = make_geometry(rows / patch, output_size.h, output_size.w, kernel_size, dilation, padding, stride);
    XG_CHECK(g.out_h >= 1 && g.out_w >= 1 && g.blocks() == L, loc,
             "fold: given output_size=" << tuple(output_size) << ", kernel_size=" << tuple(kernel_size) << ", dilation="
                 << tuple(dilation) << ", padding=" << tuple(padding) << ", stride=" << tuple(stride)
                 << ", expected size of input's dimension " << (batched ? 2 : 1)
                 << " to match the calculated number of sliding blocks " << g.out_h << " * " << g.out_w << " = "
                 << g.blocks() << ", but got input.size(" << (batched ? 2 : 1) << ")=" << L);

    Tensor cols = input.is_contiguous() ? input.detach() : input.detach().contiguous();
    Shape out_shape = batched ? Shape{N, g.C, g.H, g.W} : Shape{g.C, g.H, g.W};
    Tensor out = zeros(out_shape, dtype(input.dtype()));
    XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
        const int64_t image = g.C * g.H * g.W, col = g.rows() * g.blocks();
        for (int64_t n = 0; n < N; ++n) col2im(cols.data_ptr<T>() + n * col, out.data_ptr<T>() + n * image, g);
    });
    if (autograd::needs_grad({&input})) {
        autograd::attach(out, "Col2ImBackward0", loc, {input}, [=](const Tensor& grad) -> std::vector<Tensor> {
            return {unfold(grad, kernel_size, dilation, padding, stride, loc)};
        });
    }
    return out;
}

Tensor unfold(const Tensor& input, IntPair kernel_size, const UnfoldOptions& o, SrcLoc loc) {
    return unfold(input, kernel_size, o.dilation, o.padding, o.stride, loc);
}

Tensor fold(const Tensor& input, IntPair output_size, IntPair kernel_size, const UnfoldOptions& o, SrcLoc loc) {
    return fold(input, output_size, kernel_size, o.dilation, o.padding, o.stride, loc);
}

}  // namespace xg::nn::functional
