// Attention: F::scaled_dot_product_attention, F::multi_head_attention_forward and
// nn::MultiheadAttention. Forward values (and a few gradients) against PyTorch 1.13, from the
// fixtures tests/nn/attention_expected.py writes into attention_expected.h; float64 gradchecks;
// masks, batch_first, unbatched input; the printed form and parameter names; error messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "attention_expected.h"
#include "nn/attention.h"
#include "nn/modules/activation_attention.h"
#include "xgrad.h"

namespace F = xg::nn::functional;
namespace X = attention_expected;
using xg::Tensor;
using Inputs = std::vector<Tensor>;

namespace {

// Deterministic float64 leaf of `shape` with values in roughly [lo, hi], no RNG needed.
Tensor leaf(xg::Shape shape, double lo = -1.0, double hi = 1.0, uint64_t seed = 1) {
    std::vector<double> v(static_cast<size_t>(xg::numel_of(shape)));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    for (double& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = lo + (hi - lo) * static_cast<double>(s >> 11) / static_cast<double>(1ull << 53);
    }
    return xg::tensor(v, shape, xg::dtype(xg::kFloat64).requires_grad());
}

// max |a - b| over all elements (shapes must agree).
double max_abs_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
    double m = 0.0;
    for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
    return m;
}

// Close to PyTorch's float32 numbers: the same math in another summation order.
void check_parity(const Tensor& got, const Tensor& expected, double tol = 1e-5) {
    REQUIRE(got.shape() == expected.shape());
    double err = max_abs_diff(got, expected);
    MESSAGE("max abs error vs PyTorch: " << err);
    CHECK(err <= tol);
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

// A module's parameters replaced by float64 copies (new leaves that require grad), for
// gradchecks. Module has no to(dtype); a Visitor reaches every parameter by reference.
struct ToFloat64 : xg::nn::Visitor {
    void parameter(const std::string&, Tensor& t) override {
        if (t.defined()) t = t.detach().to(xg::kFloat64).requires_grad_(true);
    }
    void buffer(const std::string&, Tensor& t) override {
        if (t.defined()) t = t.detach().to(xg::kFloat64);
    }
    void module(const std::string&, std::shared_ptr<xg::nn::Module>& m) override {
        if (m) m->visit(*this);
    }
    using Visitor::module;
};

std::shared_ptr<xg::nn::MultiheadAttention> loaded_mha(const X::Fixture& f, bool batch_first = false) {
    auto mha = std::make_shared<xg::nn::MultiheadAttention>(4, 2, 0.0, true, batch_first);
    mha->load_state_dict(X::state_dict(f));
    mha->eval();
    return mha;
}

}  // namespace

// ---- scaled_dot_product_attention -----------------------------------------------------------------

TEST_CASE("attention: scaled_dot_product_attention matches PyTorch (no mask, additive mask, causal)") {
    const X::Fixture& f = X::sdpa;
    Tensor q = X::get(f, "q"), k = X::get(f, "k"), v = X::get(f, "v");  // [2, 3, 4], [2, 5, 4], [2, 5, 3]
    auto [out, weights] = F::scaled_dot_product_attention_with_weights(q, k, v, X::get(f, "mask"));
    CHECK(out.shape() == xg::Shape{2, 3, 3});
    CHECK(weights.shape() == xg::Shape{2, 3, 5});
    check_parity(out, X::get(f, "out"));
    check_parity(weights, X::get(f, "weights"));

    auto causal = F::scaled_dot_product_attention_with_weights(q, k, v, {}, 0.0, /*is_causal=*/true);
    check_parity(causal.output, X::get(f, "out_causal"));
    check_parity(causal.weights, X::get(f, "weights_causal"));
    // Query 0 sees only key 0: its weights are exactly one-hot, its output is exactly v[:, 0].
    CHECK(causal.weights.select(1, 0).select(1, 0).to_vector<double>() == std::vector<double>{1.0, 1.0});
    CHECK(xg::equal(causal.output.select(1, 0), v.select(1, 0)));
    // The output-only form is the same computation.
    CHECK(xg::equal(F::scaled_dot_product_attention(q, k, v, {}, 0.0, true), causal.output));
}

TEST_CASE("attention: scaled_dot_product_attention is softmax(q k^T / sqrt(E) + mask) v, heads as batch dims") {
    // [N=2, H=3, L=4, E=5] against [N, H, S=6, E]: one batched matmul over both leading dims.
    Tensor q = leaf({2, 3, 4, 5}, -1, 1, 1), k = leaf({2, 3, 6, 5}, -1, 1, 2), v = leaf({2, 3, 6, 2}, -1, 1, 3);
    Tensor mask = leaf({4, 6}, -1, 1, 4).detach();
    Tensor naive = xg::softmax(xg::matmul(q, k.transpose(-2, -1)) / std::sqrt(5.0) + mask, -1).matmul(v);
    Tensor out = F::scaled_dot_product_attention(q, k, v, mask);
    CHECK(out.shape() == xg::Shape{2, 3, 4, 2});
    CHECK(max_abs_diff(out, naive) < 1e-14);
    // Broadcast batch dims: one key/value set shared by all heads.
    Tensor shared = F::scaled_dot_product_attention(q, k.narrow(1, 0, 1), v.narrow(1, 0, 1));
    CHECK(shared.shape() == xg::Shape{2, 3, 4, 2});
}

TEST_CASE("attention: boolean (int64) masks mean True = masked out, like an additive -inf mask") {
    Tensor q = leaf({2, 3, 4}).detach(), k = leaf({2, 5, 4}, -1, 1, 2).detach(), v = leaf({2, 5, 3}, -1, 1, 3).detach();
    Tensor bool_mask = xg::tensor(std::vector<int64_t>{0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0}, {3, 5});
    Tensor additive = F::additive_mask(bool_mask, xg::kFloat64);
    CHECK(additive.dtype() == xg::kFloat64);
    CHECK(std::isinf(additive.to_vector<double>()[1]));
    CHECK(additive.to_vector<double>()[0] == 0.0);
    auto a = F::scaled_dot_product_attention_with_weights(q, k, v, bool_mask);
    auto b = F::scaled_dot_product_attention_with_weights(q, k, v, additive);
    CHECK(xg::equal(a.output, b.output));
    // Masked keys get exactly zero weight.
    std::vector<double> w = a.weights.to_vector<double>();
    CHECK(w[1] == 0.0);
    CHECK(w[4] == 0.0);
    CHECK(w[5 + 3] == 0.0);
}

TEST_CASE("attention: scaled_dot_product_attention gradcheck (float64; additive mask; causal; dropout off)") {
    Tensor q = leaf({2, 3, 4}, -1, 1, 1), k = leaf({2, 5, 4}, -1, 1, 2), v = leaf({2, 5, 3}, -1, 1, 3);
    Tensor mask = leaf({3, 5}, -1, 1, 4).detach();
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2]); },
                                  {q, k, v}));
    CHECK(xg::autograd::gradcheck(
        [&](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2], mask); }, {q, k, v}));
    CHECK(xg::autograd::gradcheck(
        [](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.0, true); }, {q, k, v}));
    // The weights are differentiable too.
    CHECK(xg::autograd::gradcheck(
        [&](const Inputs& in) { return F::scaled_dot_product_attention_with_weights(in[0], in[1], in[2], mask).weights; },
        {q, k, v}));
}

TEST_CASE("attention: the fused op (output only) equals the composed ops, forward and backward") {
    // Fused, F::scaled_dot_product_attention records one ScaledDotProductAttentionBackward0 node;
    // the _with_weights form records PyTorch 1.13's chain of ops. Same draws of the dropout mask,
    // same kernels in the forward: the same bits; the backward's sums are the same products in
    // the same order, so the gradients agree to float32 rounding.
    F::AttentionKernelGuard fused_kernel(F::AttentionKernel::Fused);
    for (double p : {0.0, 0.25}) {
        CAPTURE(p);
        xg::manual_seed(11);
        Tensor base_q = xg::randn({3, 7, 7, 8});
        Tensor q = base_q.transpose(1, 2).detach().requires_grad_(true);  // strided, as MHA's head views
        Tensor k = xg::randn({3, 7, 9, 8}, xg::requires_grad());
        Tensor v = xg::randn({3, 7, 9, 5}, xg::requires_grad());
        Tensor mask = xg::randn({7, 9});
        Tensor g = xg::randn({3, 7, 9, 5}).narrow(2, 0, 7);  // [3, 7, 7, 5], not contiguous
        xg::manual_seed(3);
        Tensor fused = F::scaled_dot_product_attention(q, k, v, mask, p);
        REQUIRE(fused.grad_fn());
        CHECK(fused.grad_fn()->name() == "ScaledDotProductAttentionBackward0");
        auto grads = xg::autograd::grad({(fused * g).sum()}, {q, k, v});
        xg::manual_seed(3);
        Tensor composed = F::scaled_dot_product_attention_with_weights(q, k, v, mask, p).output;
        CHECK(composed.grad_fn()->name() == "BmmBackward0");
        auto expected = xg::autograd::grad({(composed * g).sum()}, {q, k, v});
        CHECK(xg::equal(fused, composed));
        for (int i = 0; i < 3; ++i) {
            CAPTURE(i);
            CHECK(grads[static_cast<size_t>(i)].shape() == expected[static_cast<size_t>(i)].shape());
            CHECK(max_abs_diff(grads[static_cast<size_t>(i)], expected[static_cast<size_t>(i)]) < 1e-5);
        }
    }
}

TEST_CASE("attention: fused, one head alone (its products threaded) and a one-column mask: the composed numbers") {
    // The fused path runs head after head; with a single head the products spread their rows
    // over the threads instead. The mask [L, 1] is read with a stride of 0 along the keys.
    F::AttentionKernelGuard fused_kernel(F::AttentionKernel::Fused);
    const int saved = xg::get_num_threads();
    xg::set_num_threads(2);
    xg::manual_seed(12);
    Tensor q = xg::randn({1, 200, 16}, xg::requires_grad());
    Tensor k = xg::randn({1, 300, 16}, xg::requires_grad());
    Tensor v = xg::randn({1, 300, 8}, xg::requires_grad());
    Tensor mask = xg::randn({200, 1});
    Tensor g = xg::randn({1, 200, 8});
    xg::manual_seed(3);
    Tensor fused = F::scaled_dot_product_attention(q, k, v, mask, 0.1);
    CHECK(fused.grad_fn()->name() == "ScaledDotProductAttentionBackward0");
    auto grads = xg::autograd::grad({(fused * g).sum()}, {q, k, v});
    xg::manual_seed(3);
    Tensor composed = F::scaled_dot_product_attention_with_weights(q, k, v, mask, 0.1).output;
    auto expected = xg::autograd::grad({(composed * g).sum()}, {q, k, v});
    CHECK(xg::equal(fused, composed));
    for (size_t i = 0; i < 3; ++i) CHECK(max_abs_diff(grads[i], expected[i]) < 1e-5);
    // out.sum()'s gradient is one number expanded (all strides 0): read in place by the heads' products
    xg::manual_seed(3);
    auto from_sum = xg::autograd::grad({F::scaled_dot_product_attention(q, k, v, mask, 0.1).sum()}, {q, k, v});
    xg::manual_seed(3);
    auto composed_sum = xg::autograd::grad({F::scaled_dot_product_attention_with_weights(q, k, v, mask, 0.1).output.sum()}, {q, k, v});
    for (size_t i = 0; i < 3; ++i) CHECK(max_abs_diff(from_sum[i], composed_sum[i]) < 1e-5);
    xg::set_num_threads(saved);
}

TEST_CASE("attention: which path runs: Auto fuses from kFuseAttentionAt weights on, or as set") {
    auto node_of = [](xg::Shape q_shape, int64_t S) {
        Tensor q = xg::randn(q_shape, xg::requires_grad());
        xg::Shape kv = q_shape;
        kv[kv.size() - 2] = S;
        return F::scaled_dot_product_attention(q, xg::randn(kv), xg::randn(kv)).grad_fn()->name();
    };
    REQUIRE(F::attention_kernel() == F::AttentionKernel::Auto);
    // The tutorials' size: one op per node, the path to step through.
    CHECK(node_of({1, 8, 5, 1}, 5) == "BmmBackward0");
    // 8 * 64 * 64 = 2^15 weights: fused.
    CHECK(node_of({8, 64, 4}, 64) == "ScaledDotProductAttentionBackward0");
    CHECK(node_of({8, 63, 4}, 64) == "BmmBackward0");
    {
        F::AttentionKernelGuard composed(F::AttentionKernel::Composed);
        CHECK(node_of({8, 64, 4}, 64) == "BmmBackward0");
        F::AttentionKernelGuard fused(F::AttentionKernel::Fused);
        CHECK(node_of({1, 8, 5, 1}, 5) == "ScaledDotProductAttentionBackward0");
    }
    CHECK(F::attention_kernel() == F::AttentionKernel::Auto);  // the guards put it back
    // Weights asked for: always the composed path, whose weights have a gradient.
    F::AttentionKernelGuard fused(F::AttentionKernel::Fused);
    Tensor q = xg::randn({2, 3, 4}, xg::requires_grad());
    CHECK(F::scaled_dot_product_attention_with_weights(q, q, q).output.grad_fn()->name() == "BmmBackward0");
}

TEST_CASE("attention: fused attention gradcheck (float64; mask; dropout with a reseeded mask)") {
    F::AttentionKernelGuard fused_kernel(F::AttentionKernel::Fused);
    Tensor q = leaf({2, 3, 4}, -1, 1, 1), k = leaf({2, 5, 4}, -1, 1, 2), v = leaf({2, 5, 3}, -1, 1, 3);
    Tensor mask = leaf({3, 5}, -1, 1, 4).detach();
    CHECK(xg::autograd::gradcheck(
        [&](const Inputs& in) {
            xg::manual_seed(9);  // the same dropout mask at every evaluation: one function
            return F::scaled_dot_product_attention(in[0], in[1], in[2], mask, 0.3);
        },
        {q, k, v}));
    CHECK(F::scaled_dot_product_attention(q, k, v, mask, 0.3).grad_fn()->name() == "ScaledDotProductAttentionBackward0");
    // Batch dims that broadcast take the composed path, and are right too.
    Tensor k1 = leaf({1, 5, 4}, -1, 1, 5), v1 = leaf({1, 5, 3}, -1, 1, 6);
    CHECK(xg::autograd::gradcheck(
        [&](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2], mask); }, {q, k1, v1}));
}

TEST_CASE("attention: dropout on the attention weights") {
    Tensor q = leaf({1, 4, 2}).detach(), k = leaf({1, 6, 2}, -1, 1, 2).detach(), v = leaf({1, 6, 2}, -1, 1, 3).detach();
    xg::manual_seed(5);
    auto dropped = F::scaled_dot_product_attention_with_weights(q, k, v, {}, 0.5);
    auto full = F::scaled_dot_product_attention_with_weights(q, k, v);
    // Each weight is either dropped (0) or kept and scaled by 1 / (1 - p) = 2.
    std::vector<double> d = dropped.weights.to_vector<double>(), w = full.weights.to_vector<double>();
    int zeros = 0;
    for (size_t i = 0; i < d.size(); ++i) {
        if (d[i] == 0.0) ++zeros;
        else CHECK(d[i] == doctest::Approx(2.0 * w[i]));
    }
    CHECK(zeros > 0);
    CHECK(zeros < static_cast<int>(d.size()));
    // The output is computed from the dropped weights.
    CHECK(max_abs_diff(dropped.output, dropped.weights.matmul(v)) < 1e-15);
}

TEST_CASE("attention: scaled_dot_product_attention errors name the shapes and the caller's line") {
    Tensor q = xg::randn({2, 3, 4}), k = xg::randn({2, 5, 4}), v = xg::randn({2, 5, 3});
    std::string msg = error_of([&] { F::scaled_dot_product_attention(q, xg::randn({2, 5, 6}), v); });
    CHECK(contains(msg, "scaled_dot_product_attention"));
    CHECK(contains(msg, "[2, 3, 4]"));
    CHECK(contains(msg, "[2, 5, 6]"));
    CHECK(contains(msg, "test_attention.cpp"));
    CHECK(contains(error_of([&] { F::scaled_dot_product_attention(q, k, xg::randn({2, 4, 3})); }), "sequence length"));
    CHECK(contains(error_of([&] { F::scaled_dot_product_attention(q, k, v, xg::zeros({3, 4})); }),
                   "does not broadcast"));
    CHECK(contains(error_of([&] { F::scaled_dot_product_attention(q, k, v, xg::zeros({3, 5}), 0.0, true); }),
                   "either attn_mask or is_causal"));
    CHECK(contains(error_of([&] { F::scaled_dot_product_attention(q, k, v, {}, 1.5); }), "between 0 and 1"));
}

// ---- MultiheadAttention ----------------------------------------------------------------------------

TEST_CASE("attention: MultiheadAttention self-attention matches PyTorch (output, averaged and per-head weights, grads)") {
    const X::Fixture& f = X::mha_self;
    auto mha = loaded_mha(f);
    Tensor x = X::get(f, "x").requires_grad_();  // [L=3, N=2, E=4]
    auto [out, weights] = (*mha)(x, x, x);
    CHECK(out.shape() == xg::Shape{3, 2, 4});
    CHECK(weights.shape() == xg::Shape{2, 3, 3});
    check_parity(out, X::get(f, "out"));
    check_parity(weights, X::get(f, "weights"));
    Tensor heads = (*mha)(x, x, x, {}, true, {}, /*average_attn_weights=*/false).weights;
    CHECK(heads.shape() == xg::Shape{2, 2, 3, 3});
    check_parity(heads, X::get(f, "weights_heads"));
    // Gradients of sum(out^2), as in the python.
    (out * out).sum().backward();
    check_parity(x.grad(), X::get(f, "grad.x"));
    check_parity(mha->in_proj_weight.grad(), X::get(f, "grad.in_proj_weight"));
    // need_weights=false: the same output, no weights.
    auto no_weights = (*mha)(x, x, x, {}, /*need_weights=*/false);
    CHECK(!no_weights.weights.defined());
    CHECK(xg::equal(no_weights.output, out));
}

TEST_CASE("attention: MultiheadAttention cross-attention with boolean attn_mask and key_padding_mask (batch_first)") {
    const X::Fixture& f = X::mha_cross;
    auto mha = loaded_mha(f, /*batch_first=*/true);
    Tensor query = X::get(f, "query"), memory = X::get(f, "memory");  // [N=2, L=2, E], [N=2, S=3, E]
    Tensor attn_mask = X::get(f, "attn_mask", xg::kInt64);             // [L, S], 1 = not allowed
    Tensor kpm = X::get(f, "key_padding_mask", xg::kInt64);            // [N, S], 1 = padding
    auto [out, weights] = (*mha)(query, memory, memory, kpm, true, attn_mask);
    CHECK(out.shape() == xg::Shape{2, 2, 4});
    CHECK(weights.shape() == xg::Shape{2, 2, 3});
    check_parity(out, X::get(f, "out"));
    check_parity(weights, X::get(f, "weights"));
    // Masked positions get exactly zero weight: key 1 for query 0, key 2 for batch entry 0.
    CHECK(weights[0][0][1].item() == 0.0);
    CHECK(weights[0][1][2].item() == 0.0);
    CHECK(weights[1][0][1].item() == 0.0);
    // The same masks in additive float form give the same numbers.
    auto additive = (*mha)(query, memory, memory, F::additive_mask(kpm), true, F::additive_mask(attn_mask));
    CHECK(xg::equal(additive.output, out));
}

TEST_CASE("attention: MultiheadAttention with distinct q, k, v and a 3-D float mask [N*H, L, S] matches PyTorch") {
    const X::Fixture& f = X::mha_qkv;
    auto mha = loaded_mha(f);
    Tensor query = X::get(f, "query"), key = X::get(f, "key"), value = X::get(f, "value");
    auto [out, heads] = (*mha)(query, key, value, {}, true, X::get(f, "attn_mask"), /*average_attn_weights=*/false);
    CHECK(out.shape() == xg::Shape{2, 2, 4});
    CHECK(heads.shape() == xg::Shape{2, 2, 2, 3});
    check_parity(out, X::get(f, "out"));
    check_parity(heads, X::get(f, "weights_heads"));
}

TEST_CASE("attention: MultiheadAttention batch_first both ways, and unbatched input") {
    xg::manual_seed(3);
    auto seq_first = std::make_shared<xg::nn::MultiheadAttention>(6, 3);
    auto batch_first = std::make_shared<xg::nn::MultiheadAttention>(6, 3, 0.0, true, /*batch_first=*/true);
    batch_first->load_state_dict(seq_first->state_dict());
    Tensor x = xg::randn({5, 2, 6});  // [L, N, E]
    auto a = (*seq_first)(x, x, x);
    CHECK(a.output.shape() == xg::Shape{5, 2, 6});
    CHECK(a.weights.shape() == xg::Shape{2, 5, 5});
    Tensor xb = x.transpose(0, 1).contiguous();  // [N, L, E]
    auto b = (*batch_first)(xb, xb, xb);
    CHECK(b.output.shape() == xg::Shape{2, 5, 6});
    CHECK(b.weights.shape() == xg::Shape{2, 5, 5});
    CHECK(max_abs_diff(b.output.transpose(0, 1), a.output) < 1e-6);
    CHECK(max_abs_diff(b.weights, a.weights) < 1e-6);
    // Cross-attention with batch_first: key/value of another length.
    Tensor mem = xg::randn({2, 7, 6});
    CHECK((*batch_first)(xb, mem, mem).output.shape() == xg::Shape{2, 5, 6});
    CHECK((*batch_first)(xb, mem, mem, {}, true, {}, false).weights.shape() == xg::Shape{2, 3, 5, 7});
    // Unbatched [L, E]: the batch-of-one computation without the batch dim.
    Tensor x0 = x.select(1, 0);  // [L, E]
    auto u = (*seq_first)(x0, x0, x0);
    CHECK(u.output.shape() == xg::Shape{5, 6});
    CHECK(u.weights.shape() == xg::Shape{5, 5});
    CHECK(max_abs_diff(u.output, a.output.select(1, 0)) < 1e-6);
    CHECK((*seq_first)(x0, x0, x0, {}, true, {}, false).weights.shape() == xg::Shape{3, 5, 5});
}

TEST_CASE("attention: MultiheadAttention gradcheck w.r.t. query and in_proj_weight (float64)") {
    xg::manual_seed(11);
    auto mha = std::make_shared<xg::nn::MultiheadAttention>(4, 2);
    ToFloat64 to64;
    mha->visit(to64);
    CHECK(mha->in_proj_weight.dtype() == xg::kFloat64);
    CHECK(mha->out_proj->weight.dtype() == xg::kFloat64);
    // Non-zero biases, so their paths are exercised too.
    {
        xg::NoGradGuard no_grad;
        mha->in_proj_bias.copy_(leaf({12}, -0.5, 0.5, 9));
        mha->out_proj->bias.copy_(leaf({4}, -0.5, 0.5, 10));
    }
    Tensor query = leaf({3, 2, 4}, -1, 1, 1);  // [L, N, E]
    Tensor memory = leaf({4, 2, 4}, -1, 1, 2);  // [S, N, E]
    Tensor kpm = xg::tensor(std::vector<int64_t>{0, 0, 0, 1, 0, 0, 0, 0}, {2, 4});
    // Self-attention (the single packed in-projection)...
    CHECK(xg::autograd::gradcheck(
        [&](const Inputs& in) {
            mha->in_proj_weight = in[1];
            return (*mha)(in[0], in[0], in[0]).output;
        },
        {query, mha->in_proj_weight}));
    // ...and cross-attention with a padding mask, through the returned weights as well.
    CHECK(xg::autograd::gradcheck(
        [&](const Inputs& in) {
            mha->in_proj_weight = in[1];
            auto r = (*mha)(in[0], memory, memory, kpm);
            return r.output.sum() + (r.weights * r.weights).sum();
        },
        {query, mha->in_proj_weight}));
}

TEST_CASE("attention: MultiheadAttention parameters, init and printed form are PyTorch's") {
    xg::nn::MultiheadAttention mha(8, 2);
    std::vector<std::string> names;
    for (auto& [name, t] : mha.named_parameters()) names.push_back(name);
    // [n for n, _ in nn.MultiheadAttention(8, 2).named_parameters()]
    CHECK(names == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
    CHECK(mha.in_proj_weight.shape() == xg::Shape{24, 8});
    CHECK(mha.head_dim == 4);
    // Biases start at zero; xavier_uniform_ bounds in_proj_weight by sqrt(6 / (8 + 24)).
    CHECK(xg::equal(mha.in_proj_bias, xg::zeros({24})));
    CHECK(xg::equal(mha.out_proj->bias, xg::zeros({8})));
    CHECK(xg::max(xg::abs(mha.in_proj_weight)).item() <= std::sqrt(6.0 / 32.0));
    // print(nn.MultiheadAttention(8, 2))
    CHECK(mha.repr() ==
          "MultiheadAttention(\n"
          "  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n"
          ")");
    // The out_proj keeps its class through a deep copy.
    auto copy = mha.clone();
    CHECK(copy->repr() == mha.repr());
    CHECK(copy->named_parameters()[0].second.impl() != mha.in_proj_weight.impl());
    // bias=false: no in_proj_bias, no out_proj.bias.
    xg::nn::MultiheadAttention no_bias(8, 2, 0.0, /*bias=*/false);
    CHECK(no_bias.named_parameters().size() == 2);
    CHECK(no_bias.repr() ==
          "MultiheadAttention(\n"
          "  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=False)\n"
          ")");
    Tensor x = xg::randn({3, 1, 8});
    CHECK(no_bias(x, x, x).output.shape() == xg::Shape{3, 1, 8});
}

TEST_CASE("attention: MultiheadAttention dropout acts in training mode only") {
    xg::manual_seed(2);
    xg::nn::MultiheadAttention mha(4, 2, /*dropout=*/0.5);
    Tensor x = xg::randn({6, 1, 4});
    mha.eval();
    auto a = mha(x, x, x), b = mha(x, x, x);
    CHECK(xg::equal(a.output, b.output));
    mha.train();
    auto c = mha(x, x, x, {}, true, {}, false);
    std::vector<double> w = c.weights.to_vector<double>();
    CHECK(std::count(w.begin(), w.end(), 0.0) > 0);  // some weights were dropped
    CHECK(!xg::equal(c.output, a.output));
}

TEST_CASE("attention: MultiheadAttention self-attention, fused: the composed path's numbers without its copies") {
    // The fused self-attention takes the packed [L, N, 3E] projection and writes the heads'
    // outputs side by side: same forward bits as the composed path (same dropout draws), the
    // gradients equal to float rounding; with masks, batch_first, and unbatched input.
    namespace Fn = xg::nn::functional;
    struct Case {
        bool batch_first, batched, masks;
    };
    for (Case c : {Case{false, true, false}, Case{true, true, true}, Case{false, false, true}}) {
        CAPTURE(c.batch_first);
        CAPTURE(c.batched);
        CAPTURE(c.masks);
        xg::manual_seed(21);
        xg::nn::MultiheadAttention mha(12, 3, /*dropout=*/0.2, true, c.batch_first);
        mha.train();
        const int64_t L = 7, N = 3, E = 12;
        Tensor x = c.batched ? (c.batch_first ? xg::randn({N, L, E}) : xg::randn({L, N, E})) : xg::randn({L, E});
        Tensor attn_mask = c.masks ? xg::randn({L, L}) : Tensor();
        Tensor kpm = c.masks && c.batched ? xg::tensor(std::vector<int64_t>{0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0,
                                                                            0, 0, 0, 0, 0},
                                                       {N, L})
                                          : Tensor();
        Tensor g = xg::randn(x.shape());
        auto run = [&](Fn::AttentionKernel kernel) {
            Fn::AttentionKernelGuard guard(kernel);
            mha.zero_grad();
            Tensor xin = x.detach().requires_grad_(true);
            xg::manual_seed(4);
            Tensor out = mha(xin, xin, xin, kpm, /*need_weights=*/false, attn_mask).output;
            (out * g).sum().backward();
            const bool fused_node = xg::autograd::to_dot(out).find("ScaledDotProductAttentionBackward0") != std::string::npos;
            return std::make_pair(std::vector<Tensor>{out.detach(), xin.grad(), mha.in_proj_weight.grad().clone(),
                                                      mha.in_proj_bias.grad().clone(), mha.out_proj->weight.grad().clone()},
                                  fused_node);
        };
        auto [composed, composed_node] = run(Fn::AttentionKernel::Composed);
        auto [fused, fused_node] = run(Fn::AttentionKernel::Fused);
        CHECK(!composed_node);
        CHECK(fused_node);
        CHECK(xg::equal(fused[0], composed[0]));
        for (size_t i = 1; i < 5; ++i) {
            CAPTURE(i);
            CHECK(max_abs_diff(fused[i], composed[i]) < 1e-5);
        }
    }
}

TEST_CASE("attention: MultiheadAttention errors name the sizes, the shapes and the caller's line") {
    std::string msg = error_of([] { xg::nn::MultiheadAttention(10, 3); });
    CHECK(contains(msg, "embed_dim must be divisible by num_heads"));
    CHECK(contains(msg, "embed_dim=10"));
    CHECK(contains(msg, "num_heads=3"));
    CHECK(contains(msg, "test_attention.cpp"));

    xg::nn::MultiheadAttention mha(4, 2);
    Tensor x = xg::randn({3, 2, 4});
    msg = error_of([&] { mha(x, x, xg::randn({3, 2, 5})); });
    CHECK(contains(msg, "MultiheadAttention"));
    CHECK(contains(msg, "[3, 2, 5]"));
    CHECK(contains(msg, "test_attention.cpp"));
    msg = error_of([&] { mha(x, xg::randn({5, 2, 4}), xg::randn({6, 2, 4})); });
    CHECK(contains(msg, "key shape [5, 2, 4] does not match value shape [6, 2, 4]"));
    msg = error_of([&] { mha(x, xg::randn({5, 3, 4}), xg::randn({5, 3, 4})); });
    CHECK(contains(msg, "different batch sizes"));
    CHECK(contains(error_of([&] { mha(xg::randn({2, 3, 2, 4}), x, x); }), "[2, 3, 2, 4]"));
    msg = error_of([&] { mha(x, x, x, {}, true, xg::zeros({3, 4})); });
    CHECK(contains(msg, "2D attn_mask is [3, 4], but should be [3, 3]"));
    msg = error_of([&] { mha(x, x, x, {}, true, xg::zeros({2, 3, 3})); });
    CHECK(contains(msg, "3D attn_mask is [2, 3, 3], but should be [4, 3, 3]"));
    msg = error_of([&] { mha(x, x, x, xg::zeros({2, 4})); });
    CHECK(contains(msg, "key_padding_mask shape of [2, 3]"));
    CHECK(contains(msg, "test_attention.cpp"));
    // forward(x) alone is Module's error: attention needs query, key and value.
    CHECK_THROWS_AS(mha.forward(x), xg::Error);
    // The functional form checks its weights as well.
    msg = error_of([&] {
        F::multi_head_attention_forward(x, x, x, 4, 3, mha.in_proj_weight, mha.in_proj_bias, 0.0, mha.out_proj->weight,
                                        mha.out_proj->bias);
    });
    CHECK(contains(msg, "embed_dim 4 not divisible by num_heads 3"));
    msg = error_of([&] {
        F::multi_head_attention_forward(x, x, x, 4, 2, xg::randn({8, 4}), {}, 0.0, mha.out_proj->weight, {});
    });
    CHECK(contains(msg, "in_proj_weight must have shape [3*embed_dim, embed_dim] = [12, 4], got [8, 4]"));
}
