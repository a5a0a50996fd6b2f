#pragma once
// Where a Vision Transformer looks: the attention weights of every encoder layer, the CLS token's
// attention to each patch, and attention rollout (Abnar & Zuidema, "Quantifying Attention Flow
// in Transformers", 2020).
//
//   auto maps = viz::attention_maps(*model, images);     // runs the model, keeping the weights
//   Tensor seen = viz::readout_attention(maps);          // [bs, depth, num_patches]
//   Tensor rollout = viz::attention_rollout(maps);       // [bs, T, T], rows sum to 1
//
// The encoder layers call self_attn with need_weights=false (the weights are not needed to
// train), so attention_maps runs the layers itself, step by step as
// TransformerEncoderLayer::forward does, from the model's public members (encoder->layers,
// each layer's norm1, self_attn, linear1, ...), asking self_attn for its weights. Its logits are
// the model's own (a test checks it), so the maps are those of the model that classifies.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "vit/vision_transformer.h"

namespace xg::vit::viz {

struct AttentionMaps {
    // weights[l]: layer l's attention weights per head, [bs, num_heads, T, T] with T = 1 + num_patches;
    // row i is query token i's distribution over the T keys (token 0 is the CLS token).
    std::vector<Tensor> weights;
    Tensor logits;  // [bs, num_classes]: the model's output for the same forward
    int64_t grid_h = 0, grid_w = 0;  // the patch grid: num_patches = grid_h * grid_w
    std::string pool = "cls";        // the model's pooling: which tokens the head reads
};

// Runs model on images [bs, channels, h, w] in eval mode without recording a graph (the model's
// train/eval mode is restored afterwards) and keeps every layer's attention weights.
AttentionMaps attention_maps(VisionTransformer& model, const Tensor& images, SrcLoc loc = SrcLoc::current());

// Per layer, the attention of the token(s) the head reads to each patch, averaged over heads:
// with pool "cls" the CLS token's row (weights[l][b, :, 0, 1:]), with pool "mean" the mean of the
// patch tokens' rows (weights[l][b, :, 1:, 1:] averaged over the queries).
//   -> [bs, depth, num_patches]   (the attention to the CLS token itself is left out)
Tensor readout_attention(const AttentionMaps& maps);

// Attention rollout: how much of each input token reaches each output token through all the
// layers. Per layer, the head-averaged weights A plus the residual connection (identity), which
// carries as much as attention does: A' = residual * I + (1 - residual) * A, rows renormalized;
// then R = A'_L ... A'_2 A'_1. Every A' is row-stochastic, so each row of R sums to 1.
//   -> [bs, T, T]; R[b, 0, 1:] is the CLS token's rollout over the patches.
Tensor attention_rollout(const AttentionMaps& maps, double residual = 0.5, SrcLoc loc = SrcLoc::current());

// The rollout of the token(s) the head reads, over the patches: R[:, 0, 1:] with pool "cls",
// R[:, 1:, 1:] averaged over the queries with pool "mean".   rollout [bs, T, T] -> [bs, num_patches]
Tensor readout_rollout(const Tensor& rollout, const std::string& pool);

}  // namespace xg::vit::viz
