// resample_pos_embedding: the CLS entry kept aside, the patch grid resized bicubic.
#include "vit/position_embedding.h"

#include "core/ops.h"
#include "nn/interpolate.h"

namespace xg::vit {

namespace F = nn::functional;

Tensor resample_pos_embedding(const Tensor& table, F::IntPair old_grid, F::IntPair new_grid, SrcLoc loc) {
    XG_CHECK(table.defined(), loc, "resample_pos_embedding: the table is undefined");
    XG_CHECK(table.dim() == 3 || table.dim() == 2, loc,
             "resample_pos_embedding: expected a table [1, 1 + gh*gw, d] (or [1 + gh*gw, d]), got shape " << table.shape());
    XG_CHECK(table.dim() == 2 || table.size(0) == 1, loc,
             "resample_pos_embedding: expected a table [1, 1 + gh*gw, d], got shape " << table.shape());
    XG_CHECK(old_grid.h > 0 && old_grid.w > 0 && new_grid.h > 0 && new_grid.w > 0, loc,
             "resample_pos_embedding: grid sizes must be positive, got old_grid=(" << old_grid.h << ", " << old_grid.w
                                                                                 << ") and new_grid=(" << new_grid.h
                                                                                 << ", " << new_grid.w << ")");
    const bool batched = table.dim() == 3;
    Tensor t = batched ? table : table.unsqueeze(0, loc);  // [1, 1 + gh*gw, d]
    const int64_t num_tokens = t.size(1), d = t.size(2);
    XG_CHECK(num_tokens == 1 + old_grid.h * old_grid.w, loc,
             "resample_pos_embedding: the table has " << num_tokens << " entries, but a " << old_grid.h << "x"
                                                      << old_grid.w << " grid of patches plus the CLS token needs "
                                                      << 1 + old_grid.h * old_grid.w << " (table shape "
                                                      << table.shape() << ")");
    if (old_grid == new_grid) return table;

    // cls_pos, grid = table[:, :1], table[:, 1:]
    Tensor cls_pos = t.slice(1, 0, 1, 1, loc);  // [1, 1, d]
    Tensor grid = t.slice(1, 1, std::nullopt, 1, loc);  // [1, gh*gw, d], row-major over the patch grid
    // grid = grid.reshape(1, gh, gw, d).permute(0, 3, 1, 2): an image with d channels
    grid = grid.reshape({1, old_grid.h, old_grid.w, d}, loc).permute({0, 3, 1, 2}, loc);
    // grid = F.interpolate(grid, size=(nh, nw), mode="bicubic", align_corners=False)
    grid = F::interpolate(grid, {.size = F::IntPair(new_grid.h, new_grid.w), .mode = "bicubic", .align_corners = false},
                          loc);
    // grid = grid.permute(0, 2, 3, 1).reshape(1, nh * nw, d): back to one row per patch
    grid = grid.permute({0, 2, 3, 1}, loc).reshape({1, new_grid.h * new_grid.w, d}, loc);
    // table = torch.cat([cls_pos, grid], dim=1)
    Tensor resampled = cat({cls_pos, grid}, 1, loc);
    return batched ? resampled : resampled.squeeze(0, loc);
}

}  // namespace xg::vit
