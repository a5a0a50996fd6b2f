// Transformer layers: TransformerEncoderLayer / TransformerEncoder / TransformerDecoderLayer /
// TransformerDecoder against PyTorch 1.13 (fixtures from tests/nn/attention_expected.py), their
// parameter names and printed form, the source's toy configuration (d_model=8, nhead=8), the
// causal mask helper, deep copies, train/eval, a float64 gradcheck and the error messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "attention_expected.h"
#include "nn/attention.h"
#include "nn/modules/transformer.h"
#include "xgrad.h"

namespace nn = xg::nn;
namespace X = attention_expected;
using xg::Tensor;
using Inputs = std::vector<Tensor>;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
    double m = 0.0;
    for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
    return m;
}

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

std::vector<std::string> names_of(const nn::Module& m) {
    std::vector<std::string> names;
    for (auto& [name, t] : m.named_parameters()) names.push_back(name);
    return names;
}

}  // namespace

TEST_CASE("transformer: encoder layer matches PyTorch (post/pre-norm, relu/gelu, masks; output and grads)") {
    struct Case {
        const char* name;
        const X::Fixture* fixture;
        bool norm_first;
        const char* activation;
        const char* masks;
    };
    const Case cases[] = {{"post_relu", &X::encoder_post_relu, false, "relu", ""},
                          {"pre_relu", &X::encoder_pre_relu, true, "relu", "causal"},
                          {"post_gelu", &X::encoder_post_gelu, false, "gelu", "padding"},
                          {"pre_gelu", &X::encoder_pre_gelu, true, "gelu", ""}};
    // Both attention paths (nn/attention.h): these shapes are below the fused threshold, so Auto
    // composes; forcing the fused op checks it against PyTorch with every mask kind too.
    for (auto kernel : {xg::nn::functional::AttentionKernel::Composed, xg::nn::functional::AttentionKernel::Fused})
    for (const Case& c : cases) {
        xg::nn::functional::AttentionKernelGuard attention(kernel);
        CAPTURE(std::string(c.name));
        CAPTURE(kernel == xg::nn::functional::AttentionKernel::Fused);
        const X::Fixture& f = *c.fixture;
        nn::TransformerEncoderLayer layer(4, 2, {.dim_feedforward = 6, .activation = c.activation,
                                                 .batch_first = true, .norm_first = c.norm_first});
        layer.load_state_dict(X::state_dict(f));
        layer.eval();  // dropout 0.1 is off in eval mode
        Tensor src = X::get(f, "src").requires_grad_();  // [N=2, S=3, d_model=4]
        Tensor src_mask = std::string(c.masks) == "causal" ? nn::generate_square_subsequent_mask(3) : Tensor();
        Tensor kpm = std::string(c.masks) == "padding" ? X::get(f, "src_key_padding_mask", xg::kInt64) : Tensor();
        Tensor out = layer(src, src_mask, kpm);
        CHECK(out.shape() == xg::Shape{2, 3, 4});
        check_parity(out, X::get(f, "out"));
        (out * out).sum().backward();
        check_parity(src.grad(), X::get(f, "grad.src"), 1e-4);
        check_parity(layer.self_attn->in_proj_weight.grad(), X::get(f, "grad.self_attn.in_proj_weight"), 1e-4);
        const bool fused = kernel == xg::nn::functional::AttentionKernel::Fused;
        CHECK(contains(xg::autograd::to_dot(out), "ScaledDotProductAttentionBackward0") == fused);
    }
}

TEST_CASE("transformer: TransformerEncoder (2 layers + final norm) matches PyTorch") {
    const X::Fixture& f = X::encoder_stack;
    auto layer = std::make_shared<nn::TransformerEncoderLayer>(4, 2, 6, /*dropout=*/0.0);
    nn::TransformerEncoder encoder(layer, 2, std::make_shared<nn::LayerNorm>(4));
    encoder.load_state_dict(X::state_dict(f));
    Tensor out = encoder(X::get(f, "src"));  // [S=3, N=2, 4], sequence first
    check_parity(out, X::get(f, "out"));
}

TEST_CASE("transformer: decoder layer and TransformerDecoder match PyTorch (causal tgt_mask, memory padding)") {
    {
        const X::Fixture& f = X::decoder_layer;
        nn::TransformerDecoderLayer layer(4, 2, 6, /*dropout=*/0.0);
        layer.load_state_dict(X::state_dict(f));
        Tensor tgt = X::get(f, "tgt"), memory = X::get(f, "memory");  // [T=3, N=2, 4], [S=4, N=2, 4]
        Tensor out = layer(tgt, memory, nn::generate_square_subsequent_mask(3), {}, {},
                           X::get(f, "memory_key_padding_mask", xg::kInt64));
        CHECK(out.shape() == xg::Shape{3, 2, 4});
        check_parity(out, X::get(f, "out"));
    }
    {
        const X::Fixture& f = X::decoder_stack;
        auto layer = std::make_shared<nn::TransformerDecoderLayer>(
            4, 2, nn::TransformerLayerOptions{.dim_feedforward = 6, .dropout = 0.0, .activation = "gelu",
                                              .batch_first = true, .norm_first = true});
        nn::TransformerDecoder decoder(layer, 2, std::make_shared<nn::LayerNorm>(4));
        decoder.load_state_dict(X::state_dict(f));
        Tensor out = decoder(X::get(f, "tgt"), X::get(f, "memory"), nn::generate_square_subsequent_mask(3));
        CHECK(out.shape() == xg::Shape{2, 3, 4});
        check_parity(out, X::get(f, "out"));
    }
}

TEST_CASE("transformer: default init after manual_seed equals PyTorch's after torch.manual_seed") {
    // torch.manual_seed(0); nn.TransformerEncoderLayer(4, 2, 6): every parameter drawn in PyTorch's order.
    xg::manual_seed(0);
    nn::TransformerEncoderLayer layer(4, 2, 6);
    std::map<std::string, Tensor> expected = X::state_dict(X::init_encoder_layer);
    auto params = layer.state_dict();
    REQUIRE(params.size() == expected.size());
    // The same random draws, to within one float32 rounding (|w| < 1, so 6e-8): PyTorch's
    // uniform_ computes from + u * (to - from) with a single rounding (an FMA).
    for (auto& [name, t] : params) {
        CAPTURE(name);
        CHECK(max_abs_diff(t, expected.at(name)) <= 6e-8);
    }
}

TEST_CASE("transformer: named_parameters are PyTorch's") {
    auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, 16);
    nn::TransformerEncoder encoder(layer, 2);
    // [n for n, _ in nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2).named_parameters()]
    const std::vector<std::string> expected = {
        "layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias", "layers.0.self_attn.out_proj.weight",
        "layers.0.self_attn.out_proj.bias",  "layers.0.linear1.weight",        "layers.0.linear1.bias",
        "layers.0.linear2.weight",           "layers.0.linear2.bias",          "layers.0.norm1.weight",
        "layers.0.norm1.bias",               "layers.0.norm2.weight",          "layers.0.norm2.bias",
        "layers.1.self_attn.in_proj_weight", "layers.1.self_attn.in_proj_bias", "layers.1.self_attn.out_proj.weight",
        "layers.1.self_attn.out_proj.bias",  "layers.1.linear1.weight",        "layers.1.linear1.bias",
        "layers.1.linear2.weight",           "layers.1.linear2.bias",          "layers.1.norm1.weight",
        "layers.1.norm1.bias",               "layers.1.norm2.weight",          "layers.1.norm2.bias"};
    CHECK(names_of(encoder) == expected);

    auto dec_layer = std::make_shared<nn::TransformerDecoderLayer>(8, 2, 16);
    nn::TransformerDecoder decoder(dec_layer, 1, std::make_shared<nn::LayerNorm>(8));
    // [n for n, _ in nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 1, norm=nn.LayerNorm(8)).named_parameters()]
    CHECK(names_of(decoder) ==
          std::vector<std::string>{"layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias",
                                   "layers.0.self_attn.out_proj.weight", "layers.0.self_attn.out_proj.bias",
                                   "layers.0.multihead_attn.in_proj_weight", "layers.0.multihead_attn.in_proj_bias",
                                   "layers.0.multihead_attn.out_proj.weight", "layers.0.multihead_attn.out_proj.bias",
                                   "layers.0.linear1.weight", "layers.0.linear1.bias", "layers.0.linear2.weight",
                                   "layers.0.linear2.bias", "layers.0.norm1.weight", "layers.0.norm1.bias",
                                   "layers.0.norm2.weight", "layers.0.norm2.bias", "layers.0.norm3.weight",
                                   "layers.0.norm3.bias", "norm.weight", "norm.bias"});
}

TEST_CASE("transformer: printed form is PyTorch's") {
    // print(nn.TransformerEncoderLayer(8, 8, batch_first=True))
    nn::TransformerEncoderLayer layer(8, 8, {.batch_first = true});
    CHECK(layer.repr() ==
          "TransformerEncoderLayer(\n"
          "  (self_attn): MultiheadAttention(\n"
          "    (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n"
          "  )\n"
          "  (linear1): Linear(in_features=8, out_features=2048, bias=True)\n"
          "  (dropout): Dropout(p=0.1, inplace=False)\n"
          "  (linear2): Linear(in_features=2048, out_features=8, bias=True)\n"
          "  (norm1): LayerNorm((8,), eps=1e-05, elementwise_affine=True)\n"
          "  (norm2): LayerNorm((8,), eps=1e-05, elementwise_affine=True)\n"
          "  (dropout1): Dropout(p=0.1, inplace=False)\n"
          "  (dropout2): Dropout(p=0.1, inplace=False)\n"
          ")");
    // print(nn.TransformerDecoderLayer(8, 2, 16))
    nn::TransformerDecoderLayer dec(8, 2, 16);
    CHECK(dec.repr() ==
          "TransformerDecoderLayer(\n"
          "  (self_attn): MultiheadAttention(\n"
          "    (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n"
          "  )\n"
          "  (multihead_attn): MultiheadAttention(\n"
          "    (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n"
          "  )\n"
          "  (linear1): Linear(in_features=8, out_features=16, bias=True)\n"
          "  (dropout): Dropout(p=0.1, inplace=False)\n"
          "  (linear2): Linear(in_features=16, out_features=8, bias=True)\n"
          "  (norm1): LayerNorm((8,), eps=1e-05, elementwise_affine=True)\n"
          "  (norm2): LayerNorm((8,), eps=1e-05, elementwise_affine=True)\n"
          "  (norm3): LayerNorm((8,), eps=1e-05, elementwise_affine=True)\n"
          "  (dropout1): Dropout(p=0.1, inplace=False)\n"
          "  (dropout2): Dropout(p=0.1, inplace=False)\n"
          "  (dropout3): Dropout(p=0.1, inplace=False)\n"
          ")");
    // print(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2, norm=nn.LayerNorm(8))): the
    // layer's block indented twice under "(layers): ModuleList(", then the final norm.
    nn::TransformerEncoder encoder(std::make_shared<nn::TransformerEncoderLayer>(8, 2, 16), 2,
                                   std::make_shared<nn::LayerNorm>(8));
    std::string r = encoder.repr();
    CHECK(r.rfind("TransformerEncoder(\n  (layers): ModuleList(\n    (0): TransformerEncoderLayer(\n"
                  "      (self_attn): MultiheadAttention(\n"
                  "        (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n",
                  0) == 0);
    CHECK(contains(r, "\n    (1): TransformerEncoderLayer(\n"));
    CHECK(contains(r, "      (dropout2): Dropout(p=0.1, inplace=False)\n    )\n  )\n"
                      "  (norm): LayerNorm((8,), eps=1e-05, elementwise_affine=True)\n)"));
}

TEST_CASE("transformer: the source's toy config (d_model=8, nhead=8: head dim 1) and errata 4 (batch_first)") {
    xg::manual_seed(0);
    const int64_t bs = 1, seq_len = 5, model_dim = 8;
    Tensor token_embedding = xg::randn({bs, seq_len, model_dim});  // bs x seq x d, as the source builds it

    // The source: nn.TransformerEncoderLayer(d_model=model_dim, nhead=8), num_layers=6.
    auto encoder_layer = std::make_shared<nn::TransformerEncoderLayer>(model_dim, 8);
    CHECK(encoder_layer->self_attn->head_dim == 1);  // errata 5: legal, one feature per head
    nn::TransformerEncoder transformer_encoder(encoder_layer, 6);
    transformer_encoder.eval();
    Tensor encoder_output = transformer_encoder(token_embedding);
    CHECK(encoder_output.shape() == xg::Shape{1, 5, 8});

    // Errata 4: with batch_first=false, [1, 5, 8] is read as seq=1, batch=5: the five tokens never
    // see each other, so changing token 4 leaves token 0's output unchanged...
    Tensor changed = token_embedding.clone();
    {
        xg::NoGradGuard no_grad;
        changed.select(1, 4).fill_(3.0);
    }
    CHECK(xg::equal(transformer_encoder(changed).select(1, 0), encoder_output.select(1, 0)));
    // ...while with batch_first=true (the fix) they attend to each other.
    auto fixed_layer = std::make_shared<nn::TransformerEncoderLayer>(model_dim, 8, nn::TransformerLayerOptions{.batch_first = true});
    nn::TransformerEncoder fixed(fixed_layer, 6);
    fixed.eval();
    Tensor out = fixed(token_embedding);
    CHECK(out.shape() == xg::Shape{1, 5, 8});
    CHECK(max_abs_diff(fixed(changed).select(1, 0), out.select(1, 0)) > 1e-4);

    // Training mode (dropout 0.1) runs and backpropagates to the input and every parameter.
    fixed.train();
    Tensor x = token_embedding.clone().requires_grad_();
    Tensor loss = fixed(x).select(1, 0).sum();
    loss.backward();
    CHECK(x.grad().defined());
    for (auto& [name, p] : fixed.named_parameters()) {
        CAPTURE(name);
        CHECK(p.grad().defined());
    }
}

TEST_CASE("transformer: generate_square_subsequent_mask is PyTorch's") {
    // nn.Transformer.generate_square_subsequent_mask(3)
    const double inf = std::numeric_limits<double>::infinity();
    Tensor m = nn::generate_square_subsequent_mask(3);
    CHECK(m.dtype() == xg::kFloat32);
    CHECK(m.to_vector<double>() == std::vector<double>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0});
    CHECK(nn::generate_square_subsequent_mask(2, xg::dtype(xg::kFloat64)).dtype() == xg::kFloat64);
    CHECK(contains(error_of([] { nn::generate_square_subsequent_mask(2, xg::dtype(xg::kInt64)); }), "floating point"));
}

TEST_CASE("transformer: layers are independent deep copies of the prototype") {
    auto layer = std::make_shared<nn::TransformerEncoderLayer>(4, 2, 6);
    nn::TransformerEncoder encoder(layer, 3);
    REQUIRE(encoder.layers->size() == 3);
    auto l0 = encoder.layers->at<nn::TransformerEncoderLayer>(0);
    auto l1 = encoder.layers->at<nn::TransformerEncoderLayer>(1);
    // Same starting values, separate storage (training one does not move the other).
    CHECK(xg::equal(l0->self_attn->in_proj_weight, layer->self_attn->in_proj_weight));
    CHECK(xg::equal(l0->linear1->weight, l1->linear1->weight));
    CHECK(l0->linear1->weight.impl() != l1->linear1->weight.impl());
    CHECK(l0->linear1->weight.impl() != layer->linear1->weight.impl());
    {
        xg::NoGradGuard no_grad;
        l0->linear1->weight.add_(1.0);
    }
    CHECK(!xg::equal(l0->linear1->weight, l1->linear1->weight));
    CHECK(l0->self_attn->out_proj->type_name() == "NonDynamicallyQuantizableLinear");
    // Modes reach every layer.
    encoder.eval();
    CHECK(!l1->dropout1->is_training());
}

TEST_CASE("transformer: eval mode is deterministic, training mode applies dropout") {
    xg::manual_seed(4);
    nn::TransformerEncoderLayer layer(8, 2, 16, /*dropout=*/0.5);
    Tensor x = xg::randn({4, 2, 8});
    layer.eval();
    Tensor a = layer(x), b = layer(x);
    CHECK(xg::equal(a, b));
    CHECK(xg::equal(layer.forward(x), a));  // the one-tensor forward (what Sequential calls)
    layer.train();
    CHECK(!xg::equal(layer(x), a));
}

TEST_CASE("transformer: encoder and decoder layer gradcheck (float64, dropout off)") {
    // Float64 layers: build in float32, then load float64 copies of the weights into float64 tensors.
    struct ToFloat64 : nn::Visitor {
        void parameter(const std::string&, Tensor& t) override {
            if (t.defined()) t = t.detach().to(xg::kFloat64).requires_grad_(true);
        }
        void buffer(const std::string&, Tensor& t) override {
            if (t.defined()) t = t.detach().to(xg::kFloat64);
        }
        void module(const std::string&, std::shared_ptr<nn::Module>& m) override {
            if (m) m->visit(*this);
        }
        using Visitor::module;
    } to64;
    xg::manual_seed(6);
    nn::TransformerEncoderLayer enc(4, 2, 6, 0.0, "gelu", 1e-5, /*batch_first=*/true, /*norm_first=*/true);
    enc.visit(to64);
    Tensor src = xg::randn({2, 3, 4}, xg::dtype(xg::kFloat64).requires_grad());
    Tensor mask = nn::generate_square_subsequent_mask(3, xg::dtype(xg::kFloat64));
    CHECK(xg::autograd::gradcheck([&](const Inputs& in) { return enc(in[0], mask); }, {src}));

    nn::TransformerDecoderLayer dec(4, 2, 6, 0.0);
    dec.visit(to64);
    Tensor tgt = xg::randn({3, 2, 4}, xg::dtype(xg::kFloat64).requires_grad());
    Tensor memory = xg::randn({5, 2, 4}, xg::dtype(xg::kFloat64).requires_grad());
    CHECK(xg::autograd::gradcheck([&](const Inputs& in) { return dec(in[0], in[1], mask); }, {tgt, memory}));
}

TEST_CASE("transformer: errors name the problem and the caller's line") {
    std::string msg = error_of([] { nn::TransformerEncoderLayer(8, 8, 16, 0.1, "tanh"); });
    CHECK(contains(msg, "activation should be relu/gelu, not tanh"));
    CHECK(contains(msg, "test_transformer.cpp"));
    msg = error_of([] { nn::TransformerEncoderLayer(10, 4); });
    CHECK(contains(msg, "embed_dim=10"));
    CHECK(contains(msg, "num_heads=4"));
    CHECK(contains(msg, "test_transformer.cpp"));
    CHECK(contains(error_of([] { nn::TransformerEncoder(std::make_shared<nn::TransformerEncoderLayer>(4, 2, 6), 0); }),
                   "num_layers must be at least 1"));
    nn::TransformerEncoderLayer layer(4, 2, 6);
    msg = error_of([&] { layer(xg::randn({3, 2, 5})); });
    CHECK(contains(msg, "[3, 2, 5]"));
    CHECK(contains(msg, "test_transformer.cpp"));
    msg = error_of([&] { layer(xg::randn({3, 2, 4}), xg::zeros({2, 2})); });
    CHECK(contains(msg, "2D attn_mask is [2, 2], but should be [3, 3]"));
    nn::TransformerDecoderLayer dec(4, 2, 6);
    CHECK_THROWS_AS(dec.forward(xg::randn({3, 2, 4})), xg::Error);  // a decoder needs memory
    msg = error_of([&] { dec(xg::randn({3, 2, 4}), xg::randn({5, 3, 4})); });
    CHECK(contains(msg, "different batch sizes"));
}
