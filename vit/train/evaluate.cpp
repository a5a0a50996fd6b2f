// evaluate(): the test loop (see evaluate.h).
#include "vit/train/evaluate.h"

#include <chrono>

#include "core/autograd/grad_mode.h"
#include "core/ops.h"
#include "nn/functional.h"
#include "vit/data/data_loader.h"

namespace xg::vit::train {

namespace F = nn::functional;

EvalResult evaluate(VisionTransformer& model, const data::FashionMNIST& dataset, int64_t batch_size, int64_t image_size,
                    bool with_mirror, SrcLoc loc) {
    const auto start = std::chrono::steady_clock::now();
    XG_CHECK(model.config.num_classes == 10, loc,
             "evaluate: expects a 10-class Fashion-MNIST model, got num_classes " << model.config.num_classes);
    const bool was_training = model.is_training();
    // model.eval(): dropout off
    model.eval();
    // with torch.no_grad(): no graph is recorded, no activations are kept for a backward
    NoGradGuard no_grad;
    data::DataLoader loader(dataset, {.batch_size = batch_size, .shuffle = false, .image_size = image_size}, loc);
    loader.start_epoch(0, 0, loc);

    EvalResult r;
    double loss_sum = 0, mirror_loss_sum = 0;
    int64_t mirror_correct = 0;
    for (data::Batch batch; loader.next(batch, loc);) {
        // logits = model(images)
        Tensor logits = model(batch.images, loc);
        // loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        loss_sum += F::cross_entropy(logits, batch.labels, {}, -100, "sum", 0.0, loc).item(loc);
        // predictions = logits.argmax(dim=1)
        std::vector<int64_t> predicted = logits.argmax(1, false, loc).to_vector<int64_t>(loc);
        std::vector<int64_t> labels = batch.labels.to_vector<int64_t>(loc);
        for (size_t i = 0; i < labels.size(); ++i) {
            const auto c = static_cast<size_t>(labels[i]);
            r.class_count[c] += 1;
            r.class_correct[c] += predicted[i] == labels[i] ? 1 : 0;
        }
        r.count += static_cast<int64_t>(labels.size());
        if (!with_mirror) continue;
        // mirrored_logits = model(images.flip([3]))        (flip along the width)
        Tensor mirrored_logits = model(batch.images.flip({3}, loc), loc);
        // probabilities = (logits.softmax(1) + mirrored_logits.softmax(1)) / 2
        Tensor probabilities = mul(add(softmax(logits, 1, loc), softmax(mirrored_logits, 1, loc), loc), 0.5, loc);
        // mirror_loss_sum += F.nll_loss(probabilities.log(), labels, reduction="sum").item()
        mirror_loss_sum += F::nll_loss(probabilities.log(loc), batch.labels, {}, -100, "sum", loc).item(loc);
        std::vector<int64_t> averaged = probabilities.argmax(1, false, loc).to_vector<int64_t>(loc);
        for (size_t i = 0; i < labels.size(); ++i) mirror_correct += averaged[i] == labels[i] ? 1 : 0;
    }
    model.train(was_training);

    int64_t correct = 0;
    for (int64_t c : r.class_correct) correct += c;
    r.accuracy = r.count > 0 ? static_cast<double>(correct) / static_cast<double>(r.count) : 0.0;
    r.loss = r.count > 0 ? loss_sum / static_cast<double>(r.count) : 0.0;
    r.mirrored = with_mirror;
    if (with_mirror && r.count > 0) {
        r.mirror_accuracy = static_cast<double>(mirror_correct) / static_cast<double>(r.count);
        r.mirror_loss = mirror_loss_sum / static_cast<double>(r.count);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace xg::vit::train
