#pragma once
// xg::Error: every validation failure in xgrad throws one. Its message names the op, the
// offending shapes or values, and the user's source line:
//   matmul: shapes [1, 4, 48] and [8, 8] cannot be multiplied (48 != 8)  (tutorials/01_image2emb_naive.cpp:31)
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>

namespace xg {

using SrcLoc = std::source_location;

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// "file.cpp:31" with the path shortened to start at the project's top-level folder when it can.
std::string format_loc(const SrcLoc& loc);

// Builds the message "<what>  (<file>:<line>)" and throws.
[[noreturn]] void throw_error(const std::string& what, const SrcLoc& loc);

}  // namespace xg

// XG_CHECK(cond, loc, "op: message " << value << ...): throws xg::Error when cond is false.
// The message is only built on failure, so checks cost nothing on the fast path.
#define XG_CHECK(cond, loc, msg)                                  \
    do {                                                          \
        if (!(cond)) [[unlikely]] {                               \
            std::ostringstream xg_check_os_;                      \
            xg_check_os_ << msg;                                  \
            ::xg::throw_error(xg_check_os_.str(), (loc));         \
        }                                                         \
    } while (0)

#define XG_FAIL(loc, msg) XG_CHECK(false, loc, msg)
