// image2emb_naive and image2emb_conv: the source's two ways of turning an image into patch
// embeddings agree with each other and with PyTorch, for the source's shapes and larger ones
// (a batch, several channels, non-square images), forward and backward.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "vit/image2emb.h"
#include "vit_test_util.h"

using namespace vit_test;
using xg::Tensor;

TEST_CASE("image2emb: naive and conv match PyTorch (the source's shapes and a larger batch)") {
    xg::SafetensorsFile f = fixture("image2emb");
    for (const auto& [name, spec] : f.metadata) {
        CAPTURE(name);
        const int64_t patch_size = nlohmann::json::parse(spec)["patch_size"].get<int64_t>();
        const Tensor& image = f.tensors.at(name + ".image");
        Tensor naive = xg::vit::image2emb_naive(image, patch_size, f.tensors.at(name + ".weight"));
        Tensor conv = xg::vit::image2emb_conv(image, f.tensors.at(name + ".kernel"), patch_size);
        double e1 = check_close(naive, f.tensors.at(name + ".naive"), 1e-5, "naive vs PyTorch");
        double e2 = check_close(conv, f.tensors.at(name + ".conv"), 1e-5, "conv vs PyTorch");
        double e3 = check_close(naive, conv, 1e-5, "naive vs conv");
        MESSAGE(name << ": naive vs PyTorch " << e1 << ", conv vs PyTorch " << e2 << ", naive vs conv " << e3);
    }
}

TEST_CASE("image2emb: the source's shapes give [1, 4, 8]") {
    xg::manual_seed(0);
    const int64_t bs = 1, ic = 3, image_h = 8, image_w = 8, patch_size = 4, model_dim = 8;
    const int64_t patch_depth = patch_size * patch_size * ic;
    Tensor image = xg::randn({bs, ic, image_h, image_w});
    Tensor weight = xg::randn({patch_depth, model_dim});
    Tensor naive = xg::vit::image2emb_naive(image, patch_size, weight);
    CHECK(naive.shape() == xg::Shape{1, 4, 8});
    Tensor kernel = weight.transpose(0, 1).reshape({-1, ic, patch_size, patch_size});
    Tensor conv = xg::vit::image2emb_conv(image, kernel, patch_size);
    CHECK(conv.shape() == xg::Shape{1, 4, 8});
    CHECK(max_abs_diff(naive, conv) <= 1e-5);
}

TEST_CASE("image2emb: naive and conv agree, values and gradients, on larger non-square batches") {
    xg::manual_seed(7);
    struct Case {
        int64_t bs, ic, h, w, p, d;
    };
    for (const Case& c : {Case{4, 3, 12, 20, 4, 16}, Case{2, 1, 28, 28, 7, 32}, Case{3, 5, 6, 9, 3, 10}}) {
        CAPTURE(c.h);
        CAPTURE(c.w);
        Tensor image = xg::randn({c.bs, c.ic, c.h, c.w});
        Tensor weight = xg::randn({c.ic * c.p * c.p, c.d}, xg::requires_grad());
        Tensor kernel = weight.detach().transpose(0, 1).reshape({-1, c.ic, c.p, c.p}).contiguous().requires_grad_();
        Tensor naive = xg::vit::image2emb_naive(image, c.p, weight);
        Tensor conv = xg::vit::image2emb_conv(image, kernel, c.p);
        CHECK(naive.shape() == xg::Shape{c.bs, (c.h / c.p) * (c.w / c.p), c.d});
        CHECK(max_abs_diff(naive, conv) <= 1e-5 * std::max(1.0, naive.abs().max().item()));
        // The same loss through both: the kernel's gradient is the weight's, reshaped the same way.
        Tensor seed = xg::randn(naive.shape());
        (naive * seed).sum().backward();
        (conv * seed).sum().backward();
        Tensor weight_grad_as_kernel = weight.grad().transpose(0, 1).reshape({-1, c.ic, c.p, c.p});
        CHECK(max_abs_diff(weight_grad_as_kernel, kernel.grad()) <=
              1e-5 * std::max(1.0, kernel.grad().abs().max().item()));
    }
}

TEST_CASE("image2emb: a wrong weight is a clear shape error naming both shapes") {
    Tensor image = xg::randn({1, 3, 8, 8});
    std::string e = error_of([&] { xg::vit::image2emb_naive(image, 4, xg::randn({8, 8})); });
    CHECK(contains(e, "[1, 4, 48]"));
    CHECK(contains(e, "[8, 8]"));
    CHECK(contains(error_of([&] { xg::vit::image2emb_naive(xg::randn({3, 8, 8}), 4, xg::randn({48, 8})); }),
                   "image must be [bs, channels, h, w], got shape [3, 8, 8]"));
    CHECK(contains(error_of([&] { xg::vit::image2emb_conv(image, xg::randn({8, 2, 4, 4}), 4); }), "conv2d"));
}
