#pragma once
// nn.MultiheadAttention (PyTorch keeps it in torch/nn/modules/activation.py, hence the file name).
//
//   auto mha = std::make_shared<nn::MultiheadAttention>(/*embed_dim=*/8, /*num_heads=*/2);
//   auto [attn_output, attn_output_weights] = (*mha)(x, x, x);   // self-attention
//
// Parameters have PyTorch's names, so state dicts move between the two unchanged:
//   in_proj_weight [3E, E], in_proj_bias [3E], out_proj.weight [E, E], out_proj.bias [E]
#include <cstdint>
#include <memory>
#include <string>

#include "nn/attention.h"
#include "nn/module.h"
#include "nn/modules/linear.h"

namespace xg::nn {

// The output projection of MultiheadAttention: a Linear under another name. PyTorch gives it its
// own class only so its quantization tools leave it alone; we keep the name because it is what
// `print(model)` shows:  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, ...)
class NonDynamicallyQuantizableLinear : public Linear {
  public:
    using Linear::Linear;
    std::string type_name() const override { return "NonDynamicallyQuantizableLinear"; }
    // Linear's clone() would copy only the Linear part and print "Linear"; keep the type.
    std::shared_ptr<Module> clone() const override;
};

// MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W_out,  head_i = Attention(Q W_q,i, K W_k,i, V W_v,i)
// with the H heads computed at once (F::multi_head_attention_forward). Each head works on
// head_dim = embed_dim / num_heads features.
//   batch_first=false:  query [L, N, E], key/value [S, N, E]   ->  output [L, N, E]
//   batch_first=true:   query [N, L, E], key/value [N, S, E]   ->  output [N, L, E]
//   unbatched:          query [L, E],    key/value [S, E]      ->  output [L, E]
// weights (need_weights): [N, L, S] averaged over heads, or [N, num_heads, L, S].
// Masks: see nn/attention.h (float = additive; int64 = boolean, nonzero = masked out).
class MultiheadAttention : public Cloneable<MultiheadAttention> {
  public:
    MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                       bool batch_first = false, SrcLoc loc = SrcLoc::current());

    // PyTorch's _reset_parameters: in_proj_weight ~ xavier_uniform_, in_proj_bias = 0,
    // out_proj.bias = 0. out_proj.weight keeps Linear's default init (drawn when out_proj was
    // made, before in_proj_weight, as in PyTorch: after xg::manual_seed(s) the values are
    // PyTorch's after torch.manual_seed(s)).
    void reset_parameters();

    // attn_mask: [L, S] or [N * num_heads, L, S];  key_padding_mask: [N, S] (True = ignore the key).
    functional::AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                        const Tensor& key_padding_mask = {}, bool need_weights = true,
                                        const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                        SrcLoc loc = SrcLoc::current());
    functional::AttentionOutput operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                           const Tensor& key_padding_mask = {}, bool need_weights = true,
                                           const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                           SrcLoc loc = SrcLoc::current());
    // forward(x) with one tensor is Module's: an error that says to pass query, key and value.
    using Module::forward;

    std::string type_name() const override { return "MultiheadAttention"; }
    void visit(Visitor& v) override;

    int64_t embed_dim, num_heads, head_dim;
    double dropout;  // on the attention weights, in training mode only
    bool batch_first;
    Tensor in_proj_weight;  // [3E, E]: W_q, W_k, W_v stacked
    Tensor in_proj_bias;    // [3E]; undefined when bias=false
    std::shared_ptr<NonDynamicallyQuantizableLinear> out_proj;  // [E] -> [E]
};

}  // namespace xg::nn
