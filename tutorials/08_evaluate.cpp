// Tutorial 08: inference with the ViT trained by tutorial 07, at the size it was trained on and
// at a larger one.
//
//   ./build/release/tutorials/08_evaluate                                  # runs/fashion_mnist/...
//   ./build/release/tutorials/08_evaluate path/to/checkpoint.safetensors --image-size 42
//
// A ViT learns one position embedding per patch of its training grid: 7 x 7 patches of 4 x 4
// pixels for a 28 x 28 image. A 44 x 44 image has 11 x 11 patches; the table no longer fits.
// Section 4.4 of the source: interpolate the position embedding at inference time. The model
// does that on its own (VisionTransformer::position_embedding_for): the 7 x 7 grid of learned
// vectors is resized bicubically to 11 x 11, the CLS entry kept aside. Here we measure what it
// costs: the test images are enlarged bilinearly (each patch now sees a smaller part of the
// garment) and classified by the same weights.
//
// In PyTorch:
//   model = ViT(**ckpt["args"]); model.load_state_dict(ckpt["model"]); model.eval()
//   with torch.no_grad():
//       for images, labels in test_loader:
//           big = F.interpolate(images, size=(44, 44), mode="bilinear", align_corners=False)
//           correct += (model(big).argmax(1) == labels).sum().item()
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

#include "core/autograd/grad_mode.h"
#include "vit/data/data.h"
#include "vit/train/train.h"
#include "xgrad.h"

namespace data = xg::vit::data;
namespace train = xg::vit::train;

namespace {

struct Args {
    std::string checkpoint;  // "" = runs/fashion_mnist/model.safetensors, else .../checkpoint.safetensors
    std::string data_dir;
    int64_t image_size = 0;  // 0 = the multiple of the patch size nearest to 1.5 x 28 = 42
    int64_t batch_size = 1000;
    int64_t test_subset = 0;
    bool help = false;
};

const char* kUsage =
    "usage: 08_evaluate [CHECKPOINT] [flags]\n\n"
    "Evaluates a model trained by 07_train_fashion_mnist on the Fashion-MNIST test set at 28x28, then on the\n"
    "test images enlarged (bilinear) to another size, through the position-embedding resampling.\n\n"
    "  CHECKPOINT              model.safetensors or checkpoint.safetensors  [default: "
    "runs/fashion_mnist/model.safetensors,\n"
    "                          else runs/fashion_mnist/checkpoint.safetensors]\n"
    "  --data-dir DIR          the Fashion-MNIST folder  [default: $XGRAD_FASHION_MNIST or "
    "/usr/share/datasets/fashion-mnist]\n"
    "  --image-size N          the larger size; a multiple of the patch size  [default: the multiple nearest to 42]\n"
    "  --batch-size B          test images per forward pass  [default: 1000]\n"
    "  --test-subset N         only the first N test images (0 = all 10000)  [default: 0]\n"
    "  --help, -h              print this help and exit\n";

int64_t to_int(const std::string& flag, const std::string& text) {
    size_t used = 0;
    int64_t v = -1;
    try {
        v = std::stoll(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || v < 0) throw xg::Error(flag + ": expected a non-negative integer, got \"" + text + "\"");
    return v;
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw xg::Error(arg + ": missing value (see --help)");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            a.help = true;
        } else if (arg == "--data-dir") {
            a.data_dir = value();
        } else if (arg == "--image-size") {
            a.image_size = to_int(arg, value());
        } else if (arg == "--batch-size") {
            a.batch_size = to_int(arg, value());
        } else if (arg == "--test-subset") {
            a.test_subset = to_int(arg, value());
        } else if (arg.rfind("--", 0) == 0 || !a.checkpoint.empty()) {
            throw xg::Error("unexpected argument \"" + arg + "\" (see --help)");
        } else {
            a.checkpoint = arg;
        }
    }
    return a;
}

std::string default_checkpoint() {
    const std::string model = "runs/fashion_mnist/model.safetensors";
    return std::filesystem::exists(model) ? model : "runs/fashion_mnist/checkpoint.safetensors";
}

void report(const std::string& what, const train::EvalResult& r) {
    std::printf("%s: test accuracy %.2f%% (%lld images, loss %.4f, %.1f s)\n", what.c_str(), 100.0 * r.accuracy,
                static_cast<long long>(r.count), r.loss, r.seconds);
    if (r.mirrored)
        std::printf("    averaged with the mirror images (--tta): %.2f%% (loss %.4f)\n", 100.0 * r.mirror_accuracy,
                    r.mirror_loss);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Args args = parse(argc, argv);
        if (args.help) {
            std::cout << kUsage;
            return 0;
        }
        if (args.checkpoint.empty()) args.checkpoint = default_checkpoint();
        if (args.batch_size <= 0) throw xg::Error("--batch-size: must be positive");

        // model = ViT(**ckpt["args"]); model.load_state_dict(ckpt["model"]); model.eval()
        train::TrainedModel trained = train::load_trained_model(args.checkpoint);
        xg::vit::VisionTransformer& model = *trained.model;
        const xg::vit::ViTConfig& cfg = model.config;
        std::printf("loaded %s: ViT patch %lld (%s embedding, overlap %lld), dim %lld, depth %lld, heads %lld, %lld "
                    "parameters\n",
                    args.checkpoint.c_str(), static_cast<long long>(cfg.patch_size), cfg.patch_embedding.c_str(),
                    static_cast<long long>(cfg.patch_overlap), static_cast<long long>(cfg.model_dim),
                    static_cast<long long>(cfg.depth), static_cast<long long>(cfg.num_heads),
                    static_cast<long long>(model.num_parameters()));
        // A model trained with --tta is also judged as its run judged it: with the mirror images.
        const bool tta = trained.config.tta;

        // test_set = FashionMNIST(root, train=False)
        data::FashionMNIST test_set(args.data_dir.empty() ? data::default_fashion_mnist_dir() : args.data_dir,
                                    /*train=*/false);
        if (args.test_subset > 0) test_set = test_set.subset(args.test_subset);

        // 1. At the training size: the accuracy tutorial 07 reported, and how it splits by class.
        train::EvalResult at28 = train::evaluate(model, test_set, args.batch_size, 28, tta);
        report("28x28 (the training size)", at28);
        for (size_t c = 0; c < 10; ++c)
            if (at28.class_count[c] > 0)
                std::printf(
                    "    %-12s %6.2f%%\n", data::FashionMNIST::kClassNames[c],
                    100.0 * static_cast<double>(at28.class_correct[c]) / static_cast<double>(at28.class_count[c]));

        // 2. Larger images: resized bilinearly, the position embeddings resampled to the new grid.
        const int64_t p = cfg.patch_size;
        const int64_t size = args.image_size > 0 ? args.image_size : p * std::llround(42.0 / static_cast<double>(p));
        if (size % p != 0)
            throw xg::Error("--image-size " + std::to_string(size) + " is not a multiple of the patch size " +
                            std::to_string(p));
        std::printf("position embeddings: %lldx%lld grid resampled (bicubic) to %lldx%lld for %lldx%lld images\n",
                    static_cast<long long>(cfg.grid_h()), static_cast<long long>(cfg.grid_w()),
                    static_cast<long long>(size / p), static_cast<long long>(size / p), static_cast<long long>(size),
                    static_cast<long long>(size));
        train::EvalResult larger = train::evaluate(model, test_set, args.batch_size, size, tta);
        report(std::to_string(size) + "x" + std::to_string(size) + " (bilinear resize)", larger);

        // 3. A few predictions, as a person would check them.
        xg::NoGradGuard no_grad;
        data::DataLoader loader(test_set, {.batch_size = 8, .shuffle = false});
        loader.start_epoch(0);
        data::Batch batch;
        if (loader.next(batch)) {
            std::vector<int64_t> predicted = model(batch.images).argmax(1).to_vector<int64_t>();
            std::vector<int64_t> labels = batch.labels.to_vector<int64_t>();
            std::printf("the first %zu test images (true -> predicted):\n", labels.size());
            for (size_t i = 0; i < labels.size(); ++i)
                std::printf("    %-12s -> %s%s\n", data::FashionMNIST::kClassNames[labels[i]],
                            data::FashionMNIST::kClassNames[predicted[i]],
                            labels[i] == predicted[i] ? "" : "  (wrong)");
        }
        std::printf("accuracy at 28x28: %.2f%%, at %lldx%lld: %.2f%%\n", 100.0 * at28.accuracy,
                    static_cast<long long>(size), static_cast<long long>(size), 100.0 * larger.accuracy);
        if (tta)
            std::printf("averaged with the mirror images (--tta): at 28x28: %.2f%%, at %lldx%lld: %.2f%%\n",
                        100.0 * at28.mirror_accuracy, static_cast<long long>(size), static_cast<long long>(size),
                        100.0 * larger.mirror_accuracy);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
