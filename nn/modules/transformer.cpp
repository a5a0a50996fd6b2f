#include "nn/modules/transformer.h"

#include <limits>

#include "core/ops.h"
#include "nn/functional.h"

namespace xg::nn {

namespace F = functional;

namespace {

// PyTorch's _get_activation_fn: the activation is named by a string and applied as a function.
void check_activation(const std::string& activation, const char* owner, const SrcLoc& loc) {
    XG_CHECK(activation == "relu" || activation == "gelu", loc,
             owner << ": activation should be relu/gelu, not " << activation);
}

Tensor activate(const std::string& activation, const Tensor& x, const SrcLoc& loc) {
    return activation == "relu" ? F::relu(x, loc) : F::gelu(x, "none", loc);
}

// PyTorch's _get_clones: num_layers deep copies (copy.deepcopy), so the layers start equal but
// train independently.
std::shared_ptr<ModuleList> get_clones(const std::shared_ptr<Module>& layer, int64_t num_layers) {
    auto list = std::make_shared<ModuleList>();
    for (int64_t i = 0; i < num_layers; ++i) list->push_back(layer->clone());
    return list;
}

}  // namespace

Tensor generate_square_subsequent_mask(int64_t sz, TensorOptions options, SrcLoc loc) {
    XG_CHECK(sz >= 0, loc, "generate_square_subsequent_mask: sz must be non-negative, got " << sz);
    XG_CHECK(is_floating(options.dtype_), loc,
             "generate_square_subsequent_mask: the mask is additive and must be floating point, got "
                 << dtype_name(options.dtype_));
    // torch.triu(torch.full((sz, sz), float('-inf')), diagonal=1)
    Tensor mask = zeros({sz, sz}, dtype(options.dtype_));  // [sz, sz]
    XG_DISPATCH_FLOAT(options.dtype_, T, [&] {
        T* m = mask.data_ptr<T>();
        for (int64_t i = 0; i < sz; ++i)
            for (int64_t j = i + 1; j < sz; ++j) m[i * sz + j] = -std::numeric_limits<T>::infinity();
    });
    return mask;
}

// ---- TransformerEncoderLayer -------------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout, const std::string& activation,
                                                 double layer_norm_eps, bool batch_first, bool norm_first,
                                                 SrcLoc loc)
    : norm_first(norm_first), activation(activation) {
    check_activation(activation, "TransformerEncoderLayer", loc);
    XG_CHECK(dim_feedforward > 0, loc, "TransformerEncoderLayer: dim_feedforward must be positive, got " << dim_feedforward);
    // Built in PyTorch's order, so the random initial weights are drawn in PyTorch's order too.
    self_attn = std::make_shared<MultiheadAttention>(d_model, nhead, dropout, /*bias=*/true, batch_first, loc);
    // Implementation of Feedforward model
    linear1 = std::make_shared<Linear>(d_model, dim_feedforward, true, loc);
    this->dropout = std::make_shared<Dropout>(dropout, loc);
    linear2 = std::make_shared<Linear>(dim_feedforward, d_model, true, loc);
    norm1 = std::make_shared<LayerNorm>(d_model, layer_norm_eps, true, loc);
    norm2 = std::make_shared<LayerNorm>(d_model, layer_norm_eps, true, loc);
    dropout1 = std::make_shared<Dropout>(dropout, loc);
    dropout2 = std::make_shared<Dropout>(dropout, loc);
}

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead, const TransformerLayerOptions& o,
                                                 SrcLoc loc)
    : TransformerEncoderLayer(d_model, nhead, o.dim_feedforward, o.dropout, o.activation, o.layer_norm_eps,
                              o.batch_first, o.norm_first, loc) {}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask,
                                        SrcLoc loc) {
    XG_CHECK(src.defined(), loc, "TransformerEncoderLayer: src is undefined");
    // see Fig. 1 of https://arxiv.org/pdf/2002.04745v1.pdf: pre-norm keeps an un-normalized
    // residual path from input to output, which trains deep stacks without warmup.
    Tensor x = src;  // [S, N, d_model] (or [N, S, d_model] with batch_first)
    if (norm_first) {
        x = add(x, _sa_block((*norm1)(x, loc), src_mask, src_key_padding_mask, loc), loc);
        x = add(x, _ff_block((*norm2)(x, loc), loc), loc);
    } else {
        x = (*norm1)(add(x, _sa_block(x, src_mask, src_key_padding_mask, loc), loc), loc);
        x = (*norm2)(add(x, _ff_block(x, loc), loc), loc);
    }
    return x;  // same shape as src
}

Tensor TransformerEncoderLayer::operator()(const Tensor& src, const Tensor& src_mask,
                                           const Tensor& src_key_padding_mask, SrcLoc loc) {
    return forward(src, src_mask, src_key_padding_mask, loc);
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

// self-attention block: the weights are not needed, only the mixed tokens
Tensor TransformerEncoderLayer::_sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask,
                                          const SrcLoc& loc) {
    Tensor y = (*self_attn)(x, x, x, key_padding_mask, /*need_weights=*/false, attn_mask, true, loc).output;
    return (*dropout1)(y, loc);
}

// feed forward block: the same two-layer MLP applied to every position on its own
Tensor TransformerEncoderLayer::_ff_block(const Tensor& x, const SrcLoc& loc) {
    Tensor y = (*linear2)((*dropout)(activate(activation, (*linear1)(x, loc), loc), loc), loc);
    return (*dropout2)(y, loc);
}

void TransformerEncoderLayer::visit(Visitor& v) {
    v.module("self_attn", self_attn);
    v.module("linear1", linear1);
    v.module("dropout", dropout);
    v.module("linear2", linear2);
    v.module("norm1", norm1);
    v.module("norm2", norm2);
    v.module("dropout1", dropout1);
    v.module("dropout2", dropout2);
}

// ---- TransformerEncoder ------------------------------------------------------------------------

TransformerEncoder::TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& encoder_layer,
                                       int64_t num_layers, std::shared_ptr<Module> norm, SrcLoc loc)
    : num_layers(num_layers), norm(std::move(norm)) {
    XG_CHECK(encoder_layer != nullptr, loc, "TransformerEncoder: encoder_layer is null");
    XG_CHECK(num_layers >= 1, loc, "TransformerEncoder: num_layers must be at least 1, got " << num_layers);
    layers = get_clones(encoder_layer, num_layers);
}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                   SrcLoc loc) {
    Tensor output = src;  // [S, N, d_model] (or [N, S, d_model] with batch_first)
    for (size_t i = 0; i < layers->size(); ++i)
        output = (*layers->at<TransformerEncoderLayer>(i))(output, mask, src_key_padding_mask, loc);
    if (norm) output = norm->forward(output);
    return output;
}

Tensor TransformerEncoder::operator()(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                      SrcLoc loc) {
    return forward(src, mask, src_key_padding_mask, loc);
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

void TransformerEncoder::visit(Visitor& v) {
    v.module("layers", layers);
    v.module("norm", norm);
}

// ---- TransformerDecoderLayer -------------------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout, const std::string& activation,
                                                 double layer_norm_eps, bool batch_first, bool norm_first,
                                                 SrcLoc loc)
    : norm_first(norm_first), activation(activation) {
    check_activation(activation, "TransformerDecoderLayer", loc);
    XG_CHECK(dim_feedforward > 0, loc, "TransformerDecoderLayer: dim_feedforward must be positive, got " << dim_feedforward);
    self_attn = std::make_shared<MultiheadAttention>(d_model, nhead, dropout, /*bias=*/true, batch_first, loc);
    multihead_attn = std::make_shared<MultiheadAttention>(d_model, nhead, dropout, /*bias=*/true, batch_first, loc);
    // Implementation of Feedforward model
    linear1 = std::make_shared<Linear>(d_model, dim_feedforward, true, loc);
    this->dropout = std::make_shared<Dropout>(dropout, loc);
    linear2 = std::make_shared<Linear>(dim_feedforward, d_model, true, loc);
    norm1 = std::make_shared<LayerNorm>(d_model, layer_norm_eps, true, loc);
    norm2 = std::make_shared<LayerNorm>(d_model, layer_norm_eps, true, loc);
    norm3 = std::make_shared<LayerNorm>(d_model, layer_norm_eps, true, loc);
    dropout1 = std::make_shared<Dropout>(dropout, loc);
    dropout2 = std::make_shared<Dropout>(dropout, loc);
    dropout3 = std::make_shared<Dropout>(dropout, loc);
}

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead, const TransformerLayerOptions& o,
                                                 SrcLoc loc)
    : TransformerDecoderLayer(d_model, nhead, o.dim_feedforward, o.dropout, o.activation, o.layer_norm_eps,
                              o.batch_first, o.norm_first, loc) {}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, SrcLoc loc) {
    XG_CHECK(tgt.defined() && memory.defined(), loc, "TransformerDecoderLayer: tgt and memory must be defined");
    // see Fig. 1 of https://arxiv.org/pdf/2002.04745v1.pdf
    Tensor x = tgt;  // [T, N, d_model] (or [N, T, d_model] with batch_first)
    if (norm_first) {
        x = add(x, _sa_block((*norm1)(x, loc), tgt_mask, tgt_key_padding_mask, loc), loc);
        x = add(x, _mha_block((*norm2)(x, loc), memory, memory_mask, memory_key_padding_mask, loc), loc);
        x = add(x, _ff_block((*norm3)(x, loc), loc), loc);
    } else {
        x = (*norm1)(add(x, _sa_block(x, tgt_mask, tgt_key_padding_mask, loc), loc), loc);
        x = (*norm2)(add(x, _mha_block(x, memory, memory_mask, memory_key_padding_mask, loc), loc), loc);
        x = (*norm3)(add(x, _ff_block(x, loc), loc), loc);
    }
    return x;  // same shape as tgt
}

Tensor TransformerDecoderLayer::operator()(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                           const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                           const Tensor& memory_key_padding_mask, SrcLoc loc) {
    return forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, loc);
}

// self-attention block (causal when tgt_mask is generate_square_subsequent_mask)
Tensor TransformerDecoderLayer::_sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask,
                                          const SrcLoc& loc) {
    Tensor y = (*self_attn)(x, x, x, key_padding_mask, /*need_weights=*/false, attn_mask, true, loc).output;
    return (*dropout1)(y, loc);
}

// multihead attention block: queries from the decoder, keys and values from the encoder's memory
Tensor TransformerDecoderLayer::_mha_block(const Tensor& x, const Tensor& mem, const Tensor& attn_mask,
                                           const Tensor& key_padding_mask, const SrcLoc& loc) {
    Tensor y = (*multihead_attn)(x, mem, mem, key_padding_mask, /*need_weights=*/false, attn_mask, true, loc).output;
    return (*dropout2)(y, loc);
}

// feed forward block
Tensor TransformerDecoderLayer::_ff_block(const Tensor& x, const SrcLoc& loc) {
    Tensor y = (*linear2)((*dropout)(activate(activation, (*linear1)(x, loc), loc), loc), loc);
    return (*dropout3)(y, loc);
}

void TransformerDecoderLayer::visit(Visitor& v) {
    v.module("self_attn", self_attn);
    v.module("multihead_attn", multihead_attn);
    v.module("linear1", linear1);
    v.module("dropout", dropout);
    v.module("linear2", linear2);
    v.module("norm1", norm1);
    v.module("norm2", norm2);
    v.module("norm3", norm3);
    v.module("dropout1", dropout1);
    v.module("dropout2", dropout2);
    v.module("dropout3", dropout3);
}

// ---- TransformerDecoder ------------------------------------------------------------------------

TransformerDecoder::TransformerDecoder(const std::shared_ptr<TransformerDecoderLayer>& decoder_layer,
                                       int64_t num_layers, std::shared_ptr<Module> norm, SrcLoc loc)
    : num_layers(num_layers), norm(std::move(norm)) {
    XG_CHECK(decoder_layer != nullptr, loc, "TransformerDecoder: decoder_layer is null");
    XG_CHECK(num_layers >= 1, loc, "TransformerDecoder: num_layers must be at least 1, got " << num_layers);
    layers = get_clones(decoder_layer, num_layers);
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask, SrcLoc loc) {
    Tensor output = tgt;  // [T, N, d_model] (or [N, T, d_model] with batch_first)
    for (size_t i = 0; i < layers->size(); ++i)
        output = (*layers->at<TransformerDecoderLayer>(i))(output, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                                                            memory_key_padding_mask, loc);
    if (norm) output = norm->forward(output);
    return output;
}

Tensor TransformerDecoder::operator()(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                      const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                      const Tensor& memory_key_padding_mask, SrcLoc loc) {
    return forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, loc);
}

void TransformerDecoder::visit(Visitor& v) {
    v.module("layers", layers);
    v.module("norm", norm);
}

}  // namespace xg::nn
