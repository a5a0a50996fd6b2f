// F::scaled_dot_product_attention and F::multi_head_attention_forward (declared in nn/attention.h).
//
// Attention is, written out with differentiable core ops (scaled_dot_product_attention_with_weights):
//   scores  = (q / sqrt(E)) @ k^T + mask     MatmulBackward: dL/dq = g @ k / sqrt(E), dL/dk = g^T @ q / sqrt(E)
//   weights = softmax(scores)                SoftmaxBackward: dL/ds = w * (g - sum(g * w))
//   output  = weights @ v                    MatmulBackward: dL/dw = g @ v^T, dL/dv = w^T @ g
// and the engine runs those backwards in reverse. That is the path PyTorch 1.13 takes, and ours
// when the weights are returned too. When only the output is wanted (nn::MultiheadAttention with
// need_weights=false, as in TransformerEncoderLayer), fused_attention runs the same kernels as one
// op with the same backward math written out, which keeps less memory for the backward. The heads
// are views of the projected tensors, [N, H, L, Dh]: in the composed path one more batch dim of
// the batched matmul; the fused path takes them one at a time (why: above attention_forward).
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "core/autograd/node.h"
#include "core/kernels/exact_inverse.h"
#include "core/kernels/gemm.h"
#include "core/kernels/softmax_row.h"
#include "core/parallel.h"
#include "nn/attention.h"
#include "nn/functional.h"
#include "nn/functional/dropout_mask.h"

namespace xg::nn::functional {

using autograd::SavedTensor;

namespace {

// A mask as the float tensor added to the scores: boolean (int64) masks become 0 / -inf, additive
// (float) masks are used as they are. Undefined stays undefined.
Tensor to_additive(const Tensor& mask, DType dtype, const SrcLoc& loc) {
    if (!mask.defined()) return mask;
    if (mask.dtype() == kInt64) return additive_mask(mask, dtype, loc);
    return mask;
}

// -inf where key j comes after query i (j > i), 0 elsewhere: the "no peeking at the future" mask.
//   -> [L, S]
Tensor causal_mask(int64_t L, int64_t S, DType dtype) {
    Tensor mask = zeros({L, S}, xg::dtype(dtype));  // [L, S]
    XG_DISPATCH_FLOAT(dtype, T, [&] {
        T* m = mask.data_ptr<T>();
        for (int64_t i = 0; i < L; ++i)
            for (int64_t j = i + 1; j < S; ++j) m[i * S + j] = -std::numeric_limits<T>::infinity();
    });
    return mask;
}

// The checks of PyTorch's _mha_shape_check: batched (3-D) or unbatched (2-D) inputs, and masks
// with the dims that go with them. Returns whether the input is batched.
bool mha_shape_check(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& key_padding_mask,
                     const Tensor& attn_mask, const SrcLoc& loc) {
    XG_CHECK(query.defined() && key.defined() && value.defined(), loc,
             "multi_head_attention_forward: query, key and value must all be defined tensors");
    XG_CHECK(query.dim() == 2 || query.dim() == 3, loc,
             "multi_head_attention_forward: query should be unbatched 2D or batched 3D tensor but received "
                 << query.dim() << "-D query tensor of shape " << shape_str(query.shape()));
    const bool is_batched = query.dim() == 3;
    const int64_t want = query.dim();
    XG_CHECK(key.dim() == want && value.dim() == want, loc,
             "multi_head_attention_forward: for " << (is_batched ? "batched (3-D)" : "unbatched (2-D)")
                 << " query " << shape_str(query.shape()) << ", expected key and value to be " << want
                 << "-D but found " << key.dim() << "-D " << shape_str(key.shape()) << " and " << value.dim() << "-D "
                 << shape_str(value.shape()));
    if (key_padding_mask.defined())
        XG_CHECK(key_padding_mask.dim() == want - 1, loc,
                 "multi_head_attention_forward: for " << (is_batched ? "batched (3-D)" : "unbatched (2-D)")
                     << " query, expected key_padding_mask to be " << want - 1 << "-D but found "
                     << key_padding_mask.dim() << "-D " << shape_str(key_padding_mask.shape()));
    if (attn_mask.defined())
        XG_CHECK(attn_mask.dim() == 2 || attn_mask.dim() == 3, loc,
                 "multi_head_attention_forward: expected attn_mask to be 2-D or 3-D but found " << attn_mask.dim()
                     << "-D " << shape_str(attn_mask.shape()));
    return is_batched;
}

struct QKV {
    Tensor q, k, v;
};

// PyTorch's _in_projection_packed: q, k, v = the three row blocks of in_proj_weight applied to
// query, key, value. When they are one tensor (self-attention) that is one product with the whole
// [3E, E] weight and three views of its result; when key is value (encoder-decoder attention),
// one product for q and one with the [2E, E] k/v block.
//   q: [..., E]  k: [..., E]  v: [..., E]  w: [3E, E]  b: [3E]   ->   three [..., E]
QKV in_projection_packed(const Tensor& q, const Tensor& k, const Tensor& v, bool q_is_k, bool k_is_v, const Tensor& w,
                         const Tensor& b, const SrcLoc& loc) {
    const int64_t E = q.size(-1);
    if (k_is_v) {
        if (q_is_k) {
            // self-attention
            std::vector<Tensor> qkv = linear(q, w, b, loc).chunk(3, -1, loc);  // 3 x [..., E]
            return {qkv[0], qkv[1], qkv[2]};
        }
        // encoder-decoder attention
        std::vector<Tensor> w_q_kv = w.split(std::vector<int64_t>{E, E * 2}, 0, loc);  // [E, E], [2E, E]
        Tensor b_q, b_kv;
        if (b.defined()) {
            std::vector<Tensor> b_q_kv = b.split(std::vector<int64_t>{E, E * 2}, 0, loc);  // [E], [2E]
            b_q = b_q_kv[0];
            b_kv = b_q_kv[1];
        }
        std::vector<Tensor> kv = linear(k, w_q_kv[1], b_kv, loc).chunk(2, -1, loc);  // 2 x [..., E]
        return {linear(q, w_q_kv[0], b_q, loc), kv[0], kv[1]};
    }
    std::vector<Tensor> w_qkv = w.chunk(3, 0, loc);  // 3 x [E, E]
    Tensor b_q, b_k, b_v;
    if (b.defined()) {
        std::vector<Tensor> b_qkv = b.chunk(3, 0, loc);  // 3 x [E]
        b_q = b_qkv[0];
        b_k = b_qkv[1];
        b_v = b_qkv[2];
    }
    return {linear(q, w_qkv[0], b_q, loc), linear(k, w_qkv[1], b_k, loc), linear(v, w_qkv[2], b_v, loc)};
}

}  // namespace

Tensor additive_mask(const Tensor& mask, DType dtype, SrcLoc loc) {
    XG_CHECK(mask.defined(), loc, "additive_mask: the mask tensor is undefined");
    XG_CHECK(is_floating(dtype), loc, "additive_mask: the additive mask must be floating point, got " << dtype_name(dtype));
    // PyTorch: new_attn_mask = zeros_like(attn_mask, dtype); new_attn_mask.masked_fill_(attn_mask, -inf).
    // -inf, not a large negative number: exp(-inf) is exactly 0, so a masked key gets exactly no weight.
    return where(mask, full({}, -std::numeric_limits<double>::infinity(), xg::dtype(dtype)),
                 zeros({}, xg::dtype(dtype)), loc);  // [mask's shape]
}

namespace {

// The argument checks shared by both attention functions; returns the additive mask to use
// (the causal one, the given one made additive, or undefined).
Tensor check_attention_args(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_mask,
                            double dropout_p, bool is_causal, const SrcLoc& loc) {
    const char* op = "scaled_dot_product_attention";
    XG_CHECK(query.defined() && key.defined() && value.defined(), loc,
             op << ": query, key and value must all be defined tensors");
    XG_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2, loc,
             op << ": query, key and value need at least 2 dims ([..., L, E], [..., S, E], [..., S, Ev]), got "
                << shape_str(query.shape()) << ", " << shape_str(key.shape()) << " and " << shape_str(value.shape()));
    XG_CHECK(is_floating(query.dtype()) && query.dtype() == key.dtype() && key.dtype() == value.dtype(), loc,
             op << ": query, key and value must have the same floating dtype, got " << dtype_name(query.dtype())
                << ", " << dtype_name(key.dtype()) << " and " << dtype_name(value.dtype()));
    XG_CHECK(query.size(-1) == key.size(-1), loc,
             op << ": query " << shape_str(query.shape()) << " and key " << shape_str(key.shape())
                << " must have the same embedding size (last dim): " << query.size(-1) << " != " << key.size(-1));
    XG_CHECK(key.size(-2) == value.size(-2), loc,
             op << ": key " << shape_str(key.shape()) << " and value " << shape_str(value.shape())
                << " must have the same sequence length (dim -2): " << key.size(-2) << " != " << value.size(-2));
    XG_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, loc,
             op << ": dropout probability has to be between 0 and 1, but got " << dropout_p);
    XG_CHECK(!(is_causal && attn_mask.defined()), loc,
             op << ": pass either attn_mask or is_causal=true, not both (fold the causal mask into attn_mask)");
    const int64_t L = query.size(-2), S = key.size(-2);
    if (attn_mask.defined()) {
        const int64_t md = attn_mask.dim();
        XG_CHECK(md >= 1 && (attn_mask.size(-1) == S || attn_mask.size(-1) == 1) &&
                     (md < 2 || attn_mask.size(-2) == L || attn_mask.size(-2) == 1),
                 loc,
                 op << ": attn_mask " << shape_str(attn_mask.shape()) << " does not broadcast to the scores [..., L="
                    << L << ", S=" << S << "] of query " << shape_str(query.shape()) << " and key "
                    << shape_str(key.shape()));
    }
    return is_causal ? causal_mask(L, S, query.dtype()) : to_additive(attn_mask, query.dtype(), loc);
}

std::atomic<AttentionKernel> g_attention_kernel{AttentionKernel::Auto};

// Whether to take the fused path (see set_attention_kernel in nn/attention.h) for attention
// weights of `weights` elements (batch * heads * L * S). It needs a mask that is a constant and
// p < 1 (and a mask of the scores' dtype); anything else takes the composed path whatever the
// setting.
bool fuse(int64_t weights, const Tensor& mask, double dropout_p, DType dtype) {
    const AttentionKernel setting = g_attention_kernel.load(std::memory_order_relaxed);
    if (setting == AttentionKernel::Composed || dropout_p >= 1.0) return false;
    if (mask.defined() && (mask.requires_grad() || mask.dtype() != dtype)) return false;
    return setting == AttentionKernel::Fused || weights >= kFuseAttentionAt;
}

// The same for F::scaled_dot_product_attention, which also needs q, k and v with the same batch
// dims (no broadcasting), and a mask with no more dims than q.
bool use_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p) {
    if (q.dim() != k.dim() || k.dim() != v.dim() || (mask.defined() && mask.dim() > q.dim())) return false;
    for (int64_t d = 0; d + 2 < q.dim(); ++d)
        if (q.size(d) != k.size(d) || k.size(d) != v.size(d)) return false;
    return fuse(q.numel() / q.size(-1) * k.size(-2), mask, dropout_p, q.dtype());
}

// ---- the fused path ------------------------------------------------------------------------------
//
// One op with its own backward, for when the weights are not returned (the modules' case):
//   S = (q / sqrt(E)) @ k^T + mask,   P = softmax(S),   A = dropout(P),   out = A @ v
// The forward runs the composed path's kernels in the same order (so the same numbers), but
// records one node instead of five and saves only q, k, v (views the caller holds anyway), P,
// and the dropout mask as bytes: not the scaled q and not A, which the composed graph keeps
// (in fmnist_train, 13 MB per layer). The backward, with D = the dropout mask scaled by 1/(1-p):
//   A = P * D                         (recomputed)
//   dv = A^T @ g,   dA = g @ v^T,    dP = dA * D
//   dS = P * (dP - sum(dP * P, -1))   (softmax's backward)
//   dq = dS @ (k / sqrt(E)),         dk = dS^T @ (q / sqrt(E))
// Every product is written straight into the tensor it belongs in (kernels::gemm on the head's
// rows and strides), whatever its layout: for multi-head self-attention that is the heads' place
// in the packed [L, N, 3E] projection and in the [L, N, E] output (fused_self_attention below).

struct AttentionSaved {
    Tensor P;                                 // softmax(S)  [..., L, S]
    std::optional<detail::DropoutMask> drop;  // when p > 0
};

// Where slice b (the batch dims flattened, row-major) of t starts: t's first nb dims are the
// batch dims.
int64_t slice_offset(const Tensor& t, size_t nb, int64_t b) {
    int64_t offset = 0;
    for (size_t d = nb; d-- > 0;) {
        offset += b % t.shape()[d] * t.strides()[d];
        b /= t.shape()[d];
    }
    return offset;
}

// One matrix of a batch: rows and columns of t's last two dims (element (i, j) at
// data + i * rs + j * cs), slice after slice.
template <class T>
struct Slices {
    Slices(const Tensor& t, size_t nb)
        : t(t), nb(nb), data(t.data_ptr<T>()), rs(t.stride(-2)), cs(t.stride(-1)) {}
    T* operator[](int64_t b) const { return data + slice_offset(t, nb, b); }
    const Tensor& t;
    size_t nb;
    T* data;
    int64_t rs, cs;
};

// Runs body(b, scratch) for every slice b < count: on the threads, groups of whole slices each
// (one head's matrices are too small to share), or on the caller when there is one slice (whose
// products then spread their own rows over the threads). scratch: scratch_size values of the
// thread's own, for the slice's [L, S] matrices.
template <class T, class Body>
void for_each_slice(int64_t count, double work_per_slice, int64_t scratch_size, Body&& body) {
    const int threads = count >= 2 ? parallel::threads_for(work_per_slice * static_cast<double>(count)) : 1;
    const int64_t groups = threads > 1 ? std::min<int64_t>(count, 8 * threads) : 1;
    parallel::for_each_task(threads, groups, [&](int64_t g) {
        std::vector<T> scratch(static_cast<size_t>(scratch_size));
        int64_t b0 = 0, b1 = 0;
        parallel::split(count, static_cast<int>(g), static_cast<int>(groups), b0, b1);
        for (int64_t b = b0; b < b1; ++b) body(b, scratch.data());
    });
}

// The heads are done one at a time, each from start to end while its [L, S] matrices are in the
// cache (fmnist_train: 50 x 50, 10 KB), instead of one op over all heads after another: then
// every [..., L, S] tensor (scores, weights, dropped weights and their gradients, 10 MB a layer
// in fmnist_train) would go to memory and come back. The products, the softmax rows and the
// dropout are the kernels the composed path runs (kernels::gemm, kernels::softmax_row,
// DropoutMask::apply), called with the same operands, so the numbers are the same.

// dst [rows, cols] (contiguous) = src / scale, src element (i, j) at src[i * rs + j * cs]: the
// composed path's q / sqrt(E), one head's rows at a time, with the same bits (a multiply when
// scale is a power of two, as xg::div does: core/kernels/exact_inverse.h).
template <class T>
void divide_into(T* dst, const T* src, int64_t rs, int64_t cs, int64_t rows, int64_t cols, T scale) {
    T inverse = 0;
    const bool multiply = kernels::exact_inverse(scale, &inverse);
    for (int64_t i = 0; i < rows; ++i) {
        T* d = dst + i * cols;
        const T* r = src + i * rs;
        if (cs == 1 && multiply)  // the heads' rows are contiguous: SIMD loops
            for (int64_t j = 0; j < cols; ++j) d[j] = r[j] * inverse;
        else if (cs == 1)
            for (int64_t j = 0; j < cols; ++j) d[j] = r[j] / scale;
        else
            for (int64_t j = 0; j < cols; ++j) d[j] = multiply ? r[j * cs] * inverse : r[j * cs] / scale;
    }
}

// out (rows contiguous) = attention(q, k, v) with q / sqrt(E) scaled head by head; returns what
// the backward needs. q, k, v and out share their batch dims; mask broadcasts to the scores
// [..., L, S].
AttentionSaved attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                 double dropout_p, const Tensor& out, const SrcLoc& loc) {
    const size_t nb = static_cast<size_t>(q.dim() - 2);
    const int64_t L = q.size(-2), E = q.size(-1), S = k.size(-2), Ev = v.size(-1);
    const double scale = std::sqrt(static_cast<double>(E));
    Shape p_shape(q.shape().begin(), q.shape().end() - 2);
    p_shape.push_back(L);
    p_shape.push_back(S);
    XG_CHECK(out.stride(-1) == 1, loc, "attention: the output's rows must be contiguous, got strides " << out.strides());
    AttentionSaved saved;
    saved.P = xg::detail::make_empty(p_shape, q.dtype());  // [..., L, S]
    if (dropout_p > 0.0) saved.drop.emplace(saved.P.numel(), dropout_p);
    const Tensor m = mask.defined() ? mask.expand(p_shape, loc) : Tensor();  // [..., L, S], stride 0 where broadcast
    const int64_t count = L * S == 0 ? 0 : saved.P.numel() / (L * S);
    XG_DISPATCH_FLOAT(q.dtype(), T, [&] {
        const Slices<T> Q(q, nb), K(k, nb), V(v, nb), O(out, nb);
        std::optional<Slices<T>> M;
        if (m.defined()) M.emplace(m, nb);
        T* P = saved.P.data_ptr<T>();
        const double work = static_cast<double>(L * S) * static_cast<double>(E + Ev);
        for_each_slice<T>(count, work, L * S + L * E, [&](int64_t b, T* scratch) {
            T* scores = scratch;         // [L, S]
            T* qs = scratch + L * S;     // [L, E]
            T* p = P + b * L * S;
            divide_into(qs, Q[b], Q.rs, Q.cs, L, E, static_cast<T>(scale));                 // q / sqrt(E)
            kernels::gemm<T>(L, S, E, qs, E, 1, K[b], K.cs, K.rs, scores, S, false);  // qs @ k^T
            if (M) {  // + mask
                const T* mb = (*M)[b];
                for (int64_t i = 0; i < L; ++i)
                    for (int64_t j = 0; j < S; ++j) scores[i * S + j] += mb[i * M->rs + j * M->cs];
            }
            for (int64_t i = 0; i < L; ++i) kernels::softmax_row<T>(scores + i * S, p + i * S, S);  // P
            const T* A = p;
            if (saved.drop) {  // A = dropout(P), in the scores' place
                saved.drop->apply(p, scores, b * L * S, L * S);
                A = scores;
            }
            kernels::gemm<T>(L, Ev, S, A, S, 1, V[b], V.rs, V.cs, O[b], O.rs, false);  // A @ v
        });
    });
    return saved;
}

// dq, dk, dv (rows contiguous) = the gradients of attention(q, k, v) for g = dL/dout.
void attention_backward(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v,
                        const AttentionSaved& saved, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
    const size_t nb = static_cast<size_t>(q.dim() - 2);
    const int64_t L = q.size(-2), E = q.size(-1), S = k.size(-2), Ev = v.size(-1);
    const double scale = std::sqrt(static_cast<double>(E));
    XG_CHECK(dq.stride(-1) == 1 && dk.stride(-1) == 1 && dv.stride(-1) == 1, SrcLoc::current(),
             "attention backward: the gradients' rows must be contiguous");
    const int64_t count = L * S == 0 ? 0 : saved.P.numel() / (L * S);
    XG_DISPATCH_FLOAT(q.dtype(), T, [&] {
        const Slices<T> G(g, nb), Q(q, nb), K(k, nb), V(v, nb), DQ(dq, nb), DK(dk, nb), DV(dv, nb);
        const T* P = saved.P.data_ptr<T>();
        const double work = static_cast<double>(L * S) * static_cast<double>(2 * E + 2 * Ev);
        for_each_slice<T>(count, work, 2 * L * S + (L + S) * E, [&](int64_t b, T* scratch) {
            const T* p = P + b * L * S;
            T* a = scratch;                  // A, then dA, dP   [L, S]
            T* ds = a + L * S;               // dS               [L, S]
            T* qs = ds + L * S;              // q / sqrt(E)      [L, E]
            T* ks = qs + L * E;              // k / sqrt(E)      [S, E]
            const T* A = p;
            if (saved.drop) {  // A = P * D, recomputed
                saved.drop->apply(p, a, b * L * S, L * S);
                A = a;
            }
            kernels::gemm<T>(S, Ev, L, A, 1, S, G[b], G.rs, G.cs, DV[b], DV.rs, false);  // dv = A^T @ g
            kernels::gemm<T>(L, S, Ev, G[b], G.rs, G.cs, V[b], V.cs, V.rs, a, S, false);  // dA = g @ v^T
            if (saved.drop) saved.drop->apply(a, a, b * L * S, L * S);                    // dP = dA * D
            for (int64_t i = 0; i < L; ++i) kernels::softmax_backward_row<T>(p + i * S, a + i * S, ds + i * S, S);
            divide_into(qs, Q[b], Q.rs, Q.cs, L, E, static_cast<T>(scale));
            divide_into(ks, K[b], K.rs, K.cs, S, E, static_cast<T>(scale));
            kernels::gemm<T>(L, E, S, ds, S, 1, ks, E, 1, DQ[b], DQ.rs, false);  // dq = dS @ ks
            kernels::gemm<T>(S, E, L, ds, 1, S, qs, E, 1, DK[b], DK.rs, false);  // dk = dS^T @ qs
        });
    });
}

// F::scaled_dot_product_attention's fused op: q, k, v with the same batch dims.
Tensor fused_attention(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& mask,
                       double dropout_p, const SrcLoc& loc) {
    Shape out_shape = query.shape();
    out_shape.back() = value.size(-1);
    Tensor output = xg::detail::make_empty(out_shape, query.dtype());  // [..., L, Ev]
    AttentionSaved saved = attention_forward(query, key, value, mask, dropout_p, output, loc);
    if (autograd::needs_grad({&query, &key, &value})) {
        autograd::attach(output, "ScaledDotProductAttentionBackward0", loc, {query, key, value},
                         [sq = SavedTensor(query), sk = SavedTensor(key), sv = SavedTensor(value),
                          sp = SavedTensor(saved.P), drop = std::move(saved.drop)](const Tensor& g) {
                             const Tensor &q = sq.get(), &k = sk.get(), &v = sv.get();
                             Tensor dq = xg::detail::make_empty(q.shape(), q.dtype());
                             Tensor dk = xg::detail::make_empty(k.shape(), k.dtype());
                             Tensor dv = xg::detail::make_empty(v.shape(), v.dtype());
                             attention_backward(g, q, k, v, {sp.get(), drop}, dq, dk, dv);
                             return std::vector<Tensor>{dq, dk, dv};
                         });
    }
    return output;
}

// Part `part` (0 = q, 1 = k, 2 = v) of a packed [L, N, 3E] projection, or of an [L, N, E] tensor
// (part 0), as heads [N, H, L, Dh]: a view with the strides that says so, no copy, no graph node.
// The same picture as view({L, N, H, Dh}).permute({1, 2, 0, 3}) on the part's columns.
Tensor heads_view(const Tensor& t, int64_t part, int64_t embed_dim, int64_t num_heads) {
    const int64_t L = t.size(0), N = t.size(1), Dh = embed_dim / num_heads;
    const int64_t s0 = t.stride(0), s1 = t.stride(1), s2 = t.stride(2);
    return xg::detail::make_view(t, {N, num_heads, L, Dh}, {s1, Dh * s2, s0, s2},
                                 t.storage_offset() + part * embed_dim * s2);
}

// [L, N, W] with the memory order of qkv: sequence-major (contiguous), or batch-major (a view of
// an [N, L, W] buffer) when qkv is the transpose of a batch-first projection.
Tensor empty_in_order_of(const Tensor& qkv, int64_t W) {
    const int64_t L = qkv.size(0), N = qkv.size(1);
    if (qkv.stride(0) <= qkv.stride(1)) {  // batch-major
        Tensor buffer = xg::detail::make_empty({N, L, W}, qkv.dtype());
        return xg::detail::make_view(buffer, {L, N, W}, {W, L * W, 1}, 0);
    }
    return xg::detail::make_empty({L, N, W}, qkv.dtype());
}

// nn::MultiheadAttention's self-attention as one op: the packed projection qkv [L, N, 3E] in,
// the heads' outputs side by side [L, N, E] out (concat(head_1, ..., head_H), ready for
// out_proj). The composed path splits qkv into three views, permutes the heads out, and after
// the attention copies them back side by side (permute + reshape); in the backward, each of the
// three SplitBackward0 nodes builds a zero [L, N, 3E] gradient with its part filled in, the
// engine adds the three, and the permuted gradients are copied twice on the way. Here the
// forward writes each head's output into its columns of [L, N, E], and the backward writes
// dq, dk, dv into their columns of one [L, N, 3E] gradient: no copies and no zeros.
Tensor fused_self_attention(const Tensor& qkv, int64_t num_heads, const Tensor& mask, double dropout_p,
                            const SrcLoc& loc) {
    const int64_t E = qkv.size(2) / 3;
    Tensor output = empty_in_order_of(qkv, E);  // [L, N, E]
    AttentionSaved saved = attention_forward(heads_view(qkv, 0, E, num_heads), heads_view(qkv, 1, E, num_heads),
                                             heads_view(qkv, 2, E, num_heads), mask, dropout_p,
                                             heads_view(output, 0, E, num_heads), loc);
    if (autograd::needs_grad({&qkv})) {
        autograd::attach(output, "ScaledDotProductAttentionBackward0", loc, {qkv},
                         [sqkv = SavedTensor(qkv), sp = SavedTensor(saved.P), drop = std::move(saved.drop), num_heads,
                          E](const Tensor& g) {
                             const Tensor& qkv = sqkv.get();
                             Tensor grad = empty_in_order_of(qkv, 3 * E);  // [L, N, 3E]
                             attention_backward(heads_view(g, 0, E, num_heads), heads_view(qkv, 0, E, num_heads),
                                                heads_view(qkv, 1, E, num_heads), heads_view(qkv, 2, E, num_heads),
                                                {sp.get(), drop}, heads_view(grad, 0, E, num_heads),
                                                heads_view(grad, 1, E, num_heads), heads_view(grad, 2, E, num_heads));
                             return std::vector<Tensor>{grad};
                         });
    }
    return output;
}

}  // namespace

void set_attention_kernel(AttentionKernel kernel) { g_attention_kernel.store(kernel, std::memory_order_relaxed); }
AttentionKernel attention_kernel() { return g_attention_kernel.load(std::memory_order_relaxed); }

AttentionOutput scaled_dot_product_attention_with_weights(const Tensor& query, const Tensor& key, const Tensor& value,
                                                          const Tensor& attn_mask, double dropout_p, bool is_causal,
                                                          SrcLoc loc) {
    // The composed path: one core op per step, each its own graph node (see the top of the file).
    Tensor mask = check_attention_args(query, key, value, attn_mask, dropout_p, is_causal, loc);
    // Scale q rather than the scores: L*E divisions instead of L*S, and PyTorch 1.13's order
    // (q / sqrt(E), then baddbmm), so float32 results agree with PyTorch's to the last bit more
    // often. Why sqrt(E) at all: a dot product of E unit-variance terms has variance E; dividing
    // by sqrt(E) keeps the scores near unit variance, so the softmax does not saturate to one-hot
    // (where its gradient vanishes) as E grows.
    const double scale = std::sqrt(static_cast<double>(query.size(-1)));
    Tensor q_scaled = div(query, scale, loc);                                     // [..., L, E]
    Tensor attn_weight = matmul(q_scaled, key.transpose(-2, -1, loc), loc);     // [..., L, S]
    if (mask.defined()) attn_weight = add(attn_weight, mask, loc);             // [..., L, S]
    // Each query's weights over the S keys sum to 1; -inf scores get exactly 0.
    attn_weight = softmax(attn_weight, -1, loc);                                  // [..., L, S]
    if (dropout_p > 0.0) attn_weight = dropout(attn_weight, dropout_p, /*training=*/true, loc);  // [..., L, S]
    Tensor output = matmul(attn_weight, value, loc);                              // [..., L, Ev]
    return {output, attn_weight};
}

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal, SrcLoc loc) {
    Tensor mask = check_attention_args(query, key, value, attn_mask, dropout_p, is_causal, loc);
    if (use_fused(query, key, value, mask, dropout_p)) return fused_attention(query, key, value, mask, dropout_p, loc);
    return scaled_dot_product_attention_with_weights(query, key, value, attn_mask, dropout_p, is_causal, loc).output;
}

AttentionOutput multi_head_attention_forward(const Tensor& query_in, const Tensor& key_in, const Tensor& value_in,
                                             int64_t embed_dim_to_check, int64_t num_heads,
                                             const Tensor& in_proj_weight, const Tensor& in_proj_bias,
                                             double dropout_p, const Tensor& out_proj_weight,
                                             const Tensor& out_proj_bias, bool training,
                                             const Tensor& key_padding_mask_in, bool need_weights,
                                             const Tensor& attn_mask_in, bool average_attn_weights, SrcLoc loc) {
    const char* op = "multi_head_attention_forward";
    const bool is_batched = mha_shape_check(query_in, key_in, value_in, key_padding_mask_in, attn_mask_in, loc);
    // Self-attention passes one tensor three times; the in-projection then does one product.
    const bool q_is_k = query_in.impl() == key_in.impl();
    const bool k_is_v = key_in.impl() == value_in.impl();

    // For unbatched input, pretend it is a batch of one (PyTorch's trick): unsqueeze the batch
    // dim here and squeeze it off the results at the end.
    Tensor query = query_in, key = key_in, value = value_in, key_padding_mask = key_padding_mask_in;
    if (!is_batched) {
        query = query.unsqueeze(1, loc);  // [L, 1, E]
        key = k_is_v && q_is_k ? query : key.unsqueeze(1, loc);  // [S, 1, E]
        value = k_is_v ? key : value.unsqueeze(1, loc);          // [S, 1, E]
        if (key_padding_mask.defined()) key_padding_mask = key_padding_mask.unsqueeze(0, loc);  // [1, S]
    }

    // set up shape vars
    const int64_t tgt_len = query.size(0), bsz = query.size(1), embed_dim = query.size(2);
    const int64_t src_len = key.size(0);
    XG_CHECK(embed_dim == embed_dim_to_check, loc,
             op << ": was expecting embedding dimension of " << embed_dim_to_check << ", but got " << embed_dim
                << " (query " << shape_str(query_in.shape()) << ")");
    XG_CHECK(num_heads > 0 && embed_dim % num_heads == 0, loc,
             op << ": embed_dim " << embed_dim << " not divisible by num_heads " << num_heads);
    const int64_t head_dim = embed_dim / num_heads;
    XG_CHECK(key.shape() == value.shape(), loc,
             op << ": key shape " << shape_str(key_in.shape()) << " does not match value shape "
                << shape_str(value_in.shape()));
    XG_CHECK(key.size(1) == bsz && key.size(2) == embed_dim, loc,
             op << ": key " << shape_str(key_in.shape()) << " does not fit query " << shape_str(query_in.shape())
                << ": expected [S, " << bsz << ", " << embed_dim << "] (same batch size and embedding dim)");
    XG_CHECK(in_proj_weight.defined() && in_proj_weight.shape() == Shape({3 * embed_dim, embed_dim}), loc,
             op << ": in_proj_weight must have shape [3*embed_dim, embed_dim] = [" << 3 * embed_dim << ", "
                << embed_dim << "], got " << (in_proj_weight.defined() ? shape_str(in_proj_weight.shape()) : "undefined"));
    XG_CHECK(!in_proj_bias.defined() || in_proj_bias.shape() == Shape({3 * embed_dim}), loc,
             op << ": in_proj_bias must have shape [" << 3 * embed_dim << "], got " << shape_str(in_proj_bias.shape()));
    XG_CHECK(out_proj_weight.defined() && out_proj_weight.shape() == Shape({embed_dim, embed_dim}), loc,
             op << ": out_proj_weight must have shape [" << embed_dim << ", " << embed_dim << "], got "
                << (out_proj_weight.defined() ? shape_str(out_proj_weight.shape()) : "undefined"));
    XG_CHECK(!out_proj_bias.defined() || out_proj_bias.shape() == Shape({embed_dim}), loc,
             op << ": out_proj_bias must have shape [" << embed_dim << "], got " << shape_str(out_proj_bias.shape()));

    // prep attention mask
    Tensor attn_mask = attn_mask_in;
    if (attn_mask.defined()) {
        if (attn_mask.dim() == 2) {
            XG_CHECK(attn_mask.shape() == Shape({tgt_len, src_len}), loc,
                     op << ": the shape of the 2D attn_mask is " << shape_str(attn_mask.shape()) << ", but should be ["
                        << tgt_len << ", " << src_len << "] (L, S)");
            // [L, S] broadcasts over batch and heads as it is.
        } else {
            XG_CHECK(attn_mask.shape() == Shape({bsz * num_heads, tgt_len, src_len}), loc,
                     op << ": the shape of the 3D attn_mask is " << shape_str(attn_mask.shape()) << ", but should be ["
                        << bsz * num_heads << ", " << tgt_len << ", " << src_len << "] (N*num_heads, L, S)");
            // PyTorch's [N*H, L, S] rows are ordered batch-major (row n*H + h), so this view
            // lines them up with our [N, H, L, S] scores.
            attn_mask = attn_mask.view({bsz, num_heads, tgt_len, src_len}, loc);  // [N, H, L, S]
        }
        XG_CHECK(attn_mask.dtype() == kInt64 || attn_mask.dtype() == query.dtype(), loc,
                 op << ": a float attn_mask must have the query's dtype " << dtype_name(query.dtype()) << ", got "
                    << dtype_name(attn_mask.dtype()) << " (int64 masks are boolean: nonzero = not allowed)");
        attn_mask = to_additive(attn_mask, query.dtype(), loc);
    }

    // merge key padding and attention masks
    if (key_padding_mask.defined()) {
        XG_CHECK(key_padding_mask.shape() == Shape({bsz, src_len}), loc,
                 op << ": expecting key_padding_mask shape of [" << bsz << ", " << src_len << "] (N, S), but got "
                    << shape_str(key_padding_mask_in.shape()));
        XG_CHECK(key_padding_mask.dtype() == kInt64 || key_padding_mask.dtype() == query.dtype(), loc,
                 op << ": a float key_padding_mask must have the query's dtype " << dtype_name(query.dtype())
                    << ", got " << dtype_name(key_padding_mask.dtype()) << " (int64 masks are boolean: nonzero = ignore)");
        // One row of S per batch entry, the same for every head and every query.
        Tensor padding = to_additive(key_padding_mask, query.dtype(), loc).view({bsz, 1, 1, src_len}, loc);  // [N, 1, 1, S]
        // Adding -inf's is PyTorch's logical_or / masked_fill(-inf) of the two masks.
        attn_mask = attn_mask.defined() ? add(attn_mask, padding, loc) : padding;  // [N, H or 1, L or 1, S]
    }

    // adjust dropout probability
    if (!training) dropout_p = 0.0;

    //
    // compute in-projection
    //
    // Self-attention without the weights, large enough to fuse (nn/attention.h): one product for
    // q, k and v, the fused op on the packed [L, N, 3E] result, the heads' outputs side by side.
    // The products run in the memory order of the input: with batch_first, nn::MultiheadAttention
    // passes the transpose of an [N, L, E] tensor, and projecting that as it lies is one GEMM
    // (forward and backward), where the [L, N, E] view would be L products of N rows each (each
    // packing the weight again, and the weight's gradient summed product after product).
    if (q_is_k && k_is_v && !need_weights && fuse(bsz * num_heads * tgt_len * src_len, attn_mask, dropout_p, query.dtype())) {
        const bool batch_major = query.stride(0) < query.stride(1);
        Tensor x = batch_major ? query.transpose(0, 1, loc) : query;   // [N, L, E] or [L, N, E]
        Tensor qkv = linear(x, in_proj_weight, in_proj_bias, loc);      // [N, L, 3E] or [L, N, 3E]
        if (batch_major) qkv = qkv.transpose(0, 1, loc);                // [L, N, 3E]
        Tensor heads = fused_self_attention(qkv, num_heads, attn_mask, dropout_p, loc);  // [L, N, E], qkv's order
        if (batch_major) heads = heads.transpose(0, 1, loc);            // [N, L, E]
        Tensor attn_output = linear(heads, out_proj_weight, out_proj_bias, loc);
        if (batch_major) attn_output = attn_output.transpose(0, 1, loc);  // [L, N, E]
        if (!is_batched) attn_output = attn_output.squeeze(1, loc);     // [L, E]
        return {attn_output, Tensor()};
    }
    auto [q, k, v] = in_projection_packed(query, key, value, q_is_k, k_is_v, in_proj_weight, in_proj_bias, loc);
    // q: [L, N, E]   k: [S, N, E]   v: [S, N, E]

    //
    // reshape q, k, v for multihead attention and make em batch first
    //
    // Split E into num_heads x head_dim and move the heads next to the batch. PyTorch folds them
    // into one [N*H, L, Dh] batch, which needs a contiguous copy of q, k and v; keeping N and H as
    // two batch dims needs only views, and the batched matmul reads the strides as they are.
    q = q.view({tgt_len, bsz, num_heads, head_dim}, loc).permute({1, 2, 0, 3}, loc);  // [N, H, L, Dh]
    k = k.view({src_len, bsz, num_heads, head_dim}, loc).permute({1, 2, 0, 3}, loc);  // [N, H, S, Dh]
    v = v.view({src_len, bsz, num_heads, head_dim}, loc).permute({1, 2, 0, 3}, loc);  // [N, H, S, Dh]

    //
    // (deep breath) calculate attention and out projection
    //
    // Without the weights, F::scaled_dot_product_attention (fused when it can be, see
    // nn/attention.h); with them, the composed path, whose weights have a gradient of their own.
    auto [attn_output, attn_output_weights] =
        need_weights ? scaled_dot_product_attention_with_weights(q, k, v, attn_mask, dropout_p, false, loc)
                     : AttentionOutput{scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, false, loc), Tensor()};
    // attn_output: [N, H, L, Dh]   attn_output_weights: [N, H, L, S] (when need_weights)

    // Heads side by side again (concat(head_1, ..., head_H)): the one copy of the function.
    attn_output = attn_output.permute({2, 0, 1, 3}, loc).reshape({tgt_len * bsz, embed_dim}, loc);  // [L*N, E]
    attn_output = linear(attn_output, out_proj_weight, out_proj_bias, loc);                           // [L*N, E]
    attn_output = attn_output.view({tgt_len, bsz, embed_dim}, loc);                                   // [L, N, E]

    if (!need_weights) {
        if (!is_batched) attn_output = attn_output.squeeze(1, loc);  // [L, E]
        return {attn_output, Tensor()};
    }
    // optionally average attention weights over heads (sum / H, PyTorch's exact arithmetic)
    if (average_attn_weights)
        attn_output_weights = div(attn_output_weights.sum({1}, false, loc), static_cast<double>(num_heads), loc);  // [N, L, S]
    if (!is_batched) {
        // squeeze the output if input was unbatched
        attn_output = attn_output.squeeze(1, loc);                  // [L, E]
        attn_output_weights = attn_output_weights.squeeze(0, loc);  // [L, S] or [H, L, S]
    }
    return {attn_output, attn_output_weights};
}

}  // namespace xg::nn::functional
