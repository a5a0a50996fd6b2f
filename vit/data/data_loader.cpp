// DataLoader: batches of Fashion-MNIST, shuffled and augmented deterministically, prefetched by
// one background thread (see data_loader.h for the contract and docs/data.md for the why).
#include "vit/data/data_loader.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "core/ops.h"

namespace xg::vit::data {

namespace {

constexpr int64_t kH = FashionMNIST::kHeight;
constexpr int64_t kW = FashionMNIST::kWidth;

// ---- seeds ------------------------------------------------------------------------------------

// SplitMix64's finalizer: a bijection of 64-bit integers that scrambles every input bit into
// every output bit, so seeds that differ by one (epoch 3 and epoch 4) give unrelated streams.
uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Separate streams, so the shuffle of epoch e and the augmentation of some batch never share a seed.
enum class Stream : uint64_t { Shuffle = 1, Augment = 2 };

// The seed of one random stream, a function of (seed, stream, epoch, batch) and nothing else.
uint64_t stream_seed(uint64_t seed, Stream stream, int64_t epoch, int64_t batch) {
    uint64_t h = splitmix64(seed);
    h = splitmix64(h ^ static_cast<uint64_t>(stream));
    h = splitmix64(h ^ static_cast<uint64_t>(epoch));
    return splitmix64(h ^ static_cast<uint64_t>(batch));
}

// A uniform integer in [0, n). Not std::uniform_int_distribution (nor std::shuffle): their
// algorithms are left to the standard library, so libstdc++ and libc++ would order an epoch
// differently. std::mt19937_64 itself is specified bit for bit. Rejection keeps it unbiased:
// the 2^64 mod n smallest draws are refused, the rest split evenly into n classes.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // == 2^64 mod n, in 64-bit arithmetic
    for (;;) {
        const uint64_t r = rng();
        if (r >= threshold) return r % n;
    }
}

// ---- bilinear resize (image_size != 28) ------------------------------------------------------

// PyTorch's F.interpolate(mode="bilinear", align_corners=False) on one axis: output pixel o
// reads the input at src = (o + 0.5) * in / out - 0.5 (pixels as unit squares, outer edges
// aligned), clamped at 0, between pixels i0 = floor(src) and i1 = min(i0 + 1, in - 1) with
// weight w on i1. Computed in float, as PyTorch does for float tensors, to round as it rounds.
struct Tap {
    int64_t i0, i1;
    float w;
};
std::vector<Tap> bilinear_taps(int64_t in, int64_t out) {
    std::vector<Tap> taps;
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t o = 0; o < out; ++o) {
        const float src = std::max(scale * (static_cast<float>(o) + 0.5f) - 0.5f, 0.0f);
        const auto i0 = std::min(static_cast<int64_t>(src), in - 1);  // src >= 0: the cast is floor
        taps.push_back({i0, std::min(i0 + 1, in - 1), src - static_cast<float>(i0)});
    }
    return taps;
}

void resize_bilinear(const float* in, float* out, int64_t size, const std::vector<Tap>& taps) {
    for (int64_t y = 0; y < size; ++y) {
        const Tap& ty = taps[static_cast<size_t>(y)];
        const float* row0 = in + ty.i0 * kW;
        const float* row1 = in + ty.i1 * kW;
        for (int64_t x = 0; x < size; ++x) {
            const Tap& tx = taps[static_cast<size_t>(x)];
            const float top = (1 - tx.w) * row0[tx.i0] + tx.w * row0[tx.i1];
            const float bottom = (1 - tx.w) * row1[tx.i0] + tx.w * row1[tx.i1];
            out[y * size + x] = (1 - ty.w) * top + ty.w * bottom;
        }
    }
}

}  // namespace

DataLoader::DataLoader(const FashionMNIST& dataset, DataLoaderOptions options, SrcLoc loc)
    : dataset_(dataset), options_(options) {
    XG_CHECK(options_.batch_size >= 1, loc, "DataLoader: batch_size must be >= 1, got " << options_.batch_size);
    XG_CHECK(options_.prefetch >= 0, loc, "DataLoader: prefetch must be >= 0 (0 = no thread), got " << options_.prefetch);
    XG_CHECK(options_.crop_padding >= 0 && options_.crop_padding <= kH, loc,
             "DataLoader: crop_padding must be in [0, " << kH << "], got " << options_.crop_padding);
    XG_CHECK(options_.image_size >= 1 && options_.image_size <= 1024, loc,
             "DataLoader: image_size must be in [1, 1024], got " << options_.image_size);

    const int64_t n = dataset_.size();
    // Rounded up without (n + batch_size - 1), which would overflow for a huge batch_size.
    const int64_t full_batches = n / options_.batch_size;
    num_batches_ = full_batches + (!options_.drop_last && n % options_.batch_size != 0 ? 1 : 0);

    // Normalization as a 256-entry table: a pixel is one of 256 bytes, so (v / 255 - mean) / std
    // is computed once per value (in double, rounded to float once) instead of once per pixel,
    // and converting, scaling and normalizing a pixel is one load from this table.
    for (int v = 0; v < 256; ++v)
        normalized_[static_cast<size_t>(v)] =
            static_cast<float>((v / 255.0 - FashionMNIST::kMean) / FashionMNIST::kStd);
}

DataLoader::~DataLoader() { stop_worker(); }

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
    std::vector<int64_t> order(static_cast<size_t>(dataset_.size()));
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    if (!options_.shuffle) return order;
    // Fisher-Yates: position i takes a uniformly chosen element of those not yet placed, so each
    // of the n! orders is equally likely.
    std::mt19937_64 rng(stream_seed(options_.seed, Stream::Shuffle, epoch, 0));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniform_below(rng, i)]);
    return order;
}

Batch DataLoader::build_batch(int64_t index) const {
    const int64_t start = index * options_.batch_size;
    const int64_t count = std::min(options_.batch_size, dataset_.size() - start);
    const int64_t size = options_.image_size;
    const int64_t pad = options_.crop_padding;

    Batch batch;
    batch.images = xg::empty({count, 1, size, size});                 // [B, 1, H, W]
    batch.labels = xg::empty({count}, xg::dtype(xg::kInt64));         // [B]
    float* images = batch.images.data_ptr<float>();
    int64_t* labels = batch.labels.data_ptr<int64_t>();

    // The augmentation's generator depends on (seed, epoch, batch index) only, never on which
    // thread builds the batch or what was built before: that is what makes prefetch and resume exact.
    std::mt19937_64 rng(stream_seed(options_.seed, Stream::Augment, epoch_, index));
    const std::vector<Tap> taps = size == kH ? std::vector<Tap>{} : bilinear_taps(kH, size);
    std::vector<float> full(static_cast<size_t>(kH * kW));  // the 28 x 28 image before resizing

    for (int64_t b = 0; b < count; ++b) {
        const int64_t example = order_[static_cast<size_t>(start + b)];
        const uint8_t* src = dataset_.image(example);
        labels[b] = dataset_.label(example);
        float* dst = size == kH ? images + b * kH * kW : full.data();

        if (!options_.augment) {
            for (int64_t p = 0; p < kH * kW; ++p) dst[p] = normalized_[src[p]];
        } else {
            // torchvision's RandomCrop(28, padding=pad): pad with black (byte 0) on all sides to
            // (28 + 2 pad)^2, cut a 28 x 28 window at a random (top, left) in [0, 2 pad]; then
            // RandomHorizontalFlip(0.5). Done in one pass: output (y, x) reads input
            // (y + top - pad, x' + left - pad), x' mirrored if flipped, black outside the image.
            const auto top = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(2 * pad + 1)));
            const auto left = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(2 * pad + 1)));
            const bool flip = (rng() >> 63) != 0;
            for (int64_t y = 0; y < kH; ++y) {
                const int64_t sy = y + top - pad;
                for (int64_t x = 0; x < kW; ++x) {
                    const int64_t sx = (flip ? kW - 1 - x : x) + left - pad;
                    const bool inside = sy >= 0 && sy < kH && sx >= 0 && sx < kW;
                    dst[y * kW + x] = normalized_[inside ? src[sy * kW + sx] : 0];
                }
            }
        }
        if (size != kH) resize_bilinear(full.data(), images + b * size * size, size, taps);
    }
    return batch;
}

void DataLoader::worker_loop(int64_t first_batch) {
    for (int64_t index = first_batch; index < num_batches_; ++index) {
        {
            // Wait for room first, then build: at most `prefetch` batches exist ahead of the consumer.
            std::unique_lock lock(mutex_);
            queue_not_full_.wait(lock, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < options_.prefetch; });
            if (stop_) return;
        }
        Batch batch;
        try {
            batch = build_batch(index);
        } catch (...) {
            // An exception must not escape a thread (std::terminate): hand it to next().
            std::lock_guard lock(mutex_);
            worker_error_ = std::current_exception();
            worker_finished_ = true;
            queue_not_empty_.notify_one();
            return;
        }
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(batch));
        queue_not_empty_.notify_one();
    }
    std::lock_guard lock(mutex_);
    worker_finished_ = true;
    queue_not_empty_.notify_one();
}

void DataLoader::stop_worker() {
    if (!worker_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    queue_not_full_.notify_one();
    worker_.join();
    // The thread is gone: reset the queue for the next epoch without racing anyone.
    queue_.clear();
    stop_ = false;
    worker_finished_ = false;
    worker_error_ = nullptr;
}

void DataLoader::start_epoch(int64_t epoch, int64_t skip_batches, SrcLoc loc) {
    XG_CHECK(epoch >= 0, loc, "DataLoader::start_epoch: epoch must be >= 0, got " << epoch);
    XG_CHECK(skip_batches >= 0 && skip_batches <= num_batches_, loc,
             "DataLoader::start_epoch: skip_batches = " << skip_batches << " is outside [0, " << num_batches_
                                                        << "] (the batches in an epoch)");
    stop_worker();  // an epoch in progress is abandoned; its prefetched batches are dropped
    epoch_ = epoch;
    order_ = epoch_order(epoch);
    consumed_ = skip_batches;
    if (options_.prefetch > 0 && skip_batches < num_batches_) worker_ = std::thread(&DataLoader::worker_loop, this, skip_batches);
}

bool DataLoader::next(Batch& out, SrcLoc loc) {
    XG_CHECK(epoch_ >= 0, loc, "DataLoader::next: call start_epoch(epoch) before the first next()");
    if (consumed_ >= num_batches_) return false;
    if (options_.prefetch == 0) {
        out = build_batch(consumed_);
        ++consumed_;
        return true;
    }
    std::unique_lock lock(mutex_);
    queue_not_empty_.wait(lock, [&] { return !queue_.empty() || worker_finished_; });
    if (!queue_.empty()) {
        out = std::move(queue_.front());
        queue_.pop_front();
        queue_not_full_.notify_one();
        ++consumed_;
        return true;
    }
    // The worker finished without the batch we wait for: it failed building it.
    XG_CHECK(worker_error_ != nullptr, loc,
             "DataLoader::next: the prefetch thread ended before batch " << consumed_ << " (internal error)");
    std::rethrow_exception(worker_error_);
}

}  // namespace xg::vit::data
