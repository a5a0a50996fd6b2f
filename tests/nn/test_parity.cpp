// Parity with PyTorch 1.13.1: every module, loss and functional of xg::nn, the optimizers over
// five steps, the LR schedules and clip_grad_norm_, against numbers PyTorch wrote.
//
// The fixtures are tests/fixtures/nn/<case>.safetensors, written by tests/fixtures/generate.py
// (run with Debian's python3-torch; see tests/fixtures/nn_fixtures.py for the keys of a case).
// A module case holds the inputs, PyTorch's state dict ("state.<key>"), the outputs, a random
// "seed.<output>" per output and the gradients of  loss = sum((output * seed).sum())  w.r.t. the
// inputs and every parameter ("grad.<name>"). Here the xgrad module is built with the same
// options, the state dict is loaded strictly, and forward and backward are compared elementwise:
//     |xgrad - PyTorch| <= atol + rtol * |PyTorch|,   rtol = 1e-5 (float32)
// with atol 1e-6 for single modules and 1e-5 for Transformer layers and stacks (optimizers:
// 1e-7 + 1e-6 * |PyTorch|; schedules: 1e-12 relative).
//
// State dicts go both ways: PyTorch's load strictly into xgrad (every module case, and a
// TransformerDecoder on its own), and xgrad's, saved with xg::save_safetensors, have PyTorch's
// keys and shapes. XGRAD_UPDATE_FIXTURES=1 makes the test write nn/xgrad_written_decoder.safetensors,
// which generate.py then loads into PyTorch with strict=True and runs.
//
// Each case prints its largest errors (a doctest MESSAGE); the last test prints the table of
// docs/nn.md ("Parity with PyTorch 1.13.1") when the parity tests run together:
//     ./build/dev/tests/xgrad_nn_tests -tc='parity:*'
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "core/safetensors.h"
#include "nn/nn.h"
#include "nn/optim/optim.h"
#include "xgrad.h"

namespace nn = xg::nn;
namespace F = xg::nn::functional;
namespace optim = xg::nn::optim;
using xg::Tensor;

namespace {

// ---- tolerances and the report -----------------------------------------------------------------

struct Tolerance {
    double atol;
    double rtol = 1e-5;
};
constexpr Tolerance kSingle{1e-6};      // one module or function
constexpr Tolerance kStack{1e-5};       // Transformer layers and stacks: many float32 roundings deep
constexpr Tolerance kOptim{1e-7, 1e-6};  // optimizers: elementwise updates, no reductions to reorder

// The largest errors seen per table row (a row is a module or function; several cases feed one).
// grad < 0: no gradient is compared (optimizers, schedules).
struct Measured {
    double forward = 0, grad = -1;
    int cases = 0;
    Tolerance tol{0};
};
std::vector<std::pair<std::string, Measured>>& report() {
    static std::vector<std::pair<std::string, Measured>> rows;
    return rows;
}
void record(const std::string& row, double forward, double grad, Tolerance tol) {
    auto& rows = report();
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == row; });
    if (it == rows.end()) it = rows.insert(rows.end(), {row, Measured{.tol = tol}});
    it->second.forward = std::max(it->second.forward, forward);
    it->second.grad = std::max(it->second.grad, grad);
    ++it->second.cases;
}

// An error for the report: "0", "2.4e-07", or "-" for none (negative).
std::string format_error(double v) {
    if (v < 0) return "-";
    if (v == 0) return "0";
    std::ostringstream out;
    out << std::setprecision(2) << std::scientific << v;
    return out.str();
}

std::string fixture_path(const std::string& name) {
    return std::string(XGRAD_FIXTURES_DIR) + "/nn/" + name + ".safetensors";
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> parts;
    std::stringstream in(s);
    for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
    return parts;
}

// Compares `got` with PyTorch's `expected` elementwise; returns the largest absolute error
// (infinity if a NaN or an infinity is out of place). Equal non-finite values are no error.
double compare(const std::string& what, const Tensor& got, const Tensor& expected, Tolerance tol) {
    INFO(what);
    REQUIRE(got.defined());
    REQUIRE(got.shape() == expected.shape());
    const std::vector<double> x = got.to_vector<double>(), y = expected.to_vector<double>();
    double max_err = 0, worst_ratio = 0;
    size_t failures = 0, worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        double err = x[i] == y[i] ? 0.0 : std::abs(x[i] - y[i]);
        if (std::isnan(err)) err = INFINITY;
        max_err = std::max(max_err, err);
        const double ratio = err / (tol.atol + tol.rtol * std::abs(y[i]));
        if (ratio > 1) {
            ++failures;
            if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
        }
    }
    if (failures > 0)
        FAIL_CHECK(what << ": " << failures << " of " << x.size() << " elements beyond " << tol.atol << " + "
                        << tol.rtol << " * |expected|; the worst at flat index " << worst << ": xgrad " << x[worst]
                        << ", PyTorch " << y[worst] << " (max abs error " << max_err << ")");
    return max_err;
}

// ---- one case ------------------------------------------------------------------------------------

using Outputs = std::vector<std::pair<std::string, Tensor>>;

// A fixture file and what the test does with it: hand out its inputs (remembering those whose
// gradients are checked), load its state dict into a module, compare outputs and gradients.
class Case {
  public:
    Case(std::string name, std::string row, Tolerance tol = kSingle)
        : name_(std::move(name)), row_(std::move(row)), tol_(tol), file_(xg::load_safetensors(fixture_path(name_))) {}

    bool has(const std::string& key) const { return file_.tensors.count(key) != 0; }
    // A stored tensor (a fresh copy, not requiring grad).
    Tensor get(const std::string& key) const {
        INFO(name_ << ": key " << key);
        REQUIRE(has(key));
        return file_.tensors.at(key).clone();
    }
    // A stored tensor, or undefined when the case has none (an absent mask).
    Tensor optional(const std::string& key) const { return has(key) ? get(key) : Tensor(); }
    // A stored input that requires grad; its gradient is compared with "grad.<key>".
    Tensor input(const std::string& key) {
        Tensor t = get(key).requires_grad_();
        inputs_.emplace_back(key, t);
        return t;
    }
    double number(const std::string& key) const { return get(key).item(); }
    std::string meta(const std::string& key) const {
        auto it = file_.metadata.find(key);
        return it == file_.metadata.end() ? "" : it->second;
    }

    // "state.<key>" entries with the prefix taken off: PyTorch's state dict.
    std::map<std::string, Tensor> state() const {
        std::map<std::string, Tensor> state;
        for (const auto& [key, t] : file_.tensors)
            if (key.rfind("state.", 0) == 0) state.emplace(key.substr(6), t.clone());
        return state;
    }

    // Strict load of PyTorch's state dict, and the same keys in the same order, the same repr.
    void load_into(nn::Module& module) const {
        INFO(name_);
        module.load_state_dict(state());  // strict: throws on a missing, unexpected or misshapen key
        std::vector<std::string> keys;
        for (const auto& [key, t] : module.state_dict()) keys.push_back(key);
        CHECK(keys == split_commas(meta("state_keys")));
        CHECK(module.repr() == meta("repr"));
    }

    // Compares the outputs, runs backward of sum((output * seed).sum()) and compares the
    // gradients of the inputs and of the module's parameters; records the largest errors.
    void check(const Outputs& outputs, const nn::Module* module = nullptr) {
        double forward = 0, grad = -1;
        Tensor loss;
        for (const auto& [key, out] : outputs) {
            forward = std::max(forward, compare(name_ + ": " + key, out, get(key), tol_));
            if (!has("seed." + key)) continue;
            Tensor term = (out * get("seed." + key)).sum();
            loss = loss.defined() ? loss + term : term;
        }
        if (loss.defined()) {
            loss.backward();
            grad = 0;
            for (const auto& [key, t] : inputs_)
                grad = std::max(grad, compare(name_ + ": grad." + key, t.grad(), get("grad." + key), tol_));
            if (module != nullptr)
                for (const auto& [key, p] : module->named_parameters())
                    grad = std::max(grad, compare(name_ + ": grad." + key, p.grad(), get("grad." + key), tol_));
        }
        MESSAGE(name_ << ": max abs error forward " << format_error(forward) << ", grad " << format_error(grad));
        record(row_, forward, grad, tol_);
    }

  private:
    std::string name_, row_;
    Tolerance tol_;
    xg::SafetensorsFile file_;
    std::vector<std::pair<std::string, Tensor>> inputs_;
};

// The common case: a module with one input "input" and one output "output".
void check_module(const std::string& name, const std::string& row, nn::Module& module, Tolerance tol = kSingle) {
    Case c(name, row, tol);
    c.load_into(module);
    Tensor x = c.input("input");
    c.check({{"output", module.forward(x)}}, &module);
}

Outputs attention_outputs(const F::AttentionOutput& a) {
    Outputs outputs{{"output", a.output}};
    if (a.weights.defined()) outputs.emplace_back("weights", a.weights);
    return outputs;
}

// Transformer sizes of the fixtures: d_model, heads, feed-forward width (nn_fixtures.py's D, H, FF).
constexpr int64_t D = 8, H = 2, FF = 16;

nn::TransformerLayerOptions layer_options(bool batch_first, bool norm_first, const char* activation) {
    return {.dim_feedforward = FF, .dropout = 0.0, .activation = activation, .batch_first = batch_first,
            .norm_first = norm_first};
}

}  // namespace

// ---- simple modules ------------------------------------------------------------------------------

TEST_CASE("parity: Linear (bias on and off)") {
    nn::Linear linear(5, 3);
    check_module("linear", "Linear", linear);
    nn::Linear no_bias(5, 3, /*bias=*/false);
    check_module("linear_nobias", "Linear", no_bias);
}

TEST_CASE("parity: LayerNorm (1-D and 2-D normalized_shape, eps, no affine)") {
    nn::LayerNorm norm(6);
    check_module("layer_norm", "LayerNorm", norm);
    nn::LayerNorm norm2d(xg::Shape{4, 6}, /*eps=*/1e-3);
    check_module("layer_norm_2d_eps", "LayerNorm", norm2d);
    nn::LayerNorm plain(6, 1e-5, /*elementwise_affine=*/false);
    check_module("layer_norm_no_affine", "LayerNorm", plain);
}

TEST_CASE("parity: Dropout (p=0 in training, eval mode)") {
    nn::Dropout p0(0.0);
    check_module("dropout_p0", "Dropout (p=0, eval)", p0);
    nn::Dropout half(0.5);
    half.eval();
    check_module("dropout_eval", "Dropout (p=0, eval)", half);
}

TEST_CASE("parity: Dropout in training mode scales like PyTorch (statistics only)") {
    // PyTorch's Dropout(0.25) on ones(400, 50): kept elements equal 1 / (1 - p) as float32.
    Case c("dropout_train_stats", "Dropout (train, statistics)");
    const double p = c.number("p");
    xg::manual_seed(0);
    nn::Dropout dropout(p);
    Tensor x = xg::ones({400, 50}, xg::requires_grad());
    Tensor y = dropout(x);
    const std::vector<float> values = y.to_vector<float>();
    const float scale = static_cast<float>(c.number("scale"));  // PyTorch's 1 / (1 - p), float32
    int64_t kept = 0, off_scale = 0;
    for (float v : values) {
        kept += v != 0.0f;
        off_scale += v != 0.0f && v != scale;
    }
    CHECK(off_scale == 0);
    const double n = static_cast<double>(values.size());
    const double sigma = std::sqrt(p * (1 - p) / n);  // of the kept fraction
    CHECK(std::abs(kept / n - (1 - p)) < 5 * sigma);
    CHECK(std::abs(c.number("keep_fraction") - (1 - p)) < 5 * sigma);  // PyTorch's own draw
    // The gradient is the same mask and scale.
    y.sum().backward();
    CHECK(x.grad().to_vector<float>() == values);
    MESSAGE("dropout: kept fraction " << kept / n << " (PyTorch " << c.number("keep_fraction") << "), scale "
                                      << c.number("scale"));
}

TEST_CASE("parity: ReLU, GELU (none, tanh), Identity") {
    nn::ReLU relu;
    check_module("relu", "ReLU", relu);
    nn::GELU gelu;
    check_module("gelu", "GELU (none, tanh)", gelu);
    nn::GELU gelu_tanh("tanh");
    check_module("gelu_tanh", "GELU (none, tanh)", gelu_tanh);
    nn::Identity identity;
    check_module("identity", "Identity", identity);
}

TEST_CASE("parity: Sequential(Linear, GELU, LayerNorm, Linear)") {
    nn::Sequential seq(std::make_shared<nn::Linear>(6, 8), std::make_shared<nn::GELU>(), std::make_shared<nn::LayerNorm>(8),
                       std::make_shared<nn::Linear>(8, 3));
    check_module("sequential", "Sequential", seq);
}

TEST_CASE("parity: Unfold and Fold (kernel, dilation, padding, stride)") {
    nn::Unfold unfold({2, 3}, /*dilation=*/{1, 2}, /*padding=*/1, /*stride=*/{2, 1});
    check_module("unfold", "Unfold", unfold);
    nn::Unfold patches(2, 1, 0, /*stride=*/2);
    check_module("unfold_patches", "Unfold", patches);
    nn::Fold fold(/*output_size=*/{5, 6}, /*kernel_size=*/{2, 3}, /*dilation=*/1, /*padding=*/{1, 0}, /*stride=*/{1, 2});
    check_module("fold", "Fold", fold);
    nn::Fold fold_dilated(6, 2, /*dilation=*/2, /*padding=*/1, /*stride=*/2);
    check_module("fold_dilation", "Fold", fold_dilated);
}

TEST_CASE("parity: Conv2d (stride, padding, dilation, bias on/off, patch embedding)") {
    nn::Conv2d conv(3, 4, 3);
    check_module("conv2d", "Conv2d", conv);
    nn::Conv2d strided(3, 4, 3, /*stride=*/2, /*padding=*/1);
    check_module("conv2d_stride_pad", "Conv2d", strided);
    nn::Conv2d dilated(2, 3, {2, 3}, /*stride=*/{1, 2}, /*padding=*/{2, 1}, /*dilation=*/{2, 1}, /*bias=*/false);
    check_module("conv2d_dilation_nobias", "Conv2d", dilated);
    nn::Conv2d patch(3, 8, /*kernel_size=*/4, /*stride=*/4);
    check_module("conv2d_patch", "Conv2d", patch);
}

// ---- attention -----------------------------------------------------------------------------------

TEST_CASE("parity: MultiheadAttention self-attention, sequence first, averaged weights") {
    Case c("mha_self", "MultiheadAttention");
    nn::MultiheadAttention mha(D, H);
    c.load_into(mha);
    Tensor x = c.input("query");  // [S, N, D]
    c.check(attention_outputs(mha(x, x, x)), &mha);
}

TEST_CASE("parity: MultiheadAttention cross-attention, batch_first, bool attn_mask + key_padding_mask, per-head weights") {
    Case c("mha_cross_batch_first_bool_masks", "MultiheadAttention");
    nn::MultiheadAttention mha(D, H, 0.0, true, /*batch_first=*/true);
    c.load_into(mha);
    Tensor q = c.input("query"), k = c.input("key"), v = c.input("value");
    auto out = mha(q, k, v, c.get("key_padding_mask"), /*need_weights=*/true, c.get("attn_mask"),
                   /*average_attn_weights=*/false);
    CHECK(out.weights.shape() == xg::Shape{2, H, 4, 5});
    c.check(attention_outputs(out), &mha);
}

TEST_CASE("parity: MultiheadAttention float attn_mask (causal -inf + bias), 4 heads, need_weights=false") {
    Case c("mha_float_mask_no_weights", "MultiheadAttention");
    nn::MultiheadAttention mha(D, 4);
    c.load_into(mha);
    Tensor x = c.input("query");
    auto out = mha(x, x, x, {}, /*need_weights=*/false, c.get("attn_mask"));
    CHECK_FALSE(out.weights.defined());
    c.check(attention_outputs(out), &mha);
}

TEST_CASE("parity: MultiheadAttention without biases, 3-D bool mask [N*H, L, S], key padding, batch_first") {
    Case c("mha_nobias_3d_mask", "MultiheadAttention");
    nn::MultiheadAttention mha(D, H, 0.0, /*bias=*/false, /*batch_first=*/true);
    c.load_into(mha);
    Tensor q = c.input("query"), k = c.input("key");
    c.check(attention_outputs(mha(q, k, k, c.get("key_padding_mask"), true, c.get("attn_mask"))), &mha);
}

// ---- Transformer layers and stacks -------------------------------------------------------------

TEST_CASE("parity: TransformerEncoderLayer (batch_first, norm_first, relu/gelu, float/bool masks, padding)") {
    struct Config {
        const char* name;
        bool batch_first, norm_first;
        const char* activation;
    };
    const Config configs[] = {
        {"encoder_layer_post_relu", false, false, "relu"},
        {"encoder_layer_pre_gelu_batch_first_causal_padding", true, true, "gelu"},
        {"encoder_layer_post_gelu_batch_first_bool_mask", true, false, "gelu"},
        {"encoder_layer_pre_relu_padding", false, true, "relu"},
        {"encoder_layer_unbatched", false, false, "gelu"},
    };
    for (const Config& cfg : configs) {
        CAPTURE(std::string(cfg.name));
        Case c(cfg.name, "TransformerEncoderLayer", kStack);
        nn::TransformerEncoderLayer layer(D, H, layer_options(cfg.batch_first, cfg.norm_first, cfg.activation));
        c.load_into(layer);
        Tensor src = c.input("src");
        c.check({{"output", layer(src, c.optional("src_mask"), c.optional("src_key_padding_mask"))}}, &layer);
    }
}

TEST_CASE("parity: TransformerEncoder, 2 pre-norm layers + final norm (masks) and 2 post-norm layers without") {
    {
        Case c("encoder_final_norm", "TransformerEncoder", kStack);
        auto layer = std::make_shared<nn::TransformerEncoderLayer>(D, H, layer_options(true, true, "gelu"));
        nn::TransformerEncoder encoder(layer, 2, std::make_shared<nn::LayerNorm>(D));
        c.load_into(encoder);
        Tensor src = c.input("src");
        c.check({{"output", encoder(src, c.get("mask"), c.get("src_key_padding_mask"))}}, &encoder);
    }
    {
        Case c("encoder_no_norm", "TransformerEncoder", kStack);
        auto layer = std::make_shared<nn::TransformerEncoderLayer>(D, H, layer_options(false, false, "relu"));
        nn::TransformerEncoder encoder(layer, 2);
        c.load_into(encoder);
        Tensor src = c.input("src");
        c.check({{"output", encoder(src)}}, &encoder);
    }
}

TEST_CASE("parity: TransformerDecoderLayer (batch_first, norm_first, relu/gelu, causal tgt_mask, memory masks)") {
    struct Config {
        const char* name;
        bool batch_first, norm_first;
        const char* activation;
    };
    const Config configs[] = {
        {"decoder_layer_post_relu_causal", false, false, "relu"},
        {"decoder_layer_pre_gelu_batch_first_all_masks", true, true, "gelu"},
        {"decoder_layer_post_gelu_batch_first_memory_padding", true, false, "gelu"},
        {"decoder_layer_pre_relu_bool_causal_float_memory_mask", false, true, "relu"},
    };
    for (const Config& cfg : configs) {
        CAPTURE(std::string(cfg.name));
        Case c(cfg.name, "TransformerDecoderLayer", kStack);
        nn::TransformerDecoderLayer layer(D, H, layer_options(cfg.batch_first, cfg.norm_first, cfg.activation));
        c.load_into(layer);
        Tensor tgt = c.input("tgt"), memory = c.input("memory");
        Tensor out = layer(tgt, memory, c.optional("tgt_mask"), c.optional("memory_mask"),
                           c.optional("tgt_key_padding_mask"), c.optional("memory_key_padding_mask"));
        c.check({{"output", out}}, &layer);
    }
}

TEST_CASE("parity: TransformerDecoder, 2 pre-norm layers + final norm and 2 post-norm layers without") {
    {
        Case c("decoder_final_norm", "TransformerDecoder", kStack);
        auto layer = std::make_shared<nn::TransformerDecoderLayer>(D, H, layer_options(true, true, "gelu"));
        nn::TransformerDecoder decoder(layer, 2, std::make_shared<nn::LayerNorm>(D));
        c.load_into(decoder);
        Tensor tgt = c.input("tgt"), memory = c.input("memory");
        Tensor out = decoder(tgt, memory, c.get("tgt_mask"), {}, {}, c.get("memory_key_padding_mask"));
        c.check({{"output", out}}, &decoder);
    }
    {
        Case c("decoder_no_norm", "TransformerDecoder", kStack);
        auto layer = std::make_shared<nn::TransformerDecoderLayer>(D, H, layer_options(false, false, "relu"));
        nn::TransformerDecoder decoder(layer, 2);
        c.load_into(decoder);
        Tensor tgt = c.input("tgt"), memory = c.input("memory");
        c.check({{"output", decoder(tgt, memory, c.get("tgt_mask"))}}, &decoder);
    }
}

// ---- losses ----------------------------------------------------------------------------------------

TEST_CASE("parity: CrossEntropyLoss (mean/sum/none, label_smoothing, ignore_index, class weights, [N,C,d])") {
    struct Config {
        const char* name;
        nn::CrossEntropyLossOptions options;
    };
    const Config configs[] = {
        {"cross_entropy_mean", {}},
        {"cross_entropy_sum", {.reduction = "sum"}},
        {"cross_entropy_none", {.reduction = "none"}},
        {"cross_entropy_label_smoothing", {.label_smoothing = 0.1}},
        {"cross_entropy_ignore_index", {.ignore_index = 2}},
        {"cross_entropy_nd_smoothing_ignore", {.ignore_index = 1, .label_smoothing = 0.2}},
        {"cross_entropy_nd_none", {.reduction = "none", .label_smoothing = 0.05}},
        // the class weights are a buffer: PyTorch's value comes in with the state dict
        {"cross_entropy_weight_smoothing_ignore", {.weight = xg::zeros({4}), .ignore_index = 3, .label_smoothing = 0.1}},
    };
    for (const Config& cfg : configs) {
        CAPTURE(std::string(cfg.name));
        Case c(cfg.name, "CrossEntropyLoss");
        nn::CrossEntropyLoss loss_fn(cfg.options);
        c.load_into(loss_fn);
        Tensor input = c.input("input");
        c.check({{"output", loss_fn(input, c.get("target"))}}, &loss_fn);
    }
}

TEST_CASE("parity: MSELoss (mean/sum/none)") {
    for (const char* reduction : {"mean", "sum", "none"}) {
        CAPTURE(std::string(reduction));
        Case c(std::string("mse_") + reduction, "MSELoss");
        nn::MSELoss loss_fn(reduction);
        c.load_into(loss_fn);
        Tensor input = c.input("input"), target = c.input("target");
        c.check({{"output", loss_fn(input, target)}}, &loss_fn);
    }
}

// ---- functional --------------------------------------------------------------------------------------

TEST_CASE("parity: F::softmax and F::log_softmax (inner and last dim)") {
    for (const auto& [name, dim] : {std::pair{"F_softmax_dim1", 1}, std::pair{"F_softmax_last", -1}}) {
        Case c(name, "F::softmax");
        Tensor x = c.input("input");
        c.check({{"output", F::softmax(x, dim)}});
    }
    for (const auto& [name, dim] : {std::pair{"F_log_softmax_dim1", 1}, std::pair{"F_log_softmax_last", -1}}) {
        Case c(name, "F::log_softmax");
        Tensor x = c.input("input");
        c.check({{"output", F::log_softmax(x, dim)}});
    }
}

TEST_CASE("parity: F::layer_norm and F::linear (gradients of input, weight and bias)") {
    {
        Case c("F_layer_norm", "F::layer_norm");
        Tensor x = c.input("input"), w = c.input("weight"), b = c.input("bias");
        c.check({{"output", F::layer_norm(x, {5}, w, b, 1e-5)}});
    }
    {
        Case c("F_linear", "F::linear");
        Tensor x = c.input("input"), w = c.input("weight"), b = c.input("bias");
        c.check({{"output", F::linear(x, w, b)}});
    }
}

TEST_CASE("parity: F::unfold, F::fold and F::conv2d") {
    {
        Case c("F_unfold", "F::unfold");
        Tensor x = c.input("input");
        c.check({{"output", F::unfold(x, 3, /*dilation=*/1, /*padding=*/1, /*stride=*/2)}});
    }
    {
        Case c("F_fold", "F::fold");
        Tensor x = c.input("input");
        c.check({{"output", F::fold(x, {4, 5}, 2)}});
    }
    {
        Case c("F_conv2d", "F::conv2d");
        Tensor x = c.input("input"), w = c.input("weight"), b = c.input("bias");
        c.check({{"output", F::conv2d(x, w, b, /*stride=*/2, /*padding=*/{1, 2}, /*dilation=*/2)}});
    }
}

TEST_CASE("parity: F::scaled_dot_product_attention (no mask, float mask, bool mask, causal) vs the explicit math") {
    for (const char* name : {"F_sdpa", "F_sdpa_float_mask", "F_sdpa_bool_mask", "F_sdpa_causal"}) {
        CAPTURE(std::string(name));
        Case c(name, "F::scaled_dot_product_attention");
        Tensor q = c.input("query"), k = c.input("key"), v = c.input("value");
        const bool causal = std::string(name) == "F_sdpa_causal";
        c.check({{"output", F::scaled_dot_product_attention(q, k, v, c.optional("attn_mask"), 0.0, causal)}});
    }
}

TEST_CASE("parity: F::cross_entropy ([N,C,d], weight, ignore_index, smoothing; sum) and F::mse_loss") {
    {
        Case c("F_cross_entropy", "F::cross_entropy");
        Tensor x = c.input("input");
        c.check({{"output", F::cross_entropy(x, c.get("target"), c.get("weight"), /*ignore_index=*/0, "mean",
                                             /*label_smoothing=*/0.1)}});
    }
    {
        Case c("F_cross_entropy_sum", "F::cross_entropy");
        Tensor x = c.input("input");
        c.check({{"output", F::cross_entropy(x, c.get("target"), {}, -100, "sum")}});
    }
    {
        Case c("F_mse_loss", "F::mse_loss");
        Tensor x = c.input("input"), t = c.input("target");
        c.check({{"output", F::mse_loss(x, t)}});
    }
}

// ---- optimizers, schedules, clipping -------------------------------------------------------------------

namespace {

// Five steps of an optimizer on two parameters with PyTorch's gradients set by hand; the
// parameters after every step and the final state are compared.
template <class Optimizer, class... Args>
void check_optimizer(const std::string& name, const std::string& row, Args... args) {
    CAPTURE(name);
    Case c("optim_" + name, row, kOptim);
    std::vector<Tensor> params = {c.get("param.0").requires_grad_(), c.get("param.1").requires_grad_()};
    Optimizer opt(params, args...);
    double err = 0;
    for (int k = 1; k <= 5; ++k) {
        for (size_t i = 0; i < params.size(); ++i)
            params[i].set_grad(c.get("grad." + std::to_string(k) + "." + std::to_string(i)));
        opt.step();
        for (size_t i = 0; i < params.size(); ++i) {
            const std::string key = "param." + std::to_string(k) + "." + std::to_string(i);
            err = std::max(err, compare(name + ": " + key, params[i].detach(), c.get(key), kOptim));
        }
    }
    for (size_t i = 0; i < params.size(); ++i) {
        const std::string prefix = "state." + std::to_string(i) + ".";
        size_t stored = 0;
        for (const auto& [key, value] : opt.state(params[i])) {
            INFO(name << ": xgrad state " << prefix << key);
            REQUIRE(c.has(prefix + key));
            err = std::max(err, compare(name + ": " + prefix + key, value, c.get(prefix + key), kOptim));
            ++stored;
        }
        // No state entry of PyTorch's is missing from xgrad's.
        size_t expected = 0;
        for (const char* key : {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer"})
            expected += c.has(prefix + key) ? 1 : 0;
        CHECK(stored == expected);
    }
    MESSAGE(name << ": max abs error of the parameters and state after 5 steps " << format_error(err));
    record(row, err, -1, kOptim);
}

}  // namespace

TEST_CASE("parity: SGD (plain, momentum, nesterov + weight_decay, dampening + weight_decay) over 5 steps") {
    check_optimizer<optim::SGD>("sgd", "SGD", 0.1);
    check_optimizer<optim::SGD>("sgd_momentum", "SGD", 0.1, 0.9);
    check_optimizer<optim::SGD>("sgd_nesterov_wd", "SGD", 0.05, 0.9, 0.0, 0.01, true);
    check_optimizer<optim::SGD>("sgd_dampening_wd", "SGD", 0.1, 0.8, 0.3, 0.05);
}

TEST_CASE("parity: Adam (plain, betas + weight_decay, amsgrad) and AdamW (default, eps + weight_decay + amsgrad)") {
    check_optimizer<optim::Adam>("adam", "Adam", 0.01);
    check_optimizer<optim::Adam>("adam_wd", "Adam", 0.01, optim::Betas{0.8, 0.95}, 1e-8, 0.1);
    check_optimizer<optim::Adam>("adam_amsgrad", "Adam", 0.01, optim::Betas{0.9, 0.999}, 1e-8, 0.0, true);
    check_optimizer<optim::AdamW>("adamw", "AdamW", 0.01);
    check_optimizer<optim::AdamW>("adamw_wd_amsgrad", "AdamW", 0.01, optim::Betas{0.9, 0.999}, 1e-6, 0.1, true);
}

TEST_CASE("parity: StepLR and CosineAnnealingLR lr sequences") {
    auto sequence = [](auto make_scheduler, size_t steps) {
        Tensor w = xg::zeros({1}, xg::requires_grad());
        optim::SGD opt({w}, 0.1);
        auto scheduler = make_scheduler(opt);
        std::vector<double> lrs = {opt.get_lr()};
        for (size_t i = 0; i < steps; ++i) {
            opt.step();
            scheduler.step();
            lrs.push_back(opt.get_lr());
        }
        return xg::tensor(lrs, {static_cast<int64_t>(lrs.size())}, xg::dtype(xg::kFloat64));
    };
    const Tolerance exact{0, 1e-12};
    {
        Case c("sched_step_lr", "StepLR");
        Tensor lr = sequence([](optim::Optimizer& o) { return optim::StepLR(o, 3, 0.5); }, 12);
        record("StepLR", compare("StepLR lr", lr, c.get("lr"), exact), -1, exact);
    }
    {
        Case c("sched_cosine", "CosineAnnealingLR");
        Tensor lr = sequence([](optim::Optimizer& o) { return optim::CosineAnnealingLR(o, 8, 0.001); }, 20);
        record("CosineAnnealingLR", compare("CosineAnnealingLR lr", lr, c.get("lr"), exact), -1, exact);
    }
}

TEST_CASE("parity: clip_grad_norm_ (2-norm, inf-norm, 1-norm below max_norm)") {
    struct Config {
        const char* name;
        double max_norm, norm_type;
    };
    for (const Config& cfg : {Config{"clip_norm2", 1.0, 2.0}, Config{"clip_norm_inf", 0.5, optim::inf},
                              Config{"clip_norm1_no_clip", 100.0, 1.0}}) {
        CAPTURE(std::string(cfg.name));
        Case c(cfg.name, "clip_grad_norm_");
        std::vector<Tensor> params = {xg::zeros({3, 4}, xg::requires_grad()), xg::zeros({5}, xg::requires_grad())};
        for (size_t i = 0; i < params.size(); ++i) params[i].set_grad(c.get("grad." + std::to_string(i)));
        Tensor total = optim::clip_grad_norm_(params, cfg.max_norm, cfg.norm_type);
        double err = compare("total_norm", total, c.get("total_norm"), kSingle);
        for (size_t i = 0; i < params.size(); ++i) {
            const std::string key = "clipped." + std::to_string(i);
            err = std::max(err, compare(key, params[i].grad(), c.get(key), kSingle));
        }
        record("clip_grad_norm_", err, -1, kSingle);
    }
}

// ---- state dicts both ways ------------------------------------------------------------------------

namespace {

// The model of nn_fixtures.py's interop_model(): TransformerDecoder, 2 pre-norm gelu layers,
// batch first, final LayerNorm.
std::shared_ptr<nn::TransformerDecoder> interop_model() {
    auto layer = std::make_shared<nn::TransformerDecoderLayer>(D, H, layer_options(true, true, "gelu"));
    return std::make_shared<nn::TransformerDecoder>(layer, 2, std::make_shared<nn::LayerNorm>(D));
}

}  // namespace

TEST_CASE("parity: state dicts: PyTorch's saved TransformerDecoder state dict loads strictly into xgrad") {
    Case c("state_dict_decoder", "state dict PyTorch -> xgrad (TransformerDecoder)", kStack);
    auto model = interop_model();
    c.load_into(*model);  // strict; keys in PyTorch's order; the same repr
    // Every value arrived bit for bit.
    const std::map<std::string, Tensor> state = c.state();
    for (const auto& [key, t] : model->state_dict()) {
        CAPTURE(key);
        CHECK(xg::equal(t, state.at(key)));
    }
    xg::NoGradGuard no_grad;
    c.check({{"output", (*model)(c.get("tgt"), c.get("memory"))}});
}

TEST_CASE("parity: state dicts: xgrad's state dict saved with save_safetensors has PyTorch's keys and shapes") {
    Case c("state_dict_decoder", "state dict written by xgrad (TransformerDecoder)", kStack);
    xg::manual_seed(7);
    auto model = interop_model();  // xgrad's own initialisation, nothing loaded
    xg::TensorMap tensors;
    for (const auto& [key, t] : model->state_dict()) tensors.emplace(key, t);
    // One file per process: the dev and asan test runs may go at the same time.
    const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                       ("xgrad_parity_state_dict." + std::to_string(::getpid()) + ".safetensors");
    xg::save_safetensors(path.string(), tensors, {{"format", "pt"}});
    const xg::SafetensorsFile saved = xg::load_safetensors(path.string());
    std::filesystem::remove(path);

    // The keys PyTorch's TransformerDecoder has, no more, no fewer, with the same shapes.
    const std::map<std::string, Tensor> torch_state = c.state();
    std::vector<std::string> saved_keys, torch_keys;
    for (const auto& [key, t] : saved.tensors) saved_keys.push_back(key);
    for (const auto& [key, t] : torch_state) torch_keys.push_back(key);
    CHECK(saved_keys == torch_keys);
    for (const auto& [key, t] : saved.tensors) {
        CAPTURE(key);
        REQUIRE(torch_state.count(key));
        CHECK(t.shape() == torch_state.at(key).shape());
        CHECK(t.dtype() == torch_state.at(key).dtype());
        CHECK(xg::equal(t, tensors.at(key)));  // and the values round-trip
    }

    // And it loads back into a fresh xgrad model strictly.
    auto reloaded = interop_model();
    reloaded->load_state_dict(saved.tensors);

    // XGRAD_UPDATE_FIXTURES=1 also writes it (with an input and xgrad's output) for
    // nn_fixtures.py's check_xgrad_written(), which loads it into PyTorch with strict=True.
    if (std::getenv("XGRAD_UPDATE_FIXTURES") != nullptr) {
        xg::NoGradGuard no_grad;
        xg::TensorMap out;
        for (const auto& [key, t] : tensors) out.emplace("state." + key, t);
        out.emplace("tgt", c.get("tgt"));
        out.emplace("memory", c.get("memory"));
        out.emplace("output", (*model)(c.get("tgt"), c.get("memory")));
        xg::save_safetensors(fixture_path("xgrad_written_decoder"), out, {{"written_by", "xgrad"}});
        MESSAGE("wrote " << fixture_path("xgrad_written_decoder"));
    }
}

TEST_CASE("parity: state dicts: the committed xgrad-written file loads into xgrad and reproduces its output") {
    // The file nn_fixtures.py loaded into PyTorch (strict) and checked against PyTorch's output.
    Case c("xgrad_written_decoder", "state dict written by xgrad, reloaded (TransformerDecoder)", kStack);
    CHECK(c.meta("written_by") == "xgrad");
    auto model = interop_model();
    model->load_state_dict(c.state());
    xg::NoGradGuard no_grad;
    c.check({{"output", (*model)(c.get("tgt"), c.get("memory"))}});
}

// ---- the table -----------------------------------------------------------------------------------

TEST_CASE("parity: zz report, the table of docs/nn.md (run all parity tests together to fill it)") {
    std::ostringstream table;
    table << "| module | cases | max abs err forward | max abs err grad | tolerance: atol + rtol * abs(expected) |\n"
          << "|---|---|---|---|---|\n";
    for (const auto& [row, m] : report()) {
        table << "| " << row << " | " << m.cases << " | " << format_error(m.forward) << " | " << format_error(m.grad)
              << " | " << format_error(m.tol.atol) << " + " << format_error(m.tol.rtol) << " |\n";
    }
    MESSAGE("\n" << table.str());
}
