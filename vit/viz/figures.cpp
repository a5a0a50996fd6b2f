#include "vit/viz/figures.h"

#include <algorithm>

#include "core/ops.h"
#include "vit/viz/layout.h"
#include "vit/viz/patches.h"

namespace xg::vit::viz {

namespace {

void check_display(const Tensor& display, const char* op, const SrcLoc& loc) {
    XG_CHECK(display.defined() && display.dim() == 4 && (display.size(1) == 1 || display.size(1) == 3), loc,
             op << ": expected display images [bs, 1 or 3, H, W] with values in [0, 1], got "
                << (display.defined() ? shape_str(display.shape()) : "undefined"));
}

void check_maps(const Tensor& display, const AttentionMaps& maps, const char* op, const SrcLoc& loc) {
    check_display(display, op, loc);
    XG_CHECK(!maps.weights.empty() && maps.weights.front().size(0) == display.size(0), loc,
             op << ": the attention maps are of a batch of " << (maps.weights.empty() ? 0 : maps.weights.front().size(0))
                << " images, the display batch has " << display.size(0));
    XG_CHECK(maps.grid_h > 0 && maps.grid_w > 0 && display.size(2) % maps.grid_h == 0 && display.size(3) % maps.grid_w == 0,
             loc, op << ": a " << maps.grid_h << " x " << maps.grid_w << " patch grid does not tile images of "
                     << display.size(2) << " x " << display.size(3));
}

double max_of(const Tensor& t) { return std::max(t.max().item(), 1e-12); }

}  // namespace

int64_t panel_scale(int64_t h) { return std::max<int64_t>(1, 96 / std::max<int64_t>(h, 1)); }

Image draw_patches(const Tensor& display, int64_t patch_size, const std::vector<std::string>& row_labels, SrcLoc loc) {
    check_display(display, "viz::draw_patches", loc);
    const int64_t H = display.size(2), W = display.size(3), p = patch_size;
    XG_CHECK(p > 0 && H % p == 0 && W % p == 0, loc,
             "viz::draw_patches: " << H << " x " << W << " images do not cut into whole " << p << "x" << p << " patches");
    const int64_t s = panel_scale(H), gap = 2, gh = H / p, gw = W / p;
    // The exploded grid is wider than the image by its gaps; the image is centred in a panel that size.
    const int64_t pw = W * s + (gw - 1) * gap, ph = H * s + (gh - 1) * gap;
    std::vector<std::vector<Image>> rows;
    for (int64_t b = 0; b < display.size(0); ++b) {
        const Tensor image = display.select(0, b, loc);  // [C, H, W]
        Image whole(pw, ph, kWhite, loc);
        whole.paste(tensor_to_image(image, s, 0, 1, loc), (pw - W * s) / 2, (ph - H * s) / 2);
        Image exploded(pw, ph, kWhite, loc);
        const Tensor patches = cut_patches(image, p, loc);  // [n, C, p, p], token order
        for (int64_t k = 0; k < patches.size(0); ++k)
            exploded.paste(tensor_to_image(patches.select(0, k, loc), s, 0, 1, loc), (k % gw) * (p * s + gap),
                           (k / gw) * (p * s + gap));
        rows.push_back({whole, exploded});
    }
    return compose_grid(rows, {"The image as patches", {"image", "patches, row by row"}, row_labels}, loc);
}

Image draw_layer_attention(const Tensor& display, const AttentionMaps& maps, const std::vector<std::string>& row_labels,
                         SrcLoc loc) {
    check_maps(display, maps, "viz::draw_layer_attention", loc);
    const Tensor seen = readout_attention(maps);  // [bs, depth, n]
    const int64_t depth = seen.size(1), s = panel_scale(display.size(2));
    std::vector<std::string> columns = {"image"};
    for (int64_t l = 0; l < depth; ++l) columns.push_back("layer " + std::to_string(l + 1));
    std::vector<std::vector<Image>> rows;
    for (int64_t b = 0; b < display.size(0); ++b) {
        const Image base = tensor_to_image(display.select(0, b, loc), s, 0, 1, loc);
        std::vector<Image> row = {base};
        for (int64_t l = 0; l < depth; ++l) {
            const Tensor v = seen.select(0, b, loc).select(0, l, loc).reshape({maps.grid_h, maps.grid_w}, loc);
            row.push_back(overlay_heatmap(base, v, 0.0, max_of(v), 0.5, loc));
        }
        rows.push_back(std::move(row));
    }
    const std::string title = maps.pool == "cls" ? "CLS token attention per layer" : "Mean patch attention per layer";
    return compose_grid(rows, {title, columns, row_labels}, loc);
}

Image draw_rollout(const Tensor& display, const AttentionMaps& maps, const std::vector<std::string>& row_labels,
                   SrcLoc loc) {
    check_maps(display, maps, "viz::draw_rollout", loc);
    const Tensor seen = readout_rollout(attention_rollout(maps, 0.5, loc), maps.pool);  // [bs, n]
    const int64_t s = panel_scale(display.size(2)), cell = display.size(2) / maps.grid_h * s;
    std::vector<std::vector<Image>> rows;
    for (int64_t b = 0; b < display.size(0); ++b) {
        const Image base = tensor_to_image(display.select(0, b, loc), s, 0, 1, loc);
        // How much of each patch reaches the token(s) the classifier reads.
        const Tensor v = seen.select(0, b, loc).reshape({maps.grid_h, maps.grid_w}, loc);
        const double hi = max_of(v);
        Image alone(base.width(), base.height(), kWhite, loc);
        alone.paste(heatmap(v, cell, 0.0, hi, loc), 0, 0);
        rows.push_back({base, alone, overlay_heatmap(base, v, 0.0, hi, 0.5, loc)});
    }
    return compose_grid(rows, {"Attention rollout", {"image", "rollout", "over the image"}, row_labels}, loc);
}

Image draw_position_similarity(const Tensor& similarity, int64_t grid_h, int64_t grid_w, const std::string& title,
                               double range, SrcLoc loc) {
    XG_CHECK(similarity.defined() && similarity.dim() == 2 && similarity.size(0) == grid_h * grid_w &&
                 similarity.size(1) == grid_h * grid_w,
             loc, "viz::draw_position_similarity: expected similarity [" << grid_h * grid_w << ", " << grid_h * grid_w
                                                                         << "] for a " << grid_h << " x " << grid_w
                                                                         << " grid, got "
                                                                         << (similarity.defined() ? shape_str(similarity.shape())
                                                                                                  : "undefined"));
    XG_CHECK(range > 0, loc, "viz::draw_position_similarity: range must be positive, got " << range);
    const int64_t cell = std::max<int64_t>(2, 42 / std::max(grid_h, grid_w));
    std::vector<std::vector<Image>> rows;
    std::vector<std::string> columns, row_labels;
    for (int64_t j = 0; j < grid_w; ++j) columns.push_back(std::to_string(j + 1));
    for (int64_t i = 0; i < grid_h; ++i) {
        row_labels.push_back(std::to_string(i + 1));
        std::vector<Image> row;
        for (int64_t j = 0; j < grid_w; ++j) {
            const Tensor v = similarity.select(0, i * grid_w + j, loc).reshape({grid_h, grid_w}, loc);
            row.push_back(heatmap(v, cell, -range, range, loc));  // one scale for all: tiles compare with each other
        }
        rows.push_back(std::move(row));
    }
    const Image grid = compose_grid(rows, {title, columns, row_labels}, loc);
    const Image bar = colorbar(std::min<int64_t>(grid.width() - 2 * kGridMargin, 240), -range, range, "cosine similarity");
    Image out(grid.width(), grid.height() + bar.height() + kGridMargin, kWhite, loc);
    out.paste(grid, 0, 0);
    out.paste(bar, (grid.width() - bar.width()) / 2, grid.height());
    return out;
}

}  // namespace xg::vit::viz
