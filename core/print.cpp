// Printing a tensor exactly as PyTorch 1.13's repr does, so a learner can hold the two outputs
// side by side:
//
//   tensor([[ 0.1234, -1.5000],
//           [ 2.0000,  3.0000]], grad_fn=<MmBackward0>)
//
// PyTorch's default print options: 4 digits after the point, summarize tensors of more than
// 1000 elements by showing 3 items at each end of every dim, and wrap lines at 80 columns.
// The work is split by concern:
//   - displayed_values: the values that will be shown (all, or the edges when summarizing);
//   - Formatter: from those values, the mode (integer-valued / fixed / scientific) and the
//     common width every element is right-aligned to;
//   - format_dims / format_row: the recursion over dims that builds the nested brackets;
//   - add_suffixes: ", dtype=...", ", grad_fn=<...>" and the like, wrapped at 80 columns.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd/node.h"
#include "core/tensor.h"

namespace xg {

namespace {

constexpr int kPrecision = 4;       // digits after the point
constexpr int64_t kThreshold = 1000;  // more elements than this are summarized
constexpr int64_t kEdgeItems = 3;   // items kept at each end of a summarized dim
constexpr int kLineWidth = 80;

// ---- formatting one number -------------------------------------------------------------------

// Python's "{:.4f}", "{:.4e}" and "{:.0f}". printf rounds exactly as Python does (correctly,
// from the exact binary value) and writes exponents the same way ("e+05").
std::string printf_double(const char* format, int precision, double v) {
    char buf[400];  // "%.4f" of the largest double needs ~315 characters
    int n = std::snprintf(buf, sizeof buf, format, precision, v);
    return std::string(buf, static_cast<size_t>(std::max(0, n)));
}

std::string fixed_str(double v) { return printf_double("%.*f", kPrecision, v); }
std::string sci_str(double v) { return printf_double("%.*e", kPrecision, v); }
std::string integral_str(double v) { return printf_double("%.*f", 0, v); }

// ---- choosing the mode and width ---------------------------------------------------------

// PyTorch's _Formatter. Looking at the nonzero finite values only:
//  - int mode: all are integers, printed "3." (the point says "floating type");
//  - scientific: the values span more than 3 orders of magnitude, or are huge or tiny;
//  - fixed: everything else, "%.4f".
// Every element is then right-aligned to the widest of them.
class Formatter {
  public:
    explicit Formatter(const std::vector<int64_t>& values) {
        for (int64_t v : values) width_ = std::max(width_, std::to_string(v).size());
    }

    explicit Formatter(const std::vector<double>& values) {
        std::vector<double> nonzero_finite;
        for (double v : values)
            if (std::isfinite(v) && v != 0) nonzero_finite.push_back(v);
        if (nonzero_finite.empty()) return;  // only zeros, nans and infs: "0.", "nan", "inf"

        double min_abs = std::abs(nonzero_finite[0]), max_abs = min_abs;
        for (double v : nonzero_finite) {
            min_abs = std::min(min_abs, std::abs(v));
            max_abs = std::max(max_abs, std::abs(v));
            if (v != std::ceil(v)) int_mode_ = false;
        }
        bool wide_range = max_abs / min_abs > 1000.0 || max_abs > 1.0e8;
        // Integer values are never "too small", so only wide ranges switch them to sci mode.
        sci_mode_ = int_mode_ ? wide_range : (wide_range || min_abs < 1.0e-4);

        for (double v : nonzero_finite) {
            size_t w = sci_mode_ ? sci_str(v).size()
                     : int_mode_ ? integral_str(v).size() + 1  // + 1 for the trailing "."
                                 : fixed_str(v).size();
            width_ = std::max(width_, w);
        }
    }

    size_t width() const { return width_; }

    std::string format(int64_t v) const { return pad(std::to_string(v)); }

    std::string format(double v) const {
        std::string s;
        if (std::isnan(v)) s = "nan";  // printf would say "-nan" for a negative NaN; Python never does
        else if (sci_mode_) s = sci_str(v);
        else if (int_mode_) s = integral_str(v) + (std::isinf(v) ? "" : ".");
        else s = fixed_str(v);
        return pad(s);
    }

  private:
    std::string pad(const std::string& s) const {
        return s.size() >= width_ ? s : std::string(width_ - s.size(), ' ') + s;
    }

    bool int_mode_ = true;
    bool sci_mode_ = false;
    size_t width_ = 1;
};

// ---- walking the elements ----------------------------------------------------------------

// A strided walk over the tensor's elements, starting at element [0, 0, ...].
template <class T> struct Elements {
    const T* base;
    const Shape& shape;
    const Strides& strides;
    bool summarize;

    // The indices of dim d that are shown: all, or the first and last kEdgeItems.
    std::vector<int64_t> shown(size_t d) const {
        int64_t n = shape[d];
        std::vector<int64_t> idx;
        if (summarize && n > 2 * kEdgeItems) {
            for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
            for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
        } else {
            for (int64_t i = 0; i < n; ++i) idx.push_back(i);
        }
        return idx;
    }
    bool elided(size_t d) const { return summarize && shape[d] > 2 * kEdgeItems; }
};

// The values that will be printed (so the width and mode are chosen from what is shown).
template <class T, class V>
void displayed_values(const Elements<T>& el, size_t d, int64_t offset, std::vector<V>& out) {
    if (d == el.shape.size()) {
        out.push_back(static_cast<V>(el.base[offset]));
        return;
    }
    for (int64_t i : el.shown(d)) displayed_values(el, d + 1, offset + i * el.strides[d], out);
}

// The innermost dim: "[a, b, c]", as many elements per line as fit in the line width.
template <class T, class V>
std::string format_row(const Elements<T>& el, int64_t offset, int indent, const Formatter& fmt) {
    size_t d = el.shape.size() - 1;
    std::vector<std::string> items;
    std::vector<int64_t> idx = el.shown(d);
    for (size_t k = 0; k < idx.size(); ++k) {
        if (el.elided(d) && k == static_cast<size_t>(kEdgeItems)) items.push_back(" ...");
        items.push_back(fmt.format(static_cast<V>(el.base[offset + idx[k] * el.strides[d]])));
    }
    // Each element takes its width plus ", ".
    int64_t element_length = static_cast<int64_t>(fmt.width()) + 2;
    int64_t per_line = std::max<int64_t>(1, (kLineWidth - indent) / element_length);

    std::string s = "[";
    for (size_t k = 0; k < items.size(); ++k) {
        if (k > 0) s += (static_cast<int64_t>(k) % per_line == 0) ? ",\n" + std::string(indent + 1, ' ') : ", ";
        s += items[k];
    }
    return s + "]";
}

// Dims d.. of the tensor: nested brackets, one line per row, a blank line between matrices
// (dim - 1 newlines between the slices of a dim-D block), "..." in place of elided slices.
template <class T, class V>
std::string format_dims(const Elements<T>& el, size_t d, int64_t offset, int indent, const Formatter& fmt) {
    size_t ndim = el.shape.size();
    if (d == ndim) return fmt.format(static_cast<V>(el.base[offset]));  // a 0-d tensor
    if (d == ndim - 1) return format_row<T, V>(el, offset, indent, fmt);

    std::vector<std::string> slices;
    std::vector<int64_t> idx = el.shown(d);
    for (size_t k = 0; k < idx.size(); ++k) {
        if (el.elided(d) && k == static_cast<size_t>(kEdgeItems)) slices.push_back("...");
        slices.push_back(format_dims<T, V>(el, d + 1, offset + idx[k] * el.strides[d], indent + 1, fmt));
    }
    std::string separator = "," + std::string(ndim - d - 1, '\n') + std::string(indent + 1, ' ');
    std::string s = "[";
    for (size_t k = 0; k < slices.size(); ++k) s += (k > 0 ? separator : "") + slices[k];
    return s + "]";
}

// The bracketed data of a non-empty tensor, with the first line starting after `indent` columns.
template <class T, class V> std::string format_data(const Tensor& t, int indent) {
    Elements<T> el{static_cast<const T*>(t.raw_data()), t.shape(), t.strides(), t.numel() > kThreshold};
    std::vector<V> shown;
    displayed_values(el, 0, 0, shown);
    Formatter fmt(shown);
    return format_dims<T, V>(el, 0, 0, indent, fmt);
}

// ---- the suffixes ------------------------------------------------------------------------

// "(0, 3)": Python's tuple syntax, as in `size=(0, 3)`.
std::string tuple_str(const Shape& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

// Appends ", suffix" to the text, or starts a new line (indented to the data) when the suffix
// would pass the line width.
std::string add_suffixes(std::string text, const std::vector<std::string>& suffixes, int indent) {
    size_t last_newline = text.rfind('\n');
    // PyTorch's count: one more than the last line's length (or two more when on one line).
    int64_t last_line_len = static_cast<int64_t>(text.size()) -
                            (last_newline == std::string::npos ? -1 : static_cast<int64_t>(last_newline)) + 1;
    for (const std::string& suffix : suffixes) {
        int64_t suffix_len = static_cast<int64_t>(suffix.size());
        if (last_line_len + suffix_len + 2 > kLineWidth) {
            text += ",\n" + std::string(indent, ' ') + suffix;
            last_line_len = indent + suffix_len;
        } else {
            text += ", " + suffix;
            last_line_len += suffix_len + 2;
        }
    }
    return text + ")";
}

}  // namespace

std::string to_string(const Tensor& t) {
    if (!t.defined()) return "tensor(undefined)";
    const std::string prefix = "tensor(";
    const int indent = static_cast<int>(prefix.size());

    std::vector<std::string> suffixes;
    std::string data;
    if (t.numel() == 0) {
        // Nothing to infer the shape or dtype from, so both are spelled out (a 1-D shape is
        // implied by "[]").
        data = "[]";
        if (t.dim() != 1) suffixes.push_back("size=" + tuple_str(t.shape()));
        if (t.dtype() != kFloat32) suffixes.push_back("dtype=" + std::string(dtype_name(t.dtype())));
    } else {
        switch (t.dtype()) {
            case DType::Float32: data = format_data<float, double>(t, indent); break;
            case DType::Float64: data = format_data<double, double>(t, indent); break;
            case DType::Int64: data = format_data<int64_t, int64_t>(t, indent); break;
        }
        // float32 is the default dtype and int64 is implied by the digits without a point.
        if (t.dtype() == kFloat64) suffixes.push_back("dtype=torch.float64");
    }

    if (t.grad_fn()) suffixes.push_back("grad_fn=<" + t.grad_fn()->name() + ">");
    else if (t.requires_grad()) suffixes.push_back("requires_grad=True");

    return add_suffixes(prefix + data, suffixes, indent);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace xg
