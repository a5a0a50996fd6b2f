// Elementwise ops: forward values, broadcasting, dtype promotion, scalar overloads, in-place
// ops, errors, and a float64 gradcheck for every differentiable one, on contiguous, broadcast
// and non-contiguous (transposed, expanded) inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "xgrad.h"

using xg::Tensor;
using Inputs = std::vector<Tensor>;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

Tensor f64(std::vector<double> v, xg::Shape shape) {
    return xg::tensor(v, shape, xg::dtype(xg::kFloat64).requires_grad());
}

// Deterministic float64 leaf of `shape` with values in roughly [lo, hi], no RNG needed.
Tensor leaf(xg::Shape shape, double lo = -2.0, double hi = 2.0, uint64_t seed = 1) {
    std::vector<double> v(static_cast<size_t>(xg::numel_of(shape)));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    for (double& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = lo + (hi - lo) * static_cast<double>(s >> 11) / static_cast<double>(1ull << 53);
    }
    return f64(v, shape);
}

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const xg::Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("elementwise: forward values and operators") {
    Tensor a = xg::tensor({1, 2, 3});
    Tensor b = xg::tensor({4, 5, 6});
    CHECK(values(a + b) == std::vector<double>{5, 7, 9});
    CHECK(values(a - b) == std::vector<double>{-3, -3, -3});
    CHECK(values(a * b) == std::vector<double>{4, 10, 18});
    CHECK(values(b / a) == std::vector<double>{4, 2.5, 2});
    CHECK(values(a * 2) == std::vector<double>{2, 4, 6});
    CHECK(values(2 * a) == std::vector<double>{2, 4, 6});
    CHECK(values(a + 1) == std::vector<double>{2, 3, 4});
    CHECK(values(10 - a) == std::vector<double>{9, 8, 7});
    CHECK(values(6 / a) == std::vector<double>{6, 3, 2});
    CHECK(values(-a) == std::vector<double>{-1, -2, -3});
    CHECK(values(xg::pow(a, 2.0)) == std::vector<double>{1, 4, 9});
    CHECK(values(xg::pow(2.0, a)) == std::vector<double>{2, 4, 8});
    CHECK(values(xg::pow(a, b)) == std::vector<double>{1, 32, 729});
    CHECK(values(xg::maximum(a, xg::tensor({2, 2, 2}))) == std::vector<double>{2, 2, 3});
    CHECK(values(xg::minimum(a, xg::tensor({2, 2, 2}))) == std::vector<double>{1, 2, 2});
    CHECK(values(xg::where(xg::gt(a, 1.5), a, b)) == std::vector<double>{4, 2, 3});
    CHECK(values(xg::eq(a, xg::tensor({1, 0, 3}))) == std::vector<double>{1, 0, 1});
}

TEST_CASE("elementwise: unary forward values") {
    Tensor x = xg::tensor({-1.0, 0.0, 0.5, 2.0}, xg::dtype(xg::kFloat64));
    std::vector<double> v = values(x);
    auto check_map = [&](const Tensor& y, double (*f)(double)) {
        std::vector<double> got = values(y);
        for (size_t i = 0; i < v.size(); ++i) CHECK(got[i] == doctest::Approx(f(v[i])).epsilon(1e-12));
    };
    check_map(x.exp(), [](double t) { return std::exp(t); });
    check_map(x.tanh(), [](double t) { return std::tanh(t); });
    check_map(x.sigmoid(), [](double t) { return 1 / (1 + std::exp(-t)); });
    check_map(x.relu(), [](double t) { return t > 0 ? t : 0.0; });
    check_map(x.abs(), [](double t) { return std::abs(t); });
    check_map(x.sin(), [](double t) { return std::sin(t); });
    check_map(x.cos(), [](double t) { return std::cos(t); });
    check_map(xg::gelu(x), [](double t) { return 0.5 * t * (1 + std::erf(t / std::sqrt(2.0))); });
    check_map(xg::gelu(x, "tanh"), [](double t) {
        return 0.5 * t * (1 + std::tanh(std::sqrt(2 / M_PI) * (t + 0.044715 * t * t * t)));
    });
    check_map(x.clamp(-0.5, 1.0), [](double t) { return std::min(std::max(t, -0.5), 1.0); });
    Tensor p = xg::tensor({0.25, 1.0, 4.0}, xg::dtype(xg::kFloat64));
    CHECK(values(p.sqrt()) == std::vector<double>{0.5, 1, 2});
    CHECK(values(p.rsqrt()) == std::vector<double>{2, 1, 0.5});
    CHECK(values(p.log())[1] == 0);
    // float32 SIMD bodies and scalar tails agree with libm across a long row
    Tensor big = xg::linspace(-5, 5, 101);
    std::vector<float> e = big.exp().to_vector<float>(), src = big.to_vector<float>();
    for (size_t i = 0; i < e.size(); ++i) CHECK(e[i] == doctest::Approx(std::exp(src[i])).epsilon(1e-6));
}

TEST_CASE("elementwise: dividing by a power of two (a multiply inside) gives the division's bits") {
    // Random floats over many magnitudes, subnormals and specials included; each quotient must
    // be the IEEE quotient computed element by element.
    Tensor x = xg::randn({1000}) * xg::exp(xg::randn({1000}) * 30.0);
    float* p = x.data_ptr<float>();
    p[0] = 1e-40f;  // subnormal
    p[1] = -0.0f;
    p[2] = std::numeric_limits<float>::infinity();
    p[3] = std::numeric_limits<float>::quiet_NaN();
    p[4] = std::numeric_limits<float>::max();
    p[5] = std::numeric_limits<float>::denorm_min();
    for (double d : {4.0, 8.0, 0.5, -2.0, 1.0, 0x1p-126, 0x1p100, 3.0, 0.1}) {
        CAPTURE(d);
        Tensor q = x / d;
        const float* qp = q.data_ptr<float>();
        int same = 0;
        for (int64_t i = 0; i < 1000; ++i) {
            const float want = p[i] / static_cast<float>(d);
            same += std::memcmp(&want, qp + i, sizeof(float)) == 0 || (std::isnan(want) && std::isnan(qp[i]));
        }
        CHECK(same == 1000);
    }
}

TEST_CASE("elementwise: broadcasting shapes") {
    Tensor a = xg::ones({2, 1, 3});
    Tensor b = xg::ones({4, 1});
    CHECK((a + b).shape() == xg::Shape{2, 4, 3});
    CHECK((a * xg::scalar_tensor(2)).shape() == xg::Shape{2, 1, 3});
    Tensor row = xg::tensor({1, 2, 3});
    Tensor col = xg::tensor(std::vector<double>{10, 20}, xg::Shape{2, 1});
    CHECK(values(row + col) == std::vector<double>{11, 12, 13, 21, 22, 23});
    std::string msg = error_of([&] { (void)(xg::ones({2, 3}) + xg::ones({4})); });
    CHECK(contains(msg, "add: shapes [2, 3] and [4] cannot be broadcast"));
    CHECK(contains(msg, "test_elementwise.cpp:"));
}

TEST_CASE("elementwise: dtype promotion") {
    Tensor i = xg::tensor({1, 2}, xg::dtype(xg::kInt64));
    Tensor f = xg::tensor({0.5, 0.5});
    Tensor d = xg::tensor({0.5, 0.5}, xg::dtype(xg::kFloat64));
    CHECK((i + f).dtype() == xg::kFloat32);
    CHECK((f + d).dtype() == xg::kFloat64);
    CHECK((i + i).dtype() == xg::kInt64);
    CHECK((i * 2).dtype() == xg::kInt64);
    CHECK((i * 2.5).dtype() == xg::kFloat32);
    CHECK((i / i).dtype() == xg::kFloat32);  // true division
    CHECK(values(i / xg::tensor({2, 4}, xg::dtype(xg::kInt64))) == std::vector<double>{0.5, 0.5});
    std::string msg = error_of([&] { (void)i.exp(); });
    CHECK(contains(msg, "exp: expects a floating point tensor"));
}

TEST_CASE("elementwise: in-place ops bump the version counter and write through views") {
    Tensor x = xg::zeros({2, 3});
    uint64_t v0 = x._version();
    x.add_(xg::tensor({1, 2, 3}));
    x.mul_(2);
    x.sub_(1);
    x.div_(xg::full({2, 3}, 2.0));
    CHECK(x._version() == v0 + 4);
    CHECK(values(x) == std::vector<double>{0.5, 1.5, 2.5, 0.5, 1.5, 2.5});
    Tensor t = x.transpose(0, 1);  // a view: same storage
    t.fill_(7);
    CHECK(values(x) == std::vector<double>(6, 7.0));
    x.zero_();
    CHECK(values(t) == std::vector<double>(6, 0.0));
    x.copy_(xg::tensor({1, 2, 3}));  // broadcast copy
    CHECK(values(x) == std::vector<double>{1, 2, 3, 1, 2, 3});
    std::string msg = error_of([&] { x.add_(xg::ones({3, 3})); });
    CHECK(contains(msg, "add_"));
    CHECK(contains(msg, "[2, 3]"));
    CHECK(contains(msg, "[3, 3]"));
}

TEST_CASE("elementwise: in-place mul_ on a non-leaf is differentiable") {
    Tensor a = leaf({3});
    Tensor b = leaf({3}, -1, 1, 2);
    CHECK(xg::autograd::gradcheck(
        [](const Inputs& in) {
            Tensor t = in[0] * 1.0;
            t.mul_(in[1]);
            t.add_(in[1]);
            t.div_(2.0);
            return t;
        },
        {a, b}));
}

TEST_CASE("elementwise: gradcheck binary ops") {
    Tensor a = leaf({2, 3}), b = leaf({2, 3}, 0.5, 2.0, 3);
    auto check = [&](auto f) { CHECK(xg::autograd::gradcheck([f](const Inputs& in) { return f(in[0], in[1]); }, {a, b})); };
    check([](const Tensor& x, const Tensor& y) { return x + y; });
    check([](const Tensor& x, const Tensor& y) { return x - y; });
    check([](const Tensor& x, const Tensor& y) { return x * y; });
    check([](const Tensor& x, const Tensor& y) { return x / y; });
    check([](const Tensor& x, const Tensor& y) { return xg::add(x, y, 0.5); });
    check([](const Tensor& x, const Tensor& y) { return xg::maximum(x, y); });
    check([](const Tensor& x, const Tensor& y) { return xg::minimum(x, y); });
    check([](const Tensor& x, const Tensor& y) { return xg::where(xg::gt(x, 0.0), x, y); });
    check([](const Tensor& x, const Tensor& y) { return xg::pow(y, x); });  // positive base
    check([](const Tensor& x, const Tensor& y) { return x * 3.0 + 2.0 - y / 4.0; });
    check([](const Tensor& x, const Tensor& y) { return 2.0 - x + 3.0 / y; });
    check([](const Tensor& x, const Tensor& y) { return xg::pow(x, 3.0) + xg::pow(y, 0.5) + xg::pow(2.0, x); });
}

TEST_CASE("elementwise: gradcheck broadcasting and non-contiguous inputs") {
    Tensor a = leaf({2, 1, 3}), b = leaf({4, 1}, 0.5, 2, 5), m = leaf({3, 2}, -1, 1, 6);
    auto gc = [](auto f, Inputs in) { return xg::autograd::gradcheck(f, in); };
    CHECK(gc([](const Inputs& in) { return in[0] * in[1]; }, {a, b}));
    CHECK(gc([](const Inputs& in) { return in[0] / in[1] - in[1]; }, {a, b}));
    CHECK(gc([](const Inputs& in) { return xg::maximum(in[0], in[1]); }, {a, b}));
    // transposed: m.t() is [2, 3] with strides [1, 2]
    CHECK(gc([](const Inputs& in) { return in[0].t() * in[1].squeeze(1); }, {m, a}));
    // expanded: stride 0 along the broadcast dim
    CHECK(gc([](const Inputs& in) { return in[0].expand({4, 3}).exp() * in[1]; }, {leaf({1, 3}), b}));
    CHECK(gc([](const Inputs& in) { return in[0].t().tanh(); }, {m}));
}

TEST_CASE("elementwise: gradcheck unary ops") {
    Tensor x = leaf({3, 4}, -2, 2, 11);
    Tensor pos = leaf({3, 4}, 0.2, 3, 12);
    auto gc = [](auto f, const Tensor& in) { return xg::autograd::gradcheck([f](const Inputs& v) { return f(v[0]); }, {in}); };
    CHECK(gc([](const Tensor& t) { return -t; }, x));
    CHECK(gc([](const Tensor& t) { return t.exp(); }, x));
    CHECK(gc([](const Tensor& t) { return t.log(); }, pos));
    CHECK(gc([](const Tensor& t) { return t.sqrt(); }, pos));
    CHECK(gc([](const Tensor& t) { return t.rsqrt(); }, pos));
    CHECK(gc([](const Tensor& t) { return t.abs(); }, x));
    CHECK(gc([](const Tensor& t) { return t.tanh(); }, x));
    CHECK(gc([](const Tensor& t) { return t.sigmoid(); }, x));
    CHECK(gc([](const Tensor& t) { return t.relu(); }, x));
    CHECK(gc([](const Tensor& t) { return xg::gelu(t); }, x));
    CHECK(gc([](const Tensor& t) { return xg::gelu(t, "tanh"); }, x));
    CHECK(gc([](const Tensor& t) { return t.sin(); }, x));
    CHECK(gc([](const Tensor& t) { return t.cos(); }, x));
    CHECK(gc([](const Tensor& t) { return t.clamp(-1.0, 1.0); }, x));
    CHECK(gc([](const Tensor& t) { return t.clamp(std::nullopt, 0.5); }, x));
    CHECK(gc([](const Tensor& t) { return t.clone() * t.t().t().contiguous(); }, x));
}

TEST_CASE("elementwise: to(dtype) passes the gradient back in the input's dtype") {
    Tensor x = leaf({3});
    Tensor y = x.to(xg::kFloat32);
    CHECK(y.grad_fn()->name() == "ToCopyBackward0");
    (y * 2).sum().backward();
    CHECK(x.grad().dtype() == xg::kFloat64);
    CHECK(values(x.grad()) == std::vector<double>{2, 2, 2});
}

TEST_CASE("elementwise: float gelu (Abramowitz & Stegun's erf) is within 2e-7 (3e-7 backward) of the exact one") {
    // float32 runs erf as 1 - t P(t) e^(-z^2) (PyTorch's vectorized formula); compare it with
    // float64's exact erf on a row long enough for SIMD bodies and a scalar tail (1001 elements).
    Tensor x64 = xg::linspace(-9, 9, 1001, xg::dtype(xg::kFloat64));
    Tensor x32 = x64.to(xg::kFloat32).requires_grad_(true);
    Tensor g64 = xg::cos(x64 * 3.0), g32 = g64.to(xg::kFloat32);
    Tensor y32 = xg::gelu(x32);
    y32.backward(g32);
    Tensor x64r = x32.detach().to(xg::kFloat64).requires_grad_(true);  // the same inputs, exact math
    Tensor y64 = xg::gelu(x64r);
    y64.backward(g64);
    std::vector<double> y = values(y32), ye = values(y64), d = values(x32.grad()), de = values(x64r.grad()),
                        xs = values(x64r);
    double worst_y = 0, worst_d = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        worst_y = std::max(worst_y, std::abs(y[i] - ye[i]) / std::max(1.0, std::abs(xs[i])));
        worst_d = std::max(worst_d, std::abs(d[i] - de[i]));
    }
    CHECK(worst_y < 2e-7);  // A&S: |erf error| < 1.5e-7, so |y error| < 0.75e-7 |x| plus rounding
    CHECK(worst_d < 3e-7);  // 0.75e-7 from Phi, the rest float rounding of terms up to 1.13
    // the tails: gelu(x) = x far right, 0 far left; gelu'(x) = 1 and 0
    CHECK(y.back() == 9.0f);
    CHECK(y.front() == 0.0f);
    CHECK(d.back() == doctest::Approx(values(g64).back()).epsilon(1e-6));
    CHECK(std::abs(d.front()) < 1e-15);
    // specials, as PyTorch: gelu(inf) = inf, gelu(-inf) = -inf * 0 = nan, gelu(nan) = nan
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> s = xg::gelu(xg::tensor({inf, -inf, std::nanf(""), 0.0f})).to_vector<float>();
    CHECK(s[0] == inf);
    CHECK(std::isnan(s[1]));
    CHECK(std::isnan(s[2]));
    CHECK(s[3] == 0.0f);
}

TEST_CASE("elementwise: gelu rejects an unknown approximation, naming it") {
    std::string msg = error_of([&] { (void)xg::gelu(xg::ones({2}), "fast"); });
    CHECK(contains(msg, "gelu"));
    CHECK(contains(msg, "\"fast\""));
}
