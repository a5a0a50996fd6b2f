#pragma once
// nn.TransformerEncoderLayer / TransformerEncoder and nn.TransformerDecoderLayer /
// TransformerDecoder, with PyTorch 1.13's options, defaults, submodule names and printed form.
//
// The source's encoder, in C++ (errata 4: pass batch_first, its input is [bs, seq, d]):
//   auto encoder_layer = std::make_shared<nn::TransformerEncoderLayer>(model_dim, /*nhead=*/8,
//                                                                      nn::TransformerLayerOptions{.batch_first = true});
//   auto transformer_encoder = std::make_shared<nn::TransformerEncoder>(encoder_layer, /*num_layers=*/6);
//   Tensor encoder_output = (*transformer_encoder)(token_embedding);
//
// Masks follow nn/attention.h: a float mask is added to the attention scores (0 / -inf), an
// int64 mask is boolean (nonzero = masked out); key padding masks are [N, S].
// PyTorch's eval-mode "fast path" (torch._transformer_encoder_layer_fwd) computes the same
// numbers as the path written here, which is the only one xgrad has.
#include <cstdint>
#include <memory>
#include <string>

#include "nn/module.h"
#include "nn/modules/activation_attention.h"
#include "nn/modules/container.h"
#include "nn/modules/dropout.h"
#include "nn/modules/linear.h"
#include "nn/modules/normalization.h"

namespace xg::nn {

// The square causal mask of nn.Transformer.generate_square_subsequent_mask(sz): -inf above the
// diagonal (position i may not look at j > i), 0 on and below it. An additive float mask:
//   generate_square_subsequent_mask(3) = [[0, -inf, -inf], [0, 0, -inf], [0, 0, 0]]
Tensor generate_square_subsequent_mask(int64_t sz, TensorOptions options = {}, SrcLoc loc = SrcLoc::current());

// The keyword arguments of the Transformer layers after (d_model, nhead), for C++20's designated
// initializers, as Python's keywords:
//   nn::TransformerEncoderLayer(8, 8, {.dim_feedforward = 32, .batch_first = true})
struct TransformerLayerOptions {
    int64_t dim_feedforward = 2048;
    double dropout = 0.1;
    std::string activation = "relu";  // "relu" or "gelu" (exact erf form)
    double layer_norm_eps = 1e-5;
    bool batch_first = false;
    bool norm_first = false;  // pre-norm (LayerNorm before each block) instead of post-norm
};

// Self-attention block and feed-forward block, each wrapped in a residual connection and a
// LayerNorm (post-norm, the original Transformer; norm_first=true gives pre-norm):
//   post-norm:  x = norm1(x + _sa_block(x));   x = norm2(x + _ff_block(x))
//   pre-norm:   x = x + _sa_block(norm1(x));   x = x + _ff_block(norm2(x))
// _sa_block(x) = dropout1(self_attn(x, x, x)),  _ff_block(x) = dropout2(linear2(dropout(act(linear1(x)))))
//   src: [S, N, d_model] ([N, S, d_model] with batch_first, [S, d_model] unbatched)  ->  same shape
class TransformerEncoderLayer : public Cloneable<TransformerEncoderLayer> {
  public:
    TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                            const std::string& activation = "relu", double layer_norm_eps = 1e-5,
                            bool batch_first = false, bool norm_first = false, SrcLoc loc = SrcLoc::current());
    TransformerEncoderLayer(int64_t d_model, int64_t nhead, const TransformerLayerOptions& options,
                            SrcLoc loc = SrcLoc::current());

    // src_mask: [S, S] or [N * nhead, S, S];  src_key_padding_mask: [N, S]
    Tensor operator()(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {},
                      SrcLoc loc = SrcLoc::current());
    Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = {},
                   SrcLoc loc = SrcLoc::current());
    Tensor forward(const Tensor& src) override;  // no masks (what Sequential calls)

    std::string type_name() const override { return "TransformerEncoderLayer"; }
    void visit(Visitor& v) override;

    bool norm_first;
    std::string activation;  // "relu" or "gelu": a function, not a submodule, as in PyTorch
    std::shared_ptr<MultiheadAttention> self_attn;
    std::shared_ptr<Linear> linear1;    // d_model -> dim_feedforward
    std::shared_ptr<Dropout> dropout;   // inside the feed-forward block
    std::shared_ptr<Linear> linear2;    // dim_feedforward -> d_model
    std::shared_ptr<LayerNorm> norm1, norm2;
    std::shared_ptr<Dropout> dropout1, dropout2;  // on each block's output, before the residual add

  private:
    Tensor _sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask, const SrcLoc& loc);
    Tensor _ff_block(const Tensor& x, const SrcLoc& loc);
};

// num_layers deep copies of encoder_layer (independent weights, like copy.deepcopy), applied in
// turn, then the optional final norm (pre-norm stacks want one).
// Parameter names: layers.0.self_attn.in_proj_weight, ..., norm.weight.
class TransformerEncoder : public Cloneable<TransformerEncoder> {
  public:
    TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& encoder_layer, int64_t num_layers,
                       std::shared_ptr<Module> norm = nullptr, SrcLoc loc = SrcLoc::current());

    // mask: [S, S] or [N * nhead, S, S];  src_key_padding_mask: [N, S]
    Tensor operator()(const Tensor& src, const Tensor& mask = {}, const Tensor& src_key_padding_mask = {},
                      SrcLoc loc = SrcLoc::current());
    Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask = {},
                   SrcLoc loc = SrcLoc::current());
    Tensor forward(const Tensor& src) override;

    std::string type_name() const override { return "TransformerEncoder"; }
    void visit(Visitor& v) override;

    int64_t num_layers;
    std::shared_ptr<ModuleList> layers;  // of TransformerEncoderLayer
    std::shared_ptr<Module> norm;        // usually a LayerNorm; null for none
};

// Causal self-attention, cross-attention over the encoder output (memory), feed-forward; each
// with a residual connection and a LayerNorm:
//   post-norm:  x = norm1(x + _sa_block(x));  x = norm2(x + _mha_block(x, memory));  x = norm3(x + _ff_block(x))
//   pre-norm:   x = x + _sa_block(norm1(x));  x = x + _mha_block(norm2(x), memory);  x = x + _ff_block(norm3(x))
//   tgt: [T, N, d_model], memory: [S, N, d_model] (batch first with batch_first)  ->  [T, N, d_model]
// The causal mask is not built in: pass tgt_mask = generate_square_subsequent_mask(T), as in PyTorch.
class TransformerDecoderLayer : public Cloneable<TransformerDecoderLayer> {
  public:
    TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                            const std::string& activation = "relu", double layer_norm_eps = 1e-5,
                            bool batch_first = false, bool norm_first = false, SrcLoc loc = SrcLoc::current());
    TransformerDecoderLayer(int64_t d_model, int64_t nhead, const TransformerLayerOptions& options,
                            SrcLoc loc = SrcLoc::current());

    // tgt_mask: [T, T];  memory_mask: [T, S];  tgt_key_padding_mask: [N, T];  memory_key_padding_mask: [N, S]
    Tensor operator()(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {},
                      const Tensor& memory_mask = {}, const Tensor& tgt_key_padding_mask = {},
                      const Tensor& memory_key_padding_mask = {}, SrcLoc loc = SrcLoc::current());
    Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {},
                   const Tensor& memory_mask = {}, const Tensor& tgt_key_padding_mask = {},
                   const Tensor& memory_key_padding_mask = {}, SrcLoc loc = SrcLoc::current());
    using Module::forward;  // forward(x) alone is an error: a decoder needs the memory too

    std::string type_name() const override { return "TransformerDecoderLayer"; }
    void visit(Visitor& v) override;

    bool norm_first;
    std::string activation;
    std::shared_ptr<MultiheadAttention> self_attn;       // over the target sequence
    std::shared_ptr<MultiheadAttention> multihead_attn;  // queries from the target, keys/values from memory
    std::shared_ptr<Linear> linear1;
    std::shared_ptr<Dropout> dropout;
    std::shared_ptr<Linear> linear2;
    std::shared_ptr<LayerNorm> norm1, norm2, norm3;
    std::shared_ptr<Dropout> dropout1, dropout2, dropout3;

  private:
    Tensor _sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask, const SrcLoc& loc);
    Tensor _mha_block(const Tensor& x, const Tensor& mem, const Tensor& attn_mask, const Tensor& key_padding_mask,
                      const SrcLoc& loc);
    Tensor _ff_block(const Tensor& x, const SrcLoc& loc);
};

// num_layers deep copies of decoder_layer applied in turn (each one attends to the same memory),
// then the optional final norm.
class TransformerDecoder : public Cloneable<TransformerDecoder> {
  public:
    TransformerDecoder(const std::shared_ptr<TransformerDecoderLayer>& decoder_layer, int64_t num_layers,
                       std::shared_ptr<Module> norm = nullptr, SrcLoc loc = SrcLoc::current());

    Tensor operator()(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {},
                      const Tensor& memory_mask = {}, const Tensor& tgt_key_padding_mask = {},
                      const Tensor& memory_key_padding_mask = {}, SrcLoc loc = SrcLoc::current());
    Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {},
                   const Tensor& memory_mask = {}, const Tensor& tgt_key_padding_mask = {},
                   const Tensor& memory_key_padding_mask = {}, SrcLoc loc = SrcLoc::current());
    using Module::forward;

    std::string type_name() const override { return "TransformerDecoder"; }
    void visit(Visitor& v) override;

    int64_t num_layers;
    std::shared_ptr<ModuleList> layers;  // of TransformerDecoderLayer
    std::shared_ptr<Module> norm;
};

}  // namespace xg::nn
