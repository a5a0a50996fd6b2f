#include "core/shape.h"

#include <sstream>

namespace xg {

int64_t numel_of(const Shape& shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

Strides contiguous_strides(const Shape& shape) {
    Strides strides(shape.size());
    int64_t stride = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        strides[i] = stride;
        stride *= std::max<int64_t>(shape[i], 1);
    }
    return strides;
}

std::string shape_str(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape_str(shape); }

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op, const SrcLoc& loc) {
    // A 0-d tensor accepts dim 0 and -1, as in PyTorch.
    int64_t n = std::max<int64_t>(ndim, 1);
    XG_CHECK(dim >= -n && dim < n, loc,
             op << ": dim " << dim << " is out of range for a tensor of " << ndim
                << " dimension(s) (expected a dim in [" << -n << ", " << n - 1 << "])");
    return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, const SrcLoc& loc) {
    size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
        int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        XG_CHECK(da == db || da == 1 || db == 1, loc,
                 op << ": shapes " << a << " and " << b << " cannot be broadcast (dim " << i
                    << ": " << da << " vs " << db << ")");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

}  // namespace xg
