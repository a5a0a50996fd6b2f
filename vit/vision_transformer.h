#pragma once
// The Vision Transformer of the source (sections 4 and 6), as one nn::Module:
//
//   image [bs, c, h, w]
//     -> patch_embedding          one model_dim vector per patch       [bs, n, d]      (6.1)
//     -> cat(cls_token, ...)      the learned CLS token prepended      [bs, 1 + n, d]  (6.2)
//     -> + pos_embedding          one learned vector per position                      (6.3)
//     -> dropout -> encoder       TransformerEncoder, batch_first      [bs, 1 + n, d]  (6.4)
//     -> CLS output (or the mean of the patch outputs) -> head   logits [bs, num_classes] (6.5)
//
//   auto model = std::make_shared<xg::vit::VisionTransformer>(xg::vit::ViTConfig::fashion_mnist());
//   Tensor logits = (*model)(images);                    // [bs, 10]
//   Tensor loss = F::cross_entropy(logits, labels);
//
// Parameter names are those of the PyTorch reference model `ViT` in tests/fixtures/vit_fixtures.py,
// so state dicts move between the two unchanged (docs/vit.md lists them):
//   cls_token [1, 1, d]   pos_embedding [1, 1 + n, d]
//   patch_embedding.weight [d, c*p*p] (linear) or [d, c, p, p] (conv), patch_embedding.bias [d]
//   encoder.layers.<i>.self_attn.in_proj_weight ... (nn.TransformerEncoderLayer's names)
//   encoder.norm.weight / .bias (pre-norm only: the stack's final LayerNorm)
//   head.weight [num_classes, d], head.bias [num_classes]
#include <cstdint>
#include <memory>
#include <string>

#include "nn/functional.h"
#include "nn/module.h"
#include "nn/modules/dropout.h"
#include "nn/modules/linear.h"
#include "nn/modules/transformer.h"

namespace xg::vit {

// What a VisionTransformer is made of. Designated initializers read like keyword arguments:
//   ViTConfig cfg{.image_size = 28, .patch_size = 7, .channels = 1, .model_dim = 64};
struct ViTConfig {
    nn::functional::IntPair image_size = 28;  // (h, w) of the training images; one int = square
    int64_t patch_size = 4;                   // square patches, p x p pixels
    int64_t channels = 1;
    int64_t num_classes = 10;
    int64_t model_dim = 128;                  // d: the length of every token's vector
    int64_t depth = 6;                        // number of encoder layers
    int64_t num_heads = 8;                    // attention heads; model_dim % num_heads == 0
    int64_t mlp_dim = 512;                    // the feed-forward hidden size (dim_feedforward)
    double dropout = 0.1;                     // inside every encoder layer
    double emb_dropout = 0.1;                 // on the token embeddings, before the encoder
    std::string patch_embedding = "linear";   // "linear" (unfold + Linear) | "conv" (Conv2d)
    int64_t patch_overlap = 0;                // conv only: each patch's kernel reaches this many pixels
                                              // into its neighbours on every side (kernel p + 2o,
                                              // stride p, padding o): the same grid, overlapping views
    std::string pool = "cls";                 // "cls" (the CLS token's output) | "mean" (of the patch outputs)
    bool norm_first = true;                   // pre-norm (ViT) or post-norm (the original Transformer)
    std::string activation = "gelu";          // "gelu" (ViT) | "relu" (nn.TransformerEncoderLayer's default)
    double layer_norm_eps = 1e-5;

    // The source's toy model, exactly: a 3 x 8 x 8 image, 4 x 4 patches, model_dim 8, and
    // nn.TransformerEncoderLayer(d_model=8, nhead=8)'s defaults (dim_feedforward 2048,
    // dropout 0.1, relu, post-norm) stacked 6 deep; conv patch embedding, CLS pooling, 10 classes,
    // no embedding dropout (the source has none). Only batch_first differs: errata 4.
    static ViTConfig toy();
    // Fashion-MNIST: 1 x 28 x 28, 4 x 4 patches (a 7 x 7 grid), d 128, 6 layers, 8 heads,
    // MLP 512, GELU, pre-norm, dropout 0.1.
    static ViTConfig fashion_mnist();
    // The shapes of ViT-Tiny/16 and ViT-Small/16 (DeiT): 3 x 224 x 224, 16 x 16 patches,
    // 12 layers; d 192 / 3 heads / MLP 768 and d 384 / 6 heads / MLP 1536; 1000 classes.
    static ViTConfig tiny();
    static ViTConfig small();

    // Throws xg::Error naming the offending values (and the caller's line) unless the image
    // divides into whole patches, model_dim splits into num_heads heads, and every choice is known.
    void validate(SrcLoc loc = SrcLoc::current()) const;

    int64_t grid_h() const { return image_size.h / patch_size; }
    int64_t grid_w() const { return image_size.w / patch_size; }
    int64_t num_patches() const { return grid_h() * grid_w(); }
    int64_t patch_depth() const { return channels * patch_size * patch_size; }  // values per patch
    int64_t patch_kernel() const { return patch_size + 2 * patch_overlap; }     // the conv's kernel size
};

class VisionTransformer : public nn::Cloneable<VisionTransformer> {
  public:
    explicit VisionTransformer(const ViTConfig& config, SrcLoc loc = SrcLoc::current());

    // images: [bs, channels, h, w]  ->  logits [bs, num_classes].
    // h and w may differ from config.image_size (both divisible by patch_size): the position
    // embedding table is then resampled to the new patch grid (resample_pos_embedding) on the fly.
    Tensor forward(const Tensor& images, SrcLoc loc);
    Tensor forward(const Tensor& images) override { return forward(images, SrcLoc::current()); }
    Tensor operator()(const Tensor& images, SrcLoc loc = SrcLoc::current()) { return forward(images, loc); }

    // The position embeddings for an h x w image: pos_embedding itself for the training size,
    // else the table resampled to that patch grid.   ->  [1, 1 + (h/p)*(w/p), d]
    Tensor position_embedding_for(int64_t h, int64_t w, SrcLoc loc = SrcLoc::current()) const;

    std::string type_name() const override { return "VisionTransformer"; }
    void visit(nn::Visitor& v) override;

    ViTConfig config;
    std::shared_ptr<nn::Module> patch_embedding;  // nn::Linear(c*p*p, d) or nn::Conv2d(c, d, p + 2o, stride=p, padding=o)
    Tensor cls_token;                             // [1, 1, d]: one token, shared by every image of the batch
    Tensor pos_embedding;                         // [1, 1 + num_patches, d]: row 0 for the CLS token
    std::shared_ptr<nn::Dropout> dropout;         // on the token embeddings
    std::shared_ptr<nn::TransformerEncoder> encoder;
    std::shared_ptr<nn::Linear> head;             // d -> num_classes
};

}  // namespace xg::vit
