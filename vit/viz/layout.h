#pragma once
// Turning tensors into pictures, and pictures into a figure: a [C, H, W] image as pixels, a grid
// of values as a heat map laid over it, and panels arranged in a labelled grid.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "vit/viz/image.h"

namespace xg::vit::viz {

// image: [1, H, W] (grayscale) or [3, H, W] (RGB) with values in [lo, hi] (clamped), each pixel
// drawn as a scale x scale square (nearest neighbour: a pixel stays a pixel).
Image tensor_to_image(const Tensor& image, int64_t scale = 1, double lo = 0.0, double hi = 1.0,
                      SrcLoc loc = SrcLoc::current());

// Lays values [gh, gw] over base, cell (i, j) covering the base's i-th of gh rows and j-th of gw
// columns, coloured with viridis scaled to [lo, hi] and mixed in with weight alpha.
Image overlay_heatmap(const Image& base, const Tensor& values, double lo, double hi, double alpha = 0.6,
                      SrcLoc loc = SrcLoc::current());

// values [gh, gw] as a heat map of gh x gw cells of cell x cell pixels (viridis over [lo, hi]).
Image heatmap(const Tensor& values, int64_t cell, double lo, double hi, SrcLoc loc = SrcLoc::current());

// A horizontal colour bar of viridis over [lo, hi], with lo, the middle and hi written below it.
Image colorbar(int64_t width, double lo, double hi, const std::string& label = "");

// The labels of a grid of panels: a title above everything, one title per column, one label per
// row (left of it). Any may be empty.
struct GridLabels {
    std::string title;
    std::vector<std::string> column_titles;
    std::vector<std::string> row_labels;
};

// Panels in rows and columns: every panel the size of panels[0][0] (all rows the same length),
// kGridGap pixels apart, a kGridMargin frame around all, the labels' bands added when present
// (and the figure widened when the title is wider than the panels).
Image compose_grid(const std::vector<std::vector<Image>>& panels, const GridLabels& labels = {},
                   SrcLoc loc = SrcLoc::current());
// The size compose_grid gives rows x cols panels of panel_w x panel_h: {width, height}.
std::pair<int64_t, int64_t> grid_size(int64_t rows, int64_t cols, int64_t panel_w, int64_t panel_h,
                                      const GridLabels& labels = {});

inline constexpr int64_t kGridMargin = 8;
inline constexpr int64_t kGridGap = 4;

}  // namespace xg::vit::viz
