#pragma once
// An image as the sequence of patches a ViT reads, and back.
//
//   Tensor patches = viz::cut_patches(image, 4);          // [3, 8, 8] -> [4, 3, 4, 4]
//   Tensor again = viz::assemble_patches(patches, 2, 2);  // [3, 8, 8], equal to image
#include <cstdint>

#include "core/tensor.h"

namespace xg::vit::viz {

// image [C, H, W] -> [n, C, p, p] with n = (H / p) * (W / p) patches in token order (row by row,
// left to right): F::unfold's columns, exactly what the model's patch embedding receives.
Tensor cut_patches(const Tensor& image, int64_t patch_size, SrcLoc loc = SrcLoc::current());

// The inverse: patches [grid_h * grid_w, C, p, p] in token order -> the image [C, grid_h * p, grid_w * p].
// Written with view/permute (not F::fold), so a test of the two against each other means something.
Tensor assemble_patches(const Tensor& patches, int64_t grid_h, int64_t grid_w, SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit::viz
