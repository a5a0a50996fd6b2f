// VisionTransformer: the source's pipeline (sections 6.1 - 6.5) as one module. Each step of
// forward() quotes the PyTorch line of the reference model (tests/fixtures/vit_fixtures.py)
// it mirrors; the autograd of every step lives in the ops it calls.
#include "vit/vision_transformer.h"

#include "core/ops.h"
#include "nn/modules/conv.h"
#include "nn/modules/normalization.h"
#include "vit/position_embedding.h"

namespace xg::vit {

namespace F = nn::functional;

// ---- ViTConfig ---------------------------------------------------------------------------------

ViTConfig ViTConfig::toy() {
    return ViTConfig{.image_size = 8, .patch_size = 4, .channels = 3, .num_classes = 10, .model_dim = 8,
                     .depth = 6, .num_heads = 8, .mlp_dim = 2048, .dropout = 0.1, .emb_dropout = 0.0,
                     .patch_embedding = "conv", .pool = "cls", .norm_first = false, .activation = "relu"};
}

ViTConfig ViTConfig::fashion_mnist() {
    return ViTConfig{.image_size = 28, .patch_size = 4, .channels = 1, .num_classes = 10, .model_dim = 128,
                     .depth = 6, .num_heads = 8, .mlp_dim = 512, .dropout = 0.1, .emb_dropout = 0.1,
                     .patch_embedding = "linear", .pool = "cls", .norm_first = true, .activation = "gelu"};
}

ViTConfig ViTConfig::tiny() {
    return ViTConfig{.image_size = 224, .patch_size = 16, .channels = 3, .num_classes = 1000, .model_dim = 192,
                     .depth = 12, .num_heads = 3, .mlp_dim = 768, .dropout = 0.0, .emb_dropout = 0.0,
                     .patch_embedding = "conv", .pool = "cls", .norm_first = true, .activation = "gelu"};
}

ViTConfig ViTConfig::small() {
    ViTConfig c = tiny();
    c.model_dim = 384;
    c.num_heads = 6;
    c.mlp_dim = 1536;
    return c;
}

void ViTConfig::validate(SrcLoc loc) const {
    XG_CHECK(patch_size > 0, loc, "ViTConfig: patch_size must be positive, got " << patch_size);
    XG_CHECK(image_size.h > 0 && image_size.w > 0, loc,
             "ViTConfig: image_size must be positive, got (" << image_size.h << ", " << image_size.w << ")");
    XG_CHECK(image_size.h % patch_size == 0 && image_size.w % patch_size == 0, loc,
             "ViTConfig: image_size (" << image_size.h << ", " << image_size.w << ") is not divisible by patch_size "
                                       << patch_size << ": the image must cut into whole " << patch_size << "x"
                                       << patch_size << " patches");
    XG_CHECK(channels > 0 && num_classes > 0 && model_dim > 0 && depth > 0 && num_heads > 0 && mlp_dim > 0, loc,
             "ViTConfig: channels, num_classes, model_dim, depth, num_heads and mlp_dim must be positive, got "
                 << channels << ", " << num_classes << ", " << model_dim << ", " << depth << ", " << num_heads << ", "
                 << mlp_dim);
    XG_CHECK(model_dim % num_heads == 0, loc,
             "ViTConfig: model_dim " << model_dim << " is not divisible by num_heads " << num_heads
                                     << " (each head works on model_dim / num_heads features)");
    XG_CHECK(dropout >= 0.0 && dropout <= 1.0 && emb_dropout >= 0.0 && emb_dropout <= 1.0, loc,
             "ViTConfig: dropout probabilities must be in [0, 1], got dropout=" << dropout
                                                                                << " and emb_dropout=" << emb_dropout);
    XG_CHECK(patch_embedding == "linear" || patch_embedding == "conv", loc,
             "ViTConfig: patch_embedding must be \"linear\" or \"conv\", got \"" << patch_embedding << "\"");
    XG_CHECK(patch_overlap >= 0 && patch_overlap < patch_size, loc,
             "ViTConfig: patch_overlap must be in [0, patch_size) = [0, " << patch_size << "), got " << patch_overlap);
    XG_CHECK(patch_overlap == 0 || patch_embedding == "conv", loc,
             "ViTConfig: patch_overlap " << patch_overlap
                                         << " needs patch_embedding \"conv\" (unfold + Linear cuts whole patches), got \""
                                         << patch_embedding << "\"");
    XG_CHECK(pool == "cls" || pool == "mean", loc, "ViTConfig: pool must be \"cls\" or \"mean\", got \"" << pool << "\"");
    XG_CHECK(activation == "relu" || activation == "gelu", loc,
             "ViTConfig: activation must be \"relu\" or \"gelu\", got \"" << activation << "\"");
}

// ---- VisionTransformer ----------------------------------------------------------------------------

// Submodules and parameters are created in the reference model's order, so the random initial
// values come out of the generator in the same order: after xg::manual_seed(s) the model starts
// with the weights PyTorch's ViT has after torch.manual_seed(s).
VisionTransformer::VisionTransformer(const ViTConfig& cfg, SrcLoc loc) : config(cfg) {
    config.validate(loc);
    const int64_t d = config.model_dim, p = config.patch_size;
    if (config.patch_embedding == "linear")
        // self.patch_embedding = nn.Linear(patch_depth, model_dim)
        patch_embedding = std::make_shared<nn::Linear>(config.patch_depth(), d, /*bias=*/true, loc);
    else
        // self.patch_embedding = nn.Conv2d(channels, model_dim, kernel_size=patch_size + 2 * patch_overlap,
        //                                  stride=patch_size, padding=patch_overlap)
        patch_embedding = std::make_shared<nn::Conv2d>(config.channels, d, config.patch_kernel(), /*stride=*/p,
                                                       /*padding=*/config.patch_overlap, /*dilation=*/1,
                                                       /*bias=*/true, loc);
    // self.cls_token = nn.Parameter(torch.randn(1, 1, model_dim))
    cls_token = randn({1, 1, d}, requires_grad());
    // self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, model_dim))
    pos_embedding = randn({1, config.num_patches() + 1, d}, requires_grad());
    // self.dropout = nn.Dropout(emb_dropout)
    dropout = std::make_shared<nn::Dropout>(config.emb_dropout, loc);
    // encoder_layer = nn.TransformerEncoderLayer(model_dim, num_heads, mlp_dim, dropout, activation,
    //                                            layer_norm_eps, batch_first=True, norm_first=norm_first)
    auto encoder_layer = std::make_shared<nn::TransformerEncoderLayer>(
        d, config.num_heads, config.mlp_dim, config.dropout, config.activation, config.layer_norm_eps,
        /*batch_first=*/true, config.norm_first, loc);
    // A pre-norm stack leaves its last residual sum un-normalized: ViT adds one final LayerNorm.
    //   norm = nn.LayerNorm(model_dim, eps=layer_norm_eps) if norm_first else None
    std::shared_ptr<nn::Module> final_norm;
    if (config.norm_first) final_norm = std::make_shared<nn::LayerNorm>(d, config.layer_norm_eps, true, loc);
    // self.encoder = nn.TransformerEncoder(encoder_layer, num_layers=depth, norm=norm)
    encoder = std::make_shared<nn::TransformerEncoder>(encoder_layer, config.depth, final_norm, loc);
    // self.head = nn.Linear(model_dim, num_classes)
    head = std::make_shared<nn::Linear>(d, config.num_classes, /*bias=*/true, loc);
}

Tensor VisionTransformer::position_embedding_for(int64_t h, int64_t w, SrcLoc loc) const {
    const int64_t p = config.patch_size;
    XG_CHECK(h > 0 && w > 0 && h % p == 0 && w % p == 0, loc,
             "VisionTransformer: image size (" << h << ", " << w << ") is not divisible by patch_size " << p);
    const F::IntPair trained_grid(config.grid_h(), config.grid_w()), grid(h / p, w / p);
    if (grid == trained_grid) return pos_embedding;
    return resample_pos_embedding(pos_embedding, trained_grid, grid, loc);
}

Tensor VisionTransformer::forward(const Tensor& images, SrcLoc loc) {
    XG_CHECK(images.defined(), loc, "VisionTransformer: the images tensor is undefined");
    XG_CHECK(images.dim() == 4, loc,
             "VisionTransformer: expected images [bs, channels, h, w], got shape " << images.shape());
    XG_CHECK(images.size(1) == config.channels, loc,
             "VisionTransformer: the model was built for " << config.channels << " channel(s), got images of shape "
                                                           << images.shape());
    const int64_t bs = images.size(0), h = images.size(2), w = images.size(3);
    const int64_t p = config.patch_size, d = config.model_dim;
    XG_CHECK(h % p == 0 && w % p == 0, loc,
             "VisionTransformer: image size (" << h << ", " << w << ") is not divisible by patch_size " << p
                                               << " (images of shape " << images.shape() << ")");

    // 6.1  image -> one embedding per patch (the source's patch_embedding)       [bs, n, d]
    Tensor patch_tokens;
    if (config.patch_embedding == "linear") {
        // patch = F.unfold(image, kernel_size=patch_size, stride=patch_size).transpose(-1, -2)
        Tensor patch = F::unfold(images, p, {.stride = p}, loc).transpose(-1, -2, loc);  // [bs, n, c*p*p]
        // patch_embedding = self.patch_embedding(patch)
        patch_tokens = patch_embedding->forward(patch);
    } else {
        // conv_output = self.patch_embedding(image)                              # bs*oc*oh*ow
        Tensor conv_output = patch_embedding->forward(images);
        // patch_embedding = conv_output.reshape((bs, oc, oh * ow)).transpose(-1, -2)
        patch_tokens = conv_output.reshape({bs, d, (h / p) * (w / p)}, loc).transpose(-1, -2, loc);
    }

    // 6.2  prepend the CLS token: one learned vector, the same for every image (errata 2: it must
    // be expanded to [bs, 1, d] before it can be concatenated with the [bs, n, d] patches)
    // cls_token_embedding = self.cls_token.expand(bs, 1, model_dim)
    Tensor cls_token_embedding = cls_token.expand({bs, 1, d}, loc);
    // token_embedding = torch.cat([cls_token_embedding, patch_embedding], dim=1)     [bs, 1 + n, d]
    Tensor token_embedding = cat({cls_token_embedding, patch_tokens}, 1, loc);

    // 6.3  add the position embeddings; broadcasting over the batch does what the source's tile does
    // position_embedding = self.pos_embedding   (resampled when the image has another size)
    Tensor position_embedding = position_embedding_for(h, w, loc);
    // token_embedding = token_embedding + position_embedding
    token_embedding = add(token_embedding, position_embedding, loc);
    // token_embedding = self.dropout(token_embedding)
    token_embedding = (*dropout)(token_embedding, loc);

    // 6.4  the encoder (batch_first: errata 4)
    // encoder_output = self.encoder(token_embedding)                                 [bs, 1 + n, d]
    Tensor encoder_output = (*encoder)(token_embedding, Tensor(), Tensor(), loc);

    // 6.5  classify from the CLS token's output, or from the mean of the patch tokens' outputs
    Tensor cls_token_output;
    if (config.pool == "cls")
        // cls_token_output = encoder_output[:, 0, :]                                  [bs, d]
        cls_token_output = encoder_output.select(1, 0, loc);
    else
        // cls_token_output = encoder_output[:, 1:, :].mean(dim=1)                     [bs, d]
        cls_token_output = encoder_output.slice(1, 1, std::nullopt, 1, loc).mean({1}, false, loc);
    // logits = self.head(cls_token_output)                                            [bs, num_classes]
    Tensor logits = (*head)(cls_token_output, loc);
    return logits;
}

// PyTorch lists a module's own parameters before its submodules' (named_parameters and
// state_dict both do), so cls_token and pos_embedding come first here too.
void VisionTransformer::visit(nn::Visitor& v) {
    v.parameter("cls_token", cls_token);
    v.parameter("pos_embedding", pos_embedding);
    v.module("patch_embedding", patch_embedding);
    v.module("dropout", dropout);
    v.module("encoder", encoder);
    v.module("head", head);
}

}  // namespace xg::vit
