// vit/viz: the pictures of tutorials/09_visualize and the numbers behind them. Each figure must
// come out as a valid PNG of the size its layout says (the IHDR chunk is parsed and its CRC
// checked, then the file is decoded with stb_image), and the numbers must be right: attention
// maps replayed layer by layer give the model's own logits, rollout rows sum to 1, a position is
// perfectly similar to itself, patches reassemble into the image.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "vit/vit.h"
#include "vit/viz/attention.h"
#include "vit/viz/figures.h"
#include "vit/viz/graph.h"
#include "vit/viz/image.h"
#include "vit/viz/layout.h"
#include "vit/viz/patches.h"
#include "vit/viz/plot.h"
#include "vit/viz/position_similarity.h"
#include "vit_test_util.h"

// stb_image decodes the PNGs back (a second opinion on the encoder); static, so it stays in this file.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb/stb_image.h>

namespace F = xg::nn::functional;
namespace fs = std::filesystem;
namespace viz = xg::vit::viz;
using namespace vit_test;
using xg::Tensor;
using xg::vit::ViTConfig;
using xg::vit::VisionTransformer;

namespace {

// A scratch folder for one test case, removed afterwards.
struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name)
        : path(fs::temp_directory_path() / ("xgrad_test_viz_" + name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

std::vector<uint8_t> read_bytes(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

uint32_t be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// CRC-32 as PNG defines it (ISO 3309, polynomial 0xEDB88320 reflected), bit by bit: slow and obviously right.
uint32_t crc32(const uint8_t* p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

struct PngHeader {
    bool valid = false;
    std::string problem;
    uint32_t width = 0, height = 0;
    int bit_depth = 0, color_type = 0;
};

// The PNG signature, then the first chunk: 13 bytes of IHDR with a matching CRC.
PngHeader parse_ihdr(const std::vector<uint8_t>& png) {
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    PngHeader h;
    if (png.size() < 8 + 8 + 13 + 4) return h.problem = "shorter than a PNG header", h;
    if (!std::equal(signature, signature + 8, png.begin())) return h.problem = "no PNG signature", h;
    const uint8_t* chunk = png.data() + 8;
    if (be32(chunk) != 13 || std::string(chunk + 4, chunk + 8) != "IHDR") return h.problem = "first chunk is not IHDR", h;
    if (crc32(chunk + 4, 4 + 13) != be32(chunk + 8 + 13)) return h.problem = "IHDR CRC mismatch", h;
    h.width = be32(chunk + 8);
    h.height = be32(chunk + 12);
    h.bit_depth = chunk[16];
    h.color_type = chunk[17];
    h.valid = true;
    return h;
}

// The file at `path` is an 8-bit RGB PNG of width x height that decodes to those dimensions.
void check_png(const fs::path& path, int64_t width, int64_t height) {
    INFO("file: " << path.string());
    REQUIRE(fs::exists(path));
    const std::vector<uint8_t> bytes = read_bytes(path);
    const PngHeader h = parse_ihdr(bytes);
    REQUIRE_MESSAGE(h.valid, h.problem);
    CHECK(h.width == width);
    CHECK(h.height == height);
    CHECK(h.bit_depth == 8);
    CHECK(h.color_type == 2);  // truecolour RGB
    int w = 0, hh = 0, comp = 0;
    stbi_uc* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &hh, &comp, 3);
    REQUIRE_MESSAGE(pixels != nullptr, "stb_image cannot decode it: " << stbi_failure_reason());
    CHECK(w == width);
    CHECK(hh == height);
    stbi_image_free(pixels);
}

// A small model: 12 x 8 images (a 3 x 2 grid of 4 x 4 patches), 2 layers, 2 heads.
ViTConfig tiny_config() {
    return ViTConfig{.image_size = F::IntPair(12, 8), .patch_size = 4, .channels = 1, .num_classes = 5, .model_dim = 8,
                     .depth = 2, .num_heads = 2, .mlp_dim = 16, .dropout = 0.1, .emb_dropout = 0.1};
}

double row_sum_error(const Tensor& t) {  // max |sum over the last dim - 1|
    return xg::sub(t.sum({-1}), 1.0).abs().max().item();
}

}  // namespace

TEST_CASE("viz: a PNG file has a valid IHDR of the image's size and decodes to its pixels") {
    TempDir dir("png");
    viz::Image img(37, 21, viz::kWhite);
    img.fill_rect(3, 4, 10, 5, viz::Rgb{10, 200, 30});
    img.set(36, 20, viz::Rgb{1, 2, 3});
    viz::write_png(img, (dir.path / "a.png").string());
    check_png(dir.path / "a.png", 37, 21);

    const std::vector<uint8_t> bytes = read_bytes(dir.path / "a.png");
    int w = 0, h = 0, comp = 0;
    stbi_uc* px = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &comp, 3);
    REQUIRE(px != nullptr);
    for (int64_t y = 0; y < 21; ++y)
        for (int64_t x = 0; x < 37; ++x) {
            const stbi_uc* p = px + (y * 37 + x) * 3;
            const viz::Rgb want = img.at(x, y);
            REQUIRE_MESSAGE((p[0] == want.r && p[1] == want.g && p[2] == want.b), "pixel (" << x << ", " << y << ")");
        }
    stbi_image_free(px);

    // A damaged header is caught by the check itself.
    std::vector<uint8_t> bad = bytes;
    bad[20] ^= 1;  // a bit of the width
    CHECK(parse_ihdr(bad).problem == "IHDR CRC mismatch");
    CHECK(contains(error_of([&] { viz::write_png(img, (dir.path / "no_such_dir" / "a.png").string()); }), "cannot open"));
}

TEST_CASE("viz: raster basics: clipping, lines, text and the colour map") {
    viz::Image img(20, 10, viz::kWhite);
    img.fill_rect(-5, -5, 8, 8, viz::kBlack);  // clipped to the corner, no error
    CHECK(img.at(0, 0) == viz::kBlack);
    CHECK(img.at(2, 2) == viz::kBlack);
    CHECK(img.at(3, 3) == viz::kWhite);
    img.draw_line(0, 9, 19, 9, viz::kBlue);  // a horizontal line is fully inked
    for (int64_t x = 0; x < 20; ++x) CHECK(img.at(x, 9) == viz::kBlue);
    CHECK(viz::text_width("ab") > viz::text_width("a"));
    viz::Image text(40, 12, viz::kWhite);
    text.draw_text(0, 0, "Hi", viz::kBlack);
    bool inked = false;
    for (int64_t y = 0; y < 12; ++y)
        for (int64_t x = 0; x < 40; ++x) inked = inked || text.at(x, y) == viz::kBlack;
    CHECK(inked);
    CHECK(viz::viridis(0.0) == viz::Rgb{0x44, 0x01, 0x54});
    CHECK(viz::viridis(1.0) == viz::Rgb{0xfd, 0xe7, 0x25});
    CHECK(viz::viridis(2.0) == viz::viridis(1.0));  // clamped
    CHECK(viz::nice_ticks(0, 1000) == std::vector<double>{0, 200, 400, 600, 800, 1000});
    CHECK(viz::nice_ticks(0.13, 0.91).front() == doctest::Approx(0.2));
}

TEST_CASE("viz: patches reassemble into the image and are the model's unfold columns") {
    xg::manual_seed(1);
    const Tensor image = xg::randn({3, 12, 8});
    const Tensor patches = viz::cut_patches(image, 4);  // a 3 x 2 grid
    REQUIRE(patches.shape() == xg::Shape({6, 3, 4, 4}));
    // Token order is row by row: patch 3 is grid row 1, column 1.
    check_close(patches.select(0, 3), image.slice(1, 4, 8).slice(2, 4, 8), 0.0, "patch 3");
    check_close(viz::assemble_patches(patches, 3, 2), image, 0.0, "reassembled");
    // What the ViT's linear patch embedding multiplies: unfold(...).transpose(-1, -2), one row per patch.
    const Tensor rows = F::unfold(image.unsqueeze(0), 4, {.stride = 4}).transpose(-1, -2).squeeze(0);  // [6, 48]
    check_close(patches.reshape({6, 48}), rows, 0.0, "patches vs unfold");
    CHECK(contains(error_of([&] { viz::cut_patches(image, 5); }), "does not cut into whole 5x5 patches"));
    CHECK(contains(error_of([&] { viz::assemble_patches(patches, 2, 2); }), "6 patches do not fill a 2 x 2 grid"));
}

TEST_CASE("viz: the layers replayed with their attention weights give the model's logits") {
    struct Case {
        const char* what;
        ViTConfig cfg;
    };
    ViTConfig post = tiny_config();
    post.norm_first = false;
    post.activation = "relu";
    post.pool = "mean";
    post.patch_embedding = "conv";
    for (const Case& c : {Case{"pre-norm, gelu, cls, linear", tiny_config()}, Case{"post-norm, relu, mean, conv", post}}) {
        INFO(c.what);
        xg::manual_seed(2);
        VisionTransformer model(c.cfg);
        const Tensor images = xg::randn({3, 1, 12, 8});
        model.train();  // attention_maps must run in eval mode and then restore this
        const viz::AttentionMaps maps = viz::attention_maps(model, images);
        CHECK(model.is_training());
        model.eval();
        Tensor logits;
        {
            xg::NoGradGuard no_grad;
            logits = model(images);
        }
        check_close(maps.logits, logits, 1e-5, "replayed logits");
        CHECK_FALSE(maps.logits.requires_grad());
        REQUIRE(maps.weights.size() == 2);
        CHECK(maps.grid_h == 3);
        CHECK(maps.grid_w == 2);
        for (const Tensor& w : maps.weights) {
            CHECK(w.shape() == xg::Shape({3, 2, 7, 7}));  // [bs, heads, T, T], T = 1 + 6
            CHECK(row_sum_error(w) < 1e-5);                // softmax rows
        }
        const Tensor seen = viz::readout_attention(maps);
        CHECK(seen.shape() == xg::Shape({3, 2, 6}));
        // With CLS pooling the readout is the CLS row without its own column, averaged over heads.
        if (maps.pool == "cls")
            check_close(seen.select(1, 1), maps.weights[1].mean({1}).select(1, 0).slice(1, 1), 1e-7, "CLS row");
    }
}

TEST_CASE("viz: attention rollout rows sum to 1 and compose layer by layer") {
    xg::manual_seed(3);
    VisionTransformer model(tiny_config());
    const viz::AttentionMaps maps = viz::attention_maps(model, xg::randn({2, 1, 12, 8}));
    const Tensor rollout = viz::attention_rollout(maps);
    CHECK(rollout.shape() == xg::Shape({2, 7, 7}));
    CHECK(row_sum_error(rollout) < 1e-5);
    CHECK(rollout.min().item() >= 0.0);

    // By hand: A'_l = (A_l + I) / 2 (rows already sum to 1), R = A'_2 A'_1.
    const Tensor I = xg::eye(7);
    const Tensor a1 = (maps.weights[0].mean({1}) + I) / 2.0, a2 = (maps.weights[1].mean({1}) + I) / 2.0;
    check_close(rollout, a2.matmul(a1), 1e-6, "rollout = A'_2 A'_1");
    // residual = 1: only the skip connections, nothing mixes.
    check_close(viz::attention_rollout(maps, 1.0), I.expand({2, 7, 7}), 1e-7, "identity rollout");
    check_close(viz::readout_rollout(rollout, "cls"), rollout.select(1, 0).slice(1, 1), 0.0, "CLS readout");
    CHECK(viz::readout_rollout(rollout, "mean").shape() == xg::Shape({2, 6}));
    CHECK(contains(error_of([&] { viz::attention_rollout(maps, 1.5); }), "residual must be in [0, 1]"));
}

TEST_CASE("viz: position similarity is 1 for a position with itself") {
    xg::manual_seed(4);
    const Tensor pos = xg::randn({1, 1 + 6, 8});
    const Tensor sim = viz::position_similarity(pos);
    REQUIRE(sim.shape() == xg::Shape({6, 6}));
    const std::vector<double> v = sim.to_vector<double>();
    for (int64_t i = 0; i < 6; ++i) {
        CHECK(v[static_cast<size_t>(i * 6 + i)] == doctest::Approx(1.0).epsilon(1e-12));
        for (int64_t j = 0; j < 6; ++j) {
            CHECK(v[static_cast<size_t>(i * 6 + j)] == doctest::Approx(v[static_cast<size_t>(j * 6 + i)]));
            CHECK(std::abs(v[static_cast<size_t>(i * 6 + j)]) <= 1.0 + 1e-12);
        }
    }
    // The CLS row (row 0) is left out; known vectors give known cosines.
    const Tensor known = xg::tensor(std::vector<double>{9, 9, 1, 0, 0, 1, 1, 1}, {1, 4, 2});
    const Tensor s = viz::position_similarity(known);
    CHECK(s.shape() == xg::Shape({3, 3}));
    CHECK(s.to_vector<double>()[1] == doctest::Approx(0.0));                 // [1, 0] vs [0, 1]
    CHECK(s.to_vector<double>()[2] == doctest::Approx(1.0 / std::sqrt(2.0)));  // [1, 0] vs [1, 1]
}

TEST_CASE("viz: metrics.csv with empty cells and the training curves") {
    const viz::Table t = viz::parse_csv(
        "step,epoch,loss,lr,train_acc,test_acc,images_per_s,elapsed_s\n"
        "50,0.107,1.8421,0.000751,0.3525,,702.1,9.8\n"
        "469,1.000,0.8012,0.002981,0.8100,0.8412,698.4,86.0\n");
    REQUIRE(t.rows.size() == 2);
    CHECK(t.has("test_acc"));
    CHECK(std::isnan(t.column("test_acc")[0]));
    CHECK(t.column("test_acc")[1] == doctest::Approx(0.8412));
    CHECK(contains(error_of([&] { t.column("accuracy"); }), "no column \"accuracy\" (the columns are: step, epoch"));
    CHECK(contains(error_of([&] { viz::parse_csv("a,b\n1,x\n", "m.csv"); }), "m.csv: line 2, column b: \"x\" is not a number"));
    CHECK(contains(error_of([&] { viz::parse_csv("a,b\n1\n", "m.csv"); }), "line 2 has 1 cells, the header 2"));

    const viz::Image curves = viz::training_curves(t);
    const auto [w, h] = viz::grid_size(1, 2, 420, 300);
    CHECK(curves.width() == w);
    CHECK(curves.height() == h);
    // The loss line is drawn: some pixel of the left plot has the series colour.
    bool blue = false;
    for (int64_t y = 0; y < curves.height() && !blue; ++y)
        for (int64_t x = 0; x < curves.width() / 2 && !blue; ++x) blue = curves.at(x, y) == viz::kBlue;
    CHECK(blue);
}

TEST_CASE("viz: every figure is written as a valid PNG of its layout's size") {
    TempDir dir("figures");
    xg::manual_seed(5);
    const ViTConfig cfg = tiny_config();
    VisionTransformer model(cfg);
    const int64_t bs = 2, H = 12, W = 8, gh = 3, gw = 2;
    const Tensor display = xg::rand({bs, 1, H, W});
    const std::vector<std::string> labels = {"first", "second"};
    const viz::AttentionMaps maps = viz::attention_maps(model, display);
    const int64_t s = viz::panel_scale(H);  // 96 / 12 = 8
    CHECK(s == 8);

    SUBCASE("patches") {
        viz::write_png(viz::draw_patches(display, 4, labels), (dir.path / "patches.png").string());
        const int64_t pw = W * s + (gw - 1) * 2, ph = H * s + (gh - 1) * 2;
        const auto [w, h] = viz::grid_size(bs, 2, pw, ph, {"The image as patches", {"image", "patches, row by row"}, labels});
        check_png(dir.path / "patches.png", w, h);
    }
    SUBCASE("attention per layer") {
        viz::write_png(viz::draw_layer_attention(display, maps, labels), (dir.path / "attention_layers.png").string());
        const auto [w, h] = viz::grid_size(bs, 1 + cfg.depth, W * s, H * s,
                                           {"CLS token attention per layer", {"image", "layer 1", "layer 2"}, labels});
        check_png(dir.path / "attention_layers.png", w, h);
    }
    SUBCASE("rollout") {
        viz::write_png(viz::draw_rollout(display, maps, labels), (dir.path / "rollout.png").string());
        const auto [w, h] =
            viz::grid_size(bs, 3, W * s, H * s, {"Attention rollout", {"image", "rollout", "over the image"}, labels});
        check_png(dir.path / "rollout.png", w, h);
    }
    SUBCASE("position similarity") {
        const viz::Image img = viz::draw_position_similarity(viz::position_similarity(model.pos_embedding), gh, gw);
        viz::write_png(img, (dir.path / "position_similarity.png").string());
        // Tiles of gh x gw cells of 42 / max(gh, gw) = 14 pixels, one tile per patch position.
        const int64_t cell = 14;
        const auto [w, h] = viz::grid_size(gh, gw, gw * cell, gh * cell,
                                           {"Position embedding similarity", {"1", "2"}, {"1", "2", "3"}});
        CHECK(img.width() == w);
        CHECK(img.height() > h);  // the colour bar below the grid
        check_png(dir.path / "position_similarity.png", img.width(), img.height());
    }
    SUBCASE("training curves") {
        const viz::Table t = viz::parse_csv("step,loss,train_acc,test_acc\n1,2.3,0.1,\n2,1.9,0.3,0.35\n3,1.2,0.6,\n");
        viz::write_png(viz::training_curves(t), (dir.path / "curves.png").string());
        const auto [w, h] = viz::grid_size(1, 2, 420, 300);
        check_png(dir.path / "curves.png", w, h);
    }
    SUBCASE("autograd graph (Graphviz)") {
        xg::manual_seed(6);
        Tensor loss = F::cross_entropy(model(display), xg::randint(5, {bs}));
        const bool png = viz::render_dot(xg::autograd::to_dot(loss), (dir.path / "graph.dot").string(),
                                         (dir.path / "graph.png").string());
        const std::vector<uint8_t> dot = read_bytes(dir.path / "graph.dot");
        CHECK(contains(std::string(dot.begin(), dot.end()), "digraph xgrad"));
        if (!png) {
            MESSAGE("Graphviz's dot is not installed: graph.png not checked (scripts/install-deps.sh installs graphviz)");
        } else {
            const PngHeader hdr = parse_ihdr(read_bytes(dir.path / "graph.png"));
            CHECK_MESSAGE(hdr.valid, hdr.problem);
            CHECK(hdr.width > 0);
            CHECK(hdr.height > 0);
        }
    }
}

TEST_CASE("viz: figures refuse inputs that do not fit") {
    xg::manual_seed(7);
    VisionTransformer model(tiny_config());
    const viz::AttentionMaps maps = viz::attention_maps(model, xg::rand({2, 1, 12, 8}));
    CHECK(contains(error_of([&] { viz::draw_layer_attention(xg::rand({3, 1, 12, 8}), maps); }),
                   "the attention maps are of a batch of 2 images, the display batch has 3"));
    CHECK(contains(error_of([&] { viz::attention_maps(model, xg::rand({2, 3, 12, 8})); }), "expected images [bs, 1, h, w]"));
    CHECK(contains(error_of([&] { viz::compose_grid({{viz::Image(4, 4)}, {viz::Image(5, 4)}}); }),
                   "panels must all be 4 x 4, got 5 x 4"));
    CHECK(contains(error_of([&] { viz::draw_position_similarity(xg::eye(6), 2, 2); }), "expected similarity [4, 4]"));
    CHECK(contains(error_of([&] { viz::draw_position_similarity(xg::eye(4), 2, 2, "t", 0.0); }), "range must be positive"));
}
