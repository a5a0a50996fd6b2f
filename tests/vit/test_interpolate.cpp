// F::interpolate (nearest, bilinear, bicubic; align_corners; size or scale_factor) against
// PyTorch 1.13 (tests/fixtures/vit/interpolate.safetensors), float64 gradchecks of every mode,
// grad_fn names, and the error messages.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "nn/interpolate.h"
#include "vit_test_util.h"

namespace F = xg::nn::functional;
using namespace vit_test;
using xg::Tensor;

namespace {

F::InterpolateOptions options_of(const nlohmann::json& j) {
    F::InterpolateOptions o;
    if (!j["size"].is_null()) o.size = F::IntPair(j["size"][0].get<int64_t>(), j["size"][1].get<int64_t>());
    if (!j["scale_factor"].is_null()) o.scale_factor = j["scale_factor"].get<double>();
    o.mode = j["mode"].get<std::string>();
    if (!j["align_corners"].is_null()) o.align_corners = j["align_corners"].get<bool>();
    return o;
}

}  // namespace

TEST_CASE("interpolate: every mode matches PyTorch 1.13 (output and grad, up- and down-sampling)") {
    xg::SafetensorsFile f = fixture("interpolate");
    REQUIRE(f.metadata.size() >= 13);
    double worst_out = 0.0, worst_grad = 0.0;
    for (const auto& [name, spec] : f.metadata) {
        CAPTURE(name);
        F::InterpolateOptions o = options_of(nlohmann::json::parse(spec));
        Tensor x = f.tensors.at(name + ".input").clone().requires_grad_();
        Tensor y = F::interpolate(x, o);
        worst_out = std::max(worst_out, check_close(y, f.tensors.at(name + ".output"), 1e-5, name + " output"));
        (y * f.tensors.at(name + ".seed")).sum().backward();
        worst_grad = std::max(worst_grad, check_close(x.grad(), f.tensors.at(name + ".grad_input"), 1e-5, name + " grad"));
    }
    MESSAGE("interpolate vs PyTorch: max abs error " << worst_out << " (outputs), " << worst_grad << " (input grads)");
}

TEST_CASE("interpolate: gradcheck in float64 for every mode, up and down, both align_corners") {
    xg::manual_seed(3);
    struct Case {
        F::InterpolateOptions o;
        xg::Shape shape;
    };
    std::vector<Case> cases = {
        {{.size = F::IntPair(7, 6), .mode = "bicubic", .align_corners = false}, {1, 2, 4, 5}},
        {{.size = F::IntPair(3, 2), .mode = "bicubic", .align_corners = false}, {2, 1, 6, 5}},
        {{.size = F::IntPair(6, 7), .mode = "bicubic", .align_corners = true}, {1, 2, 4, 3}},
        {{.scale_factor = 1.5, .mode = "bicubic"}, {1, 1, 4, 4}},
        {{.size = F::IntPair(5, 7), .mode = "bilinear", .align_corners = false}, {1, 2, 3, 4}},
        {{.size = F::IntPair(2, 3), .mode = "bilinear", .align_corners = true}, {1, 2, 5, 6}},
        {{.size = F::IntPair(5, 3), .mode = "nearest"}, {1, 2, 3, 4}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.o.mode);
        CAPTURE(xg::shape_str(c.shape));
        Tensor x = xg::randn(c.shape, xg::dtype(xg::kFloat64).requires_grad());
        CHECK(xg::autograd::gradcheck([&](const std::vector<Tensor>& in) { return F::interpolate(in[0], c.o); }, {x}));
    }
}

TEST_CASE("interpolate: grad_fn names, a constant image stays constant, equal sizes are a copy") {
    Tensor x = xg::ones({1, 2, 3, 4}, xg::requires_grad());
    Tensor y = F::interpolate(x, {.size = F::IntPair(7, 5), .mode = "bicubic"});
    REQUIRE(y.grad_fn() != nullptr);
    CHECK(y.grad_fn()->name() == "UpsampleBicubic2DBackward0");
    // The four cubic weights sum to 1 (even where the reads are clamped to the border).
    CHECK(max_abs_diff(y, xg::ones({1, 2, 7, 5})) < 1e-6);
    CHECK(F::interpolate(x, {.size = 6, .mode = "bilinear"}).grad_fn()->name() == "UpsampleBilinear2DBackward0");
    CHECK(F::interpolate(x, {.scale_factor = 2.0}).grad_fn()->name() == "UpsampleNearest2DBackward0");
    CHECK(F::interpolate(x, {.scale_factor = 2.0}).shape() == xg::Shape{1, 2, 6, 8});

    xg::manual_seed(0);
    Tensor r = xg::randn({2, 3, 4, 5});
    CHECK(xg::equal(F::interpolate(r, {.size = F::IntPair(4, 5), .mode = "bicubic"}), r));
    CHECK(xg::equal(F::interpolate(r, F::IntPair(4, 5), std::nullopt, "bilinear", true), r));
}

TEST_CASE("interpolate: errors name the problem and the caller's line") {
    Tensor x = xg::randn({1, 2, 3, 4});
    std::string e = error_of([&] { F::interpolate(x, {.size = 4, .scale_factor = 2.0}); });
    CHECK(contains(e, "only one of size or scale_factor"));
    CHECK(contains(e, "test_interpolate.cpp"));
    CHECK(contains(error_of([&] { F::interpolate(x, {.mode = "bicubic"}); }), "either size or scale_factor"));
    CHECK(contains(error_of([&] { F::interpolate(x, {.size = 4, .mode = "trilinear"}); }),
                   "mode must be 'nearest', 'bilinear' or 'bicubic', got 'trilinear'"));
    CHECK(contains(error_of([&] { F::interpolate(xg::randn({2, 3, 4}), {.size = 4, .mode = "bicubic"}); }),
                   "expected a 4-D input [N, C, H, W] for mode 'bicubic', got shape [2, 3, 4]"));
    CHECK(contains(error_of([&] { F::interpolate(x, {.size = 4, .align_corners = true}); }),
                   "align_corners option can only be set with the interpolating modes"));
    CHECK(contains(error_of([&] { F::interpolate(x, {.size = F::IntPair(0, 3), .mode = "bilinear"}); }),
                   "output size must be positive, got size=(0, 3)"));
    CHECK(contains(error_of([&] { F::interpolate(x, {.scale_factor = 0.1}); }), "gives output size (0, 0)"));
    CHECK(contains(error_of([&] { F::interpolate(xg::ones({1, 1, 2, 2}, xg::dtype(xg::kInt64)), {.size = 4}); }),
                   "expects a floating point input"));
}
