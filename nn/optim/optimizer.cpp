// Optimizer: parameter groups, per-parameter state, zero_grad, and the state_dict that a
// trainer saves as safetensors and loads back (validated before anything is changed).
#include "nn/optim/optimizer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "core/ops.h"

namespace xg::nn::optim {

namespace detail {
// Shortest text that reads back as the same double ("0.001", "1e-08", "0.9").
std::string format_double(double v) {
    char buf[32];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}
}  // namespace detail

namespace {

std::string join_names(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

// "state.12.exp_avg" -> (12, "exp_avg"); "param_groups.0.betas.0" -> (0, "betas.0").
// Returns false when `key` does not start with `prefix` followed by an index and a name.
bool split_key(const std::string& key, const std::string& prefix, int64_t& index, std::string& rest) {
    if (key.rfind(prefix, 0) != 0) return false;
    size_t start = prefix.size();
    size_t dot = key.find('.', start);
    if (dot == std::string::npos || dot == start || dot + 1 >= key.size()) return false;
    index = 0;
    for (size_t i = start; i < dot; ++i) {
        if (key[i] < '0' || key[i] > '9' || index > (int64_t{1} << 40)) return false;
        index = index * 10 + (key[i] - '0');
    }
    rest = key.substr(dot + 1);
    return true;
}

std::string to_string_shape(const Shape& shape) {
    std::ostringstream os;
    os << shape;
    return os.str();
}

Tensor scalar64(double v) { return scalar_tensor(v, dtype(kFloat64)); }

}  // namespace

double& ParamGroup::operator[](const std::string& name) {
    auto it = options.find(name);
    if (it == options.end()) throw Error("param_group: no option named '" + name + "'");
    return it->second;
}
double ParamGroup::operator[](const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end()) throw Error("param_group: no option named '" + name + "'");
    return it->second;
}

void Optimizer::init_groups(std::vector<ParamGroup> groups, const SrcLoc& loc) {
    XG_CHECK(!groups.empty(), loc, type_name() << ": optimizer got an empty parameter list");
    for (auto& g : groups) add_param_group(std::move(g), loc);
}

void Optimizer::add_param_group(ParamGroup group, SrcLoc loc) {
    const std::string name = type_name();
    XG_CHECK(!group.params.empty(), loc, name << ": optimizer got an empty parameter list");
    for (const auto& [key, value] : group.options) {
        XG_CHECK(defaults_.count(key) || key == "initial_lr", loc,
                 name << ": unknown option '" << key << "' in a parameter group (known: "
                      << [&] { std::vector<std::string> k; for (auto& d : defaults_) k.push_back(d.first); return join_names(k); }()
                      << ")");
        (void)value;
    }
    for (const auto& [key, value] : defaults_) group.options.emplace(key, value);  // keeps given ones
    validate_options(group.options, loc);

    std::set<const TensorImpl*> seen;
    for (const auto& g : groups_)
        for (const auto& p : g.params) seen.insert(p.impl());
    for (size_t i = 0; i < group.params.size(); ++i) {
        const Tensor& p = group.params[i];
        XG_CHECK(p.defined(), loc, name << ": parameter " << i << " of the group is an undefined tensor");
        XG_CHECK(is_floating(p.dtype()), loc,
                 name << ": parameter " << i << " has dtype " << dtype_name(p.dtype())
                      << "; only floating point tensors can be optimized");
        XG_CHECK(p.is_leaf(), loc,
                 name << ": can't optimize a non-leaf Tensor (parameter " << i << ", shape " << p.shape() << ")");
        XG_CHECK(seen.insert(p.impl()).second, loc,
                 name << ": some parameters appear in more than one parameter group (parameter " << i
                      << ", shape " << p.shape() << ")");
    }
    groups_.push_back(std::move(group));
}

Tensor Optimizer::step(const std::function<Tensor()>& closure, SrcLoc loc) {
    Tensor loss;
    {
        EnableGradGuard enable_grad;
        loss = closure();
    }
    step(loc);
    return loss;
}

void Optimizer::zero_grad(bool set_to_none) {
    NoGradGuard no_grad;
    for (auto& g : groups_) {
        for (auto& p : g.params) {
            Tensor grad = p.grad();
            if (!grad.defined()) continue;
            if (set_to_none) {
                p.set_grad(Tensor());
            } else {
                grad.zero_();
            }
        }
    }
}

double Optimizer::get_lr(size_t group, SrcLoc loc) const {
    XG_CHECK(group < groups_.size(), loc,
             type_name() << ": get_lr: group " << group << " out of range (" << groups_.size() << " groups)");
    return groups_[group]["lr"];
}

void Optimizer::set_lr(double lr, size_t group, SrcLoc loc) {
    XG_CHECK(group < groups_.size(), loc,
             type_name() << ": set_lr: group " << group << " out of range (" << groups_.size() << " groups)");
    XG_CHECK(lr >= 0, loc, type_name() << ": invalid learning rate: " << detail::format_double(lr));
    groups_[group]["lr"] = lr;
}

void Optimizer::set_lr(double lr, SrcLoc loc) {
    for (size_t g = 0; g < groups_.size(); ++g) set_lr(lr, g, loc);
}

ParamState& Optimizer::state(const Tensor& param) { return state_[param.impl()]; }

bool Optimizer::has_state(const Tensor& param) const {
    auto it = state_.find(param.impl());
    return it != state_.end() && !it->second.empty();
}

OptimizerStateDict Optimizer::state_dict() const {
    OptimizerStateDict out;
    int64_t index = 0;
    for (size_t g = 0; g < groups_.size(); ++g) {
        const std::string group_prefix = "param_groups." + std::to_string(g) + ".";
        std::vector<int64_t> ids;
        for (const auto& p : groups_[g].params) {
            ids.push_back(index);
            auto it = state_.find(p.impl());
            if (it != state_.end()) {
                for (const auto& [name, t] : it->second)
                    out["state." + std::to_string(index) + "." + name] = t.detach().clone();
            }
            ++index;
        }
        for (const auto& [name, value] : groups_[g].options) out[group_prefix + name] = scalar64(value);
        out[group_prefix + "params"] = tensor(ids, Shape{static_cast<int64_t>(ids.size())});
    }
    return out;
}

void Optimizer::load_state_dict(const OptimizerStateDict& sd, SrcLoc loc) {
    const std::string name = type_name();
    std::vector<std::string> problems;

    // Which parameter (group, tensor) each global index names.
    std::vector<std::pair<size_t, const Tensor*>> params;
    for (size_t g = 0; g < groups_.size(); ++g)
        for (const auto& p : groups_[g].params) params.emplace_back(g, &p);

    // 1. Sort the keys into group options and parameter state; anything else is unexpected.
    std::map<int64_t, Options> loaded_options;
    std::map<int64_t, const Tensor*> loaded_ids;
    std::map<int64_t, std::map<std::string, const Tensor*>> loaded_state;
    std::vector<std::string> unexpected;
    for (const auto& [key, t] : sd) {
        int64_t index = 0;
        std::string rest;
        if (split_key(key, "param_groups.", index, rest)) {
            if (rest == "params") {
                loaded_ids[index] = &t;
            } else if (!t.defined() || t.numel() != 1) {
                problems.push_back(key + " must hold one number" +
                                   (t.defined() ? " (it has shape " + to_string_shape(t.shape()) + ")" : ""));
            } else {
                loaded_options[index][rest] = t.item();
            }
        } else if (split_key(key, "state.", index, rest)) {
            loaded_state[index][rest] = &t;
        } else {
            unexpected.push_back(key);
        }
    }
    if (!unexpected.empty()) problems.push_back("unexpected key(s): " + join_names(unexpected));

    // 2. The groups: same count, same sizes, every option present and valid.
    std::set<int64_t> group_indices;
    for (auto& [g, _] : loaded_options) group_indices.insert(g);
    for (auto& [g, _] : loaded_ids) group_indices.insert(g);
    if (group_indices.size() != groups_.size() ||
        (!group_indices.empty() && *group_indices.rbegin() != static_cast<int64_t>(groups_.size()) - 1)) {
        problems.push_back("loaded state dict has " + std::to_string(group_indices.size()) +
                           " parameter group(s), the optimizer has " + std::to_string(groups_.size()));
    }
    std::vector<Options> new_options(groups_.size());
    int64_t first_index = 0;
    for (size_t g = 0; g < groups_.size(); ++g) {
        const int64_t gi = static_cast<int64_t>(g);
        const int64_t size = static_cast<int64_t>(groups_[g].params.size());
        const std::string prefix = "param_groups." + std::to_string(g) + ".";
        auto ids = loaded_ids.find(gi);
        if (ids == loaded_ids.end()) {
            problems.push_back("missing key " + prefix + "params");
        } else {
            const Tensor& t = *ids->second;
            bool ok = t.defined() && t.dim() == 1 && t.numel() == size;
            if (ok) {
                std::vector<int64_t> v = t.to_vector<int64_t>();
                for (int64_t i = 0; i < size; ++i) ok = ok && v[static_cast<size_t>(i)] == first_index + i;
            }
            if (!ok)
                problems.push_back("loaded state dict contains a parameter group that doesn't match the size of "
                                   "optimizer's group (" + prefix + "params should be the " + std::to_string(size) +
                                   " indices " + std::to_string(first_index) + ".." +
                                   std::to_string(first_index + size - 1) + ")");
        }
        first_index += size;
        Options& opts = new_options[g];
        auto lo = loaded_options.find(gi);
        for (const auto& [key, _] : groups_[g].options) {
            if (key == "initial_lr") continue;  // set by schedulers; optional
            if (lo == loaded_options.end() || !lo->second.count(key)) problems.push_back("missing key " + prefix + key);
        }
        if (lo != loaded_options.end()) {
            for (const auto& [key, value] : lo->second) {
                if (!defaults_.count(key) && key != "initial_lr") {
                    problems.push_back("unexpected key " + prefix + key);
                } else {
                    opts[key] = value;
                }
            }
        }
        if (!groups_[g].options.count("initial_lr") || opts.count("initial_lr")) continue;
        opts["initial_lr"] = groups_[g].options.at("initial_lr");
    }

    // 3. The state: known parameters, complete entries, the parameter's shape.
    for (const auto& [index, entries] : loaded_state) {
        if (index >= static_cast<int64_t>(params.size())) {
            problems.push_back("state for parameter " + std::to_string(index) + ", but the optimizer has only " +
                               std::to_string(params.size()) + " parameters");
            continue;
        }
        const auto& [g, p] = params[static_cast<size_t>(index)];
        std::vector<std::string> expected = state_names(new_options[g].empty() ? groups_[g].options : new_options[g]);
        const std::string prefix = "state." + std::to_string(index) + ".";
        for (const auto& n : expected)
            if (!entries.count(n)) problems.push_back("missing key " + prefix + n);
        for (const auto& [n, t] : entries) {
            if (std::find(expected.begin(), expected.end(), n) == expected.end()) {
                problems.push_back("unexpected key " + prefix + n);
            } else if (!t->defined() || !is_floating(t->dtype())) {
                problems.push_back(prefix + n + " must be a floating point tensor");
            } else if (n == "step" ? t->numel() != 1 : t->shape() != p->shape()) {
                problems.push_back("size mismatch for " + prefix + n + ": copying a tensor of shape " +
                                   to_string_shape(t->shape()) + ", the parameter has shape " +
                                   (n == "step" ? std::string("[] (a 0-d step count)") : to_string_shape(p->shape())));
            }
        }
    }

    if (!problems.empty()) {
        std::string what = name + ": error(s) in loading state_dict:";
        for (const auto& pr : problems) what += "\n    " + pr;
        throw_error(what, loc);
    }
    for (size_t g = 0; g < groups_.size(); ++g) validate_options(new_options[g], loc);

    // 4. Everything checked: replace options and state (state tensors take the parameter's dtype,
    //    the step count stays a 0-d float32 as in PyTorch).
    for (size_t g = 0; g < groups_.size(); ++g) groups_[g].options = new_options[g];
    state_.clear();
    NoGradGuard no_grad;
    for (const auto& [index, entries] : loaded_state) {
        const Tensor& p = *params[static_cast<size_t>(index)].second;
        ParamState& st = state_[p.impl()];
        for (const auto& [n, t] : entries) {
            if (n == "step") {
                st[n] = scalar_tensor(t->item(), dtype(kFloat32));
            } else {
                st[n] = t->detach().to(p.dtype()).contiguous().clone();
            }
        }
    }
}

}  // namespace xg::nn::optim
