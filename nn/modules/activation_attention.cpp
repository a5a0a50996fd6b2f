#include "nn/modules/activation_attention.h"

#include "core/ops.h"
#include "nn/init.h"

namespace xg::nn {

namespace F = functional;

std::shared_ptr<Module> NonDynamicallyQuantizableLinear::clone() const {
    auto copy = std::make_shared<NonDynamicallyQuantizableLinear>(*this);
    copy->deep_copy_members();
    return copy;
}

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout, bool bias,
                                       bool batch_first, SrcLoc loc)
    : embed_dim(embed_dim), num_heads(num_heads), head_dim(0), dropout(dropout), batch_first(batch_first) {
    XG_CHECK(embed_dim > 0 && num_heads > 0, loc,
             "MultiheadAttention: embed_dim and num_heads must be positive, got embed_dim=" << embed_dim
                 << ", num_heads=" << num_heads);
    XG_CHECK(embed_dim % num_heads == 0, loc,
             "MultiheadAttention: embed_dim must be divisible by num_heads, got embed_dim=" << embed_dim
                 << ", num_heads=" << num_heads << " (each head gets embed_dim / num_heads features)");
    XG_CHECK(dropout >= 0.0 && dropout <= 1.0, loc,
             "MultiheadAttention: dropout probability has to be between 0 and 1, but got " << dropout);
    head_dim = embed_dim / num_heads;
    in_proj_weight = empty({3 * embed_dim, embed_dim}, requires_grad());
    if (bias) in_proj_bias = empty({3 * embed_dim}, requires_grad());
    out_proj = std::make_shared<NonDynamicallyQuantizableLinear>(embed_dim, embed_dim, bias, loc);
    reset_parameters();
}

void MultiheadAttention::reset_parameters() {
    // Xavier on the packed [3E, E] weight uses fan_in = E, fan_out = 3E (PyTorch does the same,
    // so its bound is sqrt(6 / 4E) rather than the sqrt(6 / 2E) of three separate [E, E] weights).
    init::xavier_uniform_(in_proj_weight);
    if (in_proj_bias.defined()) {
        init::zeros_(in_proj_bias);
        init::zeros_(out_proj->bias);
    }
}

F::AttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                               const Tensor& key_padding_mask, bool need_weights,
                                               const Tensor& attn_mask, bool average_attn_weights, SrcLoc loc) {
    // Checked here, on the tensors as the caller passed them (before any batch_first transpose),
    // so the message shows the caller's shapes.
    XG_CHECK(query.defined() && key.defined() && value.defined(), loc,
             "MultiheadAttention: query, key and value must all be defined tensors");
    XG_CHECK((query.dim() == 2 || query.dim() == 3) && key.dim() == query.dim() && value.dim() == query.dim(), loc,
             "MultiheadAttention: query, key and value must all be 3-D ("
                 << (batch_first ? "[N, L, E], [N, S, E], [N, S, E] with batch_first=True"
                                 : "[L, N, E], [S, N, E], [S, N, E] with batch_first=False")
                 << ") or all 2-D (unbatched), got query " << shape_str(query.shape()) << ", key "
                 << shape_str(key.shape()) << ", value " << shape_str(value.shape()));
    XG_CHECK(query.size(-1) == embed_dim && key.size(-1) == embed_dim && value.size(-1) == embed_dim, loc,
             "MultiheadAttention: expected embedding dim " << embed_dim << " (last dim) for query, key and value, got "
                                                           << shape_str(query.shape()) << ", " << shape_str(key.shape())
                                                           << ", " << shape_str(value.shape()));
    XG_CHECK(key.shape() == value.shape(), loc,
             "MultiheadAttention: key shape " << shape_str(key.shape()) << " does not match value shape "
                                              << shape_str(value.shape()));
    const bool is_batched = query.dim() == 3;
    if (is_batched) {
        const int64_t batch_dim = batch_first ? 0 : 1;
        XG_CHECK(query.size(batch_dim) == key.size(batch_dim), loc,
                 "MultiheadAttention: query " << shape_str(query.shape()) << " and key " << shape_str(key.shape())
                                              << " have different batch sizes (dim " << batch_dim << ", batch_first="
                                              << py_bool(batch_first) << ")");
    }

    Tensor q = query, k = key, v = value;
    if (batch_first && is_batched) {
        // [N, L, E] -> [L, N, E] (views). Transpose a shared tensor once, so the functional still
        // sees "query is key is value" and does self-attention's single in-projection.
        if (key.impl() == value.impl()) {
            if (query.impl() == key.impl()) {
                q = k = v = query.transpose(1, 0, loc);
            } else {
                q = query.transpose(1, 0, loc);
                k = v = key.transpose(1, 0, loc);
            }
        } else {
            q = query.transpose(1, 0, loc);
            k = key.transpose(1, 0, loc);
            v = value.transpose(1, 0, loc);
        }
    }
    F::AttentionOutput out = F::multi_head_attention_forward(
        q, k, v, embed_dim, num_heads, in_proj_weight, in_proj_bias, dropout, out_proj->weight, out_proj->bias,
        is_training(), key_padding_mask, need_weights, attn_mask, average_attn_weights, loc);
    if (batch_first && is_batched) out.output = out.output.transpose(1, 0, loc);  // [L, N, E] -> [N, L, E]
    return out;
}

F::AttentionOutput MultiheadAttention::operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                                  const Tensor& key_padding_mask, bool need_weights,
                                                  const Tensor& attn_mask, bool average_attn_weights, SrcLoc loc) {
    return forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, loc);
}

void MultiheadAttention::visit(Visitor& v) {
    v.parameter("in_proj_weight", in_proj_weight);
    v.parameter("in_proj_bias", in_proj_bias);
    v.module("out_proj", out_proj);
}

}  // namespace xg::nn
