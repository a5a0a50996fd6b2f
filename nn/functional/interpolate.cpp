// F::interpolate: nearest, bilinear and bicubic resizing of [N, C, H, W] tensors, with
// PyTorch 1.13's coordinate rules (aten/src/ATen/native/UpSample.h), so the numbers agree.
//
// Every mode is separable and linear in the input: along each axis, output position o reads a
// few input positions index[o][k] with weights weight[o][k] ("taps": 1 for nearest, 2 for
// bilinear, 4 for bicubic), and
//   y[p, oy, ox] = sum_i sum_j wy[oy][i] * wx[ox][j] * x[p, iy[oy][i], ix[ox][j]]
// The backward is the transpose of that sum: each output gradient is sent back to the same
// input pixels along the same weights (pixels read twice, e.g. at a clamped border, add up).
#include "nn/interpolate.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd/node.h"

namespace xg::nn::functional {

namespace {

// One axis of a resize: for each of out_size positions, `per` input indices and their weights.
struct Taps {
    int64_t in_size = 0, out_size = 0, per = 0;
    std::vector<int64_t> index;  // [out_size * per], each in [0, in_size)
    std::vector<double> weight;  // [out_size * per]
};

// Both axes, and the grad_fn name PyTorch gives the op.
struct Plan {
    Taps h, w;
    const char* name = "";  // e.g. UpsampleBicubic2DBackward0
};

// PyTorch's area_pixel_compute_scale: input pixels per output pixel. It is computed in the
// tensor's own precision (float for float tensors), as PyTorch's opmath type is.
template <class T>
T compute_scale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale_factor) {
    if (align_corners) return out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
    if (scale_factor && *scale_factor > 0) return static_cast<T>(1.0 / *scale_factor);
    return static_cast<T>(in) / static_cast<T>(out);
}

// PyTorch's area_pixel_compute_source_index: where output pixel `dst` falls in the input.
// Without align_corners, pixel centres sit at i + 0.5, hence the +0.5 / -0.5. Linear modes
// clamp a negative coordinate to 0; cubic keeps it (its border reads are clamped instead).
template <class T>
T source_index(T scale, int64_t dst, bool align_corners, bool cubic) {
    if (align_corners) return scale * static_cast<T>(dst);
    T src = scale * (static_cast<T>(dst) + T(0.5)) - T(0.5);
    return (!cubic && src < T(0)) ? T(0) : src;
}

// mode="nearest": output pixel dst copies input pixel floor(dst * in / out). PyTorch computes
// that scale in float whatever the dtype (nearest_neighbor_compute_source_index), and rounding
// matters here (5/3 in float times 3 is just under 5), so we do too.
Taps nearest_taps(int64_t in, int64_t out, std::optional<double> scale_factor) {
    Taps t{in, out, 1, {}, {}};
    const float scale = (scale_factor && *scale_factor > 0) ? static_cast<float>(1.0 / *scale_factor)
                                                            : static_cast<float>(in) / static_cast<float>(out);
    for (int64_t dst = 0; dst < out; ++dst) {
        int64_t src = 0;
        if (out == in) src = dst;
        else if (out == 2 * in) src = dst >> 1;
        else src = std::min(static_cast<int64_t>(std::floor(static_cast<float>(dst) * scale)), in - 1);
        t.index.push_back(src);
        t.weight.push_back(1.0);
    }
    return t;
}

// mode="bilinear": the two input pixels around the source coordinate, weighted by closeness.
template <class T>
Taps bilinear_taps(int64_t in, int64_t out, bool align_corners, std::optional<double> scale_factor) {
    Taps t{in, out, 2, {}, {}};
    const T scale = compute_scale<T>(in, out, align_corners, scale_factor);
    for (int64_t dst = 0; dst < out; ++dst) {
        int64_t i0 = dst, i1 = dst;
        T lambda1 = 0;
        if (in != out) {
            const T real = source_index<T>(scale, dst, align_corners, /*cubic=*/false);
            i0 = static_cast<int64_t>(real);  // real >= 0, so this is floor
            i1 = i0 + (i0 < in - 1 ? 1 : 0);  // the last pixel has no right neighbour
            lambda1 = std::clamp(real - static_cast<T>(i0), T(0), T(1));
        }
        t.index.insert(t.index.end(), {i0, i1});
        t.weight.insert(t.weight.end(), {static_cast<double>(T(1) - lambda1), static_cast<double>(lambda1)});
    }
    return t;
}

// Keys' cubic convolution kernel with A = -0.75 (PyTorch's get_cubic_upsample_coefficients):
//   |x| <= 1:      (A + 2)|x|^3 - (A + 3)|x|^2 + 1
//   1 < |x| < 2:   A|x|^3 - 5A|x|^2 + 8A|x| - 4A
// The four weights for a point at fraction t past input pixel i (pixels i-1, i, i+1, i+2 sit at
// distances 1+t, t, 1-t, 2-t) sum to 1, so a constant image stays constant.
template <class T>
T cubic_convolution1(T x, T A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
template <class T>
T cubic_convolution2(T x, T A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

// mode="bicubic": the four input pixels around the source coordinate; reads beyond the border
// are clamped to the border pixel (PyTorch's upsample_get_value_bounded).
template <class T>
Taps bicubic_taps(int64_t in, int64_t out, bool align_corners, std::optional<double> scale_factor) {
    Taps t{in, out, 4, {}, {}};
    const T A = T(-0.75);
    const T scale = compute_scale<T>(in, out, align_corners, scale_factor);
    for (int64_t dst = 0; dst < out; ++dst) {
        const T real = source_index<T>(scale, dst, align_corners, /*cubic=*/true);
        const int64_t i = static_cast<int64_t>(std::floor(real));
        const T frac = real - static_cast<T>(i);
        const T w[4] = {cubic_convolution2<T>(frac + 1, A), cubic_convolution1<T>(frac, A),
                        cubic_convolution1<T>(1 - frac, A), cubic_convolution2<T>(2 - frac, A)};
        for (int64_t k = 0; k < 4; ++k) {
            t.index.push_back(std::clamp<int64_t>(i - 1 + k, 0, in - 1));
            t.weight.push_back(static_cast<double>(w[k]));
        }
    }
    return t;
}

// y[p, oy, ox] = sum_i wy[oy][i] * (sum_j wx[ox][j] * x[p, iy[oy][i], ix[ox][j]])
// x: [planes, H, W] contiguous, y: [planes, out_h, out_w]. Sums are kept in double.
template <class T>
void resample_forward(const T* x, T* y, int64_t planes, const Taps& th, const Taps& tw) {
    const int64_t H = th.in_size, W = tw.in_size, OH = th.out_size, OW = tw.out_size;
    for (int64_t p = 0; p < planes; ++p) {
        const T* plane = x + p * H * W;
        T* out = y + p * OH * OW;
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                double acc = 0.0;
                for (int64_t i = 0; i < th.per; ++i) {
                    const T* row = plane + th.index[oy * th.per + i] * W;
                    double row_sum = 0.0;
                    for (int64_t j = 0; j < tw.per; ++j)
                        row_sum += tw.weight[ox * tw.per + j] * static_cast<double>(row[tw.index[ox * tw.per + j]]);
                    acc += th.weight[oy * th.per + i] * row_sum;
                }
                out[oy * OW + ox] = static_cast<T>(acc);
            }
    }
}

// The transpose: x[p, iy[oy][i], ix[ox][j]] += wy[oy][i] * wx[ox][j] * g[p, oy, ox].
// g: [planes, out_h, out_w] contiguous; x: [planes, H, W], overwritten (sums are kept in double).
template <class T>
void resample_transposed(const T* g, T* x, int64_t planes, const Taps& th, const Taps& tw) {
    const int64_t H = th.in_size, W = tw.in_size, OH = th.out_size, OW = tw.out_size;
    std::vector<double> acc(static_cast<size_t>(H * W));
    for (int64_t p = 0; p < planes; ++p) {
        std::fill(acc.begin(), acc.end(), 0.0);
        const T* gp = g + p * OH * OW;
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                const double go = static_cast<double>(gp[oy * OW + ox]);
                for (int64_t i = 0; i < th.per; ++i) {
                    const double gy = go * th.weight[oy * th.per + i];
                    double* row = acc.data() + th.index[oy * th.per + i] * W;
                    for (int64_t j = 0; j < tw.per; ++j) row[tw.index[ox * tw.per + j]] += gy * tw.weight[ox * tw.per + j];
                }
            }
        T* xp = x + p * H * W;
        for (int64_t k = 0; k < H * W; ++k) xp[k] = static_cast<T>(acc[static_cast<size_t>(k)]);
    }
}

// x = resample^T(g)   (the backward of apply_plan; the engine runs it without recording a graph)
//   grad: [N, C, out_h, out_w]   ->   [N, C, H, W]
Tensor apply_transposed(const Tensor& grad, const Plan& plan, const SrcLoc& loc) {
    const Shape& s = grad.shape();
    Tensor g = grad.is_contiguous() ? grad : grad.contiguous(loc);
    Tensor out = detail::make_empty({s[0], s[1], plan.h.in_size, plan.w.in_size}, grad.dtype());
    XG_DISPATCH_FLOAT(grad.dtype(), T, [&] {
        resample_transposed(g.data_ptr<T>(), out.data_ptr<T>(), s[0] * s[1], plan.h, plan.w);
    });
    return out;
}

// y = resample(x)   =>   dL/dx = resample^T(g)   (apply_transposed)
//   input: [N, C, H, W]   ->   [N, C, out_h, out_w]
Tensor apply_plan(const Tensor& input, const std::shared_ptr<const Plan>& plan, const SrcLoc& loc) {
    const Shape& s = input.shape();
    Tensor x = input.is_contiguous() ? input.detach() : input.detach().contiguous(loc);
    Tensor out = detail::make_empty({s[0], s[1], plan->h.out_size, plan->w.out_size}, input.dtype());
    XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
        resample_forward(x.data_ptr<T>(), out.data_ptr<T>(), s[0] * s[1], plan->h, plan->w);
    });
    if (autograd::needs_grad({&input}))
        autograd::attach(out, plan->name, loc, {input}, [plan, loc](const Tensor& g) -> std::vector<Tensor> {
            return {apply_transposed(g, *plan, loc)};
        });
    return out;
}

// The output size of one dim: the given size, or floor(in * scale_factor) as PyTorch computes it.
int64_t output_size(int64_t in, const std::optional<IntPair>& size, std::optional<double> scale_factor, bool height) {
    if (size) return height ? size->h : size->w;
    return static_cast<int64_t>(std::floor(static_cast<double>(in) * *scale_factor));
}

}  // namespace

Tensor interpolate(const Tensor& input, const InterpolateOptions& o, SrcLoc loc) {
    XG_CHECK(input.defined(), loc, "interpolate: the input tensor is undefined");
    XG_CHECK(is_floating(input.dtype()), loc,
             "interpolate: expects a floating point input, got " << dtype_name(input.dtype()));
    const std::string& mode = o.mode;
    XG_CHECK(mode == "nearest" || mode == "bilinear" || mode == "bicubic", loc,
             "interpolate: mode must be 'nearest', 'bilinear' or 'bicubic', got '" << mode << "'");
    XG_CHECK(input.dim() == 4, loc,
             "interpolate: expected a 4-D input [N, C, H, W] for mode '" << mode << "', got shape "
                                                                        << shape_str(input.shape()));
    XG_CHECK(!(o.size && o.scale_factor), loc, "interpolate: only one of size or scale_factor should be defined");
    XG_CHECK(o.size || o.scale_factor, loc, "interpolate: either size or scale_factor should be defined");
    XG_CHECK(!(mode == "nearest" && o.align_corners), loc,
             "interpolate: align_corners option can only be set with the interpolating modes: bilinear | bicubic "
             "(got mode '" << mode << "')");
    if (o.size)
        XG_CHECK(o.size->h > 0 && o.size->w > 0, loc,
                 "interpolate: output size must be positive, got size=(" << o.size->h << ", " << o.size->w << ")");
    if (o.scale_factor)
        XG_CHECK(*o.scale_factor > 0 && std::isfinite(*o.scale_factor), loc,
                 "interpolate: scale_factor must be a positive number, got " << *o.scale_factor);

    const int64_t H = input.shape()[2], W = input.shape()[3];
    XG_CHECK(H > 0 && W > 0, loc, "interpolate: input spatial size must be positive, got shape " << shape_str(input.shape()));
    const int64_t out_h = output_size(H, o.size, o.scale_factor, true);
    const int64_t out_w = output_size(W, o.size, o.scale_factor, false);
    XG_CHECK(out_h > 0 && out_w > 0, loc,
             "interpolate: input spatial size (" << H << ", " << W << ") with scale_factor=" << o.scale_factor.value_or(0)
                                                 << " gives output size (" << out_h << ", " << out_w
                                                 << "), which must be positive");

    const bool align = o.align_corners.value_or(false);
    auto plan = std::make_shared<Plan>();
    if (mode == "nearest") {
        plan->h = nearest_taps(H, out_h, o.scale_factor);
        plan->w = nearest_taps(W, out_w, o.scale_factor);
        plan->name = "UpsampleNearest2DBackward0";
    } else if (mode == "bilinear") {
        XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
            plan->h = bilinear_taps<T>(H, out_h, align, o.scale_factor);
            plan->w = bilinear_taps<T>(W, out_w, align, o.scale_factor);
        });
        plan->name = "UpsampleBilinear2DBackward0";
    } else {
        XG_DISPATCH_FLOAT(input.dtype(), T, [&] {
            plan->h = bicubic_taps<T>(H, out_h, align, o.scale_factor);
            plan->w = bicubic_taps<T>(W, out_w, align, o.scale_factor);
        });
        plan->name = "UpsampleBicubic2DBackward0";
    }
    return apply_plan(input, plan, loc);
}

Tensor interpolate(const Tensor& input, std::optional<IntPair> size, std::optional<double> scale_factor,
                   const std::string& mode, std::optional<bool> align_corners, SrcLoc loc) {
    return interpolate(input, InterpolateOptions{size, scale_factor, mode, align_corners}, loc);
}

}  // namespace xg::nn::functional
