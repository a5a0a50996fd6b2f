#pragma once
// The figures of tutorials/09_visualize, one function each (docs/visualize.md shows them):
//
//   draw_patches               each image beside itself cut into the patches the model reads
//   draw_layer_attention       the CLS token's attention to every patch, one column per layer
//                              (with mean pooling: the patch tokens' mean attention)
//   draw_rollout               attention rollout through all layers, alone and over the image
//   draw_position_similarity   cosine similarity of the learned position embeddings (ViT Fig. 7)
//
// `display` is the batch as it should look, [bs, C, H, W] with values in [0, 1] (the pixels
// before the model's normalization); row_labels (one per image, may be empty) name each row.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "vit/viz/attention.h"
#include "vit/viz/image.h"

namespace xg::vit::viz {

// How much an image of height h is enlarged in the figures: about 96 pixels tall, at least 1x.
int64_t panel_scale(int64_t h);

Image draw_patches(const Tensor& display, int64_t patch_size, const std::vector<std::string>& row_labels = {},
                   SrcLoc loc = SrcLoc::current());

// Each panel is scaled to its own maximum: the figure shows where each layer looks, not how
// sharply (early layers spread their attention; the colour map would hide that otherwise).
Image draw_layer_attention(const Tensor& display, const AttentionMaps& maps,
                         const std::vector<std::string>& row_labels = {}, SrcLoc loc = SrcLoc::current());

Image draw_rollout(const Tensor& display, const AttentionMaps& maps, const std::vector<std::string>& row_labels = {},
                   SrcLoc loc = SrcLoc::current());

// similarity: [n, n] from position_similarity, n = grid_h * grid_w. One small grid per patch
// position, laid out like the patches: tile (i, j) shows that position's similarity to all others.
// Colours span [-range, range] (the paper's [-1, 1] by default; a smaller range brings out weak
// structure, and everything beyond it saturates).
Image draw_position_similarity(const Tensor& similarity, int64_t grid_h, int64_t grid_w,
                               const std::string& title = "Position embedding similarity", double range = 1.0,
                               SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit::viz
