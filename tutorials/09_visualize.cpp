// 09 — See inside: every picture of docs/visualize.md from one command.
//
//   graph_06.png              the autograd graph of tutorial 06's network (ViTConfig::toy(): the same
//                             pipeline as a module), from xg::autograd::to_dot, drawn by Graphviz;
//                             graph_06_one_layer.png the same with one encoder layer instead of six
//   patches.png               test images and the patches the model reads them as
//   attention_layers.png      per layer, how much the CLS token attends to each patch
//   rollout.png               attention rollout: what reaches the CLS token through all the layers
//   position_similarity.png   cosine similarity of the learned position embeddings (ViT Figure 7);
//                             position_similarity_learned.png the same for what training added to
//                             them (with --checkpoint: the starting table is recreated from the seed)
//   curves.png                loss and accuracy during training, from the run's metrics.csv
//
// Run:  ./build/dev/tutorials/09_visualize --checkpoint runs/fashion_mnist/checkpoint.safetensors --out viz
//   (tutorials/07_train_fashion_mnist --out runs/fashion_mnist writes the checkpoint and metrics.csv).
// Without --checkpoint the model is randomly initialized: the same pictures then show what an
// untrained ViT does, which is the best way to see what training changed.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "nn/nn.h"
#include "vit/data/fashion_mnist.h"
#include "vit/train/checkpoint.h"
#include "vit/viz/attention.h"
#include "vit/viz/figures.h"
#include "vit/viz/graph.h"
#include "vit/viz/image.h"
#include "vit/viz/patches.h"
#include "vit/viz/plot.h"
#include "vit/viz/position_similarity.h"
#include "xgrad.h"

namespace F = xg::nn::functional;
namespace fs = std::filesystem;
namespace viz = xg::vit::viz;
using xg::Tensor;
using xg::operator<<;  // prints a shape as [1, 4, 8]
using xg::vit::data::FashionMNIST;

namespace {

struct Args {
    std::string checkpoint;  // a training checkpoint or a model.safetensors; "" = random weights
    std::string out = "viz";
    std::string metrics;     // "" = the metrics.csv beside the checkpoint, if there is one
    std::string data_dir;    // "" = where dataset-fashion-mnist installs the files
    int64_t images = 4;
};

const char* kUsage =
    "usage: 09_visualize [--checkpoint PATH] [--out DIR] [--metrics CSV] [--data DIR] [--images N]\n"
    "  --checkpoint PATH  checkpoint.safetensors or model.safetensors of 07_train_fashion_mnist\n"
    "                     (default: a randomly initialized model)\n"
    "  --out DIR          where the pictures go (default: viz)\n"
    "  --metrics CSV      the run's metrics.csv (default: the one beside the checkpoint)\n"
    "  --data DIR         the Fashion-MNIST folder (default: /usr/share/datasets/fashion-mnist)\n"
    "  --images N         test images in the attention figures, 1 to 10 (default: 4)\n";

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        }
        if (i + 1 >= argc) {
            std::cerr << "09_visualize: " << flag << " needs a value\n" << kUsage;
            std::exit(2);
        }
        const std::string value = argv[++i];
        if (flag == "--checkpoint") a.checkpoint = value;
        else if (flag == "--out") a.out = value;
        else if (flag == "--metrics") a.metrics = value;
        else if (flag == "--data") a.data_dir = value;
        else if (flag == "--images") a.images = std::stoll(value);
        else {
            std::cerr << "09_visualize: unknown flag " << flag << "\n" << kUsage;
            std::exit(2);
        }
    }
    if (a.images < 1 || a.images > 10) {
        std::cerr << "09_visualize: --images must be 1 to 10\n";
        std::exit(2);
    }
    return a;
}

// The batch to look at: its pixels as shown ([0, 1]), as the model reads them (normalized the
// way the trainer's DataLoader does), and a label per row.
struct Batch {
    Tensor display, input;
    std::vector<int64_t> labels;  // -1: not from the dataset
};

// One test image of each of the first n classes met, so the rows show different things.
Batch test_images(const Args& args, const xg::vit::ViTConfig& cfg) {
    Batch b;
    const int64_t h = cfg.image_size.h, w = cfg.image_size.w;
    try {
        FashionMNIST test(args.data_dir.empty() ? xg::vit::data::default_fashion_mnist_dir() : args.data_dir, /*train=*/false);
        std::vector<float> pixels;
        std::vector<bool> seen(FashionMNIST::kNumClasses, false);
        for (int64_t i = 0; i < test.size() && static_cast<int64_t>(b.labels.size()) < args.images; ++i) {
            const int64_t label = test.label(i);
            if (seen[static_cast<size_t>(label)]) continue;
            seen[static_cast<size_t>(label)] = true;
            b.labels.push_back(label);
            for (int64_t p = 0; p < FashionMNIST::kHeight * FashionMNIST::kWidth; ++p)
                pixels.push_back(static_cast<float>(test.image(i)[p] / 255.0));
        }
        b.display = xg::tensor(pixels, {static_cast<int64_t>(b.labels.size()), 1, FashionMNIST::kHeight, FashionMNIST::kWidth});
    } catch (const xg::Error& e) {
        // No dataset (or not 28 x 28 images for this model): noise still shows the machinery.
        std::cout << "(no Fashion-MNIST test set: " << e.what() << ")\n(using random images instead)\n";
        b.display = xg::rand({args.images, cfg.channels, h, w});
        b.labels.assign(static_cast<size_t>(args.images), -1);
    }
    if (b.display.size(1) != cfg.channels || b.display.size(2) != h || b.display.size(3) != w) {
        std::cerr << "09_visualize: the images " << b.display.shape() << " do not fit the model (" << cfg.channels
                  << " x " << h << " x " << w << ")\n";
        std::exit(1);
    }
    // (x / 255 - mean) / std, as vit/data/data_loader.cpp feeds the model during training
    b.input = (b.display - FashionMNIST::kMean) / FashionMNIST::kStd;
    return b;
}

std::string class_name(int64_t c) {
    return c >= 0 && c < FashionMNIST::kNumClasses ? FashionMNIST::kClassNames[static_cast<size_t>(c)] : "random";
}

void wrote(const fs::path& path, const viz::Image& img) {
    viz::write_png(img, path.string());
    std::cout << "wrote " << path.string() << " (" << img.width() << " x " << img.height() << ")\n";
}

const char* yes_no(bool ok) { return ok ? "yes" : "NO"; }

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse_args(argc, argv);
    const fs::path out(args.out);
    fs::create_directories(out);
    bool all_ok = true;

    // (a) tutorial 06's network as a graph. The parameters get their state-dict names, so the
    // graph's leaves say which weight each is. Six layers make a graph of 300+ nodes (a poster);
    // the one-layer version shows one of them at a readable size.
    for (const auto& [depth, name] : {std::pair<int64_t, std::string>{6, "graph_06"}, {1, "graph_06_one_layer"}}) {
        xg::manual_seed(0);
        xg::vit::ViTConfig toy_config = xg::vit::ViTConfig::toy();
        toy_config.depth = depth;
        xg::vit::VisionTransformer toy(toy_config);
        for (auto& [param_name, p] : toy.named_parameters()) p.set_name(param_name);
        Tensor image = xg::randn({1, 3, 8, 8});
        Tensor label = xg::randint(10, {1});
        Tensor loss = F::cross_entropy(toy(image), label);
        loss.set_name("loss");
        const fs::path dot = out / (name + ".dot"), png = out / (name + ".png");
        const bool drawn = viz::render_dot(xg::autograd::to_dot(loss), dot.string(), png.string());
        std::cout << "wrote " << dot.string()
                  << (drawn ? " and " + png.filename().string() : " (the PNG needs Graphviz: apt-get install graphviz)")
                  << "\n";
    }

    // The model: trained, or as it starts.
    std::shared_ptr<xg::vit::VisionTransformer> model;
    Tensor initial_pos_embedding;  // the table before training, when it can be recreated
    fs::path metrics = args.metrics;
    if (!args.checkpoint.empty()) {
        xg::vit::train::TrainedModel trained = xg::vit::train::load_trained_model(args.checkpoint);
        model = trained.model;
        std::cout << "model: " << args.checkpoint << " (step " << trained.state.step << ")\n";
        // The trainer builds its model right after manual_seed(seed) (vit/train/trainer.cpp), so
        // the same two lines give back the weights it started from.
        xg::manual_seed(trained.config.seed);
        initial_pos_embedding = xg::vit::VisionTransformer(trained.config.vit_config()).pos_embedding;
        if (metrics.empty() && fs::exists(fs::path(args.checkpoint).parent_path() / "metrics.csv"))
            metrics = fs::path(args.checkpoint).parent_path() / "metrics.csv";
    } else {
        xg::manual_seed(0);
        model = std::make_shared<xg::vit::VisionTransformer>(xg::vit::train::TrainConfig{}.vit_config());
        model->eval();
        std::cout << "model: randomly initialized (no --checkpoint): these are the maps before training\n";
    }
    const xg::vit::ViTConfig& cfg = model->config;
    std::cout << "  " << cfg.depth << " layers, " << cfg.num_heads << " heads, d = " << cfg.model_dim << ", "
              << cfg.grid_h() << " x " << cfg.grid_w() << " patches of " << cfg.patch_size << " x " << cfg.patch_size
              << ", pool = " << cfg.pool << "\n";

    const Batch batch = test_images(args, cfg);

    // (b) the image as patches. Cut and put back together, it must be the image again.
    {
        const Tensor image = batch.display.select(0, 0);
        const Tensor again = viz::assemble_patches(viz::cut_patches(image, cfg.patch_size), cfg.grid_h(), cfg.grid_w());
        const bool ok = xg::sub(again, image).abs().max().item() == 0.0;
        std::cout << "patches reassemble into the image: " << yes_no(ok) << "\n";
        all_ok = all_ok && ok;
    }
    std::vector<std::string> row_labels;
    const viz::AttentionMaps maps = viz::attention_maps(*model, batch.input);
    const Tensor predicted = maps.logits.argmax(1);
    for (size_t i = 0; i < batch.labels.size(); ++i)
        row_labels.push_back(class_name(batch.labels[i]) + " (model: " +
                             class_name(predicted[static_cast<int64_t>(i)].item<int64_t>()) + ")");
    wrote(out / "patches.png", viz::draw_patches(batch.display, cfg.patch_size, row_labels));

    // The maps are those of the model that classifies: replaying the layers gave its logits.
    {
        xg::NoGradGuard no_grad;
        const bool ok = xg::sub(maps.logits, (*model)(batch.input)).abs().max().item() < 1e-4;
        std::cout << "the replayed layers give the model's logits: " << yes_no(ok) << "\n";
        all_ok = all_ok && ok;
    }
    wrote(out / "attention_layers.png", viz::draw_layer_attention(batch.display, maps, row_labels));

    // Rollout: a product of row-stochastic matrices, so every row still sums to 1.
    {
        const Tensor rollout = viz::attention_rollout(maps);
        const bool ok = xg::sub(rollout.sum({-1}), 1.0).abs().max().item() < 1e-4;
        std::cout << "rollout rows sum to 1: " << yes_no(ok) << "\n";
        all_ok = all_ok && ok;
    }
    wrote(out / "rollout.png", viz::draw_rollout(batch.display, maps, row_labels));

    // (c) position embeddings: each position is perfectly similar to itself.
    {
        const Tensor sim = viz::position_similarity(model->pos_embedding);
        const std::vector<double> v = sim.to_vector<double>();
        const int64_t n = sim.size(0);
        bool ok = true;
        for (int64_t i = 0; i < n; ++i) ok = ok && std::abs(v[static_cast<size_t>(i * n + i)] - 1.0) < 1e-9;
        std::cout << "each position's similarity with itself is 1: " << yes_no(ok) << "\n";
        all_ok = all_ok && ok;
        wrote(out / "position_similarity.png", viz::draw_position_similarity(sim, cfg.grid_h(), cfg.grid_w()));
    }
    // The table starts as randn, and a short run moves it little: the similarities above are
    // mostly those of the random start. The change training made shows what was learned; its
    // structure is weak early on, so its colours span [-0.5, 0.5].
    if (initial_pos_embedding.defined()) {
        const Tensor learned = xg::sub(model->pos_embedding.detach(), initial_pos_embedding);
        wrote(out / "position_similarity_learned.png",
              viz::draw_position_similarity(viz::position_similarity(learned), cfg.grid_h(), cfg.grid_w(),
                                            "Similarity of what training added", /*range=*/0.5));
    }

    // (d) the training curves.
    if (!metrics.empty()) {
        const viz::Table table = viz::read_csv(metrics.string());
        std::cout << metrics.string() << ": " << table.rows.size() << " rows\n";
        wrote(out / "curves.png", viz::training_curves(table));
    } else {
        std::cout << "no metrics.csv (pass --checkpoint of a run, or --metrics PATH): curves.png not drawn\n";
    }
    return all_ok ? 0 : 1;
}
