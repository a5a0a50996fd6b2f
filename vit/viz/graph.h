#pragma once
// The autograd graph as a picture: xg::autograd::to_dot's DOT text, rendered to PNG by Graphviz's
// `dot` program (Debian package graphviz; scripts/install-deps.sh installs it).
#include <string>

#include "core/error.h"

namespace xg::vit::viz {

// Writes `dot_text` to dot_path, then runs `dot -Tpng dot_path -o png_path`. Returns true when
// the PNG was made, false when Graphviz is not installed (the .dot file is there either way, for
// `dot` on another machine or an online viewer). An xg::Error when a file cannot be written or
// dot fails on the input.
bool render_dot(const std::string& dot_text, const std::string& dot_path, const std::string& png_path,
                SrcLoc loc = SrcLoc::current());

// Whether Graphviz's `dot` is on the PATH.
bool graphviz_available();

}  // namespace xg::vit::viz
