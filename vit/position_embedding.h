#pragma once
// Section 4.4 of the source: "interpolate the position embedding at inference time".
//
// A ViT learns one position embedding per patch of its training grid (plus one for the CLS
// token). An image of another size has another number of patches, so the table no longer fits.
// The patch entries form a gh x gw image with model_dim channels; resize that image to the new
// grid (bicubic, as the ViT paper and timm do) and the nearby-patches-look-alike structure the
// table learned carries over. The CLS entry has no place on the grid: it is kept aside as is.
//
// PyTorch:
//   cls_pos, grid = table[:, :1], table[:, 1:]                                   # [1, 1, d], [1, gh*gw, d]
//   grid = grid.reshape(1, gh, gw, d).permute(0, 3, 1, 2)                        # [1, d, gh, gw]
//   grid = F.interpolate(grid, size=(nh, nw), mode="bicubic", align_corners=False)
//   grid = grid.permute(0, 2, 3, 1).reshape(1, nh * nw, d)
//   table = torch.cat([cls_pos, grid], dim=1)                                    # [1, 1 + nh*nw, d]
#include "core/tensor.h"
#include "nn/functional.h"

namespace xg::vit {

// table: [1, 1 + old_grid.h * old_grid.w, d] (or [1 + gh*gw, d], the source's 2-D table)
//   ->   [1, 1 + new_grid.h * new_grid.w, d] (same rank). Differentiable w.r.t. the table.
// Returns the table itself when the grids are equal.
Tensor resample_pos_embedding(const Tensor& table, nn::functional::IntPair old_grid, nn::functional::IntPair new_grid,
                              SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit
