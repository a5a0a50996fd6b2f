#pragma once
// nn::Module: the base of every layer, as torch.nn.Module is.
//
// A module says what it is made of in one place, `visit`: its parameters, buffers and
// submodules, with PyTorch's names. Everything else is derived from that one list:
//
//   class Linear : public Cloneable<Linear> {
//     public:
//       Tensor weight, bias;
//       void visit(Visitor& v) override { v.parameter("weight", weight); v.parameter("bias", bias); }
//   };
//
//   named_parameters()   -> {"weight", "bias"}; submodules add dotted prefixes:
//                           "encoder.layers.0.self_attn.in_proj_weight", exactly as PyTorch
//   state_dict() / load_state_dict(), zero_grad(), train()/eval(), printing, deep copy (clone)
//
// Members are plain `Tensor`s and `std::shared_ptr<SubModule>`s a learner can print in gdb.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace xg::nn {

// Parameters and buffers in registration order, with their dotted names.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Module;

// What a module's visit() reports to. Tensor& and shared_ptr& (not copies), so that deep copy
// and load_state_dict can rebind or overwrite the module's own members.
class Visitor {
  public:
    virtual ~Visitor() = default;
    virtual void parameter(const std::string& name, Tensor& t) = 0;
    virtual void buffer(const std::string& name, Tensor& t) = 0;
    virtual void module(const std::string& name, std::shared_ptr<Module>& m) = 0;

    // Typed submodules (std::shared_ptr<Linear>, ...) go through the untyped slot and come back.
    template <class M>
    void module(const std::string& name, std::shared_ptr<M>& m) {
        std::shared_ptr<Module> base = m;
        module(name, base);
        m = std::static_pointer_cast<M>(base);
    }
};

class Module {
  public:
    virtual ~Module() = default;

    // The class name PyTorch prints: "Linear", "TransformerEncoderLayer".
    virtual std::string type_name() const = 0;
    // The text inside the parentheses of the printed form: "in_features=8, out_features=10, bias=True".
    virtual std::string extra_repr() const { return ""; }
    // Report parameters, buffers and submodules (in PyTorch's registration order).
    virtual void visit(Visitor& v) = 0;
    // A deep copy: new parameters with the same values (what copy.deepcopy does in PyTorch).
    virtual std::shared_ptr<Module> clone() const = 0;

    // Modules that map one tensor to one tensor override this (Sequential calls it).
    virtual Tensor forward(const Tensor& x);

    // ---- derived from visit() -------------------------------------------------------------
    StateDict named_parameters(bool recurse = true) const;
    std::vector<Tensor> parameters(bool recurse = true) const;
    StateDict named_buffers(bool recurse = true) const;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
    // Every module in the tree, the root first with the name "" (PyTorch's named_modules()).
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();

    StateDict state_dict() const;  // parameters and buffers, detached
    // Copies values into this module's tensors in place. Strict: every key must match and
    // every shape agree; the error lists missing keys, unexpected keys and shape mismatches.
    void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true,
                         SrcLoc loc = SrcLoc::current());
    void load_state_dict(const StateDict& state, bool strict = true, SrcLoc loc = SrcLoc::current());

    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }
    void zero_grad(bool set_to_none = true);
    int64_t num_parameters() const;

    std::string repr() const;  // PyTorch's multi-line module printout

  protected:
    Module() = default;
    Module(const Module&) = default;
    Module& operator=(const Module&) = default;
    // Replaces every parameter, buffer and submodule by a deep copy (used by Cloneable).
    void deep_copy_members();
    bool training_ = true;

    template <class Derived>
    friend class Cloneable;
};

// CRTP helper that gives a module its clone(): copy the object, then deep-copy its members.
template <class Derived>
class Cloneable : public Module {
  public:
    std::shared_ptr<Module> clone() const override {
        auto copy = std::make_shared<Derived>(static_cast<const Derived&>(*this));
        copy->deep_copy_members();
        return copy;
    }
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// "True"/"False" and number formatting for extra_repr, as Python prints them.
std::string py_bool(bool b);
std::string py_float(double v);

}  // namespace xg::nn
