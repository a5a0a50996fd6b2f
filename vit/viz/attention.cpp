// attention_maps: VisionTransformer::forward (vit/vision_transformer.cpp) replayed step by step,
// with each encoder layer's self-attention asked for its weights; then the CLS rows and rollout.
#include "vit/viz/attention.h"

#include "core/autograd/grad_mode.h"
#include "core/ops.h"
#include "nn/functional.h"
#include "nn/modules/transformer.h"

namespace xg::vit::viz {

namespace F = nn::functional;

namespace {

// Puts the model back in the mode it was in, also when an error leaves attention_maps early.
class EvalModeGuard {
  public:
    explicit EvalModeGuard(nn::Module& m) : module_(m), was_training_(m.is_training()) { module_.eval(); }
    ~EvalModeGuard() { module_.train(was_training_); }
    EvalModeGuard(const EvalModeGuard&) = delete;
    EvalModeGuard& operator=(const EvalModeGuard&) = delete;

  private:
    nn::Module& module_;
    bool was_training_;
};

Tensor activate(const std::string& activation, const Tensor& x, const SrcLoc& loc) {
    return activation == "relu" ? F::relu(x, loc) : F::gelu(x, "none", loc);
}

}  // namespace

AttentionMaps attention_maps(VisionTransformer& model, const Tensor& images, SrcLoc loc) {
    const ViTConfig& cfg = model.config;
    XG_CHECK(images.defined() && images.dim() == 4 && images.size(1) == cfg.channels, loc,
             "viz::attention_maps: expected images [bs, " << cfg.channels << ", h, w], got "
                                                          << (images.defined() ? shape_str(images.shape()) : "undefined"));
    const int64_t bs = images.size(0), h = images.size(2), w = images.size(3);
    const int64_t p = cfg.patch_size, d = cfg.model_dim;
    XG_CHECK(h % p == 0 && w % p == 0, loc,
             "viz::attention_maps: image size (" << h << ", " << w << ") is not divisible by patch_size " << p);
    EvalModeGuard eval(model);  // dropout off: the maps of the model as it predicts
    NoGradGuard no_grad;        // nothing here is differentiated

    AttentionMaps maps;
    maps.grid_h = h / p;
    maps.grid_w = w / p;
    maps.pool = cfg.pool;

    // 6.1 - 6.3 as in VisionTransformer::forward: patches -> tokens, CLS first, + positions.
    Tensor patch_tokens;
    if (cfg.patch_embedding == "linear") {
        Tensor patch = F::unfold(images, p, {.stride = p}, loc).transpose(-1, -2, loc);  // [bs, n, c*p*p]
        patch_tokens = model.patch_embedding->forward(patch);                          // [bs, n, d]
    } else {
        Tensor conv_output = model.patch_embedding->forward(images);                   // [bs, d, h/p, w/p]
        patch_tokens = conv_output.reshape({bs, d, maps.grid_h * maps.grid_w}, loc).transpose(-1, -2, loc);
    }
    Tensor x = cat({model.cls_token.expand({bs, 1, d}, loc), patch_tokens}, 1, loc);  // [bs, T, d]
    x = add(x, model.position_embedding_for(h, w, loc), loc);
    x = (*model.dropout)(x, loc);

    // 6.4 the encoder, layer by layer: TransformerEncoderLayer::forward with the weights kept.
    const nn::TransformerEncoder& encoder = *model.encoder;
    for (size_t i = 0; i < encoder.layers->size(); ++i) {
        auto layer = encoder.layers->at<nn::TransformerEncoderLayer>(i);
        auto self_attention_block = [&](const Tensor& in) {
            // average_attn_weights=false: one map per head, [bs, heads, T, T]
            auto [out, weights] = (*layer->self_attn)(in, in, in, /*key_padding_mask=*/{}, /*need_weights=*/true,
                                                      /*attn_mask=*/{}, /*average_attn_weights=*/false, loc);
            maps.weights.push_back(weights);
            return (*layer->dropout1)(out, loc);
        };
        auto feed_forward_block = [&](const Tensor& in) {
            Tensor hidden = (*layer->dropout)(activate(layer->activation, (*layer->linear1)(in, loc), loc), loc);
            return (*layer->dropout2)((*layer->linear2)(hidden, loc), loc);
        };
        if (layer->norm_first) {
            x = add(x, self_attention_block((*layer->norm1)(x, loc)), loc);
            x = add(x, feed_forward_block((*layer->norm2)(x, loc)), loc);
        } else {
            x = (*layer->norm1)(add(x, self_attention_block(x), loc), loc);
            x = (*layer->norm2)(add(x, feed_forward_block(x), loc), loc);
        }
    }
    if (encoder.norm) x = encoder.norm->forward(x);

    // 6.5 the head, on the CLS token's output or on the mean of the patch tokens' outputs
    Tensor pooled = cfg.pool == "cls" ? x.select(1, 0, loc) : x.slice(1, 1, std::nullopt, 1, loc).mean({1}, false, loc);
    maps.logits = (*model.head)(pooled, loc);
    return maps;
}

namespace {

// [bs, T, T] -> [bs, n]: the row(s) of the token(s) the head reads, over the patch columns.
Tensor readout_rows(const Tensor& a, const std::string& pool) {
    if (pool == "cls") return a.select(1, 0).slice(1, 1);  // the CLS query's row
    return a.slice(1, 1).slice(2, 1).mean({1});          // the patch queries' rows, averaged
}

}  // namespace

Tensor readout_attention(const AttentionMaps& maps) {
    NoGradGuard no_grad;
    std::vector<Tensor> per_layer;
    per_layer.reserve(maps.weights.size());
    for (const Tensor& w : maps.weights) per_layer.push_back(readout_rows(w.mean({1}), maps.pool));  // heads averaged
    return stack(per_layer, 1).contiguous();  // [bs, depth, n]
}

Tensor readout_rollout(const Tensor& rollout, const std::string& pool) {
    NoGradGuard no_grad;
    return readout_rows(rollout, pool).contiguous();  // [bs, n]
}

Tensor attention_rollout(const AttentionMaps& maps, double residual, SrcLoc loc) {
    XG_CHECK(!maps.weights.empty(), loc, "viz::attention_rollout: no attention weights (an empty model?)");
    XG_CHECK(residual >= 0.0 && residual <= 1.0, loc, "viz::attention_rollout: residual must be in [0, 1], got " << residual);
    NoGradGuard no_grad;
    const int64_t T = maps.weights.front().size(-1);
    const Tensor identity = eye(T, dtype(maps.weights.front().dtype()));  // [T, T]
    Tensor rollout;
    for (const Tensor& w : maps.weights) {
        Tensor a = w.mean({1}, false, loc);                                   // [bs, T, T], heads averaged
        a = add(mul(a, 1.0 - residual, loc), mul(identity, residual, loc), loc);  // the residual path
        a = div(a, a.sum({-1}, /*keepdim=*/true, loc), loc);                  // rows sum to 1 again
        // Layer l acts on what layers 1..l-1 produced: R_l = A'_l R_{l-1}.
        rollout = rollout.defined() ? a.matmul(rollout, loc) : a;
    }
    return rollout.contiguous();  // [bs, T, T]
}

}  // namespace xg::vit::viz
