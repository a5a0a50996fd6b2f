// IDX files (the format of MNIST and Fashion-MNIST), read from bytes we do not trust.
//
// The layout is in idx.h. What can go wrong with a file from outside, and what catches it:
//   too short for the magic number or for the dims it declares   -> checked before reading them
//   a magic number that is not 00 00 08 nd (gzip, little-endian)  -> named, with a hint
//   dims that multiply to more than we will ever allocate        -> checked before multiplying,
//                                                                    so the product cannot wrap
//   more or fewer element bytes than the dims need                -> the exact byte count is
//                                                                    required: no silent truncation
// and for the gzip layer: corrupt data or a bad CRC (zlib checks both), a stream that ends
// early, trailing garbage, and output beyond a cap (a zip bomb). Every one is an xg::Error
// naming the file and the problem; none is a crash or a read out of bounds (tools/fuzz/fuzz_idx).
#include "vit/data/idx.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <sstream>
#include <utility>

namespace xg::vit::data {

namespace {

// Where a message comes from: "read_idx_gz: /path/train-images-idx3-ubyte.gz: <problem>  (caller.cpp:12)".
struct Source {
    const char* op;
    const std::string& what;
    SrcLoc loc;
};
std::ostream& operator<<(std::ostream& os, const Source& src) { return os << src.op << ": " << src.what << ": "; }

std::string dims_str(const std::vector<uint64_t>& dims) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
    os << "]";
    return os.str();
}

std::string hex32(uint32_t v) {
    std::ostringstream os;
    os << "0x" << std::hex;
    os.width(8);
    os.fill('0');
    os << v;
    return os.str();
}

// Big-endian, byte by byte: IDX was written on big-endian machines, and this way the code shows
// the layout and does not care about the host's byte order or how `p` is aligned.
uint32_t read_u32_be(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void write_u32_be(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (3 - i)));
}

const char* idx_type_name(uint8_t type) {
    switch (type) {
        case 0x08: return "unsigned byte";
        case 0x09: return "signed byte";
        case 0x0B: return "int16";
        case 0x0C: return "int32";
        case 0x0D: return "float32";
        case 0x0E: return "float64";
        default: return nullptr;
    }
}

IdxArray parse(const uint8_t* bytes, size_t size, const Source& src) {
    XG_CHECK(size > 0, src.loc, src << "the file is empty (an IDX file starts with a 4-byte magic number)");
    XG_CHECK(size >= 4, src.loc,
             src << "the file is " << size << " bytes long, shorter than the 4-byte magic number that starts an IDX file");

    const uint32_t magic = read_u32_be(bytes);
    if (bytes[0] != 0 || bytes[1] != 0) {
        // Two common mistakes get a hint: a compressed file given to the raw parser, and a file
        // written little-endian (its magic reads 03 08 00 00 backwards).
        const char* hint = bytes[0] == 0x1f && bytes[1] == 0x8b ? " (this is gzip data: use read_idx_gz)"
                           : bytes[2] == 0 && bytes[3] == 0 && bytes[1] == 0x08
                               ? " (the bytes look reversed: IDX integers are big-endian)"
                               : "";
        XG_FAIL(src.loc, src << "bad magic number " << hex32(magic)
                             << ": an IDX file starts with 00 00, then the type (08 for unsigned bytes) and the"
                             << " number of dimensions" << hint);
    }
    const uint8_t type = bytes[2];
    if (type != 0x08) {
        const char* name = idx_type_name(type);
        XG_CHECK(name != nullptr, src.loc,
                 src << "bad magic number " << hex32(magic) << ": unknown element type 0x" << std::hex << int{type}
                     << " (IDX types are 08, 09, 0b, 0c, 0d, 0e)");
        XG_FAIL(src.loc, src << "magic number " << hex32(magic) << ": element type " << name
                             << " is not supported (xgrad reads unsigned-byte IDX files, magic 0x000008nn)");
    }
    const int ndims = bytes[3];
    XG_CHECK(ndims >= 1, src.loc,
             src << "magic number " << hex32(magic) << " declares 0 dimensions (an IDX array has at least 1)");
    XG_CHECK(ndims <= kMaxIdxDims, src.loc,
             src << "magic number " << hex32(magic) << " declares " << ndims << " dimensions (at most " << kMaxIdxDims
                 << " are supported; image files have 3, label files 1)");

    // The dims themselves: 4 bytes each, which must be present before we read them.
    const size_t header_bytes = 4 + 4 * static_cast<size_t>(ndims);
    XG_CHECK(size >= header_bytes, src.loc,
             src << "the header is truncated: " << ndims << " dimensions need " << header_bytes
                 << " header bytes, the file has " << size);
    std::vector<uint64_t> dims;
    for (int i = 0; i < ndims; ++i) dims.push_back(read_u32_be(bytes + 4 + 4 * i));

    // Each dim at least 1: a zero would make the product 0 whatever the other dims say, so a
    // garbage header followed by no data would pass as a valid empty array. No real file has one.
    for (size_t i = 0; i < dims.size(); ++i)
        XG_CHECK(dims[i] >= 1, src.loc, src << "dimension " << i << " of " << dims_str(dims) << " is 0");

    // The element count, checked against the cap *before* each multiplication: four dims of
    // 2^32 - 1 would wrap a 64-bit product around to a small, plausible-looking number.
    uint64_t count = 1;
    for (uint64_t d : dims) {
        XG_CHECK(count <= kMaxIdxBytes / d, src.loc,
                 src << "dims " << dims_str(dims) << " describe more than " << kMaxIdxBytes
                     << " bytes (the limit for an IDX file; Fashion-MNIST's largest is 47040000)");
        count *= d;
    }

    // Exactly `count` bytes must follow the header: fewer is a truncated file, more means the
    // dims are wrong (reading only the first `count` would silently drop data).
    const uint64_t available = size - header_bytes;
    XG_CHECK(count <= available, src.loc,
             src << "dims " << dims_str(dims) << " need " << count << " bytes of data but only " << available
                 << " follow the header: the file is truncated");
    XG_CHECK(count == available, src.loc,
             src << "dims " << dims_str(dims) << " need " << count << " bytes of data but " << available
                 << " follow the header: " << available - count << " trailing bytes");

    IdxArray array;
    for (uint64_t d : dims) array.dims.push_back(static_cast<int64_t>(d));
    array.data.assign(bytes + header_bytes, bytes + size);
    return array;
}

// zlib's inflate state, ended whatever way we leave (errors included).
struct Inflater {
    z_stream zs{};
    bool ready = false;
    Inflater() {
        // 16 + MAX_WBITS: expect a gzip wrapper (header, CRC-32 and length trailer, both checked
        // by zlib) around the deflate data, with the largest window.
        ready = inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK;
    }
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;
    ~Inflater() {
        if (ready) inflateEnd(&zs);
    }
};

std::vector<uint8_t> inflate_all(const uint8_t* bytes, size_t size, size_t max_output, const Source& src) {
    XG_CHECK(is_gzip(bytes, size), src.loc,
             src << "not gzip data (a gzip file starts with 1f 8b; the file is " << size << " bytes long)");
    Inflater inflater;
    XG_CHECK(inflater.ready, src.loc, src << "zlib could not start inflating (out of memory?)");
    z_stream& zs = inflater.zs;

    std::vector<uint8_t> out;
    std::array<uint8_t, 64 * 1024> chunk{};  // inflate writes here, then we copy what fits the cap
    size_t fed = 0;                           // input bytes handed to zlib so far
    for (;;) {
        // zlib counts in 32-bit unsigned ints: hand it the input in pieces it can count.
        if (zs.avail_in == 0 && fed < size) {
            const size_t piece = std::min<size_t>(size - fed, UINT_MAX);
            zs.next_in = const_cast<Bytef*>(bytes + fed);  // zlib's API is not const-correct; it only reads
            zs.avail_in = static_cast<uInt>(piece);
            fed += piece;
        }
        zs.next_out = chunk.data();
        zs.avail_out = static_cast<uInt>(chunk.size());
        const int rc = inflate(&zs, Z_NO_FLUSH);
        const size_t produced = chunk.size() - zs.avail_out;

        // The cap is checked before the bytes are kept, so a bomb never costs more than the cap.
        XG_CHECK(produced <= max_output - out.size(), src.loc,
                 src << "decompresses to more than " << max_output
                     << " bytes, the limit: not an IDX file, or a zip bomb");
        out.insert(out.end(), chunk.data(), chunk.data() + produced);

        if (rc == Z_STREAM_END) {
            // One gzip member is done. `gzip a b > c` concatenates members, which gunzip reads as
            // one file, so another member may follow; anything else is garbage.
            const size_t consumed = fed - zs.avail_in;
            if (consumed == size) return out;
            XG_CHECK(is_gzip(bytes + consumed, size - consumed), src.loc,
                     src << size - consumed << " bytes of trailing garbage after the gzip stream (which ends at byte "
                         << consumed << ")");
            XG_CHECK(inflateReset(&zs) == Z_OK, src.loc, src << "zlib could not restart for the next gzip member");
            continue;
        }
        // Z_BUF_ERROR with room in the output means zlib needs more input; if there is none, the
        // stream was cut short (a download that stopped early, a file truncated on copy).
        if (rc == Z_BUF_ERROR && zs.avail_in == 0 && fed == size)
            XG_FAIL(src.loc, src << "the gzip stream is truncated: it ends after " << size
                                 << " compressed bytes without its end marker (" << out.size()
                                 << " bytes decompressed so far)");
        XG_CHECK(rc == Z_OK, src.loc,
                 src << "corrupt gzip data (zlib: " << (zs.msg ? zs.msg : "error " + std::to_string(rc))
                     << ", at compressed byte " << fed - zs.avail_in << ")");
    }
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

}  // namespace

IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& what, SrcLoc loc) {
    return parse(bytes, size, Source{"parse_idx", what, loc});
}

bool is_gzip(const uint8_t* bytes, size_t size) { return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

std::vector<uint8_t> gunzip(const uint8_t* bytes, size_t size, const std::string& what, size_t max_output,
                            SrcLoc loc) {
    return inflate_all(bytes, size, max_output, Source{"gunzip", what, loc});
}

IdxArray parse_idx_maybe_gzip(const uint8_t* bytes, size_t size, const std::string& what, size_t max_output,
                              SrcLoc loc) {
    const Source src{"read_idx_gz", what, loc};
    if (!is_gzip(bytes, size)) return parse(bytes, size, src);
    const std::vector<uint8_t> raw = inflate_all(bytes, size, max_output, src);
    return parse(raw.data(), raw.size(), src);
}

IdxArray read_idx_gz(const std::string& path, SrcLoc loc) {
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    int err = errno;
    XG_CHECK(file.fd >= 0, loc, "read_idx_gz: cannot open " << path << ": " << std::strerror(err));
    struct stat st {};
    XG_CHECK(::fstat(file.fd, &st) == 0, loc, "read_idx_gz: cannot stat " << path << ": " << std::strerror(errno));
    XG_CHECK(S_ISREG(st.st_mode), loc, "read_idx_gz: " << path << " is not a regular file");
    // Neither a compressed nor a raw IDX file can usefully be larger than the payload cap.
    XG_CHECK(static_cast<uint64_t>(st.st_size) <= kMaxIdxBytes, loc,
             "read_idx_gz: " << path << ": the file is " << st.st_size << " bytes, more than the " << kMaxIdxBytes
                             << "-byte limit for an IDX file");

    // The size comes from the file system, not from the file's contents, so it is no lie.
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(file.fd, bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR) continue;
        err = errno;
        XG_CHECK(n >= 0, loc, "read_idx_gz: cannot read " << path << ": " << std::strerror(err));
        if (n == 0) break;  // the file shrank while we read it: parse what is there
        got += static_cast<size_t>(n);
    }
    bytes.resize(got);
    return parse_idx_maybe_gzip(bytes.data(), bytes.size(), path, kMaxIdxBytes, loc);
}

std::vector<uint8_t> serialize_idx(const IdxArray& array, SrcLoc loc) {
    const size_t ndims = array.dims.size();
    XG_CHECK(ndims >= 1 && ndims <= static_cast<size_t>(kMaxIdxDims), loc,
             "serialize_idx: an IDX array has 1 to " << kMaxIdxDims << " dimensions, got " << ndims);
    uint64_t count = 1;
    for (int64_t d : array.dims) {
        XG_CHECK(d >= 1 && d <= int64_t{UINT32_MAX}, loc,
                 "serialize_idx: dimension " << d << " is out of range (1 to 2^32 - 1)");
        XG_CHECK(count <= kMaxIdxBytes / static_cast<uint64_t>(d), loc,
                 "serialize_idx: the dims describe more than " << kMaxIdxBytes << " bytes");
        count *= static_cast<uint64_t>(d);
    }
    XG_CHECK(count == array.data.size(), loc,
             "serialize_idx: the dims need " << count << " bytes, the data holds " << array.data.size());

    std::vector<uint8_t> bytes(4 + 4 * ndims + array.data.size());
    bytes[2] = 0x08;
    bytes[3] = static_cast<uint8_t>(ndims);
    for (size_t i = 0; i < ndims; ++i) write_u32_be(bytes.data() + 4 + 4 * i, static_cast<uint32_t>(array.dims[i]));
    std::copy(array.data.begin(), array.data.end(), bytes.begin() + static_cast<std::ptrdiff_t>(4 + 4 * ndims));
    return bytes;
}

}  // namespace xg::vit::data
