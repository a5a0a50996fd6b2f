// The autograd engine: backward, accumulation, graph lifetime, retain_graph, version counters,
// grad mode, anomaly mode, graph export, and the error messages a learner will meet.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "xgrad.h"

using xg::Tensor;

namespace {
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// The message of the xg::Error that `f` throws ("" if it throws none).
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

TEST_CASE("autograd: backward of a small expression by hand") {
    // y = (a * b + a).sum()  =>  dy/da = b + 1,  dy/db = a
    Tensor a = xg::tensor({1, 2, 3}, xg::requires_grad());
    Tensor b = xg::tensor({4, 5, 6}, xg::requires_grad());
    Tensor y = (a * b + a).sum();
    CHECK(y.item() == 4 + 10 + 18 + 6);
    CHECK(y.grad_fn()->name() == "SumBackward0");
    y.backward();
    CHECK(values(a.grad()) == std::vector<double>{5, 6, 7});
    CHECK(values(b.grad()) == std::vector<double>{1, 2, 3});
}

TEST_CASE("autograd: node names and source lines") {
    Tensor a = xg::tensor({1, 2}, xg::requires_grad());
    Tensor y = a * 2;  int line = __LINE__;
    REQUIRE(y.grad_fn());
    CHECK(y.grad_fn()->name() == "MulBackward0");
    CHECK(y.grad_fn()->loc().line() == static_cast<unsigned>(line));
    CHECK(std::string(y.grad_fn()->loc().file_name()).find("test_autograd.cpp") != std::string::npos);
    CHECK((a + a).grad_fn()->name() == "AddBackward0");
    CHECK((a - a).grad_fn()->name() == "SubBackward0");
    CHECK((2.0 - a).grad_fn()->name() == "RsubBackward1");
    CHECK((a / a).grad_fn()->name() == "DivBackward0");
    CHECK((-a).grad_fn()->name() == "NegBackward0");
    CHECK(a.exp().grad_fn()->name() == "ExpBackward0");
    CHECK(a.sum({0}).grad_fn()->name() == "SumBackward1");
    CHECK(a.mean().grad_fn()->name() == "MeanBackward0");
    CHECK(a.is_leaf());
    CHECK_FALSE(y.is_leaf());
    CHECK(y.requires_grad());
}

TEST_CASE("autograd: gradients accumulate across uses and across backward calls") {
    Tensor x = xg::tensor({3}, xg::requires_grad());
    Tensor y = x * x + x;  // dy/dx = 2x + 1 = 7: x is used three times
    y.sum().backward();
    CHECK(x.grad().item() == 7);
    (x * 2).sum().backward();  // accumulates into .grad, as in PyTorch
    CHECK(x.grad().item() == 9);
    x.grad().zero_();
    CHECK(x.grad().item() == 0);
}

TEST_CASE("autograd: broadcasting backward sums to the input shape") {
    Tensor a = xg::ones({2, 3}, xg::requires_grad());
    Tensor bias = xg::tensor({1, 2, 3}, xg::requires_grad());
    (a * bias).sum().backward();
    CHECK(bias.grad().shape() == xg::Shape{3});
    CHECK(values(bias.grad()) == std::vector<double>{2, 2, 2});
    CHECK(values(a.grad()) == std::vector<double>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("autograd: backward twice without retain_graph is a clear error") {
    Tensor x = xg::tensor({1, 2}, xg::requires_grad());
    Tensor y = (x.exp() * x).sum();
    y.backward();
    std::string msg = error_of([&] { y.backward(); });
    CHECK(msg.find("backward through the graph a second time") != std::string::npos);
    CHECK(msg.find("retain_graph") != std::string::npos);
    CHECK(msg.find("test_autograd.cpp") != std::string::npos);
}

TEST_CASE("autograd: retain_graph allows a second backward") {
    Tensor x = xg::tensor({1, 2}, xg::requires_grad());
    Tensor y = (x * x).sum();
    y.backward(Tensor(), /*retain_graph=*/true);
    y.backward();
    CHECK(values(x.grad()) == std::vector<double>{4, 8});
}

TEST_CASE("autograd: an in-place change of a saved tensor is refused, naming the op") {
    Tensor x = xg::tensor({1, 2}, xg::requires_grad());
    Tensor e = x.exp();          // ExpBackward0 saves its output e
    Tensor y = (e * 1.0).sum();
    e.add_(1.0);                 // changes e in place: version 0 -> 1
    std::string msg = error_of([&] { y.backward(); });
    CHECK(msg.find("modified by an inplace operation") != std::string::npos);
    CHECK(msg.find("ExpBackward0") != std::string::npos);
    CHECK(msg.find("expected version 0") != std::string::npos);
    CHECK(e._version() == 1);
}

TEST_CASE("autograd: in-place add on a non-leaf continues the graph (token_embedding += position_embedding)") {
    Tensor tokens = xg::ones({2, 3}, xg::requires_grad());
    Tensor pos = xg::tensor({1, 2, 3}, xg::requires_grad());
    Tensor t = tokens * 2;
    t += pos;  // in place, recorded as AddBackward0 on top of MulBackward0
    CHECK(t.grad_fn()->name() == "AddBackward0");
    CHECK(t._version() == 1);
    t.sum().backward();
    CHECK(values(tokens.grad()) == std::vector<double>(6, 2.0));
    CHECK(values(pos.grad()) == std::vector<double>{2, 2, 2});
    CHECK(values(t) == std::vector<double>{3, 4, 5, 3, 4, 5});
}

TEST_CASE("autograd: in-place on a leaf that requires grad is an error") {
    Tensor w = xg::ones({2}, xg::requires_grad());
    std::string msg = error_of([&] { w.add_(1.0); });
    CHECK(msg.find("a leaf Variable that requires grad") != std::string::npos);
    CHECK(msg.find("test_autograd.cpp") != std::string::npos);
    xg::NoGradGuard no_grad;  // ...but fine under no_grad, as optimizers do
    w.add_(1.0);
    CHECK(values(w) == std::vector<double>{2, 2});
}

TEST_CASE("autograd: NoGradGuard builds no graph") {
    Tensor x = xg::ones({3}, xg::requires_grad());
    {
        xg::NoGradGuard no_grad;
        Tensor y = x * 2 + 1;
        CHECK_FALSE(y.requires_grad());
        CHECK(!y.grad_fn());
        CHECK_FALSE(xg::GradMode::is_enabled());
        {
            xg::EnableGradGuard enable;
            CHECK((x * 2).requires_grad());
        }
    }
    CHECK(xg::GradMode::is_enabled());
    CHECK((x * 2).requires_grad());
}

TEST_CASE("autograd: detach cuts the graph and shares storage") {
    Tensor x = xg::tensor({1, 2}, xg::requires_grad());
    Tensor d = (x * 3).detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());
    Tensor y = (x * d).sum();  // d is a constant here
    y.backward();
    CHECK(values(x.grad()) == std::vector<double>{3, 6});
}

TEST_CASE("autograd: a 10,000-op chain backprops and is freed without deep recursion") {
    Tensor x = xg::tensor({1.0}, xg::dtype(xg::kFloat64).requires_grad());
    Tensor y = x;
    for (int i = 0; i < 10000; ++i) y = y * 1.0001;
    y.sum().backward();
    CHECK(x.grad().item() == doctest::Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
    // A second, longer graph that is simply dropped: its destructor must not recurse either.
    Tensor z = x;
    for (int i = 0; i < 100000; ++i) z = z + 0.0;
    z = Tensor();
}

TEST_CASE("autograd: graphs hold no reference cycles") {
    std::weak_ptr<xg::autograd::Node> node;
    std::weak_ptr<xg::TensorImpl> saved_out;
    {
        Tensor x = xg::tensor({1, 2}, xg::requires_grad());
        Tensor y = x.exp();  // saves its own output: must not keep itself alive
        node = y.grad_fn();
        saved_out = y.impl_ptr();
        CHECK_FALSE(node.expired());
    }
    CHECK(node.expired());
    CHECK(saved_out.expired());
}

TEST_CASE("autograd: backward needs a scalar or an explicit gradient") {
    Tensor x = xg::ones({2, 2}, xg::requires_grad());
    Tensor y = x * 2;
    std::string msg = error_of([&] { y.backward(); });
    CHECK(msg.find("grad can be implicitly created only for scalar outputs") != std::string::npos);
    CHECK(msg.find("[2, 2]") != std::string::npos);
    y.backward(xg::full({2, 2}, 0.5));
    CHECK(values(x.grad()) == std::vector<double>(4, 1.0));

    Tensor c = xg::ones({2});
    msg = error_of([&] { c.sum().backward(); });
    CHECK(msg.find("does not require grad") != std::string::npos);
}

TEST_CASE("autograd: retain_grad keeps a non-leaf gradient") {
    Tensor x = xg::tensor({1, 2}, xg::requires_grad());
    Tensor h = x * 3;
    h.retain_grad();
    (h * h).sum().backward();
    CHECK(values(h.grad()) == std::vector<double>{6, 12});
    CHECK(values(x.grad()) == std::vector<double>{18, 36});
}

TEST_CASE("autograd: autograd::grad returns gradients without touching .grad") {
    Tensor x = xg::tensor({1, 2}, xg::requires_grad());
    Tensor y = (x * x * x).sum();
    std::vector<Tensor> g = xg::autograd::grad({y}, {x});
    CHECK(values(g[0]) == std::vector<double>{3, 12});
    CHECK_FALSE(x.grad().defined());
}

TEST_CASE("autograd: anomaly mode names the op and line that produced a NaN gradient") {
    xg::autograd::detect_anomaly(true);
    Tensor x = xg::tensor({0.0, 1.0}, xg::requires_grad());
    Tensor y = x.sqrt();  int line = __LINE__;  // d sqrt/dx at 0 is inf
    Tensor z = (y * 0.0).sum();                  // 0 * inf = nan flows into SqrtBackward0
    std::string msg = error_of([&] { z.backward(); });
    xg::autograd::detect_anomaly(false);
    CHECK(msg.find("SqrtBackward0") != std::string::npos);
    CHECK(msg.find("test_autograd.cpp:" + std::to_string(line)) != std::string::npos);
    CHECK(msg.find("nan") != std::string::npos);
}

TEST_CASE("autograd: to_dot exports the graph with op names, shapes and lines") {
    Tensor w = xg::ones({2, 3}, xg::requires_grad());
    w.set_name("weight");
    Tensor y = (w * 2).sum();
    std::string dot = xg::autograd::to_dot(y);
    CHECK(dot.find("digraph") == 0);
    CHECK(dot.find("SumBackward0") != std::string::npos);
    CHECK(dot.find("MulBackward0") != std::string::npos);
    CHECK(dot.find("weight") != std::string::npos);
    CHECK(dot.find("[2, 3]") != std::string::npos);
    CHECK(dot.find("test_autograd.cpp:") != std::string::npos);
}

TEST_CASE("autograd: requires_grad_ rules") {
    Tensor i = xg::zeros({2}, xg::dtype(xg::kInt64));
    std::string msg = error_of([&] { i.requires_grad_(); });
    CHECK(msg.find("only floating point tensors can require gradients") != std::string::npos);
    Tensor x = xg::ones({2}, xg::requires_grad());
    Tensor y = x * 2;
    msg = error_of([&] { y.requires_grad_(false); });
    CHECK(msg.find("leaf") != std::string::npos);
}

TEST_CASE("autograd: gradcheck catches a wrong gradient") {
    // A correct op passes...
    Tensor x = xg::tensor({0.3, -1.2, 2.0}, xg::dtype(xg::kFloat64).requires_grad());
    CHECK(xg::autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0]; }, {x}));
    // ...and a function whose backward lies (detach hides x from the graph on one factor) fails.
    std::string msg = error_of([&] {
        xg::autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0].detach(); }, {x});
    });
    CHECK(msg.find("Jacobian mismatch") != std::string::npos);
}
