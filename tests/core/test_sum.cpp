// sum, mean and sum_to: forward values over every kind of dim list, the SIMD row paths against
// a plain loop, errors, and float64 gradchecks on contiguous and non-contiguous inputs.
#include <doctest/doctest.h>

#include <numeric>
#include <string>

#include "xgrad.h"

using xg::Tensor;
using V = std::vector<double>;

namespace {

V values(const Tensor& t) { return t.to_vector<double>(); }

Tensor iota(xg::Shape shape, xg::TensorOptions o = {}) {
    return xg::arange(0, static_cast<double>(xg::numel_of(shape)), 1, o).reshape(shape);
}

Tensor leaf(xg::Shape shape, uint64_t seed = 1) {
    std::vector<double> v(static_cast<size_t>(xg::numel_of(shape)));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 3;
    for (double& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = -2.0 + 4.0 * static_cast<double>(s >> 11) / static_cast<double>(1ull << 53);
    }
    return xg::tensor(v, shape, xg::dtype(xg::kFloat64).requires_grad());
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

}  // namespace

TEST_CASE("sum: over all dims, one dim, several dims, keepdim, negative dims") {
    Tensor x = iota({2, 3, 4});  // 0..23
    CHECK(x.sum().item() == 276);
    CHECK(x.sum().dim() == 0);
    CHECK(values(x.sum({0})) == V{12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
    CHECK(values(x.sum({-1})) == V{6, 22, 38, 54, 70, 86});
    CHECK(values(x.sum({0, 2})) == V{60, 92, 124});
    CHECK(x.sum({1}, /*keepdim=*/true).shape() == xg::Shape{2, 1, 4});
    CHECK(values(x.sum({1}, true)) == V{12, 15, 18, 21, 48, 51, 54, 57});
    CHECK(values(x.transpose(0, 2).sum({0})) == values(x.sum({2}).t()));  // strided input
    CHECK(values(xg::ones({3}).expand({4, 3}).sum({0})) == V{4, 4, 4});   // stride-0 input
    Tensor i = iota({2, 3}, xg::dtype(xg::kInt64));
    CHECK(i.sum({1}).dtype() == xg::kInt64);
    CHECK(values(i.sum({1})) == V{3, 12});
    CHECK(xg::zeros({0, 3}).sum().item() == 0);
}

TEST_CASE("sum: SIMD rows agree with a plain loop (bodies and tails)") {
    for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 100}) {
        Tensor x = xg::linspace(-1, 2, 3 * n).reshape({3, n});
        std::vector<float> v = x.to_vector<float>();
        std::vector<float> rows = x.sum({1}).to_vector<float>();
        std::vector<float> cols = x.sum({0}).to_vector<float>();
        for (int64_t r = 0; r < 3; ++r) {
            double ref = 0;
            for (int64_t c = 0; c < n; ++c) ref += v[static_cast<size_t>(r * n + c)];
            CHECK(rows[static_cast<size_t>(r)] == doctest::Approx(ref).epsilon(1e-5));
        }
        for (int64_t c = 0; c < n; ++c) {
            double ref = v[static_cast<size_t>(c)] + v[static_cast<size_t>(n + c)] + v[static_cast<size_t>(2 * n + c)];
            CHECK(cols[static_cast<size_t>(c)] == doctest::Approx(ref).epsilon(1e-5));
        }
    }
}

TEST_CASE("sum: over leading dims (a bias gradient), rows summed in fixed blocks of 256, bit for bit") {
    // [4, 250, 13]: 1000 rows in blocks of 256 (the last has 232), 13 columns (a SIMD body and a tail)
    Tensor x = xg::randn({4, 250, 13});
    std::vector<float> v = x.to_vector<float>(), got = x.sum({0, 1}).to_vector<float>();
    for (size_t c = 0; c < 13; ++c) {
        float total = 0;
        for (size_t r0 = 0; r0 < 1000; r0 += 256) {
            float block = 0;  // each block row after row, then the blocks in order
            for (size_t r = r0; r < std::min<size_t>(1000, r0 + 256); ++r) block += v[r * 13 + c];
            total += block;
        }
        CHECK(got[c] == total);
    }
}

TEST_CASE("sum: mean values and dtype rules") {
    Tensor x = iota({2, 3});
    CHECK(x.mean().item() == 2.5);
    CHECK(values(x.mean({0})) == V{1.5, 2.5, 3.5});
    CHECK(values(x.mean({1}, true)) == V{1, 4});
    CHECK(x.mean().grad_fn() == nullptr);
    std::string msg = error_of([&] { (void)iota({2}, xg::dtype(xg::kInt64)).mean(); });
    CHECK(msg.find("mean") != std::string::npos);
    CHECK(msg.find("torch.int64") != std::string::npos);
    CHECK(msg.find("test_sum.cpp") != std::string::npos);
}

TEST_CASE("sum: errors name the op, the dim and the caller's line") {
    Tensor x = xg::ones({2, 3});
    std::string msg = error_of([&] { (void)x.sum({2}); });
    CHECK(msg.find("sum: dim 2 is out of range for a tensor of 2 dimension(s)") != std::string::npos);
    CHECK(msg.find("test_sum.cpp:") != std::string::npos);
    msg = error_of([&] { (void)x.sum({1, -1}); });
    CHECK(msg.find("appears more than once") != std::string::npos);
}

TEST_CASE("sum: sum_to reverses broadcasting") {
    Tensor g = iota({2, 3, 4});
    CHECK(values(xg::sum_to(g, {4})) == values(g.sum({0, 1})));
    CHECK(xg::sum_to(g, {3, 1}).shape() == xg::Shape{3, 1});
    CHECK(values(xg::sum_to(g, {3, 1})) == values(g.sum({0, 2}).reshape({3, 1})));
    CHECK(xg::sum_to(g, {2, 3, 4}).impl() == g.impl());  // nothing to do: the same tensor
    std::string msg = error_of([&] { (void)xg::sum_to(g, {5}); });
    CHECK(msg.find("sum_to") != std::string::npos);
}

TEST_CASE("sum: gradcheck sum, mean and sum_to") {
    using Inputs = std::vector<Tensor>;
    auto gc = [](auto f, Tensor in) { return xg::autograd::gradcheck([f](const Inputs& v) { return f(v[0]); }, {in}); };
    Tensor x = leaf({2, 3, 4});
    CHECK(gc([](const Tensor& t) { return t.sum(); }, x));
    CHECK(gc([](const Tensor& t) { return t.sum({1}); }, x));
    CHECK(gc([](const Tensor& t) { return t.sum({0, -1}, true); }, x));
    CHECK(gc([](const Tensor& t) { return t.mean(); }, x));
    CHECK(gc([](const Tensor& t) { return t.mean({2}, true) * t; }, x));
    CHECK(gc([](const Tensor& t) { return t.transpose(0, 2).sum({1}); }, x));
    CHECK(gc([](const Tensor& t) { return t.expand({5, 3, 4}).mean({0, 2}); }, leaf({3, 4}, 2)));
    CHECK(gc([](const Tensor& t) { return xg::sum_to(t, {3, 1}); }, x));
    CHECK(x.sum().grad_fn()->name() == "SumBackward0");
    CHECK(x.sum({1}).grad_fn()->name() == "SumBackward1");
    CHECK(x.mean({1}).grad_fn()->name() == "MeanBackward1");
}
