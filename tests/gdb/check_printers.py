# CTest gdb/printers: runs tutorials/06_classification under gdb (tests/gdb/run_gdb_test.sh starts
# it with -batch -x this file), stops in the forward of attention and in the backward of matmul,
# prints tensors, nodes and modules with tools/gdb/xgrad.py, and checks what they show with
# regular expressions. Every line gdb prints is echoed, so a failure shows the whole session.
#
# Line numbers are never written here: breakpoints are function names, or the line found at run
# time by searching the source for a marker text (so edits above the line do not break the test).
import os
import re
import sys

import gdb

SOURCE_DIR = os.environ["XGRAD_SOURCE_DIR"]
failures = []
checks = 0


def marker_line(relpath, text):
    """The 1-based line of the first line of SOURCE_DIR/relpath containing `text`."""
    with open(os.path.join(SOURCE_DIR, relpath), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if text in line:
                return number
    raise RuntimeError("marker %r not found in %s: update tests/gdb/check_printers.py" % (text, relpath))


def run(command):
    """Runs a gdb command, echoes it and its output as a session transcript, returns the output.
    (What gdb prints itself when the program stops comes between the two.)"""
    sys.stdout.write("(gdb) %s\n" % command)
    sys.stdout.flush()
    out = gdb.execute(command, to_string=True)
    sys.stdout.write(out)
    sys.stdout.flush()
    return out


def expect(text, pattern, what):
    """Records a failure unless `pattern` (a regex) is found in `text`."""
    global checks
    checks += 1
    if re.search(pattern, text, re.S) is None:
        failures.append("%s: /%s/ not found in:\n%s" % (what, pattern, text))
        sys.stdout.write("CHECK FAILED: %s\n" % what)


def floats(text):
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)]


TUTORIAL = "tutorials/06_classification.cpp"
ATTENTION = "nn/functional/attention.cpp"
MATMUL = "core/ops/matmul.cpp"

try:
    # 0. The printers came with the binary (its .debug_gdb_scripts section), not from a `source`.
    expect(run("info pretty-printer"), r"\bxgrad\b", "xgrad.py auto-loaded from .debug_gdb_scripts")

    run("set pagination off")
    run("set confirm off")
    # The forward of attention: at its entry (by name) and after its softmax (by marker: the
    # dropout line, reached with the softmax done and the dropout not yet applied).
    run("break xg::nn::functional::scaled_dot_product_attention_with_weights")
    after_softmax = marker_line(ATTENTION, "if (dropout_p > 0.0) attn_weight = dropout(attn_weight")
    run("break %s:%d" % (ATTENTION, after_softmax))
    # The backward of a Linear (addmm): the first line inside the lambda attached to its output.
    in_backward = marker_line(MATMUL, "Tensor g_input = input_grad ? sum_to(g, input_shape)")
    run("break %s:%d" % (MATMUL, in_backward))
    encoder_line = marker_line(TUTORIAL, "Tensor encoder_output = (*transformer_encoder)(token_embedding)")

    # 1. Attention forward, entry: q, k, v are [N, H, L, Dh] views of the projected tokens
    #    (permuted, so not contiguous: the printer must show their strides and read through them).
    run("run")
    q = run("print query")
    expect(q, r"shape=\[1, 8, 5, 1\]", "query shape [N, H, L, Dh] = [1, 8, 5, 1]")
    expect(q, r"dtype=float32", "query dtype")
    expect(q, r"strides=\[8, 1, 24, 1\]", "query is a permuted view: strides shown")
    expect(q, r"requires_grad=True", "query requires grad")
    expect(q, r"grad_fn=<PermuteBackward0>", "query grad_fn name")
    # The printer reads storage + offset with the strides itself; xgrad's own printer (called in
    # the inferior) must agree on the values.
    mine = floats(q.split("shape=")[0])
    theirs = floats(run('printf "%s\\n", xg::to_string(query).c_str()'))
    expect("ok" if len(mine) == 8 and all(abs(a - b) < 1e-3 for a, b in zip(mine, theirs)) else
           "values differ: %s vs %s" % (mine, theirs), r"^ok$", "printer values == xg::to_string values (strided)")

    # 2. After the softmax: attention weights, each row a distribution over the 5 keys.
    run("continue")
    w = run("print attn_weight")
    expect(w, r"shape=\[1, 8, 5, 5\]", "attn_weight shape [N, H, L, S]")
    expect(w, r"grad_fn=<SoftmaxBackward0>", "attn_weight grad_fn")
    row = floats(w.split("shape=")[0])[:5]
    expect("%.3f" % sum(row), r"^1\.000$", "first softmax row sums to 1")
    # The node remembers the user's line: the encoder call in the tutorial, not attention.cpp.
    expect(run("print $grad_fn(attn_weight)"),
           r"<SoftmaxBackward0> at tutorials/06_classification\.cpp:%d, output \[1, 8, 5, 5\], "
           r"next_functions: \[\w+Backward0\]" % encoder_line,
           "$grad_fn: node name, the user's source line, output shape, next functions")

    # 3. Addmm backward: the first to run backward is the head's Linear (the last in forward).
    run("delete 1 2")
    run("continue")
    g = run("print g")
    expect(g, r"shape=\[1, 10\]", "dL/dlogits shape")
    expect(g, r"dtype=float32", "g dtype")
    expect(g, r"requires_grad=False", "backward runs under no_grad: g has no graph")
    expect(run("print saved_2"), r"saved tensor\(.*shape=\[8, 10\].*strides=\[1, 8\].*\) at version \d+",
           "SavedTensor printer: W^T, a transposed view, saved for dL/dx")
    run("frame function xg::autograd::Node::apply")
    logits_line = marker_line(TUTORIAL, "Tensor logits = linear_layer(cls_token_output)")
    node = run("print *this")
    expect(node, r"<AddmmBackward0> at tutorials/06_classification\.cpp:%d, output \[1, 10\]" % logits_line,
           "node printer: name and the user's line of the op")
    expect(node, r"next_functions: \[AccumulateGrad\(leaf \[10\]\), SelectBackward0, TransposeBackward0\]",
           "node printer: next functions (the bias, a leaf, first: addmm(bias, x, W^T))")

    # 4. The gradient arrives: stop on the line after loss.backward() and look at the leaf.
    run("delete")
    after_backward = marker_line(TUTORIAL, 'std::cout << "cls_token_embedding.grad = "')
    run("break %s:%d" % (TUTORIAL, after_backward))
    run("continue")
    cls = run("print cls_token_embedding")
    expect(cls, r"requires_grad=True", "leaf requires grad")
    expect(cls, r"grad=\[1, 8\]", "leaf's .grad arrived")
    # PyTorch 1.13 prints this gradient for the same program (the tutorial's comment says so).
    expect(run("print $grad(cls_token_embedding)"), r"tensor\(\[\[-0\.0787, -0\.1371, 0\.1574, -0\.0613, -0\.2189",
           "$grad values, digit for digit PyTorch's")
    loss = run("print loss")
    expect(loss, r"tensor\(3\.0046, shape=\[\], dtype=float32, requires_grad=True, grad_fn=<NllLossBackward0>\)",
           "0-d loss tensor")
    loss_line = marker_line(TUTORIAL, "Tensor loss = loss_fn(logits, label)")
    expect(run("print loss.impl_._M_ptr->grad_fn"),
           r"<NllLossBackward0> at tutorials/06_classification\.cpp:%d.*released" % loss_line,
           "shared_ptr<Node> printer; backward released the node")
    expect(run("xg-graph loss 4"),
           r"#0 <NllLossBackward0>[^\n]*\n  #1 <AddmmBackward0>[^\n]*\n    #2 <AccumulateGrad> into leaf \[10\]\n"
           r"    #3 <SelectBackward0>",
           "xg-graph walks the graph depth-first")

    # 5. Modules: a module's tensors (with their .grad now) and submodules, and the flat names.
    lin = run("print linear_layer")
    expect(lin, r"Linear \(training\)", "module printer: type and mode")
    expect(lin, r"weight = \[10, 8\] float32, grad \[10, 8\], bias = \[10\] float32", "module printer: parameter shape and grad")
    expect(lin, r"in_features = 8", "module printer: plain members")
    layer = run("print encoder_layer")
    expect(layer, r"TransformerEncoderLayer \(training\)", "shared_ptr<Module> printer")
    expect(layer, r"self_attn = MultiheadAttention \(training\)", "submodule shown with its type")
    expect(layer, r"in_proj_weight = \[24, 8\] float32, in_proj_bias", "nested parameter")
    stack = run("print *transformer_encoder")
    expect(stack, r"layers = ModuleList \(training\) = \{0 = TransformerEncoderLayer \(training\)",
           "ModuleList elements shown as their dynamic type")
    params = run("xg-params transformer_encoder")
    expect(params, r"layers\.0\.self_attn\.in_proj_weight\s+\[24, 8\] float32", "xg-params dotted names")
    expect(params, r"layers\.5\.norm2\.bias\s+\[8\] float32", "xg-params reaches the last layer")
    expect(params, r"matches num_parameters\(\) = 210864", "xg-params agrees with the module's visit()")
    run("kill")
except Exception as e:  # a gdb error (no symbol, no frame) fails the test with its message
    failures.append("%s: %s" % (type(e).__name__, e))

sys.stdout.write("\n%d checks, %d failed\n" % (checks, len(failures)))
for f in failures:
    sys.stdout.write("FAILED: %s\n" % f)
sys.stdout.flush()
gdb.execute("quit %d" % (1 if failures or checks == 0 else 0))
