#include "vit/viz/layout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace xg::vit::viz {

namespace {

// A 2-D tensor's values, row-major, with its two sizes.
struct Grid2d {
    int64_t rows = 0, cols = 0;
    std::vector<double> v;
    double at(int64_t i, int64_t j) const { return v[static_cast<size_t>(i * cols + j)]; }
};

Grid2d read_grid(const Tensor& values, const char* op, const SrcLoc& loc) {
    XG_CHECK(values.defined() && values.dim() == 2 && values.numel() > 0, loc,
             op << ": expected values [rows, cols], got " << (values.defined() ? shape_str(values.shape()) : "undefined"));
    return {values.size(0), values.size(1), values.to_vector<double>()};
}

double unit(double v, double lo, double hi) { return hi > lo ? (v - lo) / (hi - lo) : 0.0; }

// "0.25", "1", "-1": short numbers for colour bars.
std::string short_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

bool any_nonempty(const std::vector<std::string>& v) {
    return std::any_of(v.begin(), v.end(), [](const std::string& s) { return !s.empty(); });
}

struct Bands {
    int64_t title = 0, column_titles = 0, row_labels = 0;
};

Bands bands_of(const GridLabels& labels) {
    Bands b;
    if (!labels.title.empty()) b.title = text_height(2) + 8;
    if (any_nonempty(labels.column_titles)) b.column_titles = text_height(1) + 4;
    if (any_nonempty(labels.row_labels)) {
        for (const std::string& s : labels.row_labels) b.row_labels = std::max(b.row_labels, text_width(s));
        b.row_labels += 8;
    }
    return b;
}

}  // namespace

Image tensor_to_image(const Tensor& image, int64_t scale, double lo, double hi, SrcLoc loc) {
    XG_CHECK(image.defined() && image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3), loc,
             "viz::tensor_to_image: expected an image [1 or 3, H, W], got "
                 << (image.defined() ? shape_str(image.shape()) : "undefined"));
    XG_CHECK(scale >= 1, loc, "viz::tensor_to_image: scale must be at least 1, got " << scale);
    const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
    const std::vector<double> v = image.to_vector<double>();
    auto byte = [&](int64_t c, int64_t y, int64_t x) {
        const double t = std::clamp(unit(v[static_cast<size_t>((c * H + y) * W + x)], lo, hi), 0.0, 1.0);
        return static_cast<uint8_t>(std::lround(t * 255.0));
    };
    Image out(W * scale, H * scale, kBlack, loc);
    for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
            const Rgb c = C == 1 ? Rgb{byte(0, y, x), byte(0, y, x), byte(0, y, x)}
                                 : Rgb{byte(0, y, x), byte(1, y, x), byte(2, y, x)};
            out.fill_rect(x * scale, y * scale, scale, scale, c);
        }
    return out;
}

Image overlay_heatmap(const Image& base, const Tensor& values, double lo, double hi, double alpha, SrcLoc loc) {
    const Grid2d g = read_grid(values, "viz::overlay_heatmap", loc);
    Image out = base;
    for (int64_t y = 0; y < base.height(); ++y)
        for (int64_t x = 0; x < base.width(); ++x) {
            // The cell under this pixel: patch (i, j) of the grid covers these pixels exactly
            // when the image is a whole number of patches, as a ViT's input is.
            const int64_t i = y * g.rows / base.height(), j = x * g.cols / base.width();
            out.blend(x, y, viridis(unit(g.at(i, j), lo, hi)), alpha);
        }
    return out;
}

Image heatmap(const Tensor& values, int64_t cell, double lo, double hi, SrcLoc loc) {
    const Grid2d g = read_grid(values, "viz::heatmap", loc);
    XG_CHECK(cell >= 1, loc, "viz::heatmap: cell must be at least 1 pixel, got " << cell);
    Image out(g.cols * cell, g.rows * cell, kWhite, loc);
    for (int64_t i = 0; i < g.rows; ++i)
        for (int64_t j = 0; j < g.cols; ++j) out.fill_rect(j * cell, i * cell, cell, cell, viridis(unit(g.at(i, j), lo, hi)));
    return out;
}

Image colorbar(int64_t width, double lo, double hi, const std::string& label) {
    const int64_t bar = 12, th = text_height(1);
    const int64_t label_band = label.empty() ? 0 : th + 3;
    Image out(width, label_band + bar + 3 + th, kWhite);
    if (!label.empty()) out.draw_text((width - text_width(label)) / 2, 0, label, kBlack);
    for (int64_t x = 0; x < width; ++x)
        out.fill_rect(x, label_band, 1, bar, viridis(width > 1 ? static_cast<double>(x) / (width - 1) : 0.0));
    out.stroke_rect(0, label_band, width, bar, kGray);
    const std::string l = short_number(lo), m = short_number((lo + hi) / 2), h = short_number(hi);
    const int64_t ty = label_band + bar + 3;
    out.draw_text(0, ty, l, kBlack);
    out.draw_text((width - text_width(m)) / 2, ty, m, kBlack);
    out.draw_text(width - text_width(h), ty, h, kBlack);
    return out;
}

std::pair<int64_t, int64_t> grid_size(int64_t rows, int64_t cols, int64_t panel_w, int64_t panel_h,
                                      const GridLabels& labels) {
    const Bands b = bands_of(labels);
    int64_t w = 2 * kGridMargin + b.row_labels + cols * panel_w + (cols - 1) * kGridGap;
    if (!labels.title.empty()) w = std::max(w, 2 * kGridMargin + text_width(labels.title, 2));  // the title fits
    const int64_t h = 2 * kGridMargin + b.title + b.column_titles + rows * panel_h + (rows - 1) * kGridGap;
    return {w, h};
}

Image compose_grid(const std::vector<std::vector<Image>>& panels, const GridLabels& labels, SrcLoc loc) {
    XG_CHECK(!panels.empty() && !panels[0].empty(), loc, "viz::compose_grid: no panels");
    const int64_t rows = static_cast<int64_t>(panels.size()), cols = static_cast<int64_t>(panels[0].size());
    const int64_t pw = panels[0][0].width(), ph = panels[0][0].height();
    for (const auto& row : panels) {
        XG_CHECK(static_cast<int64_t>(row.size()) == cols, loc,
                 "viz::compose_grid: rows have different numbers of panels (" << row.size() << " != " << cols << ")");
        for (const Image& p : row)
            XG_CHECK(p.width() == pw && p.height() == ph, loc,
                     "viz::compose_grid: panels must all be " << pw << " x " << ph << ", got " << p.width() << " x "
                                                              << p.height());
    }
    const Bands b = bands_of(labels);
    const auto [w, h] = grid_size(rows, cols, pw, ph, labels);
    Image out(w, h, kWhite, loc);
    if (!labels.title.empty()) out.draw_text(kGridMargin, kGridMargin, labels.title, kBlack, 2);
    const int64_t x0 = kGridMargin + b.row_labels, y0 = kGridMargin + b.title + b.column_titles;
    for (int64_t c = 0; c < cols && c < static_cast<int64_t>(labels.column_titles.size()); ++c) {
        const std::string& t = labels.column_titles[static_cast<size_t>(c)];
        out.draw_text(x0 + c * (pw + kGridGap) + (pw - text_width(t)) / 2, kGridMargin + b.title, t, kBlack);
    }
    for (int64_t r = 0; r < rows; ++r) {
        if (r < static_cast<int64_t>(labels.row_labels.size()))
            out.draw_text(kGridMargin, y0 + r * (ph + kGridGap) + (ph - text_height(1)) / 2,
                          labels.row_labels[static_cast<size_t>(r)], kBlack);
        for (int64_t c = 0; c < cols; ++c)
            out.paste(panels[static_cast<size_t>(r)][static_cast<size_t>(c)], x0 + c * (pw + kGridGap), y0 + r * (ph + kGridGap));
    }
    return out;
}

}  // namespace xg::vit::viz
