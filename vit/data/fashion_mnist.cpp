// Fashion-MNIST from Debian's dataset-fashion-mnist: the four IDX files, read and checked
// against each other (see fashion_mnist.h and docs/data.md).
#include "vit/data/fashion_mnist.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "core/shape.h"
#include "vit/data/idx.h"

namespace xg::vit::data {

namespace {

constexpr int64_t kPixels = FashionMNIST::kHeight * FashionMNIST::kWidth;

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// The file's path, or an error that says how to get it: a learner's first run should end with
// the one command that fixes it, not with "No such file or directory".
std::string require_file(const std::string& root, const std::string& name, const SrcLoc& loc) {
    const std::string path = root + "/" + name;
    XG_CHECK(file_exists(path), loc,
             "FashionMNIST: " << path << " does not exist; install the dataset with "
                              << "`sudo apt-get install dataset-fashion-mnist` (it goes to "
                              << "/usr/share/datasets/fashion-mnist), or point XGRAD_FASHION_MNIST at a "
                              << "directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz");
    return path;
}

}  // namespace

std::string default_fashion_mnist_dir() {
    const char* env = std::getenv("XGRAD_FASHION_MNIST");
    if (env != nullptr && env[0] != '\0') return env;
    return "/usr/share/datasets/fashion-mnist";
}

FashionMNIST::FashionMNIST(const std::string& root, bool train, SrcLoc loc) {
    const std::string prefix = train ? "train" : "t10k";
    const std::string images_path = require_file(root, prefix + "-images-idx3-ubyte.gz", loc);
    const std::string labels_path = require_file(root, prefix + "-labels-idx1-ubyte.gz", loc);
    IdxArray images = read_idx_gz(images_path, loc);
    IdxArray labels = read_idx_gz(labels_path, loc);

    // The IDX reader checked each file against itself; here they are checked against what
    // Fashion-MNIST is, and against each other.
    XG_CHECK(images.dims.size() == 3 && images.dims[1] == kHeight && images.dims[2] == kWidth, loc,
             "FashionMNIST: " << images_path << ": images have dims " << shape_str(images.dims)
                              << ", expected [N, 28, 28]");
    XG_CHECK(labels.dims.size() == 1, loc,
             "FashionMNIST: " << labels_path << ": labels have dims " << shape_str(labels.dims) << ", expected [N]");
    XG_CHECK(images.dims[0] == labels.dims[0], loc,
             "FashionMNIST: " << images.dims[0] << " images in " << images_path << " but " << labels.dims[0]
                              << " labels in " << labels_path);
    *this = FashionMNIST(std::move(images.data), std::move(labels.data), loc);
}

FashionMNIST::FashionMNIST(std::vector<uint8_t> images, std::vector<uint8_t> labels, SrcLoc loc) {
    const auto n = static_cast<int64_t>(labels.size());
    XG_CHECK(static_cast<int64_t>(images.size()) == n * kPixels, loc,
             "FashionMNIST: " << images.size() << " pixel bytes do not make " << n << " images of 28 x 28 (" << n * kPixels
                              << " bytes)");
    // A label outside 0..9 would index past the 10 logits in cross_entropy much later, far from
    // its cause; it is caught here, naming the example.
    auto bad = std::find_if(labels.begin(), labels.end(), [](uint8_t l) { return l >= kNumClasses; });
    XG_CHECK(bad == labels.end(), loc,
             "FashionMNIST: label " << int{*bad} << " of example " << (bad - labels.begin())
                                    << " is not a class (0..9)");
    images_ = std::make_shared<const std::vector<uint8_t>>(std::move(images));
    labels_ = std::make_shared<const std::vector<uint8_t>>(std::move(labels));
    size_ = n;
}

const uint8_t* FashionMNIST::image(int64_t i, SrcLoc loc) const {
    XG_CHECK(i >= 0 && i < size_, loc,
             "FashionMNIST::image: index " << i << " is out of range for " << size_ << " examples");
    return images_->data() + i * kPixels;
}

int64_t FashionMNIST::label(int64_t i, SrcLoc loc) const {
    XG_CHECK(i >= 0 && i < size_, loc,
             "FashionMNIST::label: index " << i << " is out of range for " << size_ << " examples");
    return (*labels_)[static_cast<size_t>(i)];
}

FashionMNIST FashionMNIST::subset(int64_t n, SrcLoc loc) const {
    XG_CHECK(n >= 0, loc, "FashionMNIST::subset: n = " << n << " is negative");
    FashionMNIST out = *this;
    out.size_ = std::clamp<int64_t>(n, 0, size_);
    return out;
}

}  // namespace xg::vit::data
