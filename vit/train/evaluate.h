#pragma once
// Evaluation: the accuracy of a model on a dataset, in eval mode and without a graph.
//
//   // PyTorch:
//   //   model.eval()
//   //   with torch.no_grad():
//   //       for images, labels in test_loader:
//   //           logits = model(images)
//   //           correct += (logits.argmax(1) == labels).sum().item()
//   EvalResult r = xg::vit::train::evaluate(*model, test_set, /*batch_size=*/1000);
//   std::printf("test accuracy: %.2f%%\n", 100 * r.accuracy);
//
// with_mirror also classifies every image's mirror image (flipped left to right) and averages the
// two predicted distributions: test-time augmentation for a model trained with --augment's flips.
//   probabilities = (softmax(model(images)) + softmax(model(images.flip([3])))) / 2
// The plain accuracy is still reported (accuracy); the averaged one is mirror_accuracy.
//
// image_size != 28 resizes every image bilinearly first (the DataLoader's image_size option);
// the model then resamples its position embeddings to the larger patch grid on the fly
// (VisionTransformer::position_embedding_for): "interpolate the position embedding at
// inference time", section 4.4 of the source.
#include <array>
#include <cstdint>

#include "vit/data/fashion_mnist.h"
#include "vit/vision_transformer.h"

namespace xg::vit::train {

struct EvalResult {
    double accuracy = 0;  // correct / count
    double loss = 0;      // mean cross-entropy (no label smoothing)
    int64_t count = 0;
    std::array<int64_t, 10> class_correct{};  // per true class
    std::array<int64_t, 10> class_count{};
    double seconds = 0;  // wall time of the evaluation
    // with_mirror only: the accuracy and mean cross-entropy of the averaged distributions
    bool mirrored = false;
    double mirror_accuracy = 0;
    double mirror_loss = 0;
};

// Leaves the model in the mode (train or eval) it was in.
EvalResult evaluate(VisionTransformer& model, const data::FashionMNIST& dataset, int64_t batch_size,
                    int64_t image_size = 28, bool with_mirror = false, SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit::train
