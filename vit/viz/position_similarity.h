#pragma once
// What the learned position embeddings encode (the ViT paper's Figure 7): the cosine similarity
// of each patch position's embedding with every other's. A model that has learned the 2-D layout
// shows, for each position, a bright spot at itself fading with distance, often in its row and
// column; a randomly initialized table shows noise around a bright diagonal.
#include <cstdint>

#include "core/tensor.h"

namespace xg::vit::viz {

// pos_embedding: [1, 1 + n, d] (or [1 + n, d]): row 0 belongs to the CLS token and is left out.
//   -> [n, n] with sim[i, j] = <e_i, e_j> / (|e_i| |e_j|) in [-1, 1]; sim[i, i] = 1.
Tensor position_similarity(const Tensor& pos_embedding, SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit::viz
