// VisionTransformer against the PyTorch reference model `ViT` of tests/fixtures/vit_fixtures.py:
// parameter names, initial weights from the same seed, logits, loss and every parameter gradient
// for both poolings, both patch embeddings, pre- and post-norm, and at another image size
// (position embeddings resampled). Then position-embedding resampling on its own, the presets,
// the CLS token's sharing across the batch, train/eval, deep copies and the config errors.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "nn/nn.h"
#include "vit/vit.h"
#include "vit_test_util.h"

namespace F = xg::nn::functional;
using namespace vit_test;
using xg::Tensor;
using xg::vit::ViTConfig;
using xg::vit::VisionTransformer;

namespace {

ViTConfig config_of(const nlohmann::json& j) {
    ViTConfig c;
    c.image_size = F::IntPair(j["image_size"][0].get<int64_t>(), j["image_size"][1].get<int64_t>());
    c.patch_size = j["patch_size"].get<int64_t>();
    c.channels = j["channels"].get<int64_t>();
    c.num_classes = j["num_classes"].get<int64_t>();
    c.model_dim = j["model_dim"].get<int64_t>();
    c.depth = j["depth"].get<int64_t>();
    c.num_heads = j["num_heads"].get<int64_t>();
    c.mlp_dim = j["mlp_dim"].get<int64_t>();
    c.dropout = j["dropout"].get<double>();
    c.emb_dropout = j["emb_dropout"].get<double>();
    c.patch_embedding = j["patch_embedding"].get<std::string>();
    c.patch_overlap = j.value("patch_overlap", int64_t{0});
    c.pool = j["pool"].get<std::string>();
    c.norm_first = j["norm_first"].get<bool>();
    c.activation = j["activation"].get<std::string>();
    c.layer_norm_eps = j["layer_norm_eps"].get<double>();
    return c;
}

// The tensors of `f` whose names start with prefix, with the prefix removed.
std::map<std::string, Tensor> with_prefix(const xg::SafetensorsFile& f, const std::string& prefix) {
    std::map<std::string, Tensor> out;
    for (const auto& [name, t] : f.tensors)
        if (name.rfind(prefix, 0) == 0) out[name.substr(prefix.size())] = t;
    return out;
}

struct Errors {
    double init = 0, logits = 0, loss = 0, grads = 0;
};

// Runs image -> logits -> cross-entropy -> backward and compares with the fixture's outputs
// (keys <out>.logits / <out>.loss) and gradients (<grad>.<param>).
void compare_run(VisionTransformer& model, const xg::SafetensorsFile& f, const std::string& image_key,
                 const std::string& suffix, const std::string& grad_prefix, Errors& err) {
    model.zero_grad();
    Tensor logits = model(f.tensors.at("input." + image_key));
    Tensor loss = F::cross_entropy(logits, f.tensors.at("input.label"));
    err.logits = std::max(err.logits, check_close(logits, f.tensors.at("output.logits" + suffix), 1e-4, "logits"));
    err.loss = std::max(err.loss, check_close(loss, f.tensors.at("output.loss" + suffix), 1e-4, "loss"));
    loss.backward();
    std::map<std::string, Tensor> grads = with_prefix(f, grad_prefix);
    REQUIRE(grads.size() == model.named_parameters().size());
    for (auto& [name, p] : model.named_parameters()) {
        REQUIRE_MESSAGE(p.grad().defined(), name << " got no gradient");
        err.grads = std::max(err.grads, check_close(p.grad(), grads.at(name), 1e-4, "grad of " + name));
    }
}

Errors model_parity(const std::string& case_name) {
    xg::SafetensorsFile f = fixture("model_" + case_name);
    ViTConfig config = config_of(nlohmann::json::parse(f.metadata.at("config")));
    Errors err;

    // The same seed and construction order give PyTorch's initial weights.
    xg::manual_seed(std::stoull(f.metadata.at("seed")));
    VisionTransformer model(config);
    std::vector<std::string> names;
    for (auto& [name, p] : model.named_parameters()) names.push_back(name);
    CHECK(names == nlohmann::json::parse(f.metadata.at("state_keys")).get<std::vector<std::string>>());
    std::map<std::string, Tensor> init = with_prefix(f, "init.");
    for (auto& [name, p] : model.named_parameters())
        err.init = std::max(err.init, check_close(p, init.at(name), 1e-6, "initial " + name));

    model.load_state_dict(with_prefix(f, "state."));
    compare_run(model, f, "image", "", "grad.", err);
    if (f.tensors.count("input.image_large")) compare_run(model, f, "image_large", "_large", "grad_large.", err);
    MESSAGE(case_name << " vs PyTorch: max abs error  init " << err.init << "  logits " << err.logits << "  loss "
                      << err.loss << "  grads " << err.grads);
    return err;
}

}  // namespace

TEST_CASE("vit parity: cls pooling, linear patch embedding, pre-norm (GELU)") { model_parity("cls_linear_prenorm"); }
TEST_CASE("vit parity: mean pooling, conv patch embedding, pre-norm (GELU)") { model_parity("mean_conv_prenorm"); }
TEST_CASE("vit parity: cls pooling, conv patch embedding, post-norm (ReLU)") { model_parity("cls_conv_postnorm"); }
TEST_CASE("vit parity: mean pooling, linear patch embedding, post-norm (ReLU)") { model_parity("mean_linear_postnorm"); }
TEST_CASE("vit parity: built for 28x28, run on 28x28 and on 42x42 (position embeddings resampled)") {
    model_parity("resample");
}
TEST_CASE("vit parity: overlapping conv patches (kernel 6, stride 4, padding 1), also on 12x16") {
    xg::SafetensorsFile f = fixture("model_mean_conv_overlap");
    CHECK(f.tensors.at("state.patch_embedding.weight").shape() == xg::Shape{16, 3, 6, 6});
    model_parity("mean_conv_overlap");
}

TEST_CASE("resample_pos_embedding: matches PyTorch's bicubic resampling (up, down, non-square), with grads") {
    xg::SafetensorsFile f = fixture("resample");
    double worst = 0.0;
    for (const auto& [name, spec] : f.metadata) {
        CAPTURE(name);
        nlohmann::json j = nlohmann::json::parse(spec);
        F::IntPair old_grid(j["old_grid"][0].get<int64_t>(), j["old_grid"][1].get<int64_t>());
        F::IntPair new_grid(j["new_grid"][0].get<int64_t>(), j["new_grid"][1].get<int64_t>());
        Tensor table = f.tensors.at(name + ".table").clone().requires_grad_();
        Tensor out = xg::vit::resample_pos_embedding(table, old_grid, new_grid);
        worst = std::max(worst, check_close(out, f.tensors.at(name + ".output"), 1e-5, "resampled table"));
        // The CLS entry is kept aside, untouched.
        CHECK(xg::equal(out.slice(1, 0, 1), table.detach().slice(1, 0, 1)));
        (out * f.tensors.at(name + ".seed")).sum().backward();
        worst = std::max(worst, check_close(table.grad(), f.tensors.at(name + ".grad_table"), 1e-5, "table grad"));
    }
    MESSAGE("resample_pos_embedding vs PyTorch: max abs error " << worst);
}

TEST_CASE("resample_pos_embedding: 2-D tables, equal grids, errors") {
    xg::manual_seed(1);
    Tensor table = xg::randn({1 + 4 * 4, 8});  // the source's 2-D table
    CHECK(xg::vit::resample_pos_embedding(table, 4, F::IntPair(6, 5)).shape() == xg::Shape{1 + 6 * 5, 8});
    Tensor t3 = xg::randn({1, 1 + 9, 4});
    CHECK(xg::vit::resample_pos_embedding(t3, 3, 3).impl() == t3.impl());
    std::string e = error_of([&] { xg::vit::resample_pos_embedding(t3, 4, 6); });
    CHECK(contains(e, "the table has 10 entries, but a 4x4 grid of patches plus the CLS token needs 17"));
    CHECK(contains(e, "test_vision_transformer.cpp"));
    CHECK(contains(error_of([&] { xg::vit::resample_pos_embedding(xg::randn({2, 10, 4}), 3, 4); }),
                   "expected a table [1, 1 + gh*gw, d], got shape [2, 10, 4]"));
}

TEST_CASE("vit: a model built for 28x28 classifies a 42x42 image (eval, resampled on the fly)") {
    xg::manual_seed(0);
    ViTConfig config{.image_size = 28, .patch_size = 7, .channels = 1, .num_classes = 10, .model_dim = 32,
                     .depth = 2, .num_heads = 4, .mlp_dim = 64};
    VisionTransformer model(config);
    model.eval();
    xg::NoGradGuard no_grad;
    Tensor small = model(xg::rand({2, 1, 28, 28}));
    Tensor large = model(xg::rand({2, 1, 42, 42}));
    CHECK(small.shape() == xg::Shape{2, 10});
    CHECK(large.shape() == xg::Shape{2, 10});
    Tensor prediction = large.argmax(1);
    CHECK(prediction.shape() == xg::Shape{2});
    for (int64_t c : prediction.to_vector<int64_t>()) CHECK((c >= 0 && c < 10));
    CHECK(model.position_embedding_for(42, 42).shape() == xg::Shape{1, 1 + 6 * 6, 32});
    CHECK(model.position_embedding_for(28, 28).impl() == model.pos_embedding.impl());
    CHECK(model.position_embedding_for(14, 21).shape() == xg::Shape{1, 1 + 2 * 3, 32});
    std::string e = error_of([&] { model(xg::rand({1, 1, 30, 28})); });
    CHECK(contains(e, "image size (30, 28) is not divisible by patch_size 7"));
}

TEST_CASE("vit: presets (the source's toy model, Fashion-MNIST, ViT-Tiny/Small shapes)") {
    ViTConfig toy = ViTConfig::toy();
    CHECK(toy.model_dim == 8);
    CHECK(toy.num_heads == 8);
    CHECK(toy.depth == 6);
    CHECK(toy.mlp_dim == 2048);
    CHECK(toy.activation == "relu");
    CHECK_FALSE(toy.norm_first);
    CHECK(toy.num_patches() == 4);
    CHECK(toy.patch_depth() == 48);
    xg::manual_seed(0);
    VisionTransformer toy_model(toy);
    // Parameter counts are PyTorch's for the same configurations of the reference ViT.
    CHECK(toy_model.num_parameters() == 211394);
    toy_model.eval();
    CHECK(toy_model(xg::randn({1, 3, 8, 8})).shape() == xg::Shape{1, 10});

    ViTConfig fm = ViTConfig::fashion_mnist();
    CHECK(fm.num_patches() == 49);
    CHECK(VisionTransformer(fm).num_parameters() == 1199882);

    ViTConfig tiny = ViTConfig::tiny(), small = ViTConfig::small();
    CHECK(tiny.num_patches() == 196);
    CHECK(small.model_dim / small.num_heads == 64);
    tiny.validate();
    small.validate();
    CHECK(VisionTransformer(tiny).num_parameters() == 5717416);  // DeiT-Tiny's 5.7M
}

TEST_CASE("vit: one CLS token [1, 1, d] shared by the whole batch") {
    xg::manual_seed(2);
    ViTConfig config{.image_size = F::IntPair(8, 12), .patch_size = 4, .channels = 3, .num_classes = 5,
                     .model_dim = 16, .depth = 1, .num_heads = 2, .mlp_dim = 32, .dropout = 0.0, .emb_dropout = 0.0};
    VisionTransformer model(config);
    CHECK(model.cls_token.shape() == xg::Shape{1, 1, 16});
    CHECK(model.pos_embedding.shape() == xg::Shape{1, 1 + 2 * 3, 16});
    Tensor image = xg::rand({1, 3, 8, 12});
    Tensor batch = xg::cat({image, image, xg::rand({1, 3, 8, 12})}, 0);
    Tensor logits = model(batch);
    CHECK(max_abs_diff(logits[0], logits[1]) == 0.0);  // the same token for every sample
    logits.sum().backward();
    CHECK(model.cls_token.grad().shape() == xg::Shape{1, 1, 16});  // gradients from all 3 samples add up
    CHECK(model.num_parameters() == 16 * 48 + 16 + 16 + 7 * 16 + (3 * 16 * 16 + 3 * 16) + (16 * 16 + 16) +
                                        (16 * 32 + 32) + (32 * 16 + 16) + 4 * 16 + 2 * 16 + 5 * 16 + 5);
}

TEST_CASE("vit: dropout acts in train mode only, and a deep copy computes the same logits") {
    xg::manual_seed(3);
    ViTConfig config{.image_size = 8, .patch_size = 4, .channels = 1, .num_classes = 3, .model_dim = 8, .depth = 2,
                     .num_heads = 2, .mlp_dim = 16, .dropout = 0.5, .emb_dropout = 0.5};
    VisionTransformer model(config);
    Tensor images = xg::rand({4, 1, 8, 8});
    model.eval();
    Tensor a = model(images), b = model(images);
    CHECK(xg::equal(a, b));
    auto copy = std::static_pointer_cast<VisionTransformer>(model.clone());
    CHECK(copy->cls_token.impl() != model.cls_token.impl());
    CHECK(xg::equal((*copy)(images), a));
    model.train();
    CHECK_FALSE(xg::equal(model(images), a));
}

TEST_CASE("vit: bad configs and inputs are errors naming the values and the caller's line") {
    std::string e = error_of([] { VisionTransformer m(ViTConfig{.image_size = 30, .patch_size = 4}); });
    CHECK(contains(e, "image_size (30, 30) is not divisible by patch_size 4"));
    CHECK(contains(e, "test_vision_transformer.cpp"));
    CHECK(contains(error_of([] { VisionTransformer m(ViTConfig{.model_dim = 100, .num_heads = 8}); }),
                   "model_dim 100 is not divisible by num_heads 8"));
    CHECK(contains(error_of([] { ViTConfig{.pool = "max"}.validate(); }), "pool must be \"cls\" or \"mean\", got \"max\""));
    CHECK(contains(error_of([] { ViTConfig{.patch_embedding = "mlp"}.validate(); }),
                   "patch_embedding must be \"linear\" or \"conv\""));
    CHECK(contains(error_of([] { ViTConfig{.activation = "tanh"}.validate(); }), "activation must be"));
    CHECK(contains(error_of([] { ViTConfig{.dropout = 1.5}.validate(); }), "dropout=1.5"));
    CHECK(contains(error_of([] { ViTConfig{.patch_embedding = "linear", .patch_overlap = 1}.validate(); }),
                   "patch_overlap 1 needs patch_embedding \"conv\""));
    CHECK(contains(error_of([] { ViTConfig{.patch_size = 4, .patch_embedding = "conv", .patch_overlap = 4}.validate(); }),
                   "patch_overlap must be in [0, patch_size) = [0, 4), got 4"));
    CHECK(contains(error_of([] { ViTConfig{.patch_embedding = "conv", .patch_overlap = -1}.validate(); }),
                   "got -1"));

    xg::manual_seed(0);
    VisionTransformer model(ViTConfig{.image_size = 8, .patch_size = 4, .channels = 3, .model_dim = 8,
                                      .depth = 1, .num_heads = 2, .mlp_dim = 8});
    CHECK(contains(error_of([&] { model(xg::rand({2, 1, 8, 8})); }),
                   "built for 3 channel(s), got images of shape [2, 1, 8, 8]"));
    CHECK(contains(error_of([&] { model(xg::rand({3, 8, 8})); }), "expected images [bs, channels, h, w], got shape [3, 8, 8]"));
}
