// safetensors: round trips for every dtype and odd shape, the exact bytes of a small file (so
// the format is pinned), atomic saving, PyTorch interop through committed fixtures, and one
// hand-built corrupt file per check of the parser, each asserting its message.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "xgrad.h"

using xg::Tensor;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("xgrad_st_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
    std::vector<std::string> listing() const {
        std::vector<std::string> names;
        for (const auto& entry : fs::directory_iterator(path)) names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
};

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// The bytes of a safetensors file: 8-byte little-endian header length, header, buffer. The
// length can be given explicitly to build a file whose header lies about it.
std::vector<uint8_t> file_bytes(const std::string& header, const std::vector<uint8_t>& buffer = {},
                                std::optional<uint64_t> header_length = std::nullopt) {
    uint64_t n = header_length.value_or(header.size());
    std::vector<uint8_t> bytes;
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(n >> (8 * i)));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), buffer.begin(), buffer.end());
    return bytes;
}

xg::SafetensorsFile parse(const std::vector<uint8_t>& bytes) {
    return xg::parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
}

// One F32 tensor entry of the header, with raw JSON for each field.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

const std::vector<uint8_t> kFourBytes(4, 0);
const std::vector<uint8_t> kEightBytes(8, 0);

// The tensors both interop fixtures hold (and tests/fixtures/safetensors_interop.py builds).
xg::TensorMap interop_tensors() {
    return {
        {"f32", xg::arange(6).reshape({2, 3})},
        {"f64", xg::tensor({0.5, -1.25, 0.1, 1e-300}, {2, 2}, xg::dtype(xg::kFloat64))},
        {"i64", xg::tensor(std::vector<int64_t>{-3, 0, int64_t{1} << 40}, {3})},
        {"scalar", xg::scalar_tensor(2.5)},
        {"empty", xg::zeros({0, 3})},
    };
}

void check_same(const Tensor& got, const Tensor& expected) {
    CHECK(got.dtype() == expected.dtype());
    CHECK(got.shape() == expected.shape());
    CHECK(values(got) == values(expected));
}

}  // namespace

// ---- round trips ---------------------------------------------------------------------------

TEST_CASE("safetensors: round trip of each dtype through a file") {
    TempDir dir;
    xg::TensorMap tensors = {
        {"weight", xg::tensor(std::vector<double>{1.5, -2.25, 3.0, 0.1, 1e-30, -0.0}, {2, 3})},
        {"double", xg::tensor({0.1, 1e-300, -7.0}, {3}, xg::dtype(xg::kFloat64))},
        {"labels", xg::tensor(std::vector<int64_t>{-1, 0, INT64_MAX, INT64_MIN}, {2, 2})},
    };
    xg::save_safetensors(dir.file("m.safetensors"), tensors);
    xg::SafetensorsFile loaded = xg::load_safetensors(dir.file("m.safetensors"));
    REQUIRE(loaded.tensors.size() == 3);
    for (const auto& [name, t] : tensors) {
        CAPTURE(name);
        const Tensor& got = loaded.tensors.at(name);
        check_same(got, t);
        CHECK(!got.requires_grad());
        CHECK(got.is_contiguous());
    }
    // int64 extremes survive exactly (no trip through double).
    std::vector<int64_t> labels(4);
    std::memcpy(labels.data(), loaded.tensors.at("labels").raw_data(), sizeof(int64_t) * 4);
    CHECK(labels == std::vector<int64_t>{-1, 0, INT64_MAX, INT64_MIN});
    CHECK(loaded.metadata.empty());
}

TEST_CASE("safetensors: 0-d and empty tensors round trip") {
    xg::TensorMap tensors = {
        {"scalar", xg::scalar_tensor(4.5, xg::dtype(xg::kFloat64))},
        {"empty", xg::zeros({0, 3})},
        {"empty_i64", xg::zeros({2, 0}, xg::dtype(xg::kInt64))},
        {"after", xg::tensor({7.0})},
    };
    std::vector<uint8_t> bytes = xg::serialize_safetensors(tensors);
    xg::SafetensorsFile loaded = xg::parse_safetensors(bytes.data(), bytes.size(), "memory");
    REQUIRE(loaded.tensors.size() == 4);
    for (const auto& [name, t] : tensors) {
        CAPTURE(name);
        check_same(loaded.tensors.at(name), t);
    }
    CHECK(loaded.tensors.at("scalar").dim() == 0);
    CHECK(loaded.tensors.at("scalar").item() == 4.5);

    // No tensors at all is a valid file too: "{}" padded to 8 bytes, an empty buffer.
    std::vector<uint8_t> none = xg::serialize_safetensors({});
    CHECK(none == file_bytes("{}      "));
    CHECK(parse(none).tensors.empty());
}

TEST_CASE("safetensors: non-contiguous tensors are written contiguous") {
    Tensor base = xg::arange(6).reshape({2, 3});
    Tensor transposed = base.transpose(0, 1);  // [3, 2], strides (1, 3)
    REQUIRE(!transposed.is_contiguous());
    Tensor sliced = xg::arange(10, xg::dtype(xg::kInt64)).slice(0, 1, 9, 3);  // [1, 4, 7]
    std::vector<uint8_t> bytes = xg::serialize_safetensors({{"t", transposed}, {"s", sliced}});
    xg::SafetensorsFile loaded = xg::parse_safetensors(bytes.data(), bytes.size(), "memory");
    check_same(loaded.tensors.at("t"), transposed);
    CHECK(values(loaded.tensors.at("t")) == std::vector<double>{0, 3, 1, 4, 2, 5});
    CHECK(values(loaded.tensors.at("s")) == std::vector<double>{1, 4, 7});
}

TEST_CASE("safetensors: metadata round trips and grads are not saved") {
    TempDir dir;
    Tensor w = xg::ones({2}, xg::requires_grad());
    (w * 3).sum().backward();
    std::map<std::string, std::string> metadata = {{"format", "pt"}, {"epoch", "3"}, {"note", "ünïcode \"quoted\""}};
    xg::save_safetensors(dir.file("w.safetensors"), {{"w", w}}, metadata);
    xg::SafetensorsFile loaded = xg::load_safetensors(dir.file("w.safetensors"));
    CHECK(loaded.metadata == metadata);
    CHECK(values(loaded.tensors.at("w")) == std::vector<double>{1, 1});
    CHECK(!loaded.tensors.at("w").requires_grad());
    CHECK(!loaded.tensors.at("w").grad().defined());
}

// ---- the exact bytes -------------------------------------------------------------------------

TEST_CASE("safetensors: byte layout of a small file") {
    std::vector<uint8_t> bytes = xg::serialize_safetensors({{"w", xg::tensor({1.0, -2.0})}}, {{"k", "v"}});
    // Keys sorted (nlohmann's object order), compact JSON, padded with spaces to 80 bytes so the
    // buffer starts at offset 88, a multiple of 8.
    const std::string header =
        R"({"__metadata__":{"k":"v"},"w":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}} )";
    REQUIRE(header.size() == 80);
    std::vector<uint8_t> expected = {80, 0, 0, 0, 0, 0, 0, 0};
    expected.insert(expected.end(), header.begin(), header.end());
    for (uint8_t b : {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0}) expected.push_back(b);  // 1.0f, -2.0f
    CHECK(bytes == expected);
}

// ---- saving ----------------------------------------------------------------------------------

TEST_CASE("safetensors: saving is atomic and leaves no temporary files") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    xg::save_safetensors(path, {{"a", xg::tensor({1.0})}});
    xg::save_safetensors(path, {{"a", xg::tensor({2.0})}, {"b", xg::tensor({3.0})}});  // over the old one
    CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});
    CHECK(values(xg::load_safetensors(path).tensors.at("a")) == std::vector<double>{2.0});

    // A save that fails before writing leaves the old file as it was.
    CHECK_THROWS_WITH_AS(xg::save_safetensors(path, {{"a", Tensor()}}), doctest::Contains("tensor \"a\" is undefined"),
                         xg::Error);
    CHECK(xg::load_safetensors(path).tensors.size() == 2);
    CHECK_THROWS_WITH_AS(xg::save_safetensors(path, {{"__metadata__", xg::tensor({1.0})}}),
                         doctest::Contains("reserved"), xg::Error);

    // A directory that does not exist: the error names the path and the reason; nothing is left.
    CHECK_THROWS_WITH_AS(xg::save_safetensors(dir.file("no/such/dir/m.safetensors"), {}),
                         doctest::Contains("No such file or directory"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::save_safetensors(dir.file("no/such/dir/m.safetensors"), {}),
                         doctest::Contains("no/such/dir/m.safetensors"), xg::Error);
    CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});

    // Header strings must be valid UTF-8.
    CHECK_THROWS_WITH_AS(xg::save_safetensors(path, {}, {{"k", "\xff"}}), doctest::Contains("not valid UTF-8"),
                         xg::Error);
}

TEST_CASE("safetensors: loading a missing or unreadable file names the path and the reason") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(xg::load_safetensors(dir.file("absent.safetensors")),
                         doctest::Contains("absent.safetensors: No such file or directory"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::load_safetensors(dir.path.string()), doctest::Contains("is not a regular file"),
                         xg::Error);
    // Errors from the parser name the file too, and the caller's line.
    std::ofstream(dir.file("short.safetensors")) << "abc";
    CHECK_THROWS_WITH_AS(xg::load_safetensors(dir.file("short.safetensors")),
                         doctest::Contains(("load_safetensors: " + dir.file("short.safetensors") + ": file is 3 bytes").c_str()),
                         xg::Error);
    CHECK_THROWS_WITH_AS(xg::load_safetensors(dir.file("short.safetensors")),
                         doctest::Contains("test_safetensors.cpp:"), xg::Error);
}

// ---- PyTorch interop -----------------------------------------------------------------------

// torch_written.safetensors was written by tests/fixtures/safetensors_interop.py with PyTorch
// (by hand, with struct + json: the format is that simple); xgrad_written.safetensors is what
// xgrad writes for the same tensors, and that script loads it back into torch and checks it.
TEST_CASE("safetensors: interop with files written by PyTorch") {
    const std::string dir = std::string(XGRAD_FIXTURES_DIR) + "/interop/";
    xg::SafetensorsFile torch_file = xg::load_safetensors(dir + "torch_written.safetensors");
    xg::TensorMap expected = interop_tensors();
    REQUIRE(torch_file.tensors.size() == expected.size());
    for (const auto& [name, t] : expected) {
        CAPTURE(name);
        check_same(torch_file.tensors.at(name), t);
    }
    CHECK(torch_file.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"written_by", "torch"}});

    // The committed xgrad file is exactly what xgrad writes today (set XGRAD_UPDATE_FIXTURES=1
    // to rewrite it after an intended format change, then rerun the Python script).
    std::map<std::string, std::string> metadata = {{"format", "pt"}, {"written_by", "xgrad"}};
    const std::string xgrad_path = dir + "xgrad_written.safetensors";
    if (std::getenv("XGRAD_UPDATE_FIXTURES")) xg::save_safetensors(xgrad_path, expected, metadata);
    std::ifstream in(xgrad_path, std::ios::binary);
    std::vector<uint8_t> committed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(committed == xg::serialize_safetensors(expected, metadata));
}

// ---- corrupt and hostile files: one case per check -------------------------------------------

TEST_CASE("safetensors: the hand-built test file is valid") {
    // The base the corrupt cases below vary, so each fails for the reason it names.
    xg::SafetensorsFile f = parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[0,4]") + "}", kFourBytes));
    CHECK(values(f.tensors.at("a")) == std::vector<double>{0});
    // Data laid out in another order than the names, spaces and padding: all fine.
    f = parse(file_bytes("{ " + entry("b", "\"F32\"", "[1]", "[4, 8]") + ", " + entry("a", "\"I64\"", "[]", "[8,16]") +
                             ", " + entry("c", "\"F32\"", "[1]", "[0,4]") + ", \"__metadata__\": {} }      ",
                         std::vector<uint8_t>(16, 0)));
    CHECK(f.tensors.size() == 3);
}

TEST_CASE("safetensors: corrupt header length") {
    CHECK_THROWS_WITH_AS(parse({1, 2, 3}), doctest::Contains("bad.safetensors: file is 3 bytes long, shorter than"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(parse({}), doctest::Contains("file is 0 bytes long"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{}", {}, UINT64_MAX)),
                         doctest::Contains("header length 18446744073709551615 is absurd"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{}", {}, 1000)),
                         doctest::Contains("header length 1000 is beyond the end of the file (2 bytes follow"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{}", {}, 3)), doctest::Contains("beyond the end of the file"), xg::Error);
}

TEST_CASE("safetensors: corrupt JSON and wrong types") {
    CHECK_THROWS_WITH_AS(parse(file_bytes("{\"a\": ")), doctest::Contains("header is not valid JSON"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("")), doctest::Contains("header is not valid JSON"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{} trailing")), doctest::Contains("header is not valid JSON"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{\"\xff\": 1}")), doctest::Contains("header is not valid JSON"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("[1, 2]")), doctest::Contains("header is not a JSON object (it is array)"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{\"a\": 3}")), doctest::Contains("entry \"a\" is not a JSON object (it is number)"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", kFourBytes)),
                         doctest::Contains("tensor \"a\" has no \"dtype\" field"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", kFourBytes)),
                         doctest::Contains("tensor \"a\" has no \"shape\" field"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes(R"({"a": {"dtype": "F32", "shape": [1]}})", kFourBytes)),
                         doctest::Contains("tensor \"a\" has no \"data_offsets\" field"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "32", "[1]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("\"dtype\" must be a string, not number"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "{}", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("\"shape\" must be an array of integers, not object"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1.0]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("\"shape\" must hold integers, found 1.0"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[\"1\"]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("\"shape\" must hold integers, found \"1\""), xg::Error);
    // Runaway nesting is stopped while parsing.
    CHECK_THROWS_WITH_AS(parse(file_bytes("{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}")),
                         doctest::Contains("nested too deeply"), xg::Error);
}

TEST_CASE("safetensors: unsupported and unknown dtypes are named") {
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"BF16\"", "[2]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("tensor \"a\": dtype BF16 is not supported"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F16\"", "[2]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("dtype F16 is not supported"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"Q4\"", "[2]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("unknown dtype \"Q4\""), xg::Error);
}

TEST_CASE("safetensors: negative, huge and overflowing shapes") {
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[-2, -2]", "[0,16]") + "}", std::vector<uint8_t>(16))),
                         doctest::Contains("negative dimension -2 in shape"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[18446744073709551615]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("dimension 18446744073709551615 is too large"), xg::Error);
    // 2^62 * 4 elements of 4 bytes: the byte count wraps to 0 in 64 bits; it must not pass as 0 bytes.
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[4611686018427387904, 4]", "[0,0]") + "}")),
                         doctest::Contains("shape [4611686018427387904, 4] overflows"), xg::Error);
    // A zero in the shape makes numel 0, but the other sizes still have to fit (they become strides).
    CHECK_THROWS_WITH_AS(
        parse(file_bytes("{" + entry("a", "\"F64\"", "[0, 4611686018427387904, 4611686018427387904]", "[0,0]") + "}")),
        doctest::Contains("overflows"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[" + std::string(400, '9') + "]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("header is not valid JSON"), xg::Error);  // 400 digits overflow a double
    std::string rank100 = "[1";
    for (int i = 1; i < 100; ++i) rank100 += ",1";
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", rank100 + "]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("shape has 100 dimensions (at most 64"), xg::Error);
}

TEST_CASE("safetensors: bad data_offsets") {
    for (const char* offsets : {"[0]", "[0, 4, 8]", "[0, -4]", "[\"0\", 4]", "[0.0, 4]", "{}", "4"}) {
        CAPTURE(offsets);
        CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", offsets) + "}", kFourBytes)),
                             doctest::Contains("data_offsets must be 2 non-negative integers [begin, end]"), xg::Error);
    }
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[4, 0]") + "}", kFourBytes)),
                         doctest::Contains("data_offsets [4, 0] are not ascending"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[4, 8]") + "}", kFourBytes)),
                         doctest::Contains("data_offsets [4, 8] are out of range (the data buffer holds 4 bytes)"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(
        parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[18446744073709551615, 18446744073709551615]") + "}")),
        doctest::Contains("out of range"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[2]", "[0, 4]") + "}", kFourBytes)),
                         doctest::Contains("shape [2] of F32 needs 8 bytes but data_offsets [0, 4] cover 4"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"I64\"", "[1]", "[0, 4]") + "}", kFourBytes)),
                         doctest::Contains("needs 8 bytes"), xg::Error);
}

TEST_CASE("safetensors: overlaps, holes and trailing bytes") {
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[2]", "[0,8]") + "," +
                                          entry("b", "\"F32\"", "[1]", "[4,8]") + "}", kEightBytes)),
                         doctest::Contains("tensors \"a\" and \"b\" overlap"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[0,4]") + "," +
                                          entry("b", "\"F32\"", "[1]", "[0,4]") + "}", kFourBytes)),
                         doctest::Contains("overlap"), xg::Error);
    // A 0-byte tensor inside another one is an overlap as well.
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[2]", "[0,8]") + "," +
                                          entry("b", "\"F32\"", "[0]", "[4,4]") + "}", kEightBytes)),
                         doctest::Contains("overlap"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[4,8]") + "}", kEightBytes)),
                         doctest::Contains("hole in the data buffer: bytes [0, 4) are not covered by any tensor"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[0,4]") + "," +
                                          entry("b", "\"F32\"", "[1]", "[8,12]") + "}", std::vector<uint8_t>(12))),
                         doctest::Contains("bytes [4, 8) are not covered"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[0,4]") + "}", kEightBytes)),
                         doctest::Contains("4 trailing bytes after the last tensor are not covered"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes("{}", kFourBytes)), doctest::Contains("4 trailing bytes"), xg::Error);
}

TEST_CASE("safetensors: duplicate keys are refused") {
    CHECK_THROWS_WITH_AS(parse(file_bytes("{" + entry("a", "\"F32\"", "[1]", "[0,4]") + "," +
                                          entry("a", "\"F32\"", "[1]", "[4,8]") + "}", kEightBytes)),
                         doctest::Contains("duplicate key \"a\" in the header"), xg::Error);
    CHECK_THROWS_WITH_AS(
        parse(file_bytes(R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", kFourBytes)),
        doctest::Contains("duplicate key \"dtype\""), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes(R"({"__metadata__":{"k":"1","k":"2"}})")),
                         doctest::Contains("duplicate key \"k\""), xg::Error);
    // Equal keys in different objects are fine.
    CHECK(parse(file_bytes(R"({"__metadata__":{"a":"x"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                           kFourBytes))
              .metadata.at("a") == "x");
}

TEST_CASE("safetensors: metadata must map strings to strings") {
    CHECK_THROWS_WITH_AS(parse(file_bytes(R"({"__metadata__":{"epoch":3}})")),
                         doctest::Contains("__metadata__ value for key \"epoch\" is not a string (it is number)"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes(R"({"__metadata__":{"nested":{"a":"b"}}})")),
                         doctest::Contains("is not a string (it is object)"), xg::Error);
    CHECK_THROWS_WITH_AS(parse(file_bytes(R"({"__metadata__":["a"]})")),
                         doctest::Contains("__metadata__ must be an object of strings, not array"), xg::Error);
}

TEST_CASE("safetensors: names from a hostile file are printed safely") {
    // Control bytes are escaped and long names cut, so a message stays one readable line.
    std::string name = "evil\\n" + std::string(200, 'x');
    std::string message;
    try {
        parse(file_bytes("{\"" + name + "\": 1}"));
    } catch (const xg::Error& e) {
        message = e.what();
    }
    CHECK(message.find("entry \"evil\\x0a") != std::string::npos);
    CHECK(message.find("xxx...\"") != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
}
