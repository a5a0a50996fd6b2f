#pragma once
// Attention as plain functions, in xg::nn::functional beside F::linear and F::softmax
// (torch.nn.functional's scaled_dot_product_attention and multi_head_attention_forward).
// The forward of both lives in nn/functional/attention.cpp; they are built from differentiable
// core ops (matmul, softmax, views), so their backward is the chain of those ops' backwards and
// a breakpoint in core/ops/matmul.cpp stops in the backward of Q K^T.
//
//   namespace F = xg::nn::functional;
//   Tensor out = F::scaled_dot_product_attention(q, k, v);                  // [..., L, Ev]
//   auto [out, weights] = F::scaled_dot_product_attention_with_weights(q, k, v, mask);
//
// ---- masks: xgrad has no bool dtype ------------------------------------------------------------
// PyTorch accepts a mask either as a float tensor, *added* to the attention scores, or as a bool
// tensor where True means "this position may not be attended to" (-inf before the softmax).
// xgrad says which one by the mask's dtype:
//   - float32 / float64 mask: additive, as PyTorch's float masks (0 = keep, -inf = masked out;
//     any other value is a soft bias, e.g. a relative position bias);
//   - int64 mask: boolean, PyTorch's bool mask (nonzero = masked out, 0 = keep). This is also
//     what PyTorch 1.13 does with the older uint8 masks.
// Comparisons (xg::gt, xg::eq, ...) return float 0/1 tensors: adding such a mask would be a
// silent bug, so turn it into a boolean mask with .to(xg::kInt64), or into the additive form with
// F::additive_mask. The same rule holds for MultiheadAttention's attn_mask and key_padding_mask
// (True = ignore that key) and for the Transformer layers' masks.
//
// Beware of one PyTorch difference: torch 2.x's F.scaled_dot_product_attention reads a *bool*
// mask the other way round (True = may attend). xgrad follows MultiheadAttention's convention
// everywhere, so one mask means the same thing in every function.
#include <cstdint>

#include "core/ops.h"
#include "core/tensor.h"

namespace xg::nn::functional {

// What attention returns when the weights are asked for too. An aggregate, so
//   auto [attn_output, attn_output_weights] = mha(x, x, x);
// reads like PyTorch's tuple unpacking. `weights` is undefined when they were not asked for.
struct AttentionOutput {
    Tensor output;
    Tensor weights;
};

// A boolean mask (any dtype; nonzero = masked out) as the additive mask PyTorch builds from a
// bool mask: -inf where masked, 0 elsewhere, in `dtype`. Not differentiable (it is a constant).
//   mask: any shape   ->   same shape, dtype
Tensor additive_mask(const Tensor& mask, DType dtype = kFloat32, SrcLoc loc = SrcLoc::current());

// softmax(q k^T / sqrt(E) + attn_mask) v over the last two dims, every leading dim a batch dim
// (heads included), all at once with batched matmul:
//   query: [..., L, E]   key: [..., S, E]   value: [..., S, Ev]   ->   [..., L, Ev]
// The leading dims of the three broadcast as in matmul. attn_mask (float additive or int64
// boolean, see above) broadcasts to [..., L, S]. is_causal masks out every key j > i for query i
// (the top-left triangle, as torch 2.x's is_causal; do not pass attn_mask with it). Dropout with
// probability dropout_p is applied to the attention weights whenever dropout_p > 0 (pass 0 in
// eval mode, as torch's functional does; the modules do it for you).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = {}, double dropout_p = 0.0, bool is_causal = false,
                                    SrcLoc loc = SrcLoc::current());

// How F::scaled_dot_product_attention (and so nn::MultiheadAttention with need_weights=false, as
// in TransformerEncoderLayer) runs. Composed: one core op per step (div, matmul, add, softmax,
// dropout, matmul), each its own graph node, as PyTorch 1.13 does; the path to step through in
// gdb and to see in a graph picture. Fused: the same kernels in one op with one node,
// ScaledDotProductAttentionBackward0, whose backward keeps less memory (no copy of the scaled q
// or of the weights after dropout; the dropout mask in bytes) and runs fewer passes; the same
// forward values, gradients equal up to float rounding (nn/functional/attention.cpp).
// Auto (the default): fused when the attention weights have at least kFuseAttentionAt elements
// (batch * heads * L * S), composed below that, so the tutorials' small models show every op
// and a training batch gets the memory back. Like torch.backends.cuda.sdp_kernel, a setting of
// the whole process; AttentionKernelGuard sets it for a scope.
enum class AttentionKernel { Auto, Fused, Composed };
inline constexpr int64_t kFuseAttentionAt = int64_t{1} << 15;
void set_attention_kernel(AttentionKernel kernel);
AttentionKernel attention_kernel();

class AttentionKernelGuard {
  public:
    explicit AttentionKernelGuard(AttentionKernel kernel) : previous_(attention_kernel()) { set_attention_kernel(kernel); }
    ~AttentionKernelGuard() { set_attention_kernel(previous_); }
    AttentionKernelGuard(const AttentionKernelGuard&) = delete;
    AttentionKernelGuard& operator=(const AttentionKernelGuard&) = delete;

  private:
    AttentionKernel previous_;
};

// The same, also returning the attention weights softmax(q k^T / sqrt(E) + mask) (after dropout,
// as PyTorch returns them):   output: [..., L, Ev]   weights: [..., L, S]
AttentionOutput scaled_dot_product_attention_with_weights(const Tensor& query, const Tensor& key, const Tensor& value,
                                                          const Tensor& attn_mask = {}, double dropout_p = 0.0,
                                                          bool is_causal = false, SrcLoc loc = SrcLoc::current());

// PyTorch 1.13's F.multi_head_attention_forward, for packed q/k/v weights (the only kind
// nn::MultiheadAttention has). Sequence-first, as PyTorch's functional is (the module handles
// batch_first):
//   query: [L, N, E] (or [L, E] unbatched)   key, value: [S, N, E] (or [S, E])
//   in_proj_weight: [3E, E] (rows: W_q, W_k, W_v)   in_proj_bias: [3E] or undefined
//   out_proj_weight: [E, E]   out_proj_bias: [E] or undefined
//   key_padding_mask: [N, S] (or [S]); nonzero (int64) or -inf (float) = ignore that key
//   attn_mask: [L, S], or [N * num_heads, L, S] for one mask per batch entry and head
// Returns output [L, N, E] and, when need_weights, the attention weights averaged over heads
// [N, L, S] (average_attn_weights) or per head [N, num_heads, L, S] (unbatched: no N dim).
// Dropout on the attention weights runs only when `training`. Left out of PyTorch's signature:
// bias_k/bias_v, add_zero_attn, separate q/k/v weights and static_k/static_v (features
// nn::MultiheadAttention does not offer).
AttentionOutput multi_head_attention_forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                             int64_t embed_dim_to_check, int64_t num_heads,
                                             const Tensor& in_proj_weight, const Tensor& in_proj_bias,
                                             double dropout_p, const Tensor& out_proj_weight,
                                             const Tensor& out_proj_bias, bool training = true,
                                             const Tensor& key_padding_mask = {}, bool need_weights = true,
                                             const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                             SrcLoc loc = SrcLoc::current());

}  // namespace xg::nn::functional
