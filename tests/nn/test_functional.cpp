// nn::functional: forward values against numbers computed with PyTorch 1.13.1 (the python that
// produced each one is in the comment beside it), float64 gradchecks of every differentiable
// function (contiguous and non-contiguous inputs), and the error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "xgrad.h"

namespace F = xg::nn::functional;
using xg::Tensor;
using Inputs = std::vector<Tensor>;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// Deterministic float64 leaf of `shape` with values in roughly [lo, hi], no RNG needed.
Tensor leaf(xg::Shape shape, double lo = -2.0, double hi = 2.0, uint64_t seed = 1) {
    std::vector<double> v(static_cast<size_t>(xg::numel_of(shape)));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    for (double& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = lo + (hi - lo) * static_cast<double>(s >> 11) / static_cast<double>(1ull << 53);
    }
    return xg::tensor(v, shape, xg::dtype(xg::kFloat64).requires_grad());
}

// torch.arange(numel(shape)) * scale + shift, reshaped: the inputs of the python snippets.
Tensor arange(xg::Shape shape, double scale, double shift = 0.0) {
    return (xg::arange(static_cast<double>(xg::numel_of(shape)), xg::dtype(xg::kFloat64)) * scale + shift).reshape(shape);
}

Tensor f64(std::vector<double> v, xg::Shape shape) { return xg::tensor(v, shape, xg::dtype(xg::kFloat64)); }
Tensor labels(std::vector<int64_t> v) {
    xg::Shape shape{static_cast<int64_t>(v.size())};
    return xg::tensor(v, shape);
}

void check_close(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
    std::vector<double> got = values(t);
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(tol).scale(1.0));
}

template <class Fn>
std::string error_of(Fn&& f) {
    try {
        f();
    } catch (const xg::Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool gradcheck(const std::function<Tensor(const Inputs&)>& f, const Inputs& inputs) {
    return xg::autograd::gradcheck(f, inputs);
}

}  // namespace

// ---- linear --------------------------------------------------------------------------------

TEST_CASE("functional: linear forward matches PyTorch") {
    // x = (arange(6) * 0.1 - 0.2).view(2, 3); w = (arange(12) * 0.05 - 0.3).view(4, 3)
    // F.linear(x, w, torch.tensor([0.1, -0.2, 0.3, -0.4]))
    Tensor x = arange({2, 3}, 0.1, -0.2), w = arange({4, 3}, 0.05, -0.3);
    Tensor b = f64({0.1, -0.2, 0.3, -0.4}, {4});
    Tensor y = F::linear(x, w, b);
    CHECK(y.shape() == xg::Shape{2, 4});
    check_close(y, {0.185, -0.16, 0.295, -0.45, -0.04, -0.25, 0.34, -0.27});
    // Without bias: just x W^T; with extra batch dims: applied to the last dim.
    check_close(F::linear(x, w), {0.085, 0.04, -0.005, -0.05, -0.14, -0.05, 0.04, 0.13});
    CHECK(F::linear(arange({2, 5, 3}, 0.1), w, b).shape() == xg::Shape{2, 5, 4});
}

TEST_CASE("functional: linear gradcheck (bias, no bias, batched, transposed input)") {
    Tensor x = leaf({3, 4}), w = leaf({5, 4}, -1, 1, 2), b = leaf({5}, -1, 1, 3);
    CHECK(gradcheck([](const Inputs& in) { return F::linear(in[0], in[1], in[2]); }, {x, w, b}));
    CHECK(gradcheck([](const Inputs& in) { return F::linear(in[0], in[1]); }, {x, w}));
    CHECK(gradcheck([](const Inputs& in) { return F::linear(in[0], in[1], in[2]); }, {leaf({2, 3, 4}, -1, 1, 4), w, b}));
    CHECK(gradcheck([](const Inputs& in) { return F::linear(in[0].t(), in[1], in[2]); }, {leaf({4, 3}, -1, 1, 5), w, b}));
}

TEST_CASE("functional: linear runs PyTorch 1.13's ops: addmm for 2-D and contiguous N-D inputs, else matmul + add") {
    Tensor w = leaf({3, 4}), b = leaf({3});
    auto node = [](const Tensor& y) { return y.grad_fn()->name(); };
    auto next = [](const Tensor& y) { return y.grad_fn()->next_functions()[0]->name(); };
    Tensor x2 = leaf({5, 4});
    CHECK(node(F::linear(x2, w, b)) == "AddmmBackward0");
    Tensor x3 = leaf({2, 5, 4});
    Tensor y3 = F::linear(x3, w, b);
    CHECK(node(y3) == "ViewBackward0");
    CHECK(next(y3) == "AddmmBackward0");
    CHECK(y3.shape() == xg::Shape{2, 5, 3});
    CHECK(xg::allclose(y3, xg::matmul(x3.detach(), w.detach().t()) + b.detach(), 1e-12, 1e-12));
    CHECK(node(F::linear(x3.transpose(0, 1), w, b)) == "AddBackward0");  // not contiguous: matmul, then + b
    CHECK(node(F::linear(x2, w)) == "MmBackward0");                      // no bias
    CHECK(node(F::linear(leaf({4}), w, b)) == "AddBackward0");          // 1-D input
}

TEST_CASE("functional: linear errors name the function, the shapes and the caller's line") {
    Tensor x = xg::randn({2, 7}), w = xg::randn({10, 8});
    std::string msg = error_of([&] { F::linear(x, w); });
    CHECK(contains(msg, "linear"));
    CHECK(contains(msg, "[2, 7]"));
    CHECK(contains(msg, "in_features = 8"));
    CHECK(contains(msg, "test_functional.cpp"));
    msg = error_of([&] { F::linear(xg::randn({2, 8}), w, xg::randn({9})); });
    CHECK(contains(msg, "bias must have shape [10]"));
    CHECK(contains(error_of([&] { F::linear(x, xg::randn({7})); }), "weight must be 2-D"));
}

// ---- layer_norm ----------------------------------------------------------------------------

TEST_CASE("functional: layer_norm forward matches PyTorch") {
    // x = [[1, 2, 4, 7], [-1, 0.5, 0, 3]]; F.layer_norm(x, (4,), [1, 0.5, -1, 2], [0, 0.1, 0.2, 0.3])
    Tensor x = f64({1, 2, 4, 7, -1, 0.5, 0, 3}, {2, 4});
    Tensor w = f64({1, 0.5, -1, 2}, {4}), b = f64({0, 0.1, 0.2, 0.3}, {4});
    check_close(F::layer_norm(x, {4}, w, b), {-1.091088412, -0.2273265236, -0.0182176824, 3.3550475537, -1.1026430701,
                                               0.0575906511, 0.6240934885, 3.5231105127});
    // Without weight and bias each row has mean 0 and (biased) variance 1 - eps-ish.
    Tensor y = F::layer_norm(x.to(xg::kFloat32), {4});
    for (int64_t r = 0; r < 2; ++r) {
        CHECK(y[r].mean().item() == doctest::Approx(0.0).epsilon(1e-6).scale(1.0));
        CHECK(y[r].var(/*unbiased=*/false).item() == doctest::Approx(1.0).epsilon(1e-4));
    }
}

TEST_CASE("functional: layer_norm is one fused node") {
    Tensor x = leaf({2, 4}), w = leaf({4}, 0.5, 1.5, 2), b = leaf({4}, -1, 1, 3);
    Tensor y = F::layer_norm(x, {4}, w, b);
    REQUIRE(y.grad_fn());
    CHECK(y.grad_fn()->name() == "NativeLayerNormBackward0");
    CHECK(y.grad_fn()->next_functions().size() == 3);
}

TEST_CASE("functional: layer_norm gradcheck (x, weight, bias; non-contiguous x; several dims)") {
    Tensor x = leaf({3, 5}), w = leaf({5}, 0.5, 1.5, 2), b = leaf({5}, -1, 1, 3);
    CHECK(gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {5}, in[1], in[2]); }, {x, w, b}));
    CHECK(gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {5}); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {5}, in[1]); }, {x, w}));
    // A transposed (non-contiguous) input.
    CHECK(gradcheck([](const Inputs& in) { return F::layer_norm(in[0].t(), {5}, in[1], in[2], 1e-3); },
                    {leaf({5, 3}, -2, 2, 4), w, b}));
    // Normalizing over the last two dims; rows wider than one SIMD batch (17 = 2 * 8 + a tail).
    CHECK(gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {3, 4}, in[1], in[2]); },
                    {leaf({2, 3, 4}, -2, 2, 5), leaf({3, 4}, 0.5, 1.5, 6), leaf({3, 4}, -1, 1, 7)}));
    CHECK(gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {17}, in[1], in[2]); },
                    {leaf({2, 17}, -2, 2, 8), leaf({17}, 0.5, 1.5, 9), leaf({17}, -1, 1, 10)}));
}

TEST_CASE("functional: layer_norm float32 matches float64 on a wide row") {
    Tensor x = leaf({3, 37}, -3, 5, 11).detach();
    Tensor w = leaf({37}, 0.5, 1.5, 12).detach(), b = leaf({37}, -1, 1, 13).detach();
    Tensor ref = F::layer_norm(x, {37}, w, b);
    Tensor got = F::layer_norm(x.to(xg::kFloat32), {37}, w.to(xg::kFloat32), b.to(xg::kFloat32));
    CHECK(xg::allclose(got.to(xg::kFloat64), ref, 1e-5, 1e-5));
}

TEST_CASE("functional: layer_norm errors") {
    std::string msg = error_of([] { F::layer_norm(xg::randn({2, 7}), {8}); });
    CHECK(contains(msg, "layer_norm"));
    CHECK(contains(msg, "normalized_shape=[8]"));
    CHECK(contains(msg, "[2, 7]"));
    CHECK(contains(msg, "test_functional.cpp"));
    msg = error_of([] { F::layer_norm(xg::randn({2, 8}), {8}, xg::ones({7})); });
    CHECK(contains(msg, "weight of shape [8]"));
    CHECK(contains(error_of([] { F::layer_norm(xg::randn({2, 8}), {}); }), "at least one dim"));
}

TEST_CASE("functional: layer_norm gives the same bits on 1 and 2 threads, forward and backward") {
    // Rows are shared out over the threads, and dw/db are summed in fixed blocks of rows.
    const int saved = xg::get_num_threads();
    auto run = [](int threads) {
        xg::set_num_threads(threads);
        xg::manual_seed(3);
        Tensor x = xg::randn({701, 333}, xg::requires_grad());
        Tensor w = xg::randn({333}, xg::requires_grad()), b = xg::randn({333}, xg::requires_grad());
        Tensor y = F::layer_norm(x, {333}, w, b);
        (y * y).sum().backward();
        return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad()};
    };
    std::vector<Tensor> one = run(1), two = run(2);
    for (size_t i = 0; i < one.size(); ++i) CHECK(xg::equal(one[i], two[i]));
    xg::set_num_threads(saved);
}

// ---- dropout -------------------------------------------------------------------------------

TEST_CASE("functional: dropout keeps elements with probability 1-p and scales them by 1/(1-p)") {
    Tensor x = leaf({4, 25}, 0.5, 2.0);
    xg::manual_seed(123);
    Tensor y = F::dropout(x, 0.3);
    xg::manual_seed(123);  // the same draws again: the mask dropout used
    Tensor mask = xg::bernoulli({4, 25}, 0.7, xg::dtype(xg::kFloat64));
    CHECK(xg::allclose(y, x.detach() * mask / 0.7, 1e-12, 1e-12));
    REQUIRE(y.grad_fn());
    CHECK(y.grad_fn()->name() == "NativeDropoutBackward0");  // fused, as torch.native_dropout
    y.sum().backward();
    CHECK(xg::allclose(x.grad(), mask / 0.7, 1e-12, 1e-12));
    double kept = mask.sum().item();
    CHECK(kept > 50);  // 70 expected out of 100
    CHECK(kept < 90);
    // The same mask on every call (reseeded), so central differences see one function.
    CHECK(gradcheck(
        [](const Inputs& in) {
            xg::manual_seed(7);
            return F::dropout(in[0], 0.4);
        },
        {leaf({3, 5})}));
}

TEST_CASE("functional: fused dropout gives the bits of PyTorch's CPU recipe (bernoulli_, div_, mul)") {
    // float32, a transposed (non-contiguous) input with a NaN and an inf in it, and a gradient
    // that is not all ones: the fused op must match noise = bernoulli(1-p); noise.div_(1-p);
    // x * noise to the last bit, forward and backward.
    Tensor base = xg::randn({37, 29});
    base.data_ptr<float>()[3] = std::numeric_limits<float>::quiet_NaN();
    base.data_ptr<float>()[40] = std::numeric_limits<float>::infinity();
    Tensor x = base.t().detach().requires_grad_(true);  // [29, 37], strides [1, 29]
    Tensor g = xg::randn({29, 37});
    const double p = 0.1;
    xg::manual_seed(5);
    Tensor y = F::dropout(x, p);
    (y * g).sum().backward();

    xg::manual_seed(5);
    Tensor noise = xg::bernoulli({29, 37}, 1.0 - p);
    noise.div_(1.0 - p);
    Tensor expected_y = x.detach() * noise;
    Tensor expected_grad = g * noise;
    const float* a = y.contiguous().data_ptr<float>();
    const float* b = expected_y.contiguous().data_ptr<float>();
    int same = 0;
    for (int64_t i = 0; i < y.numel(); ++i) same += std::memcmp(a + i, b + i, sizeof(float)) == 0;
    CHECK(same == y.numel());
    CHECK(xg::equal(x.grad(), expected_grad));
    // The generator moved on by exactly as many draws as bernoulli's.
    xg::manual_seed(5);
    F::dropout(x, p);
    Tensor after_dropout = xg::rand({4});
    xg::manual_seed(5);
    xg::bernoulli({29, 37}, 1.0 - p);
    CHECK(xg::equal(after_dropout, xg::rand({4})));
}

TEST_CASE("functional: dropout p=0, eval mode and p=1") {
    Tensor x = leaf({2, 3});
    CHECK(F::dropout(x, 0.0).impl() == x.impl());
    CHECK(F::dropout(x, 0.7, /*training=*/false).impl() == x.impl());
    Tensor z = F::dropout(x, 1.0);
    CHECK(values(z) == std::vector<double>(6, 0.0));
    z.sum().backward();
    CHECK(values(x.grad()) == std::vector<double>(6, 0.0));
    std::string msg = error_of([&] { F::dropout(x, 1.5); });
    CHECK(contains(msg, "dropout probability has to be between 0 and 1, but got 1.5"));
    CHECK(contains(msg, "test_functional.cpp"));
}

// ---- activations -----------------------------------------------------------------------------

TEST_CASE("functional: relu, gelu, softmax, log_softmax") {
    Tensor x = f64({-1.0, 0.0, 0.5, 2.0}, {4});
    CHECK(values(F::relu(x)) == std::vector<double>{0, 0, 0.5, 2});
    // F.gelu(torch.tensor([-1., 0., 0.5, 2.], dtype=torch.float64))
    check_close(F::gelu(x), {-0.15865525393145702, 0.0, 0.34573123063700656, 1.9544997361036416});
    // F.gelu(x, approximate='tanh')
    check_close(F::gelu(x, "tanh"), {-0.15880800939172324, 0.0, 0.34571400982514394, 1.954597694087775});
    // F.softmax(x, 0), F.log_softmax(x, 0)
    check_close(F::softmax(x, 0), {0.035353793408748876, 0.09610157419009724, 0.15844470951497974, 0.7100999228861743});
    check_close(F::log_softmax(x, -1), {-3.342349582389822, -2.342349582389822, -1.842349582389822,
                                        -0.342349582389822});
    Tensor l = leaf({2, 5});
    CHECK(gradcheck([](const Inputs& in) { return F::gelu(in[0]); }, {l}));
    CHECK(gradcheck([](const Inputs& in) { return F::log_softmax(in[0], 1); }, {l}));
    CHECK(contains(error_of([&] { F::gelu(x, "erf"); }), "gelu"));
}

// ---- unfold / fold ---------------------------------------------------------------------------

TEST_CASE("functional: unfold matches PyTorch's channel-major layout") {
    // x = torch.arange(24.).view(1, 2, 3, 4); F.unfold(x, 2)
    Tensor x = arange({1, 2, 3, 4}, 1.0);
    Tensor u = F::unfold(x, 2);
    CHECK(u.shape() == xg::Shape{1, 8, 6});
    CHECK(values(u) == std::vector<double>{0,  1,  2,  4,  5,  6,  1,  2,  3,  5,  6,  7,  4,  5,  6,  8,
                                           9,  10, 5,  6,  7,  9,  10, 11, 12, 13, 14, 16, 17, 18, 13, 14,
                                           15, 17, 18, 19, 16, 17, 18, 20, 21, 22, 17, 18, 19, 21, 22, 23});
    // F.unfold(x, (2, 3), dilation=1, padding=1, stride=2)  -> [1, 12, 4]
    Tensor v = F::unfold(x, {2, 3}, 1, 1, 2);
    CHECK(v.shape() == xg::Shape{1, 12, 4});
    CHECK(values(v) == std::vector<double>{0, 0,  0, 5,  0, 0,  4,  6,  0,  0,  5,  7,  0,  1,  0,  9,
                                           0, 2,  8, 10, 1, 3,  9,  11, 0,  0,  0,  17, 0,  0,  16, 18,
                                           0, 0,  17, 19, 0, 13, 0,  21, 12, 14, 20, 22, 13, 15, 21, 23});
    // The keyword form and an unbatched [C, H, W] input.
    CHECK(xg::equal(F::unfold(x, {2, 3}, {.padding = 1, .stride = 2}), v));
    CHECK(F::unfold(x[0], 2).shape() == xg::Shape{8, 6});
    CHECK(xg::equal(F::unfold(x[0], 2), u[0]));
}

TEST_CASE("functional: fold sums overlapping patches, as PyTorch") {
    // c = torch.arange(48.).view(1, 8, 6); F.fold(c, (3, 4), 2)
    Tensor c = arange({1, 8, 6}, 1.0);
    Tensor y = F::fold(c, {3, 4}, 2);
    CHECK(y.shape() == xg::Shape{1, 2, 3, 4});
    CHECK(values(y) == std::vector<double>{0,  7,  9,   8,   15, 44, 48, 31, 15, 37, 39, 23,
                                           24, 55, 57,  32,  63, 140, 144, 79, 39, 85, 87, 47});
    // Non-overlapping patches: fold undoes unfold.
    Tensor img = arange({2, 3, 4, 6}, 0.5);
    CHECK(xg::equal(F::fold(F::unfold(img, 2, 1, 0, 2), {4, 6}, 2, 1, 0, 2), img));
}

TEST_CASE("functional: fold is the adjoint of unfold: <unfold(x), c> == <x, fold(c)>") {
    Tensor x = leaf({2, 3, 5, 6}).detach();
    Tensor u = F::unfold(x, {2, 3}, {2, 1}, {1, 0}, {2, 2});
    Tensor c = leaf(u.shape(), -1, 1, 9).detach();
    double lhs = (u * c).sum().item();
    double rhs = (x * F::fold(c, {5, 6}, {2, 3}, {2, 1}, {1, 0}, {2, 2})).sum().item();
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
}

TEST_CASE("functional: unfold and fold gradcheck (stride, padding, dilation, non-contiguous)") {
    CHECK(gradcheck([](const Inputs& in) { return F::unfold(in[0], 2); }, {leaf({1, 2, 3, 4})}));
    CHECK(gradcheck([](const Inputs& in) { return F::unfold(in[0], {2, 3}, {2, 1}, {1, 2}, {2, 3}); },
                    {leaf({2, 2, 5, 6})}));
    CHECK(gradcheck([](const Inputs& in) { return F::unfold(in[0].transpose(2, 3), 2, 1, 1, 1); },
                    {leaf({1, 2, 4, 3})}));
    // fold: [N, C*kh*kw, L] with L = 2 * 3 blocks of 2x2 in a 3x4 image.
    CHECK(gradcheck([](const Inputs& in) { return F::fold(in[0], {3, 4}, 2); }, {leaf({2, 8, 6})}));
    CHECK(gradcheck([](const Inputs& in) { return F::fold(in[0], {5, 6}, {2, 3}, {2, 1}, {1, 0}, {2, 2}); },
                    {leaf({1, 12, 6})}));
    // Double backward: unfold's backward is fold, itself differentiable.
    Tensor x = leaf({1, 1, 3, 3});
    Tensor u = F::unfold(x, 2);
    CHECK(u.grad_fn()->name() == "Im2ColBackward0");
    CHECK(F::fold(u, {3, 3}, 2).grad_fn()->name() == "Col2ImBackward0");
}

TEST_CASE("functional: unfold and fold errors") {
    std::string msg = error_of([] { F::unfold(xg::randn({1, 1, 3, 3}), 4); });
    CHECK(contains(msg, "unfold"));
    CHECK(contains(msg, "(3, 3)"));
    CHECK(contains(msg, "test_functional.cpp"));
    CHECK(contains(error_of([] { F::unfold(xg::randn({3, 3}), 2); }), "4-D"));
    CHECK(contains(error_of([] { F::unfold(xg::randn({1, 1, 3, 3}), 2, 1, 0, 0); }), "stride should be greater than zero"));
    msg = error_of([] { F::fold(xg::randn({1, 7, 6}), {3, 4}, 2); });
    CHECK(contains(msg, "fold"));
    CHECK(contains(msg, "divisible by the product of kernel_size"));
    msg = error_of([] { F::fold(xg::randn({1, 8, 5}), {3, 4}, 2); });
    CHECK(contains(msg, "calculated number of sliding blocks 2 * 3 = 6"));
    CHECK(contains(msg, "input.size(2)=5"));
}

// ---- conv2d ----------------------------------------------------------------------------------

TEST_CASE("functional: conv2d forward matches PyTorch") {
    // x = (arange(32) * 0.1 - 1).view(1, 2, 4, 4); w = (arange(24) * 0.05 - 0.4).view(3, 2, 2, 2)
    // F.conv2d(x, w, torch.tensor([0.5, -0.5, 0.]), stride=2, padding=1)
    Tensor x = arange({1, 2, 4, 4}, 0.1, -1.0), w = arange({3, 2, 2, 2}, 0.05, -0.4);
    Tensor y = F::conv2d(x, w, f64({0.5, -0.5, 0.0}, {3}), 2, 1);
    CHECK(y.shape() == xg::Shape{1, 3, 3, 3});
    check_close(y, {0.72, 0.86, 0.62, 0.54, 0.24, 0.16, 0.16, -0.44, -0.12, -0.44, -0.22, -0.3, 0.18, 1.0,
                    0.28, -0.04, 0.4, -0.08, -0.1, 0.2, 0.28, 1.32, 3.26, 1.9, 1.26, 2.74, 1.46});
    // Unbatched input.
    CHECK(xg::allclose(F::conv2d(x[0], w, f64({0.5, -0.5, 0.0}, {3}), 2, 1), y[0]));
}

TEST_CASE("functional: conv2d with kernel = stride = patch size is the ViT patch embedding") {
    // The source's image2emb_naive (unfold, then @ weight) and image2emb_conv (conv2d with the
    // weight reshaped to a kernel) compute the same patch embeddings.
    xg::manual_seed(0);
    const int64_t bs = 1, ic = 3, image_h = 8, image_w = 8, patch_size = 4, model_dim = 8;
    const int64_t patch_depth = patch_size * patch_size * ic;
    Tensor image = xg::randn({bs, ic, image_h, image_w});
    Tensor weight = xg::randn({patch_depth, model_dim});
    Tensor naive = F::unfold(image, patch_size, {.stride = patch_size}).transpose(-1, -2).matmul(weight);
    Tensor kernel = weight.transpose(0, 1).reshape({-1, ic, patch_size, patch_size});
    Tensor conv_output = F::conv2d(image, kernel, {}, patch_size);  // [bs, oc, oh, ow]
    Tensor conv = conv_output.reshape({bs, model_dim, 4}).transpose(-1, -2);
    CHECK(naive.shape() == xg::Shape{1, 4, 8});
    CHECK(xg::allclose(naive, conv, 1e-5, 1e-5));
}

TEST_CASE("functional: conv2d gradcheck (stride, padding, dilation, no bias)") {
    Tensor x = leaf({2, 2, 5, 5}), w = leaf({3, 2, 3, 3}, -1, 1, 2), b = leaf({3}, -1, 1, 3);
    CHECK(gradcheck([](const Inputs& in) { return F::conv2d(in[0], in[1], in[2]); }, {x, w, b}));
    CHECK(gradcheck([](const Inputs& in) { return F::conv2d(in[0], in[1], in[2], 2, 1); }, {x, w, b}));
    CHECK(gradcheck([](const Inputs& in) { return F::conv2d(in[0], in[1], {}, {1, 2}, {2, 0}, 2); }, {x, w}));
}

TEST_CASE("functional: conv2d errors") {
    std::string msg = error_of([] { F::conv2d(xg::randn({1, 4, 8, 8}), xg::randn({8, 3, 4, 4})); });
    CHECK(contains(msg, "conv2d"));
    CHECK(contains(msg, "to have 3 channels, but got 4 channels instead"));
    CHECK(contains(msg, "test_functional.cpp"));
    msg = error_of([] { F::conv2d(xg::randn({1, 3, 3, 3}), xg::randn({8, 3, 4, 4})); });
    CHECK(contains(msg, "Kernel size can't be greater than actual input size"));
    CHECK(contains(error_of([] { F::conv2d(xg::randn({1, 3, 8, 8}), xg::randn({8, 3, 4})); }), "4-D"));
}

// ---- losses ----------------------------------------------------------------------------------

// logits = torch.tensor([[1., 2., .5], [.1, -1., 2.], [.3, .3, .3], [2., 1., -1.]], dtype=torch.float64)
// t = torch.tensor([1, 2, 0, -100])
static Tensor ce_logits() { return f64({1, 2, 0.5, 0.1, -1, 2, 0.3, 0.3, 0.3, 2, 1, -1}, {4, 3}); }

TEST_CASE("functional: cross_entropy forward matches PyTorch (reductions, smoothing, weight, ignore_index)") {
    Tensor logits = ce_logits();
    Tensor t = labels({1, 2, 0, -100});
    CHECK(F::cross_entropy(logits, t).item() == doctest::Approx(0.581588519455056).epsilon(1e-12));  // F.cross_entropy(logits, t)
    CHECK(F::cross_entropy(logits, t, {}, -100, "sum").item() == doctest::Approx(1.744765558365168).epsilon(1e-12));
    check_close(F::cross_entropy(logits, t, {}, -100, "none"), {0.4643687841, 0.1817844856, 1.0986122887, 0.0}, 1e-9);
    // F.cross_entropy(logits, t, label_smoothing=0.1)
    CHECK(F::cross_entropy(logits, t, {}, -100, "mean", 0.1).item() == doctest::Approx(0.6638107416772782).epsilon(1e-12));
    // F.cross_entropy(logits, t, weight=torch.tensor([0.2, 1., 3.], dtype=torch.float64), label_smoothing=0.2)
    CHECK(F::cross_entropy(logits, t, f64({0.2, 1, 3}, {3}), -100, "mean", 0.2).item() ==
          doctest::Approx(0.4787516147371522).epsilon(1e-12));
    // F.cross_entropy(logits, torch.tensor([1, 2, 0, 1]), ignore_index=1)
    CHECK(F::cross_entropy(logits, labels({1, 2, 0, 1}), {}, 1).item() == doctest::Approx(0.6401983871286115).epsilon(1e-12));
    // F.nll_loss(logits.log_softmax(1), t)
    CHECK(F::nll_loss(F::log_softmax(logits, 1), t).item() == doctest::Approx(0.581588519455056).epsilon(1e-12));
    // l3 = (arange(12) * 0.3 - 0.5).view(2, 3, 2); F.cross_entropy(l3, torch.tensor([[0, 2], [1, 1]]))
    Tensor t3 = xg::tensor(std::vector<int64_t>{0, 2, 1, 1}, {2, 2});
    CHECK(F::cross_entropy(arange({2, 3, 2}, 0.3, -0.5), t3).item() == doctest::Approx(1.2151888001696851).epsilon(1e-12));
    // float32 logits: the same number to float precision.
    CHECK(F::cross_entropy(logits.to(xg::kFloat32), t).item() == doctest::Approx(0.581588519455056).epsilon(1e-6));
    CHECK(F::cross_entropy(logits.to(xg::kFloat32), t).dtype() == xg::kFloat32);
    // Every sample ignored: mean over nothing is nan, as in PyTorch.
    CHECK(std::isnan(F::cross_entropy(logits, labels({-100, -100, -100, -100})).item()));
}

TEST_CASE("functional: cross_entropy prints PyTorch's grad_fn") {
    Tensor logits = leaf({4, 3});
    CHECK(F::cross_entropy(logits, labels({1, 2, 0, 1})).grad_fn()->name() == "NllLossBackward0");
    CHECK(F::cross_entropy(logits, labels({1, 2, 0, 1}), {}, -100, "mean", 0.1).grad_fn()->name() == "AddBackward0");
}

TEST_CASE("functional: cross_entropy gradcheck (mean/sum/none, label smoothing, ignore_index, weight, [N,C,d])") {
    Tensor logits = leaf({4, 3});
    Tensor t = labels({1, 2, 0, -100});
    for (std::string red : {"mean", "sum", "none"})
        for (double eps : {0.0, 0.1}) {
            CAPTURE(red);
            CAPTURE(eps);
            CHECK(gradcheck([&](const Inputs& in) { return F::cross_entropy(in[0], t, {}, -100, red, eps); }, {logits}));
            CHECK(gradcheck([&](const Inputs& in) { return F::cross_entropy(in[0], t, F::relu(leaf({3}, 0.1, 2, 3)).detach(), -100, red, eps); },
                            {logits}));
        }
    CHECK(gradcheck([&](const Inputs& in) { return F::cross_entropy(in[0], labels({1, 2, 0, 1}), {}, 1); }, {logits}));
    Tensor t3 = xg::tensor(std::vector<int64_t>{0, 2, 1, 1, 2, 0}, {2, 3});
    CHECK(gradcheck([&](const Inputs& in) { return F::cross_entropy(in[0], t3, {}, -100, "mean", 0.2); },
                    {leaf({2, 4, 3}, -2, 2, 4)}));
    // Transposed logits: [C, N] stored, read as [N, C].
    CHECK(gradcheck([&](const Inputs& in) { return F::cross_entropy(in[0].t(), t); }, {leaf({3, 4}, -2, 2, 5)}));
    CHECK(gradcheck([&](const Inputs& in) { return F::nll_loss(in[0], t, {}, -100, "sum"); }, {logits}));
}

TEST_CASE("functional: cross_entropy backward is softmax - onehot") {
    Tensor logits = leaf({2, 3});
    F::cross_entropy(logits, labels({0, 2}), {}, -100, "sum").backward();
    Tensor expected = F::softmax(logits.detach(), 1) - f64({1, 0, 0, 0, 0, 1}, {2, 3});
    CHECK(xg::allclose(logits.grad(), expected, 1e-12, 1e-12));
}

TEST_CASE("functional: cross_entropy errors name the bad value") {
    Tensor logits = xg::randn({4, 3});
    std::string msg = error_of([&] { F::cross_entropy(logits, labels({1, 2, 3, 0})); });
    CHECK(contains(msg, "cross_entropy"));
    CHECK(contains(msg, "target 3 is out of bounds"));
    CHECK(contains(msg, "3 classes"));
    CHECK(contains(msg, "test_functional.cpp"));
    CHECK(contains(error_of([&] { F::cross_entropy(logits, labels({1, 2, -1, 0})); }), "target -1 is out of bounds"));
    CHECK(contains(error_of([&] { F::cross_entropy(logits, labels({1, 2, 0})); }), "expected target of shape [4]"));
    CHECK(contains(error_of([&] { F::cross_entropy(logits, xg::zeros({4})); }), "torch.int64"));
    CHECK(contains(error_of([&] { F::cross_entropy(logits, labels({1, 2, 0, 0}), {}, -100, "avg"); }), "reduction"));
    CHECK(contains(error_of([&] { F::cross_entropy(logits, labels({1, 2, 0, 0}), {}, -100, "mean", 1.5); }),
                   "label_smoothing"));
    CHECK(contains(error_of([&] { F::nll_loss(logits, labels({1, 2, 0, 5})); }), "nll_loss: target 5 is out of bounds"));
}

TEST_CASE("functional: mse_loss forward, broadcasting, gradcheck and errors") {
    // F.mse_loss(torch.tensor([1., 2., 3.]), torch.tensor([.5, 2.5, 1.])) -> 1.5; reduction='sum' -> 4.5
    Tensor a = f64({1, 2, 3}, {3}), b = f64({0.5, 2.5, 1}, {3});
    CHECK(F::mse_loss(a, b).item() == doctest::Approx(1.5));
    CHECK(F::mse_loss(a, b, "sum").item() == doctest::Approx(4.5));
    CHECK(values(F::mse_loss(a, b, "none")) == std::vector<double>{0.25, 0.25, 4.0});
    Tensor x = leaf({3, 4}), y = leaf({3, 4}, -1, 1, 2);
    for (std::string red : {"mean", "sum", "none"}) {
        CAPTURE(red);
        CHECK(gradcheck([&](const Inputs& in) { return F::mse_loss(in[0], in[1], red); }, {x, y}));
    }
    CHECK(gradcheck([](const Inputs& in) { return F::mse_loss(in[0], in[1]); }, {x, leaf({4}, -1, 1, 3)}));
    CHECK(gradcheck([](const Inputs& in) { return F::mse_loss(in[0].t(), in[1]); }, {leaf({4, 3}), leaf({3, 4}, -1, 1, 4)}));
    CHECK(F::mse_loss(x, y).grad_fn()->name() == "MseLossBackward0");
    std::string msg = error_of([] { F::mse_loss(xg::randn({3}), xg::randn({4})); });
    CHECK(contains(msg, "mse_loss"));
    CHECK(contains(msg, "test_functional.cpp"));
}
