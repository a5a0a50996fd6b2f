"""Expected numbers for tests/nn/test_attention.cpp and tests/nn/test_transformer.cpp, from
PyTorch 1.13.1 (Debian's python3-torch).

    /usr/bin/python3 tests/nn/attention_expected.py > tests/nn/attention_expected.h

writes the C++ header both tests include. Each fixture is a list of named float32 tensors:
  "sd.<key>"   the module's state_dict (random weights, loaded into the xgrad module),
  inputs       ("x", "query", "memory", masks as 0/1 values, ...),
  outputs      ("out", "weights", gradients "grad.<name>").
Values are printed with 9 significant digits, which round-trip float32 exactly, so the xgrad side
starts from bit-identical weights and inputs. Dropout is off in every parity case (eval mode or
p = 0), and every module runs with gradients enabled, i.e. on PyTorch's ordinary path, not the
inference fast path (which computes the same numbers in a fused kernel).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_printoptions(precision=10)


def fmt(t):
    vals = ", ".join("%.9g" % v for v in t.detach().double().flatten().tolist())
    return "{%s}" % vals


def entry(name, t):
    shape = ", ".join(str(s) for s in t.shape)
    return '    {"%s", {%s}, %s},' % (name, shape, fmt(t.float() if t.dtype == torch.bool else t))


def randomize(module, seed):
    """Random values for every parameter (LayerNorm and biases included, so none is trivial)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def rnd(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


fixtures = {}


def emit(name, items):
    fixtures[name] = items


def state(module):
    return [("sd." + k, v) for k, v in module.state_dict().items()]


# ---- scaled dot product attention ------------------------------------------------------------
q, k, v = rnd(2, 3, 4, seed=1), rnd(2, 5, 4, seed=2), rnd(2, 5, 3, seed=3)
mask = rnd(3, 5, seed=4)
E = q.size(-1)


def sdpa(q, k, v, mask):
    # PyTorch 1.13's _scaled_dot_product_attention math: q / sqrt(E), baddbmm with the mask, softmax, bmm.
    s = (q / math.sqrt(E)) @ k.transpose(-2, -1)
    if mask is not None:
        s = s + mask
    w = s.softmax(-1)
    return w @ v, w


out, w = sdpa(q, k, v, mask)
causal = torch.triu(torch.full((3, 5), float("-inf")), diagonal=1)
out_c, w_c = sdpa(q, k, v, causal)
emit("sdpa", [("q", q), ("k", k), ("v", v), ("mask", mask), ("out", out), ("weights", w),
              ("out_causal", out_c), ("weights_causal", w_c)])

# ---- MultiheadAttention: self-attention, sequence first -----------------------------------------
mha = nn.MultiheadAttention(4, 2)
randomize(mha, 10)
mha.eval()
x = rnd(3, 2, 4, seed=11).requires_grad_()
out, w_avg = mha(x, x, x)
_, w_heads = mha(x, x, x, average_attn_weights=False)
(out * out).sum().backward()
emit("mha_self", state(mha) + [("x", x), ("out", out), ("weights", w_avg), ("weights_heads", w_heads),
                               ("grad.x", x.grad), ("grad.in_proj_weight", mha.in_proj_weight.grad)])

# ---- MultiheadAttention: cross-attention, batch_first, bool attn_mask and key_padding_mask ------
mha = nn.MultiheadAttention(4, 2, batch_first=True)
randomize(mha, 20)
mha.eval()
query, memory = rnd(2, 2, 4, seed=21), rnd(2, 3, 4, seed=22)
attn_mask = torch.tensor([[False, True, False], [False, False, False]])
kpm = torch.tensor([[False, False, True], [False, False, False]])
out, w_avg = mha(query, memory, memory, key_padding_mask=kpm, attn_mask=attn_mask)
emit("mha_cross", state(mha) + [("query", query), ("memory", memory), ("attn_mask", attn_mask),
                                ("key_padding_mask", kpm), ("out", out), ("weights", w_avg)])

# ---- MultiheadAttention: distinct q, k, v and a 3-D float attn_mask [N*H, L, S], per-head weights
mha = nn.MultiheadAttention(4, 2)
randomize(mha, 30)
mha.eval()
query, key, value = rnd(2, 2, 4, seed=31), rnd(3, 2, 4, seed=32), rnd(3, 2, 4, seed=33)
attn_mask = rnd(4, 2, 3, seed=34)
out, w_heads = mha(query, key, value, attn_mask=attn_mask, average_attn_weights=False)
emit("mha_qkv", state(mha) + [("query", query), ("key", key), ("value", value), ("attn_mask", attn_mask),
                              ("out", out), ("weights_heads", w_heads)])

# ---- TransformerEncoderLayer: post/pre-norm x relu/gelu, batch_first, with and without masks ----
configs = [("post_relu", False, "relu", None), ("pre_relu", True, "relu", "causal"),
           ("post_gelu", False, "gelu", "padding"), ("pre_gelu", True, "gelu", None)]
for i, (name, norm_first, act, masks) in enumerate(configs):
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.1, activation=act, batch_first=True,
                                       norm_first=norm_first)
    randomize(layer, 40 + i)
    layer.eval()
    src = rnd(2, 3, 4, seed=50 + i).requires_grad_()
    src_mask = nn.Transformer.generate_square_subsequent_mask(3) if masks == "causal" else None
    src_kpm = torch.tensor([[False, False, True], [False, False, False]]) if masks == "padding" else None
    out = layer(src, src_mask=src_mask, src_key_padding_mask=src_kpm)
    (out * out).sum().backward()
    items = state(layer) + [("src", src), ("out", out), ("grad.src", src.grad),
                            ("grad.self_attn.in_proj_weight", layer.self_attn.in_proj_weight.grad)]
    if src_kpm is not None:
        items.append(("src_key_padding_mask", src_kpm))
    emit("encoder_" + name, items)

# ---- TransformerEncoder: 2 post-norm layers, sequence first, final LayerNorm ---------------------
enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0), 2, norm=nn.LayerNorm(4))
randomize(enc, 60)
src = rnd(3, 2, 4, seed=61)
emit("encoder_stack", state(enc) + [("src", src), ("out", enc(src))])

# ---- TransformerDecoderLayer / TransformerDecoder ------------------------------------------------
dec = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0)
randomize(dec, 70)
tgt, memory = rnd(3, 2, 4, seed=71), rnd(4, 2, 4, seed=72)
tgt_mask = nn.Transformer.generate_square_subsequent_mask(3)
mem_kpm = torch.tensor([[False, False, False, True], [False, False, False, False]])
out = dec(tgt, memory, tgt_mask=tgt_mask, memory_key_padding_mask=mem_kpm)
emit("decoder_layer", state(dec) + [("tgt", tgt), ("memory", memory), ("memory_key_padding_mask", mem_kpm),
                                    ("out", out)])

dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, activation="gelu", norm_first=True,
                                                       batch_first=True), 2, norm=nn.LayerNorm(4))
randomize(dec, 80)
tgt, memory = rnd(2, 3, 4, seed=81), rnd(2, 4, 4, seed=82)
out = dec(tgt, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(3))
emit("decoder_stack", state(dec) + [("tgt", tgt), ("memory", memory), ("out", out)])

# ---- default initialisation, drawn from the global generator -------------------------------------
torch.manual_seed(0)
layer = nn.TransformerEncoderLayer(4, 2, 6)
emit("init_encoder_layer", state(layer))

HEADER = r"""#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "xgrad.h"

namespace attention_expected {

struct Named {
    const char* name;
    std::vector<int64_t> shape;
    std::vector<double> values;
};
using Fixture = std::vector<Named>;
"""

FOOTER = r"""
// The tensor called `name` in `f`, as float32 (the values are float32 numbers, so exactly), or
// float64 for gradchecks. Masks come as 0/1 values: pass dtype kInt64 for a boolean mask.
inline xg::Tensor get(const Fixture& f, const std::string& name, xg::DType dtype = xg::kFloat32) {
    for (const Named& n : f)
        if (name == n.name) return xg::tensor(n.values, n.shape, xg::dtype(xg::kFloat64)).to(dtype);
    throw xg::Error("attention_expected: no tensor named " + name);
}

// The "sd.*" entries as a state dict for Module::load_state_dict.
inline std::map<std::string, xg::Tensor> state_dict(const Fixture& f) {
    std::map<std::string, xg::Tensor> sd;
    for (const Named& n : f) {
        std::string name = n.name;
        if (name.rfind("sd.", 0) == 0) sd[name.substr(3)] = get(f, name);
    }
    return sd;
}

}  // namespace attention_expected
"""

print("// Generated by tests/nn/attention_expected.py from PyTorch %s. Do not edit; regenerate with" % torch.__version__)
print("//   /usr/bin/python3 tests/nn/attention_expected.py > tests/nn/attention_expected.h")
print(HEADER, end="")
for name, items in fixtures.items():
    print("")
    print("inline const Fixture %s = {" % name)
    for n, t in items:
        print(entry(n, t))
    print("};")
print(FOOTER, end="")
