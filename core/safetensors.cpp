// safetensors: reading and writing the weight files PyTorch and Hugging Face users exchange.
//
// The format (https://github.com/huggingface/safetensors), byte by byte:
//   [0, 8)        N, the length of the header: an unsigned 64-bit little-endian integer
//   [8, 8 + N)    the header: one UTF-8 JSON object, padded with spaces, e.g.
//                   {"__metadata__": {"format": "pt"},                   <- optional, string -> string
//                    "fc.bias":   {"dtype": "F32", "shape": [4],    "data_offsets": [0, 16]},
//                    "fc.weight": {"dtype": "F32", "shape": [4, 3], "data_offsets": [16, 64]}}
//   [8 + N, end)  the byte buffer: each tensor's elements, row-major and little-endian, at
//                 [begin, end) of data_offsets, counted from the start of the buffer
// The tensors must cover the buffer exactly: no two overlap, no byte lies between them, none after.
//
// A file comes from outside, so nothing in it is trusted: every length, shape and offset is
// checked before it is used to index or to allocate. A lying header must not make us read past
// the end of the bytes we hold, wrap an integer around, or allocate gigabytes: the only
// allocations sized by the file are the tensors, and a tensor is allocated only once its byte
// count has been checked against the bytes actually present.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

namespace xg {

// The buffer holds little-endian numbers, and so does every machine xgrad targets (x86-64,
// ARM64): element bytes are copied as they are, without swapping.
static_assert(std::endian::native == std::endian::little, "safetensors: xgrad assumes a little-endian host");

namespace {

using json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; a real header is kilobytes.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three deep (object -> entry -> shape array); anything much deeper is
// garbage or an attack on the parser, refused early.
constexpr int kMaxJsonDepth = 8;
// More dimensions than any real tensor has; bounds the work (and messages) a hostile shape causes.
constexpr size_t kMaxRank = 64;

// Where a message comes from: "load_safetensors: model.safetensors: <problem>  (caller.cpp:12)".
struct Source {
    const char* op;
    std::string what;
    SrcLoc loc;
};
std::ostream& operator<<(std::ostream& os, const Source& src) { return os << src.op << ": " << src.what << ": "; }

// A string taken from a file, made safe to print: quoted, control bytes escaped, long ones cut.
std::string printable(std::string_view s) {
    constexpr size_t kMaxShown = 64;
    std::string out = "\"";
    for (size_t i = 0; i < std::min(s.size(), kMaxShown); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > kMaxShown) out += "...";
    return out + "\"";
}

// ---- dtypes ---------------------------------------------------------------------------------

std::string_view safetensors_dtype(DType t) {
    switch (t) {
        case DType::Float32: return "F32";
        case DType::Float64: return "F64";
        case DType::Int64: return "I64";
    }
    return "?";
}

// The dtype named in a header; an error for the ones the format has but xgrad does not.
DType parse_dtype(const std::string& name, const std::string& tensor, const Source& src) {
    if (name == "F32") return DType::Float32;
    if (name == "F64") return DType::Float64;
    if (name == "I64") return DType::Int64;
    static const std::set<std::string> other_known = {"BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "I16", "U16",
                                                      "F16",  "BF16", "I32", "U32",     "U64"};
    XG_CHECK(!other_known.contains(name), src.loc,
             src << "tensor " << printable(tensor) << ": dtype " << name
                 << " is not supported (xgrad reads F32, F64 and I64; convert the tensor first)");
    XG_FAIL(src.loc, src << "tensor " << printable(tensor) << ": unknown dtype " << printable(name));
}

// ---- little-endian integers -------------------------------------------------------------------

// Byte by byte, so the code shows the layout and does not care how `p` is aligned.
uint64_t read_u64_le(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

void write_u64_le(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// ---- the header -----------------------------------------------------------------------------

// nlohmann::json keeps the last of two equal keys without a word. A file whose meaning depends
// on which duplicate wins is ambiguous, so the parser callback, which sees every key as it is
// read, refuses them. It also stops runaway nesting before it is built.
json parse_header_json(const uint8_t* begin, uint64_t length, const Source& src) {
    std::vector<std::set<std::string>> keys_seen;  // one set per JSON object still open
    auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                XG_CHECK(depth < kMaxJsonDepth, src.loc,
                         src << "header JSON is nested too deeply (more than " << kMaxJsonDepth << " levels)");
                if (event == json::parse_event_t::object_start) keys_seen.emplace_back();
                break;
            case json::parse_event_t::object_end: keys_seen.pop_back(); break;
            case json::parse_event_t::key: {
                const auto& key = parsed.get_ref<const std::string&>();
                XG_CHECK(keys_seen.back().insert(key).second, src.loc,
                         src << "duplicate key " << printable(key) << " in the header");
                break;
            }
            default: break;
        }
        return true;  // keep every value
    };
    try {
        return json::parse(begin, begin + length, on_event);
    } catch (const json::exception& e) {
        // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> drop the tag,
        // and cut it short: its "last read" part echoes bytes of the file.
        std::string_view detail = e.what();
        if (size_t tag_end = detail.find("] "); tag_end != std::string_view::npos) detail.remove_prefix(tag_end + 2);
        if (detail.size() > 200) detail = detail.substr(0, 200);
        std::ostringstream message;
        message << src << "header is not valid JSON (" << detail << ")";
        throw_error(message.str(), src.loc);
    }
}

// One tensor's description from the header, checked against itself and the buffer size.
struct Entry {
    std::string name;
    DType dtype = DType::Float32;
    Shape shape;
    uint64_t begin = 0;  // data_offsets, relative to the start of the byte buffer
    uint64_t end = 0;
};

const json& field(const json& entry, const char* key, const std::string& name, const Source& src) {
    auto it = entry.find(key);
    XG_CHECK(it != entry.end(), src.loc, src << "tensor " << printable(name) << " has no \"" << key << "\" field");
    return *it;
}

Entry parse_entry(const std::string& name, const json& value, uint64_t buffer_size, const Source& src) {
    XG_CHECK(value.is_object(), src.loc,
             src << "entry " << printable(name) << " is not a JSON object (it is " << value.type_name() << ")");
    Entry e;
    e.name = name;

    const json& dtype = field(value, "dtype", name, src);
    XG_CHECK(dtype.is_string(), src.loc,
             src << "tensor " << printable(name) << ": \"dtype\" must be a string, not " << dtype.type_name());
    e.dtype = parse_dtype(dtype.get_ref<const std::string&>(), name, src);

    const json& shape = field(value, "shape", name, src);
    XG_CHECK(shape.is_array(), src.loc,
             src << "tensor " << printable(name) << ": \"shape\" must be an array of integers, not " << shape.type_name());
    XG_CHECK(shape.size() <= kMaxRank, src.loc,
             src << "tensor " << printable(name) << ": shape has " << shape.size() << " dimensions (at most " << kMaxRank
                 << " are supported)");
    for (const json& dim : shape) {
        // JSON integers arrive as unsigned when non-negative, signed when negative.
        XG_CHECK(dim.is_number_integer(), src.loc,
                 src << "tensor " << printable(name) << ": \"shape\" must hold integers, found "
                     << dim.dump().substr(0, 40));
        if (dim.is_number_unsigned()) {
            auto d = dim.get<uint64_t>();
            XG_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), src.loc,
                     src << "tensor " << printable(name) << ": dimension " << d << " is too large");
            e.shape.push_back(static_cast<int64_t>(d));
        } else {
            auto d = dim.get<int64_t>();
            XG_CHECK(d >= 0, src.loc, src << "tensor " << printable(name) << ": negative dimension " << d << " in shape");
            e.shape.push_back(d);
        }
    }

    // The byte count numel * itemsize must not wrap around: a shape like [2^62, 8] would
    // otherwise claim a handful of bytes. The product of the sizes (a 0 counted as 1) bounds
    // numel and every stride, so if it fits in an int64 once multiplied by the item size, all do.
    const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / itemsize(e.dtype);
    uint64_t product = 1;
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
        auto size = static_cast<uint64_t>(std::max<int64_t>(d, 1));
        XG_CHECK(product <= limit / size, src.loc,
                 src << "tensor " << printable(name) << ": shape " << shape_str(e.shape) << " overflows (more than 2^63 bytes)");
        product *= size;
        numel *= static_cast<uint64_t>(d);
    }
    const uint64_t nbytes = numel * itemsize(e.dtype);

    const json& offsets = field(value, "data_offsets", name, src);
    XG_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                 offsets[1].is_number_unsigned(),
             src.loc,
             src << "tensor " << printable(name) << ": data_offsets must be 2 non-negative integers [begin, end], got "
                 << offsets.dump().substr(0, 100));
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    XG_CHECK(e.begin <= e.end, src.loc,
             src << "tensor " << printable(name) << ": data_offsets [" << e.begin << ", " << e.end << "] are not ascending");
    XG_CHECK(e.end <= buffer_size, src.loc,
             src << "tensor " << printable(name) << ": data_offsets [" << e.begin << ", " << e.end
                 << "] are out of range (the data buffer holds " << buffer_size << " bytes)");
    XG_CHECK(e.end - e.begin == nbytes, src.loc,
             src << "tensor " << printable(name) << ": shape " << shape_str(e.shape) << " of " << safetensors_dtype(e.dtype)
                 << " needs " << nbytes << " bytes but data_offsets [" << e.begin << ", " << e.end << "] cover "
                 << e.end - e.begin);
    return e;
}

std::map<std::string, std::string> parse_metadata(const json& value, const Source& src) {
    XG_CHECK(value.is_object(), src.loc,
             src << "__metadata__ must be an object of strings, not " << value.type_name());
    std::map<std::string, std::string> metadata;
    for (const auto& [key, v] : value.items()) {
        XG_CHECK(v.is_string(), src.loc,
                 src << "__metadata__ value for key " << printable(key) << " is not a string (it is " << v.type_name() << ")");
        metadata.emplace(key, v.get<std::string>());
    }
    return metadata;
}

// The spec requires the tensors to tile the buffer: sorted by offset, each one starts where
// the previous ended, the first at 0 and the last at the end. So no byte is read twice
// (overlap) and no byte is smuggled in unread (a hole or trailing data).
void check_coverage(std::vector<Entry>& entries, uint64_t buffer_size, const Source& src) {
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
    uint64_t covered = 0;  // bytes [0, covered) belong to the tensors seen so far
    for (size_t i = 0; i < entries.size(); ++i) {
        const Entry& e = entries[i];
        XG_CHECK(e.begin >= covered, src.loc,
                 src << "tensors " << printable(entries[i - 1].name) << " and " << printable(e.name)
                     << " overlap (bytes [" << e.begin << ", " << covered << ") of the data buffer)");
        XG_CHECK(e.begin == covered, src.loc,
                 src << "hole in the data buffer: bytes [" << covered << ", " << e.begin
                     << ") are not covered by any tensor (before " << printable(e.name) << ")");
        covered = e.end;
    }
    XG_CHECK(covered == buffer_size, src.loc,
             src << buffer_size - covered << " trailing bytes after the last tensor are not covered by any tensor");
}

SafetensorsFile parse(const uint8_t* data, size_t size, const Source& src) {
    XG_CHECK(size >= 8, src.loc,
             src << "file is " << size << " bytes long, shorter than the 8-byte header length that starts a safetensors file");
    const uint64_t header_length = read_u64_le(data);
    XG_CHECK(header_length <= kMaxHeaderBytes, src.loc,
             src << "header length " << header_length << " is absurd (the limit is " << kMaxHeaderBytes << " bytes)");
    XG_CHECK(header_length <= size - 8, src.loc,
             src << "header length " << header_length << " is beyond the end of the file (" << size - 8
                 << " bytes follow the length)");

    json header = parse_header_json(data + 8, header_length, src);
    XG_CHECK(header.is_object(), src.loc, src << "header is not a JSON object (it is " << header.type_name() << ")");

    const uint8_t* buffer = data + 8 + header_length;
    const uint64_t buffer_size = size - 8 - header_length;

    SafetensorsFile file;
    std::vector<Entry> entries;
    for (const auto& [key, value] : header.items()) {
        if (key == "__metadata__")
            file.metadata = parse_metadata(value, src);
        else
            entries.push_back(parse_entry(key, value, buffer_size, src));
    }
    check_coverage(entries, buffer_size, src);

    // Only now, with every byte range known to lie inside the buffer, are tensors allocated.
    for (const Entry& e : entries) {
        Tensor t = detail::make_empty(e.shape, e.dtype);
        if (e.end > e.begin) std::memcpy(t.raw_data(), buffer + e.begin, e.end - e.begin);
        file.tensors.emplace(e.name, std::move(t));
    }
    return file;
}

// ---- writing ----------------------------------------------------------------------------------

std::vector<uint8_t> serialize(const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                               const char* op, const SrcLoc& loc) {
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::vector<Tensor> contiguous;  // in map order: the order of the bytes in the buffer
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        XG_CHECK(name != "__metadata__", loc, op << ": the name \"__metadata__\" is reserved for the header's metadata");
        XG_CHECK(t.defined(), loc, op << ": tensor " << printable(name) << " is undefined");
        contiguous.push_back(t.detach().contiguous(loc));
        const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * itemsize(t.dtype());
        json entry = json::object();
        entry["dtype"] = safetensors_dtype(t.dtype());
        entry["shape"] = t.shape();
        entry["data_offsets"] = json::array({offset, offset + nbytes});
        header[name] = std::move(entry);
        offset += nbytes;
    }

    std::string text;
    try {
        text = header.dump();
    } catch (const json::exception&) {
        XG_FAIL(loc, op << ": a tensor name or metadata string is not valid UTF-8 (the header is JSON, which must be)");
    }
    // Pad with spaces so the buffer starts 8-byte aligned in the file (8 + N is a multiple of 8),
    // as the reference writer does; readers that map the file can then use the data in place.
    text.append((8 - text.size() % 8) % 8, ' ');

    std::vector<uint8_t> bytes(8 + text.size() + offset);
    write_u64_le(bytes.data(), text.size());
    std::memcpy(bytes.data() + 8, text.data(), text.size());
    uint8_t* out = bytes.data() + 8 + text.size();
    for (const Tensor& t : contiguous) {
        const size_t nbytes = static_cast<size_t>(t.numel()) * itemsize(t.dtype());
        if (nbytes > 0) std::memcpy(out, t.raw_data(), nbytes);
        out += nbytes;
    }
    return bytes;
}

// Closes a file descriptor when it goes out of scope (error paths included).
struct FileDescriptor {
    int fd = -1;
    explicit FileDescriptor(int fd) : fd(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd >= 0) ::close(fd);
    }
};

std::string directory_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::vector<uint8_t> serialize_safetensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                                           SrcLoc loc) {
    return serialize(tensors, metadata, "serialize_safetensors", loc);
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& what, SrcLoc loc) {
    return parse(data, size, Source{"parse_safetensors", what, loc});
}

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata, SrcLoc loc) {
    const std::vector<uint8_t> bytes = serialize(tensors, metadata, "save_safetensors", loc);

    // Write a temporary file beside the target (rename is atomic only within one file system),
    // with a name no other writer uses: this process's id and a counter. O_EXCL refuses to
    // reuse a leftover of a crashed run; we then try the next name.
    static std::atomic<uint64_t> counter{0};
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
        tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        int err = errno;
        XG_CHECK(fd >= 0 || (err == EEXIST && attempt < 100), loc,
                 "save_safetensors: cannot create " << tmp << ": " << std::strerror(err));
    }

    // From here on a failure removes the temporary file, so nothing is left behind (the file
    // descriptor is closed by FileDescriptor's destructor as the error propagates).
    FileDescriptor file(fd);
    auto check = [&](bool ok, const char* step) {
        if (ok) return;
        int err = errno;
        ::unlink(tmp.c_str());
        XG_FAIL(loc, "save_safetensors: cannot " << step << " " << tmp << ": " << std::strerror(err));
    };

    // write() may write fewer bytes than asked (or be interrupted): loop until all are out.
    size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = ::write(file.fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        check(n > 0, "write");
        written += static_cast<size_t>(n);
    }
    // fsync before rename: otherwise a crash could leave the new name on a file whose data
    // never reached the disk.
    check(::fsync(file.fd) == 0, "fsync");
    check(::close(std::exchange(file.fd, -1)) == 0, "close");
    // The moment the target switches from the old file to the new one, all at once.
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        XG_FAIL(loc, "save_safetensors: cannot rename " << tmp << " to " << path << ": " << std::strerror(err));
    }

    // Make the rename itself durable. Best effort: some file systems cannot sync a directory,
    // and the data is already safe under one name or the other.
    FileDescriptor dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.fd >= 0) ::fsync(dir.fd);
}

SafetensorsFile load_safetensors(const std::string& path, SrcLoc loc) {
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    int err = errno;
    XG_CHECK(file.fd >= 0, loc, "load_safetensors: cannot open " << path << ": " << std::strerror(err));
    struct stat st {};
    XG_CHECK(::fstat(file.fd, &st) == 0, loc, "load_safetensors: cannot stat " << path << ": " << std::strerror(errno));
    XG_CHECK(S_ISREG(st.st_mode), loc, "load_safetensors: " << path << " is not a regular file");

    // The size comes from the file system, not from the file's contents, so it is no lie.
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(file.fd, bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR) continue;
        err = errno;
        XG_CHECK(n >= 0, loc, "load_safetensors: cannot read " << path << ": " << std::strerror(err));
        if (n == 0) break;  // the file shrank while we read it: parse what is there
        got += static_cast<size_t>(n);
    }
    bytes.resize(got);
    return parse(bytes.data(), bytes.size(), Source{"load_safetensors", path, loc});
}

}  // namespace xg
