#pragma once
// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70000 grayscale 28 x 28 images of clothing in
// 10 classes, 60000 for training and 10000 for testing, as IDX files. Debian ships them:
//   sudo apt-get install dataset-fashion-mnist      # -> /usr/share/datasets/fashion-mnist/
//
//   // PyTorch: torchvision.datasets.FashionMNIST(root, train=True)
//   xg::vit::data::FashionMNIST train(xg::vit::data::default_fashion_mnist_dir(), /*train=*/true);
//   train.size();                 // 60000
//   train.label(0);               // 9, FashionMNIST::kClassNames[9] == "Ankle boot"
//   const uint8_t* px = train.image(0);   // 28 * 28 bytes, 0 (black) .. 255 (white), row-major
//
// The pixels are kept as the bytes of the file (47 MB for the training set, not 188 MB of
// floats); the DataLoader turns them into normalized float tensors one batch at a time.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace xg::vit::data {

// "/usr/share/datasets/fashion-mnist", where dataset-fashion-mnist installs the files; the
// environment variable XGRAD_FASHION_MNIST, if set and not empty, overrides it.
std::string default_fashion_mnist_dir();

class FashionMNIST {
  public:
    // Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from `root`. Errors: a missing file
    // (the message names the path and the package to install), a corrupt file, images that are
    // not [N, 28, 28], labels that are not [N] or not in 0..9, counts that disagree.
    FashionMNIST(const std::string& root, bool train, SrcLoc loc = SrcLoc::current());

    int64_t size() const { return size_; }
    // Image i: kHeight * kWidth bytes, row-major. i must be in [0, size()).
    const uint8_t* image(int64_t i, SrcLoc loc = SrcLoc::current()) const;
    // Label i, in 0..9: an index into kClassNames.
    int64_t label(int64_t i, SrcLoc loc = SrcLoc::current()) const;

    static constexpr int64_t kHeight = 28, kWidth = 28;
    static constexpr int64_t kNumClasses = 10;
    static constexpr std::array<const char*, 10> kClassNames = {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

    // The training set's pixel mean and standard deviation after scaling to [0, 1] (x / 255),
    // over all 60000 * 784 pixels (population std): measured 0.286041 and 0.353024 (see
    // docs/data.md and the test "data: the real dataset's mean and std"). The values everybody
    // passes to torchvision's transforms.Normalize((0.2860,), (0.3530,)).
    static constexpr double kMean = 0.2860, kStd = 0.3530;

    // The first n examples (n >= 0, clamped to size()), sharing this dataset's memory: for
    // tests and smoke runs.
    FashionMNIST subset(int64_t n, SrcLoc loc = SrcLoc::current()) const;

    // A dataset from bytes already in memory: `images` holds n * 28 * 28 pixels, `labels` n
    // labels in 0..9 (tests build small ones; the constructor above uses it after reading).
    FashionMNIST(std::vector<uint8_t> images, std::vector<uint8_t> labels, SrcLoc loc = SrcLoc::current());

  private:
    FashionMNIST() = default;
    // shared_ptr: copies and subsets share the pixels; a DataLoader keeps its own copy of the
    // dataset object, so its background thread can never outlive the bytes it reads.
    std::shared_ptr<const std::vector<uint8_t>> images_;
    std::shared_ptr<const std::vector<uint8_t>> labels_;
    int64_t size_ = 0;
};

}  // namespace xg::vit::data
