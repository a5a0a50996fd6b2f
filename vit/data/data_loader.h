#pragma once
// DataLoader: Fashion-MNIST examples in shuffled batches of normalized float tensors, prepared
// ahead by a background thread, with an order that depends only on (seed, epoch).
//
//   // PyTorch:
//   //   transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
//   //   loader = DataLoader(FashionMNIST(root, train=True, transform=transform), batch_size=128, shuffle=True)
//   //   for epoch in range(epochs):
//   //       for images, labels in loader: ...
//   xg::vit::data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 0});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//       loader.start_epoch(epoch);
//       for (xg::vit::data::Batch batch; loader.next(batch);) { ... batch.images, batch.labels ... }
//   }
//
// Determinism (why training can stop anywhere and resume bit for bit; docs/data.md):
//   - the order of an epoch is a permutation computed from (seed, epoch) alone, with the
//     loader's own generator: xg::manual_seed and the model's random draws neither affect it
//     nor are affected by it;
//   - the augmentation of batch b draws from a generator seeded by (seed, epoch, b) alone;
//   so batch b of epoch e is a pure function of (dataset, options, e, b). The background thread,
//   prefetch on or off, and start_epoch(e, skip_batches) all give the same bytes. A checkpoint
//   stores {epoch(), batches_consumed()} and resumes with start_epoch(epoch, batches_consumed).
//
// One thread uses a DataLoader (it is not itself thread-safe); the prefetch thread is private.
#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "vit/data/fashion_mnist.h"

namespace xg::vit::data {

struct Batch {
    Tensor images;  // [B, 1, H, W] float32, (x / 255 - kMean) / kStd
    Tensor labels;  // [B] int64, in 0..9
};

struct DataLoaderOptions {
    int64_t batch_size = 128;
    bool shuffle = true;
    bool drop_last = false;   // drop the last, smaller batch (else it has size % batch_size examples)
    uint64_t seed = 0;        // the order and the augmentation depend on (seed, epoch) only
    bool augment = false;     // random crop (zero padding crop_padding, as torchvision's
                              // RandomCrop(28, padding)) then a horizontal flip with p = 0.5
    int64_t crop_padding = 2;
    int64_t prefetch = 2;     // batches prepared ahead by a background thread (0 = synchronous)
    int64_t image_size = 28;  // output height = width; != 28 resizes bilinearly (align_corners=False)
};

class DataLoader {
  public:
    // Keeps its own copy of `dataset` (a cheap handle: the pixels are shared), so the loader
    // stays valid even if `dataset` was a temporary such as train.subset(256).
    DataLoader(const FashionMNIST& dataset, DataLoaderOptions options, SrcLoc loc = SrcLoc::current());
    ~DataLoader();  // stops and joins the prefetch thread
    // Not copyable or movable: the prefetch thread holds `this`.
    DataLoader(const DataLoader&) = delete;
    DataLoader& operator=(const DataLoader&) = delete;

    // Batches per epoch: ceil(size / batch_size), or floor with drop_last.
    int64_t num_batches() const { return num_batches_; }

    // Begins epoch `epoch` (>= 0) at batch `skip_batches` (0..num_batches()), abandoning any
    // epoch in progress (its prefetch thread is stopped and joined first). Must be called
    // before the first next().
    void start_epoch(int64_t epoch, int64_t skip_batches = 0, SrcLoc loc = SrcLoc::current());

    // The next batch of the epoch into `out`; false (and `out` untouched) at the end of the epoch.
    bool next(Batch& out, SrcLoc loc = SrcLoc::current());

    // The exact position, for checkpoints: the epoch started last (-1 before the first
    // start_epoch) and the batches of it consumed so far (skipped ones included).
    int64_t epoch() const { return epoch_; }
    int64_t batches_consumed() const { return consumed_; }

    // The order in which epoch `epoch` visits the examples: a permutation of 0..size-1 that
    // depends only on (options.seed, epoch) (the identity without shuffle).
    std::vector<int64_t> epoch_order(int64_t epoch) const;

    const DataLoaderOptions& options() const { return options_; }
    const FashionMNIST& dataset() const { return dataset_; }

  private:
    Batch build_batch(int64_t index) const;  // batch `index` of the current epoch (pure)
    void worker_loop(int64_t first_batch);   // the prefetch thread's body
    void stop_worker();

    const FashionMNIST dataset_;
    const DataLoaderOptions options_;
    int64_t num_batches_ = 0;
    std::array<float, 256> normalized_{};  // byte value -> (v / 255 - mean) / std

    // The current epoch. Written only while no prefetch thread runs, so the thread reads it
    // without a lock (starting and joining a thread order memory on both sides).
    int64_t epoch_ = -1;
    std::vector<int64_t> order_;
    // Touched by the consumer's thread only.
    int64_t consumed_ = 0;

    // The prefetch queue, guarded by mutex_.
    std::thread worker_;
    std::mutex mutex_;
    std::condition_variable queue_not_full_;   // the worker waits here for room
    std::condition_variable queue_not_empty_;  // next() waits here for a batch
    std::deque<Batch> queue_;                  // the batches after the consumed ones, in order
    bool stop_ = false;                        // start_epoch / ~DataLoader ask the worker to quit
    bool worker_finished_ = false;             // no more batches will come (end of epoch or error)
    std::exception_ptr worker_error_;          // what the worker threw, rethrown by next()
};

}  // namespace xg::vit::data
