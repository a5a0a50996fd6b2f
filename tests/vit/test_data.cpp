// vit/data: the IDX reader (valid files, raw and gzip, and every corrupt case with its message),
// Fashion-MNIST (small generated copies, and the real files when dataset-fashion-mnist is
// installed), and the DataLoader (shapes, determinism, prefetch, resume, augmentation,
// normalization, resizing).
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "nn/interpolate.h"
#include "vit/data/data.h"
#include "xgrad.h"

namespace data = xg::vit::data;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using xg::Tensor;

namespace {

// ---- helpers ----------------------------------------------------------------------------------

// A fresh directory under /tmp, removed with everything in it when the test ends.
struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("xgrad_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(path);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

void write_file(const std::string& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

// One gzip member holding `repeat` copies of `bytes`, compressed with zlib's deflate (streamed,
// so a large output such as a zip bomb never exists in memory).
Bytes gzip(const Bytes& bytes, int repeat = 1) {
    z_stream zs{};
    REQUIRE(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    Bytes out;
    std::vector<uint8_t> chunk(64 * 1024);
    for (int r = 0; r < repeat; ++r) {
        zs.next_in = const_cast<Bytef*>(bytes.data());
        zs.avail_in = static_cast<uInt>(bytes.size());
        const int flush = r + 1 == repeat ? Z_FINISH : Z_NO_FLUSH;
        int rc = Z_OK;
        do {
            zs.next_out = chunk.data();
            zs.avail_out = static_cast<uInt>(chunk.size());
            rc = deflate(&zs, flush);
            REQUIRE(rc != Z_STREAM_ERROR);
            out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - zs.avail_out));
        } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    }
    deflateEnd(&zs);
    return out;
}

// The message of the xg::Error that f throws ("" and a failed check if it throws none).
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const xg::Error& e) {
        return e.what();
    }
    FAIL_CHECK("no xg::Error was thrown");
    return "";
}

#define CHECK_CONTAINS(text, part)                                                  \
    do {                                                                            \
        const std::string check_text_ = (text);                                     \
        INFO("message: " << check_text_);                                           \
        CHECK(check_text_.find(part) != std::string::npos);                         \
    } while (0)

Bytes concat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

data::IdxArray make_array(std::vector<int64_t> dims) {
    data::IdxArray a;
    a.dims = std::move(dims);
    int64_t n = 1;
    for (int64_t d : a.dims) n *= d;
    for (int64_t i = 0; i < n; ++i) a.data.push_back(static_cast<uint8_t>(i * 37 + 11));
    return a;
}

// An IDX header with arbitrary bytes: 00 00 type nd, then the dims, then `payload` bytes.
Bytes idx_header(uint8_t type, std::vector<uint32_t> dims, size_t payload) {
    Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
    for (uint32_t d : dims)
        for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(d >> (8 * i)));
    b.resize(b.size() + payload, 0x55);
    return b;
}

// A small synthetic dataset: example i has pixel p = (7 i + p) mod 256 (so pixel 0 tells the
// example apart for i < 256) and label i mod 10.
data::FashionMNIST synthetic(int64_t n) {
    Bytes images, labels;
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t p = 0; p < 28 * 28; ++p) images.push_back(static_cast<uint8_t>((7 * i + p) % 256));
        labels.push_back(static_cast<uint8_t>(i % 10));
    }
    return data::FashionMNIST(images, labels);
}

float normalized(uint8_t v) {
    return static_cast<float>((v / 255.0 - data::FashionMNIST::kMean) / data::FashionMNIST::kStd);
}

bool same_batch(const data::Batch& a, const data::Batch& b) {
    if (a.images.shape() != b.images.shape() || a.labels.shape() != b.labels.shape()) return false;
    // Bitwise, so "identical" means identical (memcmp also compares NaNs and -0).
    return std::memcmp(a.images.raw_data(), b.images.raw_data(), static_cast<size_t>(a.images.numel()) * 4) == 0 &&
           std::memcmp(a.labels.raw_data(), b.labels.raw_data(), static_cast<size_t>(a.labels.numel()) * 8) == 0;
}

std::vector<data::Batch> epoch_batches(data::DataLoader& loader, int64_t epoch, int64_t skip = 0) {
    std::vector<data::Batch> batches;
    loader.start_epoch(epoch, skip);
    for (data::Batch b; loader.next(b);) batches.push_back(b);
    return batches;
}

bool same_batches(const std::vector<data::Batch>& a, const std::vector<data::Batch>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!same_batch(a[i], b[i])) return false;
    return true;
}

// Which example an unaugmented image of synthetic() is: its pixel 0 is normalized(7 i mod 256).
int64_t example_of(const float* image) {
    for (int64_t i = 0; i < 256; ++i)
        if (image[0] == normalized(static_cast<uint8_t>(7 * i % 256))) return i;
    return -1;
}

}  // namespace

// ---- IDX ----------------------------------------------------------------------------------------

TEST_CASE("data: IDX arrays round trip through raw and gzip files") {
    TempDir dir;
    for (const std::vector<int64_t>& dims : {std::vector<int64_t>{5}, {3, 4, 5}, {2, 28, 28}, {1, 1, 1, 1}}) {
        CAPTURE(xg::shape_str(dims));
        const data::IdxArray a = make_array(dims);
        const Bytes raw = data::serialize_idx(a);
        CHECK(raw.size() == 4 + 4 * dims.size() + a.data.size());
        CHECK(raw[2] == 0x08);
        CHECK(raw[3] == dims.size());

        const data::IdxArray parsed = data::parse_idx(raw.data(), raw.size(), "memory");
        CHECK(parsed.dims == a.dims);
        CHECK(parsed.data == a.data);

        write_file(dir.file("a.idx"), raw);
        write_file(dir.file("a.idx.gz"), gzip(raw));
        for (const char* name : {"a.idx", "a.idx.gz"}) {
            const data::IdxArray read = data::read_idx_gz(dir.file(name));
            CHECK(read.dims == a.dims);
            CHECK(read.data == a.data);
        }
    }
    // `gzip a b` writes two members one after the other; gunzip (and we) read their concatenation.
    const Bytes raw = data::serialize_idx(make_array({4, 6}));
    const Bytes first(raw.begin(), raw.begin() + 7), second(raw.begin() + 7, raw.end());
    write_file(dir.file("two_members.gz"), concat(gzip(first), gzip(second)));
    CHECK(data::read_idx_gz(dir.file("two_members.gz")).data == make_array({4, 6}).data);
}

TEST_CASE("data: corrupt IDX headers are errors that name the file and the problem") {
    auto parse = [](const Bytes& b) { return error_of([&] { data::parse_idx(b.data(), b.size(), "bad.idx"); }); };

    const std::string empty = parse({});
    CHECK_CONTAINS(empty, "parse_idx: bad.idx: the file is empty");
    CHECK_CONTAINS(empty, "test_data.cpp:");  // the caller's line
    CHECK_CONTAINS(parse({0, 0, 8}), "the file is 3 bytes long, shorter than the 4-byte magic number");
    CHECK_CONTAINS(parse({1, 2, 8, 3, 0, 0, 0, 1}), "bad magic number 0x01020803");
    CHECK_CONTAINS(parse({0x1f, 0x8b, 8, 0, 1, 2}), "this is gzip data: use read_idx_gz");
    CHECK_CONTAINS(parse({3, 8, 0, 0, 0, 0, 0, 1}), "the bytes look reversed");
    CHECK_CONTAINS(parse(idx_header(0x0D, {2}, 8)), "element type float32 is not supported");
    CHECK_CONTAINS(parse(idx_header(0x42, {2}, 2)), "unknown element type 0x42");
    CHECK_CONTAINS(parse(idx_header(0x08, {}, 0)), "magic number 0x00000800 declares 0 dimensions");
    CHECK_CONTAINS(parse(idx_header(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1)), "declares 9 dimensions (at most 8");
    Bytes cut = idx_header(0x08, {60000, 28, 28}, 0);
    cut.resize(10);
    CHECK_CONTAINS(parse(cut), "the header is truncated: 3 dimensions need 16 header bytes, the file has 10");
    CHECK_CONTAINS(parse(idx_header(0x08, {3, 0, 5}, 0)), "dimension 1 of [3, 0, 5] is 0");
    // Dims whose product wraps a 64-bit integer (2^32 - 1 cubed) or just exceeds the cap.
    CHECK_CONTAINS(parse(idx_header(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, 4)),
                   "dims [4294967295, 4294967295, 4294967295] describe more than 268435456 bytes");
    CHECK_CONTAINS(parse(idx_header(0x08, {65536, 4097}, 4)), "describe more than 268435456 bytes");
    CHECK_CONTAINS(parse(idx_header(0x08, {10, 28, 28}, 7839)),
                   "dims [10, 28, 28] need 7840 bytes of data but only 7839 follow the header: the file is truncated");
    CHECK_CONTAINS(parse(idx_header(0x08, {10, 28, 28}, 7841)),
                   "dims [10, 28, 28] need 7840 bytes of data but 7841 follow the header: 1 trailing bytes");
}

TEST_CASE("data: gzip problems are errors (truncated, garbage, trailing bytes, bad CRC, zip bomb)") {
    TempDir dir;
    const Bytes raw = data::serialize_idx(make_array({50, 28, 28}));
    const Bytes gz = gzip(raw);
    auto read = [&](const std::string& name, const Bytes& bytes) {
        write_file(dir.file(name), bytes);
        return error_of([&] { data::read_idx_gz(dir.file(name)); });
    };

    const std::string truncated = read("truncated.gz", Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
    CHECK_CONTAINS(truncated, "read_idx_gz: " + dir.file("truncated.gz") + ": the gzip stream is truncated");
    // Cut inside the 8-byte trailer (CRC-32 and length): the data is complete, the stream is not.
    CHECK_CONTAINS(read("no_trailer.gz", Bytes(gz.begin(), gz.end() - 3)), "the gzip stream is truncated");
    Bytes garbage = {0x1f, 0x8b};
    for (int i = 0; i < 100; ++i) garbage.push_back(static_cast<uint8_t>(i * 91 + 7));
    CHECK_CONTAINS(read("garbage.gz", garbage), "corrupt gzip data (zlib: ");
    Bytes bad_crc = gz;
    bad_crc[bad_crc.size() - 6] ^= 0xFF;  // a byte of the CRC-32
    CHECK_CONTAINS(read("bad_crc.gz", bad_crc), "corrupt gzip data (zlib: incorrect data check");
    CHECK_CONTAINS(read("trailing.gz", concat(gz, {'x', 'y', 'z'})), "3 bytes of trailing garbage after the gzip stream");
    CHECK_CONTAINS(read("empty.gz", {}), "the file is empty");
    CHECK_CONTAINS(error_of([&] { data::read_idx_gz(dir.file("missing.gz")); }),
                   "read_idx_gz: cannot open " + dir.file("missing.gz") + ": No such file or directory");
    // A valid gzip stream around a corrupt IDX file: the IDX check still runs, naming the file.
    CHECK_CONTAINS(read("short_idx.gz", gzip(Bytes(raw.begin(), raw.end() - 1))), "the file is truncated");

    // A zip bomb: 300 MiB of zeros in about 300 KB. Inflating stops at the 256 MiB cap.
    const Bytes mib(size_t{1} << 20, 0);
    const Bytes bomb = gzip(mib, 300);
    CHECK(bomb.size() < 1'000'000);
    CHECK_CONTAINS(read("bomb.gz", bomb), "decompresses to more than 268435456 bytes, the limit");
    // The cap is a parameter of gunzip (the fuzzer uses a small one).
    CHECK_CONTAINS(error_of([&] { data::gunzip(gz.data(), gz.size(), "memory", 1000); }),
                   "gunzip: memory: decompresses to more than 1000 bytes");
    CHECK(data::gunzip(gz.data(), gz.size(), "memory", raw.size()) == raw);  // exactly at the cap is fine
}

// ---- FashionMNIST --------------------------------------------------------------------------------

TEST_CASE("data: FashionMNIST checks its files against each other") {
    TempDir dir;
    auto write_idx = [&](const std::string& name, const data::IdxArray& a) {
        write_file(dir.file(name), gzip(data::serialize_idx(a)));
    };
    const std::string root = dir.path.string();

    const std::string missing = error_of([&] { data::FashionMNIST(root, true); });
    CHECK_CONTAINS(missing, root + "/train-images-idx3-ubyte.gz does not exist");
    CHECK_CONTAINS(missing, "apt-get install dataset-fashion-mnist");

    data::IdxArray images = make_array({6, 28, 28});
    data::IdxArray labels = make_array({6});
    for (size_t i = 0; i < 6; ++i) labels.data[i] = static_cast<uint8_t>(9 - i);
    write_idx("t10k-images-idx3-ubyte.gz", images);
    write_idx("t10k-labels-idx1-ubyte.gz", labels);
    data::FashionMNIST test(root, /*train=*/false);
    CHECK(test.size() == 6);
    CHECK(test.label(0) == 9);
    CHECK(test.label(5) == 4);
    CHECK(std::memcmp(test.image(2), images.data.data() + 2 * 784, 784) == 0);
    CHECK(test.subset(4).size() == 4);
    CHECK(test.subset(100).size() == 6);
    CHECK(test.subset(4).image(3) == test.image(3));  // shares the pixels
    CHECK_CONTAINS(error_of([&] { test.image(6); }), "FashionMNIST::image: index 6 is out of range for 6 examples");
    CHECK_CONTAINS(error_of([&] { test.subset(4).label(4); }), "index 4 is out of range for 4 examples");
    CHECK_CONTAINS(error_of([&] { test.subset(-1); }), "n = -1 is negative");

    write_idx("t10k-labels-idx1-ubyte.gz", make_array({5}));
    CHECK_CONTAINS(error_of([&] { data::FashionMNIST(root, false); }), "FashionMNIST: 6 images in ");
    labels.data[3] = 10;
    write_idx("t10k-labels-idx1-ubyte.gz", labels);
    CHECK_CONTAINS(error_of([&] { data::FashionMNIST(root, false); }), "label 10 of example 3 is not a class (0..9)");
    write_idx("t10k-images-idx3-ubyte.gz", make_array({6, 784}));
    CHECK_CONTAINS(error_of([&] { data::FashionMNIST(root, false); }), "images have dims [6, 784], expected [N, 28, 28]");
    write_idx("t10k-images-idx3-ubyte.gz", images);
    write_idx("t10k-labels-idx1-ubyte.gz", make_array({6, 1}));
    CHECK_CONTAINS(error_of([&] { data::FashionMNIST(root, false); }), "labels have dims [6, 1], expected [N]");
    CHECK_CONTAINS(error_of([&] { data::FashionMNIST(Bytes(100), Bytes(1)); }),
                   "100 pixel bytes do not make 1 images of 28 x 28");
}

TEST_CASE("data: default_fashion_mnist_dir honours XGRAD_FASHION_MNIST") {
    const char* old = std::getenv("XGRAD_FASHION_MNIST");
    const std::string saved = old ? old : "";
    ::unsetenv("XGRAD_FASHION_MNIST");
    CHECK(data::default_fashion_mnist_dir() == "/usr/share/datasets/fashion-mnist");
    ::setenv("XGRAD_FASHION_MNIST", "/tmp/elsewhere", 1);
    CHECK(data::default_fashion_mnist_dir() == "/tmp/elsewhere");
    if (old) ::setenv("XGRAD_FASHION_MNIST", saved.c_str(), 1); else ::unsetenv("XGRAD_FASHION_MNIST");
}

TEST_CASE("data: the real Fashion-MNIST loads (60000 and 10000 examples)") {
    const std::string root = data::default_fashion_mnist_dir();
    if (!fs::exists(root + "/train-images-idx3-ubyte.gz")) {
        MESSAGE("skipped: " << root << " is missing (sudo apt-get install dataset-fashion-mnist)");
        return;
    }
    data::FashionMNIST train(root, true), test(root, false);
    CHECK(train.size() == 60000);
    CHECK(test.size() == 10000);
    CHECK(train.label(0) == 9);
    CHECK(std::string(data::FashionMNIST::kClassNames[static_cast<size_t>(train.label(0))]) == "Ankle boot");
    CHECK(train.label(1) == 0);  // T-shirt/top
    CHECK(test.label(0) == 9);
    CHECK(test.label(1) == 2);  // Pullover
    // Every class appears 6000 times in train, 1000 in test: the dataset is balanced.
    std::vector<int64_t> counts(10, 0);
    for (int64_t i = 0; i < train.size(); ++i) ++counts[static_cast<size_t>(train.label(i))];
    CHECK(counts == std::vector<int64_t>(10, 6000));
}

TEST_CASE("data: the real training set's pixel mean and std match kMean and kStd") {
    const std::string root = data::default_fashion_mnist_dir();
    if (!fs::exists(root + "/train-images-idx3-ubyte.gz")) {
        MESSAGE("skipped: " << root << " is missing (sudo apt-get install dataset-fashion-mnist)");
        return;
    }
    data::FashionMNIST train(root, true);
    // Exact integer sums (no float accumulation error over 47 million pixels).
    uint64_t sum = 0, sum_sq = 0;
    const uint8_t* px = train.image(0);
    const int64_t n = train.size() * 28 * 28;
    for (int64_t i = 0; i < n; ++i) {
        sum += px[i];
        sum_sq += uint64_t{px[i]} * px[i];
    }
    const double mean = static_cast<double>(sum) / static_cast<double>(n) / 255.0;
    const double var = static_cast<double>(sum_sq) / static_cast<double>(n) / (255.0 * 255.0) - mean * mean;
    const double stdev = std::sqrt(var);  // population std, as computed for transforms.Normalize
    MESSAGE("Fashion-MNIST train pixels /255: mean " << mean << ", std " << stdev);
    CHECK(mean == doctest::Approx(0.286041).epsilon(1e-5));
    CHECK(stdev == doctest::Approx(0.353024).epsilon(1e-5));
    CHECK(std::abs(mean - data::FashionMNIST::kMean) < 5e-5);
    CHECK(std::abs(stdev - data::FashionMNIST::kStd) < 5e-5);
}

// ---- DataLoader --------------------------------------------------------------------------------

TEST_CASE("data: loader batch shapes, labels and drop_last") {
    const data::FashionMNIST ds = synthetic(10);
    data::DataLoader loader(ds, {.batch_size = 4, .shuffle = false});
    CHECK(loader.num_batches() == 3);
    loader.start_epoch(0);
    std::vector<int64_t> sizes, labels;
    for (data::Batch b; loader.next(b);) {
        CHECK(b.images.dtype() == xg::kFloat32);
        CHECK(b.labels.dtype() == xg::kInt64);
        CHECK(b.images.shape() == xg::Shape{b.labels.numel(), 1, 28, 28});
        sizes.push_back(b.labels.numel());
        for (int64_t l : b.labels.to_vector<int64_t>()) labels.push_back(l);
    }
    CHECK(sizes == std::vector<int64_t>{4, 4, 2});
    CHECK(labels == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(loader.batches_consumed() == 3);
    data::Batch extra;
    CHECK_FALSE(loader.next(extra));  // stays at the end
    CHECK_FALSE(extra.images.defined());

    data::DataLoader dropping(ds, {.batch_size = 4, .drop_last = true});
    CHECK(dropping.num_batches() == 2);
    CHECK(epoch_batches(dropping, 0).size() == 2);
    data::DataLoader exact(synthetic(8), {.batch_size = 4, .drop_last = true});
    CHECK(exact.num_batches() == 2);
    data::DataLoader one(ds, {.batch_size = 100});
    CHECK(one.num_batches() == 1);
    CHECK(epoch_batches(one, 0)[0].labels.numel() == 10);
    data::DataLoader huge(ds, {.batch_size = INT64_MAX});
    CHECK(huge.num_batches() == 1);
}

TEST_CASE("data: each epoch visits every example once, in an order set by seed and epoch only") {
    const data::FashionMNIST ds = synthetic(50);
    data::DataLoader loader(ds, {.batch_size = 8, .seed = 7});
    std::vector<int64_t> order = loader.epoch_order(3);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 50; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
    CHECK(order != sorted);

    // The batches follow epoch_order: image j of the epoch is example order[j].
    std::vector<data::Batch> batches = epoch_batches(loader, 3);
    int64_t j = 0;
    for (const data::Batch& b : batches)
        for (int64_t k = 0; k < b.labels.numel(); ++k, ++j) {
            CHECK(example_of(b.images.data_ptr<float>() + k * 784) == order[static_cast<size_t>(j)]);
            CHECK(b.labels.data_ptr<int64_t>()[k] == order[static_cast<size_t>(j)] % 10);
        }
    CHECK(j == 50);

    // Neither xg::manual_seed nor the draws of the model (xg::randn) change the order ...
    xg::manual_seed(1);
    std::vector<int64_t> a = loader.epoch_order(3);
    xg::manual_seed(2);
    (void)xg::randn({100});
    CHECK(loader.epoch_order(3) == a);
    CHECK(a == order);
    // ... and the loader draws nothing from xgrad's generator: model init is not disturbed.
    xg::manual_seed(5);
    const std::vector<float> expected = xg::randn({16}).to_vector<float>();
    xg::manual_seed(5);
    data::DataLoader augmenting(ds, {.batch_size = 8, .augment = true});
    epoch_batches(augmenting, 0);
    CHECK(xg::randn({16}).to_vector<float>() == expected);

    CHECK(data::DataLoader(ds, {.seed = 8}).epoch_order(3) != order);
    CHECK(data::DataLoader(ds, {.seed = 7}).epoch_order(4) != order);
    CHECK(data::DataLoader(ds, {.shuffle = false}).epoch_order(3) == sorted);
}

TEST_CASE("data: the same seed and epoch give identical batches, other epochs differ") {
    const data::FashionMNIST ds = synthetic(40);
    for (bool augment : {false, true}) {
        CAPTURE(augment);
        data::DataLoader a(ds, {.batch_size = 6, .seed = 3, .augment = augment});
        data::DataLoader b(ds, {.batch_size = 6, .seed = 3, .augment = augment});
        const std::vector<data::Batch> a1 = epoch_batches(a, 1);
        CHECK(same_batches(a1, epoch_batches(b, 1)));
        CHECK(same_batches(a1, epoch_batches(a, 1)));  // again, after other use
        CHECK_FALSE(same_batches(a1, epoch_batches(a, 2)));
        data::DataLoader c(ds, {.batch_size = 6, .seed = 4, .augment = augment});
        CHECK_FALSE(same_batches(a1, epoch_batches(c, 1)));
    }
}

TEST_CASE("data: prefetch on and off give identical batches") {
    const data::FashionMNIST ds = synthetic(45);
    for (bool augment : {false, true}) {
        CAPTURE(augment);
        data::DataLoader sync(ds, {.batch_size = 4, .seed = 9, .augment = augment, .prefetch = 0});
        const std::vector<data::Batch> expected = epoch_batches(sync, 2);
        CHECK(expected.size() == 12);
        for (int64_t prefetch : {1, 2, 5, 100}) {
            CAPTURE(prefetch);
            data::DataLoader threaded(ds, {.batch_size = 4, .seed = 9, .augment = augment, .prefetch = prefetch});
            CHECK(same_batches(epoch_batches(threaded, 2), expected));
        }
    }
}

TEST_CASE("data: start_epoch with skip_batches resumes mid-epoch identically") {
    const data::FashionMNIST ds = synthetic(30);
    const data::DataLoaderOptions options{.batch_size = 4, .seed = 11, .augment = true};
    data::DataLoader loader(ds, options);
    const std::vector<data::Batch> full = epoch_batches(loader, 5);
    CHECK(full.size() == 8);
    for (int64_t skip : {0, 1, 3, 7, 8}) {
        CAPTURE(skip);
        data::DataLoader resumed(ds, options);
        const std::vector<data::Batch> rest = epoch_batches(resumed, 5, skip);
        CHECK(same_batches(rest, std::vector<data::Batch>(full.begin() + skip, full.end())));
        CHECK(resumed.epoch() == 5);
        CHECK(resumed.batches_consumed() == 8);
    }

    // A checkpoint in the middle of an epoch: save {epoch, batches_consumed}, resume from it in a
    // new loader; abandon an epoch mid-way (prefetched batches in flight) and start another.
    data::Batch b;
    loader.start_epoch(5);
    for (int i = 0; i < 3; ++i) REQUIRE(loader.next(b));
    CHECK(loader.epoch() == 5);
    CHECK(loader.batches_consumed() == 3);
    data::DataLoader after_crash(ds, options);
    after_crash.start_epoch(loader.epoch(), loader.batches_consumed());
    REQUIRE(after_crash.next(b));
    CHECK(same_batch(b, full[3]));
    loader.start_epoch(5, 6);  // the worker of the first start_epoch is stopped and joined
    REQUIRE(loader.next(b));
    CHECK(same_batch(b, full[6]));
}

TEST_CASE("data: augmentation crops with zero padding and flips, deterministically") {
    const data::FashionMNIST ds = synthetic(64);
    const int64_t pad = 2;
    data::DataLoader plain(ds, {.batch_size = 16, .shuffle = false});
    data::DataLoader augmented(ds, {.batch_size = 16, .shuffle = false, .augment = true, .crop_padding = pad});
    const std::vector<data::Batch> originals = epoch_batches(plain, 0);
    const std::vector<data::Batch> crops = epoch_batches(augmented, 0);
    REQUIRE(crops.size() == originals.size());

    // Each augmented image must equal exactly one of the (2 pad + 1)^2 * 2 crops-and-flips of
    // its original, computed here the slow, obvious way.
    std::set<std::tuple<int64_t, int64_t, bool>> seen;
    int64_t identical = 0;
    for (size_t b = 0; b < crops.size(); ++b) {
        for (int64_t k = 0; k < 16; ++k) {
            const float* got = crops[b].images.data_ptr<float>() + k * 784;
            const uint8_t* src = ds.image(static_cast<int64_t>(b) * 16 + k);
            bool matched = false;
            for (int64_t top = 0; top <= 2 * pad && !matched; ++top)
                for (int64_t left = 0; left <= 2 * pad && !matched; ++left)
                    for (bool flip : {false, true}) {
                        bool same = true;
                        for (int64_t y = 0; y < 28 && same; ++y)
                            for (int64_t x = 0; x < 28 && same; ++x) {
                                const int64_t sy = y + top - pad, sx = (flip ? 27 - x : x) + left - pad;
                                const uint8_t v = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? src[sy * 28 + sx] : 0;
                                same = got[y * 28 + x] == normalized(v);
                            }
                        if (same) {
                            matched = true;
                            seen.insert({top, left, flip});
                            if (top == pad && left == pad && !flip) ++identical;
                            break;
                        }
                    }
            CHECK(matched);
        }
    }
    MESSAGE(seen.size() << " of 50 (top, left, flip) combinations seen in 64 images, " << identical << " unchanged");
    CHECK(seen.size() >= 20);  // the draws spread over the choices
    CHECK(identical < 16);

    // Padding 0: only flips.
    data::DataLoader flips(ds, {.batch_size = 64, .shuffle = false, .augment = true, .crop_padding = 0});
    const std::vector<data::Batch> flipped = epoch_batches(flips, 0);
    int64_t n_flipped = 0;
    for (int64_t k = 0; k < 64; ++k) {
        const float* got = flipped[0].images.data_ptr<float>() + k * 784;
        const uint8_t* src = ds.image(k);
        const bool as_is = got[0] == normalized(src[0]) && got[27] == normalized(src[27]);
        const bool mirrored = got[0] == normalized(src[27]) && got[27] == normalized(src[0]);
        CHECK((as_is || mirrored));
        n_flipped += mirrored ? 1 : 0;
    }
    MESSAGE(n_flipped << " of 64 images flipped");
    CHECK(n_flipped > 16);
    CHECK(n_flipped < 48);
}

TEST_CASE("data: normalization is (x / 255 - 0.2860) / 0.3530 in float32") {
    Bytes images(3 * 784), labels = {0, 1, 2};
    for (size_t p = 0; p < 784; ++p) {
        images[p] = 0;
        images[784 + p] = 255;
        images[2 * 784 + p] = static_cast<uint8_t>(p % 256);
    }
    data::DataLoader loader(data::FashionMNIST(images, labels), {.batch_size = 3, .shuffle = false});
    loader.start_epoch(0);
    data::Batch b;
    REQUIRE(loader.next(b));
    const std::vector<float> v = b.images.to_vector<float>();
    CHECK(v[0] == doctest::Approx(-0.2860 / 0.3530).epsilon(1e-7));         // -0.810198...
    CHECK(v[784] == doctest::Approx((1 - 0.2860) / 0.3530).epsilon(1e-7));  // 2.022662...
    for (size_t p = 0; p < 784; ++p) {
        const double expected = (static_cast<double>(p % 256) / 255.0 - 0.2860) / 0.3530;
        CHECK(std::abs(v[2 * 784 + p] - expected) <= 1e-6);
    }
    // The batch's statistics on real images are near 0 and 1 (the point of normalizing); the
    // test set, smaller and quicker to read, has nearly the training set's statistics.
    const std::string root = data::default_fashion_mnist_dir();
    if (fs::exists(root + "/t10k-images-idx3-ubyte.gz")) {
        data::DataLoader real(data::FashionMNIST(root, false).subset(2048), {.batch_size = 2048});
        real.start_epoch(0);
        REQUIRE(real.next(b));
        MESSAGE("2048 real images normalized: mean " << b.images.mean().item() << ", std " << b.images.std().item());
        CHECK(std::abs(b.images.mean().item()) < 0.05);
        CHECK(std::abs(b.images.std().item() - 1.0) < 0.05);
    }
}

TEST_CASE("data: image_size resizes like F::interpolate bilinear with align_corners=False") {
    namespace F = xg::nn::functional;
    const data::FashionMNIST ds = synthetic(5);
    data::DataLoader small(ds, {.batch_size = 5, .shuffle = false});
    data::DataLoader big(ds, {.batch_size = 5, .shuffle = false, .image_size = 42});
    data::DataLoader tiny(ds, {.batch_size = 5, .shuffle = false, .image_size = 14});
    const Tensor x = epoch_batches(small, 0)[0].images;
    for (data::DataLoader* loader : {&big, &tiny}) {
        const int64_t s = loader->options().image_size;
        CAPTURE(s);
        const Tensor got = epoch_batches(*loader, 0)[0].images;
        CHECK(got.shape() == xg::Shape{5, 1, s, s});
        const Tensor expected = F::interpolate(x, {.size = F::IntPair(s, s), .mode = "bilinear", .align_corners = false});
        const double err = (got - expected).abs().max().item();
        MESSAGE("image_size " << s << ": max |loader - F::interpolate| = " << err);
        CHECK(err <= 1e-6);  // both compute the weights in float as PyTorch does; F::interpolate sums in double
    }
}

TEST_CASE("data: loader arguments are checked") {
    const data::FashionMNIST ds = synthetic(10);
    CHECK_CONTAINS(error_of([&] { data::DataLoader(ds, {.batch_size = 0}); }), "DataLoader: batch_size must be >= 1, got 0");
    CHECK_CONTAINS(error_of([&] { data::DataLoader(ds, {.prefetch = -1}); }), "prefetch must be >= 0");
    CHECK_CONTAINS(error_of([&] { data::DataLoader(ds, {.crop_padding = 29}); }), "crop_padding must be in [0, 28], got 29");
    CHECK_CONTAINS(error_of([&] { data::DataLoader(ds, {.image_size = 0}); }), "image_size must be in [1, 1024], got 0");
    data::DataLoader loader(ds, {.batch_size = 4});
    CHECK(loader.epoch() == -1);
    data::Batch b;
    CHECK_CONTAINS(error_of([&] { loader.next(b); }), "DataLoader::next: call start_epoch(epoch) before the first next()");
    CHECK_CONTAINS(error_of([&] { loader.start_epoch(-1); }), "epoch must be >= 0, got -1");
    CHECK_CONTAINS(error_of([&] { loader.start_epoch(0, 4); }), "skip_batches = 4 is outside [0, 3]");
    // An empty dataset has no batches, and that is not an error.
    data::DataLoader empty(ds.subset(0), {});
    CHECK(empty.num_batches() == 0);
    CHECK(epoch_batches(empty, 0).empty());
}
