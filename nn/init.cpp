// nn::init: PyTorch's initialization formulas (torch/nn/init.py), filling tensors in place.
#include "nn/init.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numbers>

#include "core/autograd/grad_mode.h"
#include "core/ops.h"

namespace xg::nn::init {

namespace {

void check_tensor(const char* op, const Tensor& t, const SrcLoc& loc) {
    XG_CHECK(t.defined(), loc, "init." << op << ": the tensor is undefined");
    XG_CHECK(is_floating(t.dtype()), loc,
             "init." << op << ": expects a floating point tensor, got " << dtype_name(t.dtype()));
}

// Writes `values` into `tensor`: one in-place copy, so the version counter moves once.
Tensor write(const Tensor& tensor, const Tensor& values, const SrcLoc& loc) {
    NoGradGuard no_grad;
    Tensor t = tensor;
    t.copy_(values, loc);
    return t;
}

// The inverse error function on (-1, 1): Giles' single-precision approximation ("Approximating
// the erfinv function", 2010) polished by two Newton steps on erf(x) - y = 0 in double.
double erfinv(double y) {
    if (y <= -1.0) return -std::numeric_limits<double>::infinity();
    if (y >= 1.0) return std::numeric_limits<double>::infinity();
    double w = -std::log((1.0 - y) * (1.0 + y)), p;
    if (w < 5.0) {
        w -= 2.5;
        p = 2.81022636e-08;
        for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                         -0.00417768164, 0.246640727, 1.50140941})
            p = c + p * w;
    } else {
        w = std::sqrt(w) - 3.0;
        p = -0.000200214257;
        for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                         0.00943887047, 1.00167406, 2.83297682})
            p = c + p * w;
    }
    double x = p * y;
    for (int i = 0; i < 2; ++i) {  // d/dx erf(x) = 2/sqrt(pi) e^(-x^2)
        x -= (std::erf(x) - y) / (2.0 / std::sqrt(std::numbers::pi) * std::exp(-x * x));
    }
    return x;
}

double norm_cdf(double x) { return (1.0 + std::erf(x / std::numbers::sqrt2)) / 2.0; }

int64_t correct_fan(const Tensor& t, const std::string& mode_in, const char* op, const SrcLoc& loc) {
    std::string mode = mode_in;
    std::transform(mode.begin(), mode.end(), mode.begin(), [](unsigned char c) { return std::tolower(c); });
    XG_CHECK(mode == "fan_in" || mode == "fan_out", loc,
             "init." << op << ": mode " << mode_in << " not supported, please use one of fan_in, fan_out");
    Fans f = _calculate_fan_in_and_fan_out(t, loc);
    return mode == "fan_in" ? f.fan_in : f.fan_out;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param, SrcLoc loc) {
    for (const char* linear : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                               "conv_transpose3d", "sigmoid"})
        if (nonlinearity == linear) return 1.0;
    if (nonlinearity == "tanh") return 5.0 / 3.0;
    if (nonlinearity == "relu") return std::sqrt(2.0);
    if (nonlinearity == "leaky_relu") {
        double slope = param.value_or(0.01);
        return std::sqrt(2.0 / (1.0 + slope * slope));
    }
    if (nonlinearity == "selu") return 3.0 / 4.0;  // value found empirically (PyTorch #50664)
    XG_FAIL(loc, "init.calculate_gain: unsupported nonlinearity " << nonlinearity);
}

Fans _calculate_fan_in_and_fan_out(const Tensor& tensor, SrcLoc loc) {
    XG_CHECK(tensor.defined(), loc, "init._calculate_fan_in_and_fan_out: the tensor is undefined");
    XG_CHECK(tensor.dim() >= 2, loc,
             "init: fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got shape "
                 << tensor.shape() << ")");
    int64_t receptive_field = 1;  // kh * kw for a conv weight [out, in, kh, kw]
    for (int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.shape()[static_cast<size_t>(d)];
    return {tensor.shape()[1] * receptive_field, tensor.shape()[0] * receptive_field};
}

// PyTorch's CPU uniform_: u in [0, 1) from as many random bits as T's mantissa has, then
// u * (b - a) + a computed in T. rand() draws those same u's from the same generator.
Tensor uniform_(const Tensor& tensor, double a, double b, SrcLoc loc) {
    check_tensor("uniform_", tensor, loc);
    XG_CHECK(a <= b, loc, "init.uniform_: expects to return a [from, to) range, but found from=" << a << " > to=" << b);
    NoGradGuard no_grad;
    Tensor u = rand(tensor.shape(), dtype(tensor.dtype()));
    XG_DISPATCH_FLOAT(tensor.dtype(), T, [&] {
        const T from = static_cast<T>(a), to = static_cast<T>(b);
        T* p = u.data_ptr<T>();
        for (int64_t i = 0; i < u.numel(); ++i) p[i] = p[i] * (to - from) + from;
    });
    return write(tensor, u, loc);
}

// PyTorch's CPU normal_: fewer than 16 elements draw one double normal at a time (z * std +
// mean in double, then rounded to T); 16 or more draw normals in T's precision in blocks of
// 16 (see core/random.cpp) and scale them in T. randn reproduces both paths.
Tensor normal_(const Tensor& tensor, double mean, double std, SrcLoc loc) {
    check_tensor("normal_", tensor, loc);
    XG_CHECK(std >= 0.0, loc, "init.normal_: expects std >= 0.0, but found std " << std);
    NoGradGuard no_grad;
    const bool small = tensor.numel() < 16;
    Tensor z = randn(tensor.shape(), dtype(small ? kFloat64 : tensor.dtype()));
    if (small) {
        double* p = z.data_ptr<double>();
        for (int64_t i = 0; i < z.numel(); ++i) p[i] = p[i] * std + mean;
    } else {
        XG_DISPATCH_FLOAT(tensor.dtype(), T, [&] {
            T* p = z.data_ptr<T>();
            for (int64_t i = 0; i < z.numel(); ++i) p[i] = p[i] * static_cast<T>(std) + static_cast<T>(mean);
        });
    }
    return write(tensor, z, loc);
}

// Inverse-CDF sampling: with l = cdf((a - mean) / std) and u = cdf((b - mean) / std), draw
// v ~ uniform(2l - 1, 2u - 1) and set x = mean + std * sqrt(2) * erfinv(v), clamped to [a, b].
// (2 cdf(z) - 1 = erf(z / sqrt 2), so erfinv maps v back to a normal sample in [a, b].)
Tensor trunc_normal_(const Tensor& tensor, double mean, double std, double a, double b, SrcLoc loc) {
    check_tensor("trunc_normal_", tensor, loc);
    XG_CHECK(std >= 0.0, loc, "init.trunc_normal_: expects std >= 0.0, but found std " << std);
    XG_CHECK(a <= b, loc, "init.trunc_normal_: expects a <= b, got a=" << a << ", b=" << b);
    NoGradGuard no_grad;
    const double l = norm_cdf((a - mean) / std), u = norm_cdf((b - mean) / std);
    Tensor v = empty(tensor.shape(), dtype(tensor.dtype()));
    uniform_(v, 2 * l - 1, 2 * u - 1, loc);
    XG_DISPATCH_FLOAT(tensor.dtype(), T, [&] {
        T* p = v.data_ptr<T>();
        for (int64_t i = 0; i < v.numel(); ++i) {
            T x = static_cast<T>(erfinv(static_cast<double>(p[i])));
            x = x * static_cast<T>(std * std::numbers::sqrt2) + static_cast<T>(mean);
            p[i] = std::clamp(x, static_cast<T>(a), static_cast<T>(b));
        }
    });
    return write(tensor, v, loc);
}

Tensor constant_(const Tensor& tensor, double value, SrcLoc loc) {
    XG_CHECK(tensor.defined(), loc, "init.constant_: the tensor is undefined");
    NoGradGuard no_grad;
    Tensor t = tensor;
    t.fill_(value, loc);
    return t;
}

Tensor zeros_(const Tensor& tensor, SrcLoc loc) { return constant_(tensor, 0.0, loc); }
Tensor ones_(const Tensor& tensor, SrcLoc loc) { return constant_(tensor, 1.0, loc); }

Tensor xavier_uniform_(const Tensor& tensor, double gain, SrcLoc loc) {
    check_tensor("xavier_uniform_", tensor, loc);
    Fans f = _calculate_fan_in_and_fan_out(tensor, loc);
    const double std = gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out));
    const double bound = std::sqrt(3.0) * std;  // uniform(-a, a) has std a / sqrt(3)
    return uniform_(tensor, -bound, bound, loc);
}

Tensor xavier_normal_(const Tensor& tensor, double gain, SrcLoc loc) {
    check_tensor("xavier_normal_", tensor, loc);
    Fans f = _calculate_fan_in_and_fan_out(tensor, loc);
    const double std = gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out));
    return normal_(tensor, 0.0, std, loc);
}

Tensor kaiming_uniform_(const Tensor& tensor, double a, const std::string& mode, const std::string& nonlinearity,
                        SrcLoc loc) {
    check_tensor("kaiming_uniform_", tensor, loc);
    if (tensor.numel() == 0) return tensor;  // PyTorch warns and leaves a zero-element tensor alone
    const int64_t fan = correct_fan(tensor, mode, "kaiming_uniform_", loc);
    const double gain = calculate_gain(nonlinearity, a, loc);
    const double std = gain / std::sqrt(static_cast<double>(fan));
    const double bound = std::sqrt(3.0) * std;  // uniform(-b, b) has std b / sqrt(3)
    return uniform_(tensor, -bound, bound, loc);
}

Tensor kaiming_normal_(const Tensor& tensor, double a, const std::string& mode, const std::string& nonlinearity,
                       SrcLoc loc) {
    check_tensor("kaiming_normal_", tensor, loc);
    if (tensor.numel() == 0) return tensor;
    const int64_t fan = correct_fan(tensor, mode, "kaiming_normal_", loc);
    const double gain = calculate_gain(nonlinearity, a, loc);
    return normal_(tensor, 0.0, gain / std::sqrt(static_cast<double>(fan)), loc);
}

}  // namespace xg::nn::init
