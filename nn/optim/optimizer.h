#pragma once
// nn::optim::Optimizer: the base of SGD, Adam and AdamW, as torch.optim.Optimizer is.
//
// An optimizer holds parameter groups. Each group is a list of parameters with its own options
// (lr, weight_decay, betas, ...), so a trainer can, for example, leave biases undecayed:
//
//   optim::AdamW opt({optim::ParamGroup(decay, {{"weight_decay", 0.05}}),
//                     optim::ParamGroup(no_decay, {{"weight_decay", 0.0}})}, /*lr=*/3e-4);
//   loss.backward();
//   opt.step();              // updates every parameter that has a .grad, in place
//   opt.zero_grad();         // grads back to undefined (set_to_none=true, as PyTorch 2 defaults)
//
// Per-parameter state (exp_avg, exp_avg_sq, momentum_buffer, step) lives in `state(param)`,
// created on the parameter's first update, exactly when PyTorch creates it.
//
// state_dict() flattens everything into name -> tensor, ready for safetensors:
//   "state.3.exp_avg"        the state of parameter 3 (parameters numbered across groups in order)
//   "state.3.step"           0-d float32, as PyTorch keeps it
//   "param_groups.0.lr"      0-d float64, one per option
//   "param_groups.0.params"  int64 indices of the group's parameters
// load_state_dict() checks every key, option and shape before it changes anything.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace xg::nn::optim {

// `os << shape` in messages: xg::nn declares its own operator<< (for Module), which would hide
// xg's (for Shape, a std::vector that ADL cannot find it through), so bring xg's in by name.
using ::xg::operator<<;

// name -> tensor, the serializable form of an optimizer or a scheduler.
using OptimizerStateDict = std::map<std::string, Tensor>;
// Group options by PyTorch's names: "lr", "weight_decay", "momentum", "betas.0", "amsgrad" (0/1)...
using Options = std::map<std::string, double>;
// One parameter's state: "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer".
using ParamState = std::map<std::string, Tensor>;

struct ParamGroup {
    std::vector<Tensor> params;
    Options options;  // options not given here take the optimizer's defaults

    ParamGroup() = default;
    ParamGroup(std::vector<Tensor> params, Options options = {})  // NOLINT: implicit, like a dict
        : params(std::move(params)), options(std::move(options)) {}

    // group["lr"], as param_group['lr'] in PyTorch; an unknown name is an error.
    double& operator[](const std::string& name);
    double operator[](const std::string& name) const;
    bool has(const std::string& name) const { return options.count(name) != 0; }
};

class Optimizer {
  public:
    virtual ~Optimizer() = default;
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    virtual std::string type_name() const = 0;  // "SGD", "Adam", "AdamW"

    // One update of every parameter that has a gradient (parameters without one are skipped).
    // Runs under NoGradGuard, in place: each parameter's version counter is bumped.
    virtual void step(SrcLoc loc = SrcLoc::current()) = 0;
    // PyTorch's step(closure): evaluates the loss (with grad mode on), then steps; returns the loss.
    Tensor step(const std::function<Tensor()>& closure, SrcLoc loc = SrcLoc::current());

    // Clears the gradients: undefined (set_to_none) or zero-filled.
    void zero_grad(bool set_to_none = true);

    std::vector<ParamGroup>& param_groups() { return groups_; }
    const std::vector<ParamGroup>& param_groups() const { return groups_; }
    // Adds a group; missing options take the defaults, then the optimizer validates them.
    void add_param_group(ParamGroup group, SrcLoc loc = SrcLoc::current());

    // The learning rate of a group (what schedulers read and write).
    double get_lr(size_t group = 0, SrcLoc loc = SrcLoc::current()) const;
    void set_lr(double lr, size_t group, SrcLoc loc = SrcLoc::current());
    void set_lr(double lr, SrcLoc loc = SrcLoc::current());  // every group

    const Options& defaults() const { return defaults_; }

    // The state of one parameter (empty until its first update), as optimizer.state[p].
    ParamState& state(const Tensor& param);
    bool has_state(const Tensor& param) const;

    // A snapshot (the tensors are copies) of the state and every group's options.
    OptimizerStateDict state_dict() const;
    // Loads a state_dict() of an optimizer of the same kind over parameters of the same shapes.
    void load_state_dict(const OptimizerStateDict& state_dict, SrcLoc loc = SrcLoc::current());

  protected:
    explicit Optimizer(Options defaults) : defaults_(std::move(defaults)) {}

    // Checks a group's options (lr >= 0, ...); the message names the value and `loc`.
    virtual void validate_options(const Options& options, const SrcLoc& loc) const = 0;
    // The state entries a parameter of a group with these options has once it has been updated.
    virtual std::vector<std::string> state_names(const Options& options) const = 0;

    // Derived constructors call this with the user's groups, after their vtable is in place.
    void init_groups(std::vector<ParamGroup> groups, const SrcLoc& loc);

    Options defaults_;
    std::vector<ParamGroup> groups_;
    std::unordered_map<const TensorImpl*, ParamState> state_;
};

// "Adam: invalid beta parameter at index 0: 1.5" style option checks, shared by the optimizers.
namespace detail {
std::string format_double(double v);
}

}  // namespace xg::nn::optim
