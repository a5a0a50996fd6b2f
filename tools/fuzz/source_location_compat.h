#pragma once
// std::source_location for clang < 15 with libstdc++ 12, forced into every file of the fuzz build
// (see tools/fuzz/CMakeLists.txt) and nowhere else.
//
// libstdc++'s <source_location> is built on __builtin_source_location(), which clang gained only
// in version 15, so with clang 14 the header declares nothing and core/error.h cannot compile.
// Clang 14 does have __builtin_FILE() and __builtin_LINE(), which, used as default arguments,
// give the caller's position: the same mechanism, spelled the older way. Only the fuzz build
// needs clang (for libFuzzer); the normal build uses GCC 12 and the real std::source_location.
#include <source_location>

#if !defined(__cpp_lib_source_location)
namespace std {  // NOLINT(cert-dcl58-cpp): supplies what the library leaves out for this compiler
struct source_location {
    static constexpr source_location current(const char* file = __builtin_FILE(),
                                             const char* function = __builtin_FUNCTION(),
                                             unsigned line = __builtin_LINE(),
                                             unsigned column = __builtin_COLUMN()) noexcept {
        source_location loc;
        loc.file_ = file;
        loc.function_ = function;
        loc.line_ = line;
        loc.column_ = column;
        return loc;
    }
    constexpr const char* file_name() const noexcept { return file_; }
    constexpr const char* function_name() const noexcept { return function_; }
    constexpr unsigned line() const noexcept { return line_; }
    constexpr unsigned column() const noexcept { return column_; }

  private:
    const char* file_ = "";
    const char* function_ = "";
    unsigned line_ = 0;
    unsigned column_ = 0;
};
}  // namespace std
#endif
