# gdb pretty-printers and commands for xgrad (docs/debugging.md shows a whole session).
#
#   (gdb) p x                 tensor([0.1234, -1.5000, ... 40 values], shape=[1, 5, 8], dtype=float32,
#                                    requires_grad=True, grad_fn=<AddBackward0>)
#   (gdb) p *x.impl_._M_ptr   the same, from the TensorImpl
#   (gdb) p loss.impl_._M_ptr->grad_fn      <NllLossBackward0> at tutorials/06_classification.cpp:61, ...
#   (gdb) p $grad_fn(loss)    the same, shorter;  p $grad(w) is w's .grad
#   (gdb) p *model            a module tree: type, tensors with their shapes, submodules
#   (gdb) xg-params model     the flat named_parameters() list: encoder.layers.0.self_attn.in_proj_weight ...
#   (gdb) xg-graph loss       the autograd graph under a tensor, one node a line
#   (gdb) set xgrad-max-values 16           how many values a tensor shows (default 8)
#
# Loaded automatically: every executable of the build carries a .debug_gdb_scripts section
# naming this file (tools/gdb/autoload.cmake); gdb runs it once the path is trusted:
#   gdb -iex "add-auto-load-safe-path /path/to/xgrad" ...     or once, in ~/.gdbinit.
# By hand: (gdb) source tools/gdb/xgrad.py
#
# Everything here reads the debuggee's memory and nothing calls into it, so the printers also work
# on a core file and never change the program's state. The one exception is xg-params, which
# cross-checks its count with Module::num_parameters() when the process is live.
#
# The layouts read are those of core/tensor.h, core/storage.h, core/autograd/node.h and of
# GCC's libstdc++ (shared_ptr::_M_ptr, vector::_M_impl, string::_M_dataplus, source_location's
# __impl). A build against libc++ would need other field names.

import struct

import gdb

DTYPES = ["float32", "float64", "int64"]  # xg::DType, in declaration order
DTYPE_FORMAT = {"float32": "<f", "float64": "<d", "int64": "<q"}

# Sanity limits: a tensor local printed before its constructor ran holds garbage, and the
# printer must say so rather than try to read 2^60 elements.
MAX_DIMS = 16
MAX_DIM_SIZE = 1 << 40


class MaxValuesParameter(gdb.Parameter):
    """How many values the xgrad printers show for a tensor (row-major order)."""

    set_doc = "Set how many values the xgrad pretty-printer shows for a tensor."
    show_doc = "Show how many values the xgrad pretty-printer shows for a tensor."

    def __init__(self):
        super().__init__("xgrad-max-values", gdb.COMMAND_DATA, gdb.PARAM_ZUINTEGER)
        self.value = 8

    def get_show_string(self, svalue):
        return "The xgrad printers show up to %s values of a tensor." % svalue


_max_values = MaxValuesParameter()


# ---- reading libstdc++ containers --------------------------------------------------------------


def sp_get(sp):
    """The raw pointer inside a std::shared_ptr / std::weak_ptr (0 when empty)."""
    return sp["_M_ptr"]


def weak_alive(wp):
    """A weak_ptr's object still exists (its use count is not zero)."""
    pi = wp["_M_refcount"]["_M_pi"]
    return int(pi) != 0 and int(pi["_M_use_count"]) > 0


def vector_items(vec):
    """The elements of a std::vector as gdb.Values."""
    start = vec["_M_impl"]["_M_start"]
    finish = vec["_M_impl"]["_M_finish"]
    n = int(finish - start)
    if n < 0 or n > 1 << 20:
        raise gdb.GdbError("vector with %d elements: not initialized?" % n)
    return [(start + i).dereference() for i in range(n)]


def vector_i64(vec):
    """A std::vector<int64_t> read in one go."""
    start = vec["_M_impl"]["_M_start"]
    n = int(vec["_M_impl"]["_M_finish"] - start)
    if n < 0 or n > MAX_DIMS:
        raise ValueError("%d dims" % n)
    if n == 0:
        return []
    raw = gdb.selected_inferior().read_memory(int(start), 8 * n)
    return list(struct.unpack("<%dq" % n, bytes(raw)))


def std_string(s):
    """A std::string's text (libstdc++'s SSO layout: pointer + length)."""
    n = int(s["_M_string_length"])
    if n < 0 or n > 1 << 16:
        raise ValueError("string of length %d" % n)
    if n == 0:
        return ""
    return bytes(gdb.selected_inferior().read_memory(int(s["_M_dataplus"]["_M_p"]), n)).decode("utf-8", "replace")


def format_loc(loc):
    """xg::format_loc (core/error.cpp): "tutorials/06_classification.cpp:45", the path cut at the
    repository's top-level folder so it reads the same on every machine."""
    impl = loc["_M_impl"]
    if int(impl) == 0:
        return "?"
    path = impl["_M_file_name"].string()
    for top in ("/tutorials/", "/tests/", "/core/", "/nn/", "/vit/", "/bench/", "/tools/"):
        pos = path.rfind(top)
        if pos >= 0:
            path = path[pos + 1:]
            break
    return "%s:%d" % (path, int(impl["_M_line"]))


# ---- tensors -----------------------------------------------------------------------------------


def shape_str(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def contiguous_strides(shape):
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= max(s, 1)
    return list(reversed(strides))


def is_contiguous(shape, strides):
    # As PyTorch: a dim of size 1 may have any stride.
    want = contiguous_strides(shape)
    return all(size == 1 or st == w for size, st, w in zip(shape, strides, want))


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class TensorMeta:
    """The geometry and autograd state of one TensorImpl, read from memory."""

    def __init__(self, impl_ptr):
        impl = impl_ptr.dereference()
        self.impl = impl
        self.shape = vector_i64(impl["shape"])
        self.strides = vector_i64(impl["strides"])
        self.offset = int(impl["offset"])
        code = int(impl["dtype"])
        if code < 0 or code >= len(DTYPES):
            raise ValueError("dtype code %d" % code)
        self.dtype = DTYPES[code]
        if len(self.strides) != len(self.shape) or any(s < 0 or s > MAX_DIM_SIZE for s in self.shape):
            raise ValueError("shape %s with strides %s" % (self.shape, self.strides))
        self.grad_fn = sp_get(impl["grad_fn"])
        self.requires_grad = bool(impl["requires_grad"]) or int(self.grad_fn) != 0
        self.grad = sp_get(impl["grad"])
        self.name = std_string(impl["name"])

    def values(self, count):
        """The first `count` values in row-major (logical) order, read with the strides from
        storage + offset; bounds-checked against the storage's size."""
        storage = sp_get(self.impl["storage"])
        if int(storage) == 0:
            return None
        data = int(storage["data_"])
        nbytes = int(storage["nbytes_"])
        size = 4 if self.dtype == "float32" else 8
        fmt = DTYPE_FORMAT[self.dtype]
        inferior = gdb.selected_inferior()
        out = []
        index = [0] * len(self.shape)
        for _ in range(count):
            elem = self.offset + sum(i * st for i, st in zip(index, self.strides))
            if elem < 0 or (elem + 1) * size > nbytes:
                raise ValueError("element offset %d outside a storage of %d bytes" % (elem, nbytes))
            out.append(struct.unpack(fmt, bytes(inferior.read_memory(data + elem * size, size)))[0])
            for d in range(len(index) - 1, -1, -1):  # next row-major index
                index[d] += 1
                if index[d] < self.shape[d]:
                    break
                index[d] = 0
        return out


def format_value(v, dtype):
    if dtype == "int64":
        return str(v)
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return "%.4f" % v


def nest(values, shape, dtype):
    """All of a tensor's values with PyTorch's brackets: [[1., 2.], [3., 4.]]."""
    if not shape:
        return format_value(values[0], dtype)

    def rec(vals, dims):
        if len(dims) == 1:
            return "[" + ", ".join(format_value(v, dtype) for v in vals) + "]"
        step = len(vals) // dims[0] if dims[0] else 0
        return "[" + ", ".join(rec(vals[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0])) + "]"

    return rec(values, shape)


def node_name(node_ptr):
    return std_string(node_ptr.dereference()["name_"])


def tensor_summary(impl_ptr):
    """tensor([values], shape=[...], dtype=..., strides=... when not contiguous,
    requires_grad=..., grad_fn=<...>, grad=...) from a TensorImpl*."""
    if int(impl_ptr) == 0:
        return "tensor(undefined)"
    try:
        m = TensorMeta(impl_ptr)
    except (ValueError, gdb.MemoryError, gdb.error) as e:
        return "tensor(<not initialized? %s>)" % e
    n = numel(m.shape)
    shown = min(n, int(_max_values.value))
    try:
        vals = m.values(shown)
    except (ValueError, gdb.MemoryError) as e:
        vals, values_text = None, "<values unreadable: %s>" % e
    else:
        if vals is None:
            values_text = "<no storage>"
        elif shown == n:
            values_text = nest(vals, m.shape, m.dtype)
        else:
            values_text = "[" + ", ".join(format_value(v, m.dtype) for v in vals) + ", ... %d values]" % n
    parts = [values_text]
    if m.name:
        parts.append('name="%s"' % m.name)
    parts.append("shape=" + shape_str(m.shape))
    parts.append("dtype=" + m.dtype)
    if not is_contiguous(m.shape, m.strides):
        parts.append("strides=" + shape_str(m.strides))
    if m.offset:
        parts.append("offset=%d" % m.offset)
    parts.append("requires_grad=" + ("True" if m.requires_grad else "False"))
    if int(m.grad_fn) != 0:
        try:
            parts.append("grad_fn=<%s>" % node_name(m.grad_fn))
        except (ValueError, gdb.MemoryError) as e:
            parts.append("grad_fn=<unreadable: %s>" % e)
    if int(m.grad) != 0:
        try:
            parts.append("grad=" + shape_str(vector_i64(m.grad.dereference()["shape"])))
        except (ValueError, gdb.MemoryError):
            parts.append("grad=<unreadable>")
    elif m.requires_grad and int(m.grad_fn) == 0:
        parts.append("grad=None")  # a leaf whose backward has not run yet
    return "tensor(" + ", ".join(parts) + ")"


def tensor_impl_ptr(val):
    """The TensorImpl* of an xg::Tensor, TensorImpl, TensorImpl* or shared_ptr<TensorImpl>."""
    t = val.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
        val = val.referenced_value()
        t = val.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        return val
    tag = t.unqualified().tag or ""
    if tag == "xg::Tensor":
        return sp_get(val["impl_"])
    if tag == "xg::TensorImpl":
        return val.address
    if tag.startswith("std::shared_ptr<") or tag.startswith("std::weak_ptr<"):
        return sp_get(val)
    raise gdb.GdbError("not a tensor: %s" % t)


class TensorPrinter:
    """xg::Tensor"""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        return tensor_summary(sp_get(self.val["impl_"]))


class TensorImplPrinter:
    """xg::TensorImpl (and shared_ptr<TensorImpl>, e.g. a leaf's .grad)"""

    def __init__(self, val, is_pointer=False):
        self.val = val
        self.is_pointer = is_pointer

    def to_string(self):
        return tensor_summary(sp_get(self.val) if self.is_pointer else self.val.address)


class SavedTensorPrinter:
    """xg::autograd::SavedTensor: what a backward closure captured, and its storage version."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        return "saved %s at version %d" % (tensor_summary(sp_get(self.val["data_"]["impl_"])), int(self.val["version_"]))


# ---- autograd nodes ----------------------------------------------------------------------------


def leaf_label(node_ptr):
    """For an AccumulateGrad node: the leaf's name (or "leaf") and shape."""
    acc = node_ptr.cast(gdb.lookup_type("xg::autograd::AccumulateGrad").pointer()).dereference()
    leaf = acc["leaf_"]
    if not weak_alive(leaf):
        return "freed leaf"
    meta = TensorMeta(sp_get(leaf))
    return "%s %s" % (meta.name or "leaf", shape_str(meta.shape))


def node_short(node_ptr):
    """One edge of next_functions: "MmBackward0" or "AccumulateGrad(cls_token [1, 1, 8])"."""
    if int(node_ptr) == 0:
        return "None"
    name = node_name(node_ptr)
    if name == "AccumulateGrad":
        try:
            return "AccumulateGrad(%s)" % leaf_label(node_ptr)
        except (ValueError, gdb.error):
            return name
    return name


def node_summary(node_ptr):
    """<MmBackward0> at tutorials/06_classification.cpp:57, output [1, 10], next_functions: [...]"""
    if int(node_ptr) == 0:
        return "nullptr"
    try:
        node = node_ptr.dereference()
        name = node_name(node_ptr)
        parts = []
        if name == "AccumulateGrad":
            parts.append("into " + leaf_label(node_ptr))  # its own loc_ is node.cpp: not interesting
        else:
            parts.append("at " + format_loc(node["loc_"]))
            parts.append("output " + shape_str(vector_i64(node["out_shape_"])))
            inputs = [node_short(sp_get(e)) for e in vector_items(node["next_"])]
            parts.append("next_functions: [" + ", ".join(inputs) + "]")
            if bool(node["released_"]):
                parts.append("released (its saved tensors were freed by backward)")
        return "<%s> %s" % (name, ", ".join(parts))
    except (ValueError, gdb.MemoryError, gdb.error) as e:
        return "<autograd node: not initialized? %s>" % e


class NodePrinter:
    """xg::autograd::Node and AccumulateGrad"""

    def __init__(self, val, is_pointer=False):
        self.val = val
        self.is_pointer = is_pointer

    def to_string(self):
        return node_summary(sp_get(self.val) if self.is_pointer else self.val.address)


# ---- modules -----------------------------------------------------------------------------------

_module_type_cache = {}


def is_module_type(t):
    """t is xg::nn::Module or derives from it."""
    t = t.strip_typedefs().unqualified()
    if t.code != gdb.TYPE_CODE_STRUCT:
        return False
    tag = t.tag or ""
    if tag in _module_type_cache:
        return _module_type_cache[tag]
    result = tag == "xg::nn::Module"
    if not result:
        try:
            result = any(f.is_base_class and is_module_type(f.type) for f in t.fields())
        except (gdb.error, TypeError):
            result = False
    _module_type_cache[tag] = result
    return result


def shared_ptr_target(t):
    """T for std::shared_ptr<T>, else None."""
    t = t.strip_typedefs().unqualified()
    tag = t.tag or ""
    if t.code == gdb.TYPE_CODE_STRUCT and tag.startswith("std::shared_ptr<"):
        try:
            return t.template_argument(0)
        except (gdb.error, RuntimeError):
            return None
    return None


def dynamic_module(ptr):
    """The module a Module* points at, as its most derived type (read through the vtable)."""
    # shared_ptr's _M_ptr is an `element_type *`: gdb finds no vtable through the typedef, so
    # cast to the plain class pointer first.
    ptr = ptr.cast(ptr.type.strip_typedefs().target().strip_typedefs().pointer())
    try:
        dyn = ptr.dynamic_type
        return ptr.cast(dyn).dereference()
    except gdb.error:
        return ptr.dereference()


def module_members(module):
    """A module's own members in declaration order, base classes first:
    ("tensor", name, Tensor), ("module", name, Module* or None), ("value", name, gdb.Value).
    ModuleList / Sequential add their elements as modules "0", "1", ...

    This is the limit of the printers: they see C++ members, not what visit() registers. For
    xgrad's modules the two agree (members are named after PyTorch's attributes); a module that
    keeps parameters in some other container would show them as plain values, and xg-params
    says so when its count differs from num_parameters()."""
    out = []

    def walk(val):
        t = val.type.strip_typedefs().unqualified()
        for f in t.fields():
            if f.is_base_class:
                if (f.type.strip_typedefs().tag or "") == "xg::nn::Module":
                    continue  # training_ is shown in the summary
                walk(val.cast(f.type))
                continue
            if f.artificial or f.name is None or f.name.startswith("_vptr"):
                continue
            ft = f.type.strip_typedefs().unqualified()
            tag = ft.tag or ""
            fv = val[f.name]
            if tag == "xg::Tensor":
                out.append(("tensor", f.name, fv))
            elif shared_ptr_target(ft) is not None and is_module_type(shared_ptr_target(ft)):
                p = sp_get(fv)
                out.append(("module", f.name, p if int(p) != 0 else None))
            elif f.name == "modules_" and tag.startswith("std::vector<"):  # ModuleVector
                for i, e in enumerate(vector_items(fv)):
                    p = sp_get(e)
                    out.append(("module", str(i), p if int(p) != 0 else None))
            else:
                out.append(("value", f.name, fv))

    walk(module)
    return out


def module_type_name(module):
    tag = module.type.strip_typedefs().unqualified().tag or "?"
    return tag.split("::")[-1]


def tensor_brief(tensor_val):
    """ "[10, 8] float32" (or "undefined") for a parameter listing."""
    p = sp_get(tensor_val["impl_"])
    if int(p) == 0:
        return "undefined"
    try:
        m = TensorMeta(p)
    except (ValueError, gdb.MemoryError) as e:
        return "<not initialized? %s>" % e
    text = "%s %s" % (shape_str(m.shape), m.dtype)
    if int(m.grad) != 0:
        text += ", grad " + shape_str(vector_i64(m.grad.dereference()["shape"]))
    return text


def named_tensors(module, prefix=""):
    """[(dotted name, Tensor)] over the whole tree, PyTorch's named_parameters() order for
    xgrad's modules (own tensors first, then submodules, as each visit() registers them)."""
    own, subs = [], []
    for kind, name, v in module_members(module):
        if kind == "tensor" and int(sp_get(v["impl_"])) != 0:
            own.append((prefix + name, v))
        elif kind == "module" and v is not None:
            subs.append((name, v))
    for name, p in subs:
        own.extend(named_tensors(dynamic_module(p), prefix + name + "."))
    return own


class ModulePrinter:
    """Any class derived from xg::nn::Module, shown as its most derived type: the type, train or
    eval, then its tensors (shape, dtype), submodules (recursively) and other members."""

    def __init__(self, val, is_pointer=False):
        self.is_pointer = is_pointer
        self.null = False
        if is_pointer:
            p = sp_get(val)
            self.null = int(p) == 0
            self.module = None if self.null else dynamic_module(p)
        else:
            self.module = dynamic_module(val.address) if val.address is not None else val

    def to_string(self):
        if self.null:
            return "nullptr"
        try:
            mode = "training" if bool(self.module["training_"]) else "eval"
        except gdb.error:
            mode = "?"
        return "%s (%s)" % (module_type_name(self.module), mode)

    def children(self):
        if self.null:
            return
        for kind, name, v in module_members(self.module):
            if kind == "tensor":
                yield name, tensor_brief(v)
            elif kind == "module":
                yield name, ("nullptr" if v is None else dynamic_module(v))
            else:
                yield name, v


# ---- registration ------------------------------------------------------------------------------


class XgradPrettyPrinter:
    """One lookup function for every xgrad type (gdb's printer-object protocol)."""

    name = "xgrad"
    enabled = True
    subprinters = None

    def __call__(self, val):
        t = val.type.strip_typedefs().unqualified()
        if t.code != gdb.TYPE_CODE_STRUCT:
            return None
        tag = t.tag or ""
        if not tag.startswith("xg::") and not tag.startswith("std::shared_ptr<xg::"):
            return None
        try:
            if tag == "xg::Tensor":
                return TensorPrinter(val)
            if tag == "xg::TensorImpl":
                return TensorImplPrinter(val)
            if tag == "xg::autograd::SavedTensor":
                return SavedTensorPrinter(val)
            if tag in ("xg::autograd::Node", "xg::autograd::AccumulateGrad"):
                return NodePrinter(val)
            target = shared_ptr_target(t)
            if target is not None:
                ttag = target.strip_typedefs().unqualified().tag or ""
                if ttag == "xg::TensorImpl":
                    return TensorImplPrinter(val, is_pointer=True)
                if ttag in ("xg::autograd::Node", "xg::autograd::AccumulateGrad"):
                    return NodePrinter(val, is_pointer=True)
                if is_module_type(target):
                    return ModulePrinter(val, is_pointer=True)
                return None
            if is_module_type(t):
                return ModulePrinter(val)
        except gdb.error:
            return None
        return None


_printer = XgradPrettyPrinter()


def _install(objfile_printers):
    # First in the list: libstdc++'s own shared_ptr printer must not win for shared_ptr<Node>.
    objfile_printers[:] = [p for p in objfile_printers if getattr(p, "name", None) != "xgrad"]
    objfile_printers.insert(0, _printer)


def _on_new_objfile(event):
    _install(event.new_objfile.pretty_printers)


# gdb looks at each objfile's printers (in load order), then the program space's, then the global
# list. Installing into every objfile, present and future, puts ours ahead of libstdc++'s
# whichever way this file was loaded (auto-load from the executable, or `source` before `file`).
for _objfile in gdb.objfiles():
    _install(_objfile.pretty_printers)
_install(gdb.pretty_printers)
if getattr(gdb, "_xgrad_new_objfile_handler", None) is not None:  # reloaded: replace the old hook
    gdb.events.new_objfile.disconnect(gdb._xgrad_new_objfile_handler)
gdb._xgrad_new_objfile_handler = _on_new_objfile
gdb.events.new_objfile.connect(_on_new_objfile)


# ---- convenience functions and commands --------------------------------------------------------


class GradFnFunction(gdb.Function):
    """$grad_fn(tensor): the tensor's grad_fn node (shared_ptr<Node>), printed by the node printer."""

    def __init__(self):
        super().__init__("grad_fn")

    def invoke(self, tensor):
        return tensor_impl_ptr(tensor).dereference()["grad_fn"]


class GradFunction(gdb.Function):
    """$grad(tensor): the tensor's accumulated .grad (shared_ptr<TensorImpl>; "tensor(undefined)"
    until backward reaches it)."""

    def __init__(self):
        super().__init__("grad")

    def invoke(self, tensor):
        return tensor_impl_ptr(tensor).dereference()["grad"]


GradFnFunction()
GradFunction()


def module_pointer(val):
    """A Module* (most derived type) from a module, a pointer or a shared_ptr to one."""
    t = val.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
        val = val.referenced_value()
        t = val.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        ptr = val
    elif shared_ptr_target(t) is not None:
        ptr = sp_get(val)
    else:
        ptr = val.address
    if ptr is None or int(ptr) == 0 or not is_module_type(ptr.type.target()):
        raise gdb.GdbError("xg-params: not an nn::Module (or a pointer to one): %s" % val.type)
    return ptr


class ParamsCommand(gdb.Command):
    """xg-params MODULE: the module's tensors with dotted PyTorch names, shapes and dtypes,
    as named_parameters() lists them (tensors whose .grad is set show its shape too).
    MODULE is a module, a pointer or a shared_ptr to one: xg-params model, xg-params *layer.
    Live process only: the total is checked against Module::num_parameters(), which runs the
    module's real visit(); a difference means some tensors are not plain members."""

    def __init__(self):
        super().__init__("xg-params", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        ptr = module_pointer(gdb.parse_and_eval(arg))
        module = dynamic_module(ptr)
        rows = named_tensors(module)
        width = max([len(n) for n, _ in rows] + [4])
        total = 0
        for name, t in rows:
            total += numel(TensorMeta(sp_get(t["impl_"])).shape)
            gdb.write("%-*s  %s\n" % (width, name, tensor_brief(t)))
        gdb.write("%d tensors, %d values (%s)\n" % (len(rows), total, module_type_name(module)))
        if gdb.selected_inferior().pid == 0:
            return  # a core file: nothing to call
        try:
            base = ptr.cast(gdb.lookup_type("xg::nn::Module").pointer())
            counted = int(gdb.parse_and_eval("((xg::nn::Module*)%d)->num_parameters()" % int(base)))
        except gdb.error as e:
            gdb.write("(could not call num_parameters() to cross-check: %s)\n" % e)
            return
        if counted == total:
            gdb.write("matches num_parameters() = %d (the module's own visit())\n" % counted)
        else:
            gdb.write("num_parameters() = %d differs: the walk above sees C++ members, visit() registers "
                      "what it wants (buffers are listed above too)\n" % counted)


class GraphCommand(gdb.Command):
    """xg-graph EXPR [MAX_NODES]: the autograd graph that produced a tensor (or under a node),
    walked from its grad_fn along next_functions, one node a line, indented by depth.
    A node reached again is shown once and then referred to by its number."""

    def __init__(self):
        super().__init__("xg-graph", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if not args:
            raise gdb.GdbError("usage: xg-graph TENSOR_OR_NODE [MAX_NODES]")
        limit = int(args[1]) if len(args) > 1 else 60
        val = gdb.parse_and_eval(args[0])
        t = val.type.strip_typedefs()
        if t.code in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
            val = val.referenced_value()
            t = val.type.strip_typedefs()
        target = shared_ptr_target(t)
        if target is not None and (target.strip_typedefs().tag or "").startswith("xg::autograd::"):
            root = sp_get(val)
        elif (t.unqualified().tag or "").startswith("xg::autograd::"):
            root = val.address
        else:
            root = tensor_impl_ptr(val).dereference()["grad_fn"]["_M_ptr"]
        if int(root) == 0:
            gdb.write("no graph: the tensor has no grad_fn (a leaf, or made under NoGradGuard)\n")
            return
        seen = {}
        stack = [(root, 0)]  # depth-first, first input first: reads like the forward, backwards
        while stack:
            ptr, depth = stack.pop()
            key = int(ptr)
            indent = "  " * depth
            if key in seen:
                gdb.write("%s#%d (again)\n" % (indent, seen[key]))
                continue
            if len(seen) >= limit:
                gdb.write("%s... (more than %d nodes; xg-graph EXPR N shows more)\n" % (indent, limit))
                break
            seen[key] = len(seen)
            gdb.write("%s#%d %s\n" % (indent, seen[key], node_summary(ptr) if node_name(ptr) != "AccumulateGrad"
                                      else "<AccumulateGrad> into " + leaf_label(ptr)))
            if node_name(ptr) != "AccumulateGrad":
                edges = [sp_get(e) for e in vector_items(ptr.dereference()["next_"])]
                for e in reversed(edges):
                    if int(e) != 0:
                        stack.append((e, depth + 1))


ParamsCommand()
GraphCommand()
