// nn modules and nn::init: parameter names, state dicts, strict loading, reprs equal to
// PyTorch 1.13's, deep copies, train/eval, zero_grad, forward through F::, and the default
// initializations (statistics, and PyTorch's exact numbers after manual_seed).
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "xgrad.h"

namespace nn = xg::nn;
namespace F = xg::nn::functional;
using xg::Tensor;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

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

void check_close(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
    std::vector<double> got = values(t);
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(tol).scale(1.0));
}

// Sequential(Linear(8, 10), ReLU(), Sequential(LayerNorm(10), Linear(10, 3, bias=False)))
std::shared_ptr<nn::Sequential> small_model() {
    return std::make_shared<nn::Sequential>(
        std::make_shared<nn::Linear>(8, 10), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Sequential>(std::make_shared<nn::LayerNorm>(10), std::make_shared<nn::Linear>(10, 3, false)));
}

}  // namespace

// ---- names, state dicts ----------------------------------------------------------------------

TEST_CASE("modules: named_parameters gives PyTorch's dotted names and shapes") {
    auto model = small_model();
    auto named = model->named_parameters();
    std::vector<std::string> names;
    for (auto& [n, p] : named) names.push_back(n);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.1.weight"});
    CHECK(named[0].second.shape() == xg::Shape{10, 8});
    CHECK(named[1].second.shape() == xg::Shape{10});
    CHECK(named[2].second.shape() == xg::Shape{10});
    CHECK(named[4].second.shape() == xg::Shape{3, 10});
    for (auto& [n, p] : named) CHECK(p.requires_grad());
    CHECK(model->num_parameters() == 10 * 8 + 10 + 10 + 10 + 30);
    auto conv = std::make_shared<nn::Conv2d>(3, 8, 4, 4);
    CHECK(conv->weight.shape() == xg::Shape{8, 3, 4, 4});
    CHECK(conv->named_parameters()[1].first == "bias");
    // A ModuleList inside a module: "layers.0.weight", as a TransformerEncoder's layers.
    nn::ModuleList list;
    list.push_back(std::make_shared<nn::Linear>(2, 2));
    list.append(std::make_shared<nn::Dropout>()).append(std::make_shared<nn::Linear>(2, 1));
    std::vector<std::string> list_names;
    for (auto& [n, p] : list.named_parameters()) list_names.push_back(n);
    CHECK(list_names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
}

TEST_CASE("modules: state_dict order and load_state_dict round trip") {
    auto a = small_model();
    auto b = small_model();  // different random weights
    auto sd = a->state_dict();
    REQUIRE(sd.size() == 5);
    CHECK(sd[0].first == "0.weight");
    CHECK(sd[4].first == "2.1.weight");
    CHECK(!sd[0].second.requires_grad());  // detached
    CHECK(!xg::equal(a->state_dict()[0].second, b->state_dict()[0].second));
    b->load_state_dict(sd);
    for (size_t i = 0; i < sd.size(); ++i) CHECK(xg::equal(b->state_dict()[i].second, sd[i].second));
    // Loading copies values: b's parameters are still its own tensors, still trainable.
    CHECK(b->named_parameters()[0].second.impl() != a->named_parameters()[0].second.impl());
    CHECK(b->named_parameters()[0].second.requires_grad());
    // A CrossEntropyLoss with class weights has them as a buffer, as in PyTorch.
    nn::CrossEntropyLoss weighted({.weight = xg::ones({3})});
    CHECK(weighted.state_dict().size() == 1);
    CHECK(weighted.state_dict()[0].first == "weight");
    CHECK(nn::CrossEntropyLoss().state_dict().empty());
}

TEST_CASE("modules: strict load_state_dict lists missing, unexpected and mismatched keys in one message") {
    auto model = small_model();
    std::map<std::string, Tensor> sd;
    for (auto& [n, t] : model->state_dict()) sd[n] = t;
    sd.erase("2.0.bias");                 // missing
    sd["2.1.bias"] = xg::zeros({3});      // unexpected (that Linear has no bias)
    sd["0.weight"] = xg::zeros({10, 9});  // shape mismatch
    Tensor before = model->named_parameters()[1].second.clone();
    std::string msg = error_of([&] { model->load_state_dict(sd); });
    CHECK(contains(msg, "Missing key(s) in state_dict: \"2.0.bias\""));
    CHECK(contains(msg, "Unexpected key(s) in state_dict: \"2.1.bias\""));
    CHECK(contains(msg, "size mismatch for 0.weight"));
    CHECK(contains(msg, "[10, 9]"));
    CHECK(contains(msg, "test_modules.cpp"));
    // Nothing was copied when the load failed.
    CHECK(xg::equal(model->named_parameters()[1].second, before));
}

// ---- printing --------------------------------------------------------------------------------

TEST_CASE("modules: repr strings equal PyTorch's") {
    CHECK(nn::Linear(8, 10).repr() == "Linear(in_features=8, out_features=10, bias=True)");
    CHECK(nn::Linear(3, 1, false).repr() == "Linear(in_features=3, out_features=1, bias=False)");
    CHECK(nn::LayerNorm(8).repr() == "LayerNorm((8,), eps=1e-05, elementwise_affine=True)");
    CHECK(nn::LayerNorm({2, 3}, 1e-5, false).repr() == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=False)");
    CHECK(nn::LayerNorm(8, 1e-6).repr() == "LayerNorm((8,), eps=1e-06, elementwise_affine=True)");
    CHECK(nn::Dropout().repr() == "Dropout(p=0.5, inplace=False)");
    CHECK(nn::Dropout(0.1).repr() == "Dropout(p=0.1, inplace=False)");
    CHECK(nn::ReLU().repr() == "ReLU()");
    CHECK(nn::GELU().repr() == "GELU(approximate='none')");
    CHECK(nn::GELU("tanh").repr() == "GELU(approximate='tanh')");
    CHECK(nn::Identity().repr() == "Identity()");
    CHECK(nn::Unfold(2).repr() == "Unfold(kernel_size=2, dilation=1, padding=0, stride=1)");
    CHECK(nn::Unfold({2, 3}, 1, 0, 2).repr() == "Unfold(kernel_size=(2, 3), dilation=1, padding=0, stride=2)");
    CHECK(nn::Fold({4, 5}, 2).repr() == "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=1)");
    CHECK(nn::Conv2d(3, 8, 4, 4).repr() == "Conv2d(3, 8, kernel_size=(4, 4), stride=(4, 4))");
    CHECK(nn::Conv2d(3, 8, {3, 2}, 1, 1, 2, false).repr() ==
          "Conv2d(3, 8, kernel_size=(3, 2), stride=(1, 1), padding=(1, 1), dilation=(2, 2), bias=False)");
    CHECK(nn::CrossEntropyLoss(-100, "mean", 0.1).repr() == "CrossEntropyLoss()");
    CHECK(nn::MSELoss("sum").repr() == "MSELoss()");
    CHECK(nn::Sequential().repr() == "Sequential()");
    CHECK(nn::ModuleList().repr() == "ModuleList()");
    // print(nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1))))
    nn::Sequential nested(std::make_shared<nn::Linear>(2, 3),
                          std::make_shared<nn::Sequential>(std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 1)));
    CHECK(nested.repr() ==
          "Sequential(\n"
          "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
          "  (1): Sequential(\n"
          "    (0): ReLU()\n"
          "    (1): Linear(in_features=3, out_features=1, bias=True)\n"
          "  )\n"
          ")");
    // print(nn.ModuleList([nn.Linear(2, 2) for _ in range(2)]))
    nn::ModuleList list({std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::Linear>(2, 2)});
    CHECK(list.repr() ==
          "ModuleList(\n"
          "  (0): Linear(in_features=2, out_features=2, bias=True)\n"
          "  (1): Linear(in_features=2, out_features=2, bias=True)\n"
          ")");
}

// ---- copies, modes, gradients -----------------------------------------------------------------

TEST_CASE("modules: clone() is deep") {
    auto model = small_model();
    auto copy = std::static_pointer_cast<nn::Sequential>(model->clone());
    auto original = model->state_dict();
    auto cloned = copy->state_dict();
    for (size_t i = 0; i < original.size(); ++i) {
        CHECK(xg::equal(original[i].second, cloned[i].second));
        CHECK(original[i].second.impl() != cloned[i].second.impl());
    }
    // Changing the clone's weights leaves the original alone.
    {
        xg::NoGradGuard no_grad;
        copy->at<nn::Linear>(0)->weight.fill_(3.0);
        copy->at<nn::Sequential>(2)->at<nn::LayerNorm>(0)->bias.fill_(-1.0);
    }
    CHECK(xg::equal(model->state_dict()[0].second, original[0].second));
    CHECK(xg::equal(model->state_dict()[3].second, original[3].second));
    CHECK(copy->at<nn::Linear>(0)->weight.requires_grad());
    CHECK(copy->at<nn::Linear>(0) != model->at<nn::Linear>(0));
    // The clone keeps the configuration (the non-tensor members) too.
    CHECK(copy->repr() == model->repr());
}

TEST_CASE("modules: train()/eval() propagate to every submodule") {
    auto drop = std::make_shared<nn::Dropout>(0.5);
    auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 4), std::make_shared<nn::Sequential>(drop));
    CHECK(drop->is_training());
    model->eval();
    CHECK(!model->is_training());
    CHECK(!drop->is_training());
    Tensor x = xg::randn({3, 4});
    CHECK(xg::equal((*drop)(x), x));  // identity in eval mode
    model->train();
    CHECK(drop->is_training());
    Tensor y = (*drop)(xg::ones({1000}));
    double zeros = (xg::eq(y, 0.0)).sum().item();
    CHECK(zeros > 400);
    CHECK(zeros < 600);
    CHECK(xg::allclose(xg::max(y), xg::scalar_tensor(2.0)));  // kept elements scaled by 1 / (1 - 0.5)
}

TEST_CASE("modules: zero_grad clears every parameter's gradient") {
    auto model = small_model();
    Tensor out = model->forward(xg::randn({5, 8}));
    out.sum().backward();
    for (auto& [n, p] : model->named_parameters()) CHECK(p.grad().defined());
    model->zero_grad(/*set_to_none=*/false);
    for (auto& [n, p] : model->named_parameters()) CHECK(p.grad().sum().item() == 0.0);
    model->zero_grad();
    for (auto& [n, p] : model->named_parameters()) CHECK(!p.grad().defined());
}

// ---- forward -----------------------------------------------------------------------------------

TEST_CASE("modules: forward calls F:: with the module's parameters") {
    auto linear = std::make_shared<nn::Linear>(8, 10);
    Tensor x = xg::randn({2, 8});
    CHECK(xg::equal((*linear)(x), F::linear(x, linear->weight, linear->bias)));
    CHECK(xg::equal(linear->forward(x), (*linear)(x)));
    nn::LayerNorm norm(8);
    CHECK(xg::equal(norm(x), F::layer_norm(x, {8}, norm.weight, norm.bias)));
    CHECK(xg::equal(nn::GELU("tanh")(x), F::gelu(x, "tanh")));
    CHECK(xg::equal(nn::ReLU()(x), F::relu(x)));
    CHECK(nn::Identity()(x).impl() == x.impl());
    nn::Conv2d conv(3, 8, 4, 4);
    Tensor image = xg::randn({2, 3, 8, 8});
    CHECK(conv(image).shape() == xg::Shape{2, 8, 2, 2});
    CHECK(xg::allclose(conv(image), F::conv2d(image, conv.weight, conv.bias, 4), 1e-6, 1e-6));
    nn::Unfold unfold(4, 1, 0, 4);
    nn::Fold fold({8, 8}, 4, 1, 0, 4);
    CHECK(unfold(image).shape() == xg::Shape{2, 48, 4});
    CHECK(xg::equal(fold(unfold(image)), image));
    // Sequential chains forward: Linear -> ReLU -> (LayerNorm -> Linear).
    auto model = small_model();
    Tensor h = F::relu(F::linear(x, model->at<nn::Linear>(0)->weight, model->at<nn::Linear>(0)->bias));
    auto inner = model->at<nn::Sequential>(2);
    Tensor expected = F::linear(inner->at<nn::LayerNorm>(0)->forward(h), inner->at<nn::Linear>(1)->weight);
    CHECK(xg::allclose((*model)(x), expected, 1e-6, 1e-6));
}

TEST_CASE("modules: ModuleList indexing, size, iteration and typed access") {
    nn::ModuleList layers;
    CHECK(layers.empty());
    for (int i = 0; i < 3; ++i) layers.push_back(std::make_shared<nn::Linear>(4, 4));
    CHECK(layers.size() == 3);
    CHECK(layers[1]->type_name() == "Linear");
    int count = 0;
    Tensor x = xg::randn({2, 4});
    for (const auto& layer : layers) {
        x = layer->forward(x);
        ++count;
    }
    CHECK(count == 3);
    CHECK(x.shape() == xg::Shape{2, 4});
    CHECK(layers.at<nn::Linear>(2)->out_features == 4);
    CHECK(contains(error_of([&] { layers.at<nn::Conv2d>(0); }), "module 0 is a Linear"));
    CHECK(contains(error_of([&] { layers[3]; }), "index 3 is out of range"));
    CHECK(contains(error_of([&] { layers.forward(x); }), "ModuleList"));
    CHECK(contains(error_of([&] { layers.push_back(nullptr); }), "null module"));
}

TEST_CASE("modules: losses") {
    Tensor logits = xg::tensor({1, 2, 0.5, 0.1, -1, 2}, xg::dtype(xg::kFloat64)).reshape({2, 3});
    Tensor target = xg::tensor(std::vector<int64_t>{1, 2}, {2});
    nn::CrossEntropyLoss loss_fn;
    CHECK(loss_fn(logits, target).item() == doctest::Approx(F::cross_entropy(logits, target).item()));
    nn::CrossEntropyLoss smoothed({.label_smoothing = 0.1});
    CHECK(smoothed.label_smoothing == 0.1);
    CHECK(smoothed.reduction == "mean");
    CHECK(smoothed(logits, target).item() ==
          doctest::Approx(F::cross_entropy(logits, target, {}, -100, "mean", 0.1).item()));
    CHECK(nn::CrossEntropyLoss(-100, "none")(logits, target).shape() == xg::Shape{2});
    nn::MSELoss mse("sum");
    CHECK(mse(logits, xg::zeros_like(logits)).item() == doctest::Approx(1 + 4 + 0.25 + 0.01 + 1 + 4));
    CHECK(contains(error_of([] { nn::MSELoss("avg"); }), "MSELoss: reduction"));
    CHECK(contains(error_of([] { nn::CrossEntropyLoss(-100, "mean", 2.0); }), "label_smoothing"));
}

TEST_CASE("modules: errors in forward name the function and the caller's line") {
    nn::Linear linear(8, 10);
    std::string msg = error_of([&] { linear(xg::randn({2, 7})); });
    CHECK(contains(msg, "linear"));
    CHECK(contains(msg, "[2, 7]"));
    CHECK(contains(msg, "test_modules.cpp"));
    CHECK(contains(error_of([] { nn::Dropout(1.5); }), "between 0 and 1"));
    CHECK(contains(error_of([] { nn::GELU("erf"); }), "GELU"));
    CHECK(contains(error_of([] { nn::Conv2d(3, 8, 0); }), "kernel_size"));
}

// ---- init ------------------------------------------------------------------------------------

TEST_CASE("init: Linear and Conv2d defaults are PyTorch's numbers after manual_seed") {
    // torch.manual_seed(0); l = nn.Linear(3, 2); l.weight, l.bias
    xg::manual_seed(0);
    nn::Linear linear(3, 2);
    check_close(linear.weight, {-0.004322517663240433, 0.3097158372402191, -0.4751853346824646, -0.4248946011066437,
                                -0.2223689705133438, 0.15482072532176971});
    check_close(linear.bias, {-0.011439144611358643, 0.45777493715286255});
    // torch.manual_seed(0); c = nn.Conv2d(2, 2, 2); c.weight.flatten()[:6], c.bias
    xg::manual_seed(0);
    nn::Conv2d conv(2, 2, 2);
    std::vector<double> w = values(conv.weight);
    w.resize(6);
    check_close(xg::tensor(w), {-0.0026469905860722065, 0.18966144323349, -0.2909903824329376, -0.26019373536109924,
                                -0.13617262244224548, 0.0948079451918602});
    check_close(conv.bias, {0.13977210223674774, 0.21214008331298828});
}

TEST_CASE("init: normal_, trunc_normal_ and xavier_uniform_ match PyTorch after manual_seed") {
    // torch.manual_seed(0); t = torch.empty(5); nn.init.normal_(t, 0.5, 2.0)
    xg::manual_seed(0);
    Tensor t = xg::empty({5});
    nn::init::normal_(t, 0.5, 2.0);
    check_close(t, {3.5819921493530273, -0.08685781061649323, -3.857578754425049, 1.6368625164031982, -1.6690447330474854});
    // torch.manual_seed(0); t = torch.empty(20); nn.init.normal_(t, 0.5, 2.0)  (the 16-at-a-time path)
    xg::manual_seed(0);
    Tensor big = xg::empty({20});
    nn::init::normal_(big, 0.5, 2.0);
    std::vector<double> v = values(big);
    CHECK(v[0] == doctest::Approx(-1.7516796588897705).epsilon(1e-6));
    CHECK(v[4] == doctest::Approx(1.6976789236068726).epsilon(1e-6));
    CHECK(v[19] == doctest::Approx(0.6074737906455994).epsilon(1e-6));
    // torch.manual_seed(0); t = torch.empty(6); nn.init.trunc_normal_(t, 0., 1., -1., 1.5)
    xg::manual_seed(0);
    Tensor tn = xg::empty({6});
    nn::init::trunc_normal_(tn, 0.0, 1.0, -1.0, 1.5);
    check_close(tn, {0.10805665701627731, 0.6860901713371277, -0.7481516599655151, -0.640518307685852, -0.2617274820804596,
                     0.3847076892852783}, 1e-5);
    // torch.manual_seed(0); t = torch.empty(3, 4); nn.init.xavier_uniform_(t)
    xg::manual_seed(0);
    Tensor xu = xg::empty({3, 4});
    nn::init::xavier_uniform_(xu);
    std::vector<double> x4 = values(xu);
    x4.resize(4);
    check_close(xg::tensor(x4), {-0.006931448820978403, 0.4966502785682678, -0.7619917392730713, -0.681347131729126});
}

TEST_CASE("init: bounds and statistics") {
    xg::manual_seed(1);
    // kaiming_uniform_(a = sqrt(5)) on a Linear weight: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    nn::Linear linear(64, 128);
    const double bound = 1.0 / 8.0;
    CHECK(xg::max(linear.weight).item() <= bound);
    CHECK(xg::min(linear.weight).item() >= -bound);
    CHECK(xg::max(linear.weight).item() > 0.99 * bound);  // 8192 draws reach the edge
    CHECK(xg::max(xg::abs(linear.bias)).item() <= bound);
    // xavier_uniform_: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
    Tensor w = xg::empty({100, 200});
    nn::init::xavier_uniform_(w, 2.0);
    const double a = 2.0 * std::sqrt(6.0 / 300.0);
    CHECK(xg::max(xg::abs(w)).item() <= a);
    CHECK(xg::max(xg::abs(w)).item() > 0.99 * a);
    CHECK(w.std().item() == doctest::Approx(a / std::sqrt(3.0)).epsilon(0.02));
    // xavier_normal_ and kaiming_normal_: normals with the formula's std.
    nn::init::xavier_normal_(w);
    CHECK(w.std().item() == doctest::Approx(std::sqrt(2.0 / 300.0)).epsilon(0.02));
    CHECK(std::abs(w.mean().item()) < 1e-3);
    nn::init::kaiming_normal_(w, 0.0, "fan_out", "relu");
    CHECK(w.std().item() == doctest::Approx(std::sqrt(2.0) / std::sqrt(100.0)).epsilon(0.02));
    // kaiming_uniform_ for relu: bound = sqrt(2) * sqrt(3 / fan_in).
    nn::init::kaiming_uniform_(w, 0.0, "fan_in", "relu");
    CHECK(xg::max(xg::abs(w)).item() <= std::sqrt(6.0 / 200.0));
    // trunc_normal_ stays in [a, b].
    nn::init::trunc_normal_(w, 0.0, 0.02, -0.04, 0.04);
    CHECK(xg::max(w).item() <= 0.04);
    CHECK(xg::min(w).item() >= -0.04);
    CHECK(w.std().item() == doctest::Approx(0.02 * 0.8796).epsilon(0.03));  // truncation at 2 std shrinks it
    // uniform_, constant_, zeros_, ones_ and the version counter.
    uint64_t version = w._version();
    nn::init::uniform_(w, 2.0, 3.0);
    CHECK(w._version() > version);
    CHECK(xg::min(w).item() >= 2.0);
    CHECK(xg::max(w).item() < 3.0);
    nn::init::constant_(w, 0.25);
    CHECK(xg::equal(w, xg::full({100, 200}, 0.25)));
    CHECK(xg::equal(nn::init::zeros_(linear.bias), xg::zeros({128})));
    CHECK(xg::equal(nn::init::ones_(linear.bias), xg::ones({128})));
    CHECK(linear.bias.requires_grad());  // still a trainable leaf, no graph recorded
    CHECK(linear.bias.is_leaf());
}

TEST_CASE("init: calculate_gain, fans and errors") {
    using nn::init::calculate_gain;
    CHECK(calculate_gain("linear") == 1.0);
    CHECK(calculate_gain("conv2d") == 1.0);
    CHECK(calculate_gain("sigmoid") == 1.0);
    CHECK(calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
    CHECK(calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
    CHECK(calculate_gain("leaky_relu") == doctest::Approx(1.4141428569978354));  // slope 0.01
    CHECK(calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(0.5773502691896257));
    CHECK(calculate_gain("selu") == 0.75);
    auto fans = nn::init::_calculate_fan_in_and_fan_out(xg::empty({8, 3, 4, 5}));
    CHECK(fans.fan_in == 3 * 20);
    CHECK(fans.fan_out == 8 * 20);
    std::string msg = error_of([] { nn::init::_calculate_fan_in_and_fan_out(xg::empty({4})); });
    CHECK(contains(msg, "fewer than 2 dimensions"));
    CHECK(contains(msg, "test_modules.cpp"));
    CHECK(contains(error_of([] { calculate_gain("swish"); }), "unsupported nonlinearity swish"));
    CHECK(contains(error_of([] { nn::init::kaiming_uniform_(xg::empty({2, 2}), 0, "fan_avg"); }), "mode fan_avg not supported"));
    CHECK(contains(error_of([] { nn::init::uniform_(xg::empty({2}), 1.0, 0.0); }), "from=1 > to=0"));
    CHECK(contains(error_of([] { nn::init::normal_(xg::empty({2}), 0.0, -1.0); }), "std >= 0.0"));
}
