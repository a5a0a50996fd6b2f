// Everything nn::Module derives from a module's visit(): names, state dicts, modes, printing, copies.
#include "nn/module.h"

#include <cmath>
#include <cstdio>
#include <ostream>
#include <set>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "core/ops.h"

namespace xg::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) { return prefix.empty() ? name : prefix + "." + name; }

// Walks the module tree, calling the given functions with dotted names (or, with names = false,
// with each item's own name: parameters() runs every training step, and building the dotted
// names allocated a string per parameter, the largest cost of a small model's zero_grad()).
struct Walker : Visitor {
    std::string prefix;
    bool recurse = true;
    bool names = true;
    std::function<void(const std::string&, Tensor&)> on_parameter, on_buffer;
    std::function<void(const std::string&, std::shared_ptr<Module>&)> on_module;

    void parameter(const std::string& name, Tensor& t) override {
        if (on_parameter && t.defined()) on_parameter(names ? join(prefix, name) : name, t);
    }
    void buffer(const std::string& name, Tensor& t) override {
        if (on_buffer && t.defined()) on_buffer(names ? join(prefix, name) : name, t);
    }
    void module(const std::string& name, std::shared_ptr<Module>& m) override {
        if (!m) return;
        if (!names) {
            if (on_module) on_module(name, m);
            if (recurse) m->visit(*this);
            return;
        }
        std::string full = join(prefix, name);
        if (on_module) on_module(full, m);
        if (!recurse) return;
        std::string saved = prefix;
        prefix = full;
        m->visit(*this);
        prefix = saved;
    }
    using Visitor::module;
};

Module& mut(const Module& m) { return const_cast<Module&>(m); }  // visit() is only read here

}  // namespace

Tensor Module::forward(const Tensor&) {
    throw Error(type_name() + ": this module does not take a single tensor; call its own forward(...)");
}

StateDict Module::named_parameters(bool recurse) const {
    StateDict out;
    Walker w;
    w.recurse = recurse;
    w.on_parameter = [&](const std::string& n, Tensor& t) { out.emplace_back(n, t); };
    mut(*this).visit(w);
    return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
    std::vector<Tensor> out;
    Walker w;
    w.recurse = recurse;
    w.names = false;
    w.on_parameter = [&](const std::string&, Tensor& t) { out.push_back(t); };
    mut(*this).visit(w);
    return out;
}

StateDict Module::named_buffers(bool recurse) const {
    StateDict out;
    Walker w;
    w.recurse = recurse;
    w.on_buffer = [&](const std::string& n, Tensor& t) { out.emplace_back(n, t); };
    mut(*this).visit(w);
    return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
    Walker w;
    w.recurse = false;
    w.on_module = [&](const std::string& n, std::shared_ptr<Module>& m) { out.emplace_back(n, m); };
    mut(*this).visit(w);
    return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
    // The root has no shared_ptr of its own here; alias it without ownership.
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> out{{"", std::shared_ptr<Module>(std::shared_ptr<Module>(), this)}};
    Walker w;
    w.on_module = [&](const std::string& n, std::shared_ptr<Module>& m) { out.emplace_back(n, m); };
    visit(w);
    return out;
}

StateDict Module::state_dict() const {
    // PyTorch's order: a module's own parameters, then its buffers, then each child's, recursively.
    StateDict out;
    Walker w;
    w.on_parameter = [&](const std::string& n, Tensor& t) { out.emplace_back(n, t.detach()); };
    w.on_buffer = [&](const std::string& n, Tensor& t) { out.emplace_back(n, t.detach()); };
    mut(*this).visit(w);
    return out;
}

void Module::load_state_dict(const StateDict& state, bool strict, SrcLoc loc) {
    std::map<std::string, Tensor> m(state.begin(), state.end());
    load_state_dict(m, strict, loc);
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict, SrcLoc loc) {
    std::vector<std::string> missing, mismatched;
    std::set<std::string> used;
    std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, source): checked first, copied after
    auto take = [&](const std::string& name, Tensor& dst) {
        auto it = state.find(name);
        if (it == state.end()) {
            missing.push_back(name);
            return;
        }
        used.insert(name);
        if (it->second.shape() != dst.shape()) {
            mismatched.push_back(name + ": copying a param with shape " + shape_str(it->second.shape()) +
                                 ", the shape in current model is " + shape_str(dst.shape()));
            return;
        }
        copies.emplace_back(dst, it->second);
    };
    Walker w;
    w.on_parameter = take;
    w.on_buffer = take;
    visit(w);
    std::vector<std::string> unexpected;
    for (auto& [name, t] : state)
        if (!used.count(name)) unexpected.push_back(name);

    bool fail = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
    if (fail) {
        std::ostringstream os;
        os << "load_state_dict: error(s) in loading state_dict for " << type_name() << ":";
        auto list = [&](const char* what, const std::vector<std::string>& keys) {
            if (keys.empty()) return;
            os << "\n\t" << what << ": ";
            for (size_t i = 0; i < keys.size(); ++i) os << (i ? ", " : "") << '"' << keys[i] << '"';
            os << ".";
        };
        if (strict) list("Missing key(s) in state_dict", missing);
        if (strict) list("Unexpected key(s) in state_dict", unexpected);
        for (auto& m : mismatched) os << "\n\tsize mismatch for " << m << ".";
        throw_error(os.str(), loc);
    }
    NoGradGuard no_grad;  // loading is not part of any graph
    for (auto& [dst, src] : copies) dst.copy_(src, loc);
}

void Module::train(bool on) {
    training_ = on;
    for (auto& [name, child] : named_children()) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
    // Walks the parameters in place rather than collecting them: zero_grad runs every step, and
    // the vector a small model's parameters() builds was a large share of its step (a block of
    // ~2 KB makes glibc's malloc sweep up every small block the last step freed).
    Walker w;
    w.names = false;
    w.on_parameter = [set_to_none](const std::string&, Tensor& p) {
        if (!p.grad().defined()) return;
        if (set_to_none) p.set_grad(Tensor());
        else p.grad().zero_();
    };
    visit(w);
}

int64_t Module::num_parameters() const {
    int64_t n = 0;
    for (const Tensor& p : parameters()) n += p.numel();
    return n;
}

void Module::deep_copy_members() {
    struct Copier : Visitor {
        void parameter(const std::string&, Tensor& t) override { t = copy(t); }
        void buffer(const std::string&, Tensor& t) override { t = copy(t); }
        void module(const std::string&, std::shared_ptr<Module>& m) override {
            if (m) m = m->clone();
        }
        using Visitor::module;
        static Tensor copy(const Tensor& t) {
            if (!t.defined()) return t;
            NoGradGuard no_grad;
            Tensor c = t.detach().clone();
            if (t.requires_grad()) c.requires_grad_(true);
            return c;
        }
    } copier;
    visit(copier);
}

std::string Module::repr() const {
    // Linear(in_features=8, out_features=10, bias=True), or, with children:
    // TransformerEncoderLayer(
    //   (self_attn): MultiheadAttention(...)
    //   ...
    // )
    auto children = named_children();
    std::string extra = extra_repr();
    if (children.empty()) return type_name() + "(" + extra + ")";
    std::ostringstream os;
    os << type_name() << "(";
    if (!extra.empty()) os << "\n  " << extra;
    for (auto& [name, child] : children) {
        std::string sub = child->repr();
        std::string indented;
        for (char c : sub) {
            indented += c;
            if (c == '\n') indented += "  ";
        }
        std::string short_name = name.substr(name.rfind('.') + 1);
        os << "\n  (" << short_name << "): " << indented;
    }
    os << "\n)";
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

std::string py_bool(bool b) { return b ? "True" : "False"; }

std::string py_float(double v) {
    // Python's repr of a float: shortest round-trip digits, always with a '.' or exponent.
    char buf[32];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    std::string s = buf;
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
}

}  // namespace xg::nn
