#pragma once
// Shapes, strides and the broadcasting rule, shared by every op.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"

namespace xg {

using Shape = std::vector<int64_t>;    // sizes, outermost first: {bs, channels, h, w}
using Strides = std::vector<int64_t>;  // in elements, not bytes

int64_t numel_of(const Shape& shape);
Strides contiguous_strides(const Shape& shape);   // row-major (C order)
std::string shape_str(const Shape& shape);         // "[1, 4, 8]", as PyTorch's torch.Size prints
std::ostream& operator<<(std::ostream& os, const Shape& shape);

// A dim in [-ndim, ndim) made non-negative; anything else is an error naming `op`.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op, const SrcLoc& loc);

// NumPy/PyTorch broadcasting: align from the right; sizes must match or one of them be 1.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, const SrcLoc& loc);

}  // namespace xg
