#include "core/error.h"

#include <string_view>

namespace xg {

std::string format_loc(const SrcLoc& loc) {
    std::string_view file = loc.file_name();
    // Paths are absolute in builds; show them from the repository's top-level folders so the
    // message reads "tutorials/01_image2emb_naive.cpp:31" on every machine.
    for (std::string_view top : {"/tutorials/", "/tests/", "/core/", "/nn/", "/vit/", "/bench/", "/tools/"}) {
        if (size_t pos = file.rfind(top); pos != std::string_view::npos) {
            file = file.substr(pos + 1);
            break;
        }
    }
    return std::string(file) + ":" + std::to_string(loc.line());
}

void throw_error(const std::string& what, const SrcLoc& loc) {
    throw Error(what + "  (" + format_loc(loc) + ")");
}

}  // namespace xg
