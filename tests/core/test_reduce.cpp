// Reductions (var std max min amax amin argmax) and the softmax family: forward values against
// hand-computed ones and naive loops, keepdim and negative dims, ties and NaN, int64 inputs,
// node names, errors, and a float64 gradcheck for every differentiable op on contiguous and
// non-contiguous (transposed, expanded, narrowed) inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "xgrad.h"

using xg::Tensor;
using Inputs = std::vector<Tensor>;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

void check_close(const std::vector<double>& got, const std::vector<double>& want, double eps = 1e-6) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(eps));
}

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

bool gradcheck(const std::function<Tensor(const Inputs&)>& f, const Inputs& in) {
    return xg::autograd::gradcheck(f, in);
}

// x = [[1, 5, 3],
//      [4, 2, 6]]
Tensor x23(xg::DType dt = xg::kFloat32) { return xg::tensor({1, 5, 3, 4, 2, 6}, {2, 3}, xg::dtype(dt)); }

}  // namespace

// ==== var / std =================================================================================

TEST_CASE("reduce: var and std forward values") {
    Tensor x = x23();
    // Rows: mean 3 and 4, squared deviations 16+4... = 8 each, so 8/2 unbiased, 8/3 biased.
    check_close(values(xg::var(x, {1})), {4, 4});
    check_close(values(xg::var(x, {-1}, /*unbiased=*/false)), {8.0 / 3, 8.0 / 3});
    // Columns: [1,4] [5,2] [3,6] each have squared deviations 4.5.
    check_close(values(xg::var(x, {0})), {4.5, 4.5, 4.5});
    check_close(values(xg::std(x, {0})), {std::sqrt(4.5), std::sqrt(4.5), std::sqrt(4.5)});
    // All of 1..6: mean 3.5, squared deviations 17.5.
    CHECK(x.var().item() == doctest::Approx(3.5));
    CHECK(x.var(false).item() == doctest::Approx(17.5 / 6));
    CHECK(x.std().item() == doctest::Approx(std::sqrt(3.5)));
    CHECK(x.std(false).item() == doctest::Approx(std::sqrt(17.5 / 6)));
    CHECK(x.var().dim() == 0);
    CHECK(xg::var(x, {}, true, true).shape() == xg::Shape{1, 1});

    Tensor k = x.var({1}, true, /*keepdim=*/true);
    CHECK(k.shape() == xg::Shape{2, 1});
    check_close(values(k), {4, 4});
    CHECK(x.std({0, 1}).item() == doctest::Approx(std::sqrt(3.5)));
    CHECK(x.var({-1, 0}, false).item() == doctest::Approx(17.5 / 6));
}

TEST_CASE("reduce: var of a non-contiguous input and of a large offset matches a naive loop") {
    // A transposed float32 view, rows of 37 (SIMD body + tail) along the reduced dim and not.
    Tensor base = xg::arange(0, 7 * 37, 1, xg::dtype(xg::kFloat64));
    base = xg::sin(base) * 3.0 + 1000.0;  // a large mean: the two-pass formula keeps precision
    Tensor x = base.reshape({7, 37}).to(xg::kFloat32);
    std::vector<double> v = values(x);
    for (int64_t dim : {0, 1}) {
        for (Tensor in : {x, x.t().contiguous().t()}) {
            std::vector<double> got = values(xg::var(in, {dim}));
            int64_t n = dim == 0 ? 7 : 37, m = dim == 0 ? 37 : 7;
            REQUIRE(static_cast<int64_t>(got.size()) == m);
            for (int64_t j = 0; j < m; ++j) {
                auto at = [&](int64_t i) { return v[static_cast<size_t>(dim == 0 ? i * 37 + j : j * 37 + i)]; };
                double mean = 0, ssd = 0;
                for (int64_t i = 0; i < n; ++i) mean += at(i);
                mean /= static_cast<double>(n);
                for (int64_t i = 0; i < n; ++i) ssd += (at(i) - mean) * (at(i) - mean);
                CHECK(got[static_cast<size_t>(j)] == doctest::Approx(ssd / static_cast<double>(n - 1)).epsilon(1e-4));
            }
        }
    }
}

TEST_CASE("reduce: var edge cases") {
    // One element: unbiased divides by 0 -> NaN; biased gives 0.
    Tensor one = xg::tensor({2.0});
    CHECK(std::isnan(one.var().item()));
    CHECK(one.var(false).item() == 0.0);
    // A constant input: std backward is 0, not NaN (PyTorch masks y == 0).
    Tensor c = xg::tensor({1.0, 1.0, 1.0}, xg::dtype(xg::kFloat64).requires_grad());
    c.std().backward();
    check_close(values(c.grad()), {0, 0, 0});
}

TEST_CASE("reduce: var and std node names and gradcheck") {
    Tensor x = leaf({3, 4});
    CHECK(x.var().grad_fn()->name() == "VarBackward0");
    CHECK(x.var({1}).grad_fn()->name() == "VarBackward0");
    CHECK(x.std().grad_fn()->name() == "StdBackward0");
    for (bool unbiased : {true, false}) {
        CHECK(gradcheck([=](const Inputs& in) { return in[0].var(unbiased); }, {x}));
        CHECK(gradcheck([=](const Inputs& in) { return in[0].std(unbiased); }, {x}));
        CHECK(gradcheck([=](const Inputs& in) { return xg::var(in[0], {1}, unbiased); }, {x}));
        CHECK(gradcheck([=](const Inputs& in) { return xg::var(in[0], {0}, unbiased, true); }, {x}));
        CHECK(gradcheck([=](const Inputs& in) { return xg::std(in[0], {-1}, unbiased, true); }, {x}));
        CHECK(gradcheck([=](const Inputs& in) { return xg::std(in[0], {0}, unbiased); }, {x}));
    }
    Tensor x3 = leaf({2, 3, 4}, -1, 1, 2);
    CHECK(gradcheck([](const Inputs& in) { return xg::var(in[0], {0, 2}); }, {x3}));
    CHECK(gradcheck([](const Inputs& in) { return xg::std(in[0], {2, 0}, true, true); }, {x3}));
}

TEST_CASE("reduce: var and std gradcheck on non-contiguous inputs") {
    Tensor x = leaf({3, 4}, -1, 3, 3);
    Tensor r = leaf({1, 4}, -1, 3, 4);
    Tensor w = leaf({3, 6}, -1, 3, 5);
    // Transposed.
    CHECK(gradcheck([](const Inputs& in) { return xg::var(in[0].t(), {1}); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::std(in[0].t(), {0}); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].transpose(0, 1).std(); }, {x}));
    // Expanded (stride 0): every copy of an element receives a gradient that sums back.
    CHECK(gradcheck([](const Inputs& in) { return xg::var(in[0].expand({3, 4}), {0, 1}); }, {r}));
    CHECK(gradcheck([](const Inputs& in) { return xg::std(in[0].expand({5, 4}), {1}); }, {r}));
    // Narrowed (an offset view with a row stride larger than its width).
    CHECK(gradcheck([](const Inputs& in) { return xg::var(in[0].narrow(1, 1, 4), {1}); }, {w}));
    CHECK(gradcheck([](const Inputs& in) { return xg::std(in[0].narrow(1, 2, 3), {0}, false); }, {w}));
}

// ==== max / min / amax / amin / argmax ===========================================================

TEST_CASE("reduce: max and min over all elements") {
    Tensor x = x23();
    CHECK(x.max().item() == 6);
    CHECK(x.min().item() == 1);
    CHECK(xg::max(x).dim() == 0);
    CHECK(xg::min(x.t()).item() == 1);
    // int64 inputs are allowed and keep their dtype.
    Tensor i = xg::tensor(std::vector<int64_t>{7, -3, 12, 5}, {2, 2});
    CHECK(i.max().dtype() == xg::kInt64);
    CHECK(i.max().item<int64_t>() == 12);
    CHECK(i.min().item<int64_t>() == -3);
    // NaN propagates.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK(std::isnan(xg::tensor({1.0, nan, 3.0}).max().item()));
    CHECK(std::isnan(xg::tensor({1.0, nan, 3.0}).min().item()));
    // Infinities are ordinary values.
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(xg::tensor({-inf, -inf}).max().item() == -inf);
}

TEST_CASE("reduce: max and min over a dim return values and indices") {
    Tensor x = x23();
    auto [v, i] = xg::max(x, 1);
    check_close(values(v), {5, 6});
    CHECK(i.dtype() == xg::kInt64);
    CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
    auto mn = xg::min(x, 0);
    check_close(values(mn.values), {1, 2, 3});
    CHECK(mn.indices.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0});
    auto kd = xg::max(x, -2, /*keepdim=*/true);
    CHECK(kd.values.shape() == xg::Shape{1, 3});
    CHECK(kd.indices.shape() == xg::Shape{1, 3});
    check_close(values(kd.values), {4, 5, 6});
    CHECK(kd.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
    // A transposed input: max over dim 0 of x^T is max over dim 1 of x.
    auto t = xg::max(x.t(), 0);
    check_close(values(t.values), {5, 6});
    CHECK(t.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
    // Ties pick the first index; NaN wins and its index is reported.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK(xg::max(xg::tensor({3, 1, 3, 2}), 0).indices.item<int64_t>() == 0);
    CHECK(xg::min(xg::tensor({1, 0, 0, 2}), 0).indices.item<int64_t>() == 1);
    auto n = xg::max(xg::tensor({1.0, nan, 3.0, nan}), 0);
    CHECK(std::isnan(n.values.item()));
    CHECK(n.indices.item<int64_t>() == 1);
    // The same on rows long enough for the SIMD path, in both float types.
    for (xg::DType dt : {xg::kFloat32, xg::kFloat64}) {
        std::vector<double> v(21);
        for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<double>(j % 5);
        v[13] = nan;
        v[17] = nan;
        Tensor row = xg::tensor(v, {21}, xg::dtype(dt));
        CHECK(xg::max(row, 0).indices.item<int64_t>() == 13);
        CHECK(xg::min(row, 0).indices.item<int64_t>() == 13);
        CHECK(xg::argmax(row).item<int64_t>() == 13);
        CHECK(std::isnan(xg::amax(row, {0}).item()));
        CHECK(std::isnan(xg::amin(row.reshape({3, 7}), {0, 1}).item()));
        CHECK(std::isnan(row.max().item()));
        v[13] = v[17] = 4;  // ties of the maximum 4 at 4, 9, 13, 14, 17, 19: the first wins
        Tensor tied = xg::tensor(v, {21}, xg::dtype(dt));
        CHECK(xg::argmax(tied).item<int64_t>() == 4);
        CHECK(xg::min(tied, 0).indices.item<int64_t>() == 0);
    }
    // int64 and a 0-d input.
    auto im = xg::max(xg::tensor(std::vector<int64_t>{4, 9, 9, 1}, {2, 2}), 1);
    CHECK(im.values.to_vector<int64_t>() == std::vector<int64_t>{9, 9});
    CHECK(im.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
    auto s = xg::max(xg::scalar_tensor(2.5), 0);
    CHECK(s.values.item() == 2.5);
    CHECK(s.indices.item<int64_t>() == 0);
}

TEST_CASE("reduce: max over a dim matches a naive loop on long rows") {
    // 5 x 37 float32 rows (SIMD body + tail), reduced along the contiguous dim and across it.
    Tensor x = (xg::cos(xg::arange(0, 5 * 37, 1, xg::dtype(xg::kFloat64)) * 1.7) * 10.0).to(xg::kFloat32).reshape({5, 37});
    std::vector<double> v = values(x);
    for (int64_t dim : {0, 1}) {
        for (bool is_max : {true, false}) {
            auto r = is_max ? xg::max(x, dim) : xg::min(x, dim);
            Tensor a = is_max ? xg::amax(x, {dim}) : xg::amin(x, {dim});
            std::vector<double> got = values(r.values), got_a = values(a);
            std::vector<int64_t> idx = r.indices.to_vector<int64_t>();
            int64_t n = dim == 0 ? 5 : 37, m = dim == 0 ? 37 : 5;
            for (int64_t j = 0; j < m; ++j) {
                auto at = [&](int64_t i) { return v[static_cast<size_t>(dim == 0 ? i * 37 + j : j * 37 + i)]; };
                int64_t best = 0;
                for (int64_t i = 1; i < n; ++i)
                    if (is_max ? at(i) > at(best) : at(i) < at(best)) best = i;
                CHECK(got[static_cast<size_t>(j)] == at(best));
                CHECK(got_a[static_cast<size_t>(j)] == at(best));
                CHECK(idx[static_cast<size_t>(j)] == best);
            }
        }
    }
    // argmax over the flattened tensor.
    int64_t best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
    CHECK(xg::argmax(x).item<int64_t>() == best);
    CHECK(x.max().item() == v[static_cast<size_t>(best)]);
}

TEST_CASE("reduce: amax and amin over lists of dims") {
    Tensor x = x23();
    check_close(values(xg::amax(x, {0})), {4, 5, 6});
    check_close(values(x.amax({-1})), {5, 6});
    check_close(values(xg::amin(x, {1})), {1, 2});
    CHECK(xg::amax(x, {}).dim() == 0);  // empty list = all dims
    CHECK(xg::amax(x, {}).item() == 6);
    Tensor k = xg::amin(x, {0, 1}, /*keepdim=*/true);
    CHECK(k.shape() == xg::Shape{1, 1});
    CHECK(k.item() == 1);
    Tensor x3 = xg::arange(24).reshape({2, 3, 4});
    check_close(values(xg::amax(x3, {0, 2})), {15, 19, 23});
    check_close(values(xg::amin(x3, {2, 0}, true)), {0, 4, 8});
    check_close(values(xg::amax(x3.transpose(0, 2), {1, 2})), {20, 21, 22, 23});  // t[i,j,k] = 12k + 4j + i
    // int64, and an empty kept dim (nothing to reduce per output, output is empty).
    Tensor i = xg::tensor(std::vector<int64_t>{3, -8, 1, 0}, {2, 2});
    CHECK(xg::amin(i, {0}).to_vector<int64_t>() == std::vector<int64_t>{1, -8});
    CHECK(xg::amax(xg::zeros({0, 3}), {1}).shape() == xg::Shape{0});
}

TEST_CASE("reduce: argmax") {
    Tensor x = x23();
    CHECK(xg::argmax(x, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 2});
    CHECK(x.argmax(0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
    CHECK(x.argmax(-1, true).shape() == xg::Shape{2, 1});
    CHECK(xg::argmax(x).item<int64_t>() == 5);
    CHECK(xg::argmax(x.t()).item<int64_t>() == 5);  // flattened in x^T's own order: [1,4,5,2,3,6]
    CHECK(xg::argmax(x.t(), 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
    CHECK(xg::argmax(xg::tensor({2, 7, 7, 1})).item<int64_t>() == 1);  // first of the ties
    CHECK(xg::argmax(xg::tensor(std::vector<int64_t>{-5, -2, -9}, {3})).item<int64_t>() == 1);
    // argmax is never differentiable.
    Tensor l = leaf({2, 3});
    CHECK_FALSE(xg::argmax(l, 1).requires_grad());
    CHECK(xg::argmax(l, 1).dtype() == xg::kInt64);
}

TEST_CASE("reduce: max/min gradients follow PyTorch's tie rules") {
    // Full max and amax share the gradient evenly among tied maxima...
    Tensor a = xg::tensor({3.0, 1.0, 3.0}, xg::requires_grad());
    Tensor m = a.max();
    CHECK(m.grad_fn()->name() == "MaxBackward1");
    m.backward();
    check_close(values(a.grad()), {0.5, 0, 0.5});
    Tensor b = xg::tensor({3.0, 1.0, 3.0, 3.0}, {2, 2}, xg::requires_grad());
    Tensor am = xg::amax(b, {1});
    CHECK(am.grad_fn()->name() == "AmaxBackward0");
    am.sum().backward();
    check_close(values(b.grad()), {1, 0, 0.5, 0.5});  // rows [3, 1] and [3, 3]
    // ...while max(dim) sends it to the returned index only.
    Tensor c = xg::tensor({3.0, 1.0, 3.0}, xg::requires_grad());
    auto r = xg::max(c, 0);
    CHECK(r.values.grad_fn()->name() == "MaxBackward0");
    r.values.backward();
    check_close(values(c.grad()), {1, 0, 0});
    // Node names of the min family.
    CHECK(c.min().grad_fn()->name() == "MinBackward1");
    CHECK(xg::min(c, 0).values.grad_fn()->name() == "MinBackward0");
    CHECK(xg::amin(c, {0}).grad_fn()->name() == "AminBackward0");
    CHECK_FALSE(xg::min(c, 0).indices.requires_grad());
}

TEST_CASE("reduce: max/min/amax/amin gradcheck") {
    Tensor x = leaf({3, 4}, -2, 2, 7);
    Tensor x3 = leaf({2, 3, 5}, -2, 2, 8);
    CHECK(gradcheck([](const Inputs& in) { return in[0].max(); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].min(); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::max(in[0], 1).values; }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::max(in[0], 0, true).values; }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::min(in[0], -1).values; }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::min(in[0], 1, true).values; }, {x3}));
    CHECK(gradcheck([](const Inputs& in) { return xg::amax(in[0], {0}); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::amax(in[0], {0, 2}, true); }, {x3}));
    CHECK(gradcheck([](const Inputs& in) { return xg::amin(in[0], {-1}); }, {x3}));
    CHECK(gradcheck([](const Inputs& in) { return xg::amin(in[0], {}); }, {x3}));
}

TEST_CASE("reduce: max/min/amax/amin gradcheck on non-contiguous inputs") {
    Tensor x = leaf({3, 4}, -2, 2, 9);
    Tensor r = leaf({1, 4}, -2, 2, 10);
    Tensor w = leaf({4, 6}, -2, 2, 11);
    CHECK(gradcheck([](const Inputs& in) { return in[0].t().max(); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::max(in[0].t(), 1).values; }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::min(in[0].transpose(0, 1), 0, true).values; }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::amax(in[0].t(), {1}); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return xg::amin(in[0].t(), {0}, true); }, {x}));
    // Expanded: the copies tie, amax shares the gradient among them, max(dim) picks one; either
    // way it sums back to the one underlying element.
    CHECK(gradcheck([](const Inputs& in) { return xg::amax(in[0].expand({3, 4}), {0}); }, {r}));
    CHECK(gradcheck([](const Inputs& in) { return xg::max(in[0].expand({3, 4}), 0).values; }, {r}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].expand({2, 4}).min(); }, {r}));
    // Narrowed.
    CHECK(gradcheck([](const Inputs& in) { return xg::max(in[0].narrow(1, 1, 4), 1).values; }, {w}));
    CHECK(gradcheck([](const Inputs& in) { return xg::amin(in[0].narrow(0, 1, 2), {1}); }, {w}));
}

TEST_CASE("reduce: errors name the op, the shape and the caller's line") {
    Tensor empty = xg::zeros({0, 3});
    std::string msg = error_of([&] { xg::max(empty); });
    CHECK(contains(msg, "max(): Expected reduction dim to be specified"));
    CHECK(contains(msg, "[0, 3]"));
    CHECK(contains(msg, "test_reduce.cpp"));
    msg = error_of([&] { xg::max(empty, 0); });
    CHECK(contains(msg, "max(): Expected reduction dim 0 to have non-zero size"));
    CHECK(contains(msg, "[0, 3]"));
    CHECK(contains(msg, "test_reduce.cpp"));
    CHECK_THROWS_WITH_AS(xg::amax(empty, {0}), doctest::Contains("amax(): Expected reduction dim 0 to have non-zero size"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(xg::argmax(empty, -2), doctest::Contains("argmax(): Expected reduction dim 0"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::argmax(empty), doctest::Contains("argmax()"), xg::Error);
    CHECK_THROWS_WITH_AS(empty.min(), doctest::Contains("min(): Expected reduction dim to be specified"), xg::Error);

    Tensor x = x23();
    msg = error_of([&] { xg::max(x, 2); });
    CHECK(contains(msg, "max: dim 2 is out of range"));
    CHECK(contains(msg, "test_reduce.cpp"));
    CHECK_THROWS_WITH_AS(xg::amax(x, {1, -1}), doctest::Contains("amax: dim 1 appears more than once"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::var(x, {-3}), doctest::Contains("var: dim -3 is out of range"), xg::Error);
    Tensor i = xg::tensor(std::vector<int64_t>{1, 2, 3}, {3});
    msg = error_of([&] { i.var(); });
    CHECK(contains(msg, "var: expects a floating point tensor, got torch.int64"));
    CHECK(contains(msg, "test_reduce.cpp"));
    CHECK_THROWS_WITH_AS(xg::std(i, {0}), doctest::Contains("std: expects a floating point"), xg::Error);
}

// ==== softmax / log_softmax ======================================================================

TEST_CASE("softmax: forward values, rows sum to 1") {
    Tensor x = xg::tensor({1, 2, 3});
    check_close(values(xg::softmax(x, 0)), {0.09003057, 0.24472847, 0.66524096}, 1e-5);
    check_close(values(x.log_softmax(-1)), {std::log(0.09003057), std::log(0.24472847), std::log(0.66524096)}, 1e-5);

    // 3 x 41 rows (SIMD body + tail) in float32 and float64: each row sums to 1.
    for (xg::DType dt : {xg::kFloat32, xg::kFloat64}) {
        Tensor r = (xg::sin(xg::arange(0, 3 * 41, 1, xg::dtype(xg::kFloat64)) * 0.37) * 4.0).to(dt).reshape({3, 41});
        check_close(values(r.softmax(1).sum({1})), {1, 1, 1}, 1e-5);
        check_close(values(r.softmax(0).sum({0})), std::vector<double>(41, 1.0), 1e-5);
    }
}

TEST_CASE("softmax: large values do not overflow") {
    Tensor x = xg::tensor({1000, 1000});
    check_close(values(xg::softmax(x, 0)), {0.5, 0.5});
    Tensor y = xg::tensor(std::vector<double>{1000, 0, -1000}, {1, 3});
    check_close(values(xg::softmax(y, 1)), {1, 0, 0});
    check_close(values(xg::log_softmax(y, 1)), {0, -1000, -2000});
    Tensor z = xg::tensor(std::vector<double>{1000, 999, 998, 1000, 0, 3, 7, 1000, 1000}, {9});
    for (double v : values(z.softmax(0))) CHECK(std::isfinite(v));
    for (double v : values(z.log_softmax(0))) CHECK(std::isfinite(v));
}

TEST_CASE("softmax: log_softmax matches log(softmax) along every dim") {
    Tensor x = (xg::cos(xg::arange(0, 4 * 5 * 11, 1, xg::dtype(xg::kFloat64)) * 1.3) * 3.0).reshape({4, 5, 11});
    for (int64_t dim : {0, 1, 2, -1}) {
        check_close(values(x.log_softmax(dim)), values(xg::log(x.softmax(dim))), 1e-10);
        // Against a naive softmax computed with the obvious formula (safe for these values).
        Tensor e = xg::exp(x);
        check_close(values(x.softmax(dim)), values(e / e.sum({dim}, true)), 1e-10);
    }
    // A non-contiguous input gives the same values as its contiguous copy.
    Tensor t = x.transpose(0, 2);
    for (int64_t dim : {0, 1, 2}) {
        check_close(values(t.softmax(dim)), values(t.contiguous().softmax(dim)), 1e-12);
        check_close(values(t.log_softmax(dim)), values(t.contiguous().log_softmax(dim)), 1e-12);
    }
    // A 0-d tensor is a softmax over one element.
    CHECK(xg::softmax(xg::scalar_tensor(3.0), 0).item() == 1.0);
    CHECK(xg::log_softmax(xg::scalar_tensor(3.0), -1).item() == 0.0);
}

TEST_CASE("softmax: node names and gradcheck") {
    Tensor x = leaf({3, 5}, -2, 2, 12);
    CHECK(x.softmax(1).grad_fn()->name() == "SoftmaxBackward0");
    CHECK(x.log_softmax(1).grad_fn()->name() == "LogSoftmaxBackward0");
    Tensor x3 = leaf({2, 3, 4}, -2, 2, 13);
    for (int64_t dim : {0, 1, 2, -1}) {
        CHECK(gradcheck([=](const Inputs& in) { return xg::softmax(in[0], dim); }, {x3}));
        CHECK(gradcheck([=](const Inputs& in) { return xg::log_softmax(in[0], dim); }, {x3}));
    }
    // Rows long enough for the SIMD body and tail.
    Tensor wide = leaf({2, 19}, -3, 3, 14);
    CHECK(gradcheck([](const Inputs& in) { return in[0].softmax(1); }, {wide}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].log_softmax(1); }, {wide}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].softmax(0); }, {wide}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].log_softmax(0); }, {wide}));
}

TEST_CASE("softmax: gradcheck on non-contiguous inputs") {
    Tensor x = leaf({3, 4}, -2, 2, 15);
    Tensor r = leaf({1, 4}, -2, 2, 16);
    Tensor w = leaf({4, 7}, -2, 2, 17);
    CHECK(gradcheck([](const Inputs& in) { return in[0].t().softmax(1); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].t().log_softmax(0); }, {x}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].expand({3, 4}).softmax(0); }, {r}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].expand({3, 4}).log_softmax(1); }, {r}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].narrow(1, 2, 4).softmax(-1); }, {w}));
    CHECK(gradcheck([](const Inputs& in) { return in[0].narrow(0, 1, 3).log_softmax(0); }, {w}));
}

TEST_CASE("softmax: softmax_backward_data is SoftmaxBackward0's gradient, along any dim") {
    Tensor x = leaf({3, 4, 5}, -2, 2, 18);
    Tensor g = leaf({3, 4, 5}, -1, 1, 19).detach();
    for (int64_t dim : {0, 1, 2, -1}) {
        CAPTURE(dim);
        Tensor y = xg::softmax(x, dim);
        Tensor expected = xg::autograd::grad({(y * g).sum()}, {x})[0];
        CHECK(xg::equal(xg::softmax_backward_data(g, y.detach(), dim), expected));
        // Transposed operands are read through their strides.
        CHECK(xg::allclose(xg::softmax_backward_data(g.transpose(0, 2).contiguous().transpose(0, 2), y.detach(), dim),
                           expected, 1e-12, 1e-12));
    }
    std::string msg = error_of([&] { xg::softmax_backward_data(g, x.detach().narrow(0, 0, 2), 1); });
    CHECK(contains(msg, "softmax_backward_data: grad [3, 4, 5] and output [2, 4, 5] must have the same shape"));
    CHECK(contains(msg, "test_reduce.cpp"));
    msg = error_of([&] { xg::softmax_backward_data(g, x.detach(), 3); });
    CHECK(contains(msg, "dim 3 is out of range"));
    msg = error_of([&] { xg::softmax_backward_data(g, x.detach().to(xg::kFloat32), 0); });
    CHECK(contains(msg, "one floating dtype, got torch.float64 and torch.float32"));
}

TEST_CASE("softmax: errors") {
    Tensor x = x23();
    std::string msg = error_of([&] { xg::softmax(x, 2); });
    CHECK(contains(msg, "softmax: dim 2 is out of range"));
    CHECK(contains(msg, "test_reduce.cpp"));
    Tensor i = xg::tensor(std::vector<int64_t>{1, 2, 3}, {3});
    msg = error_of([&] { i.log_softmax(0); });
    CHECK(contains(msg, "log_softmax: expects a floating point tensor, got torch.int64"));
    CHECK(contains(msg, "test_reduce.cpp"));
}
