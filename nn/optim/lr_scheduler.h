#pragma once
// Learning-rate schedules, as torch.optim.lr_scheduler (PyTorch 1.13). A scheduler rewrites
// each parameter group's "lr" every time step() is called (once per epoch or per batch, after
// optimizer.step(), as in PyTorch):
//
//   PyTorch:  sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
//   xgrad:    xg::nn::optim::CosineAnnealingLR sched(opt, /*T_max=*/100);
//             for (...) { ...; opt.step(); sched.step(); }
//
// Construction performs PyTorch's initial step (last_epoch becomes 0) and records each group's
// "initial_lr" (if the group has none yet); base_lrs are those initial lrs.
//
// StepLR, CosineAnnealingLR and LinearLR use PyTorch's recursive ("chainable") get_lr, which
// computes the new lr from the group's current lr, so their sequences equal PyTorch's to the bit.
// LinearWarmupCosine (xgrad's own, what the ViT trainer uses) is a closed form of base_lrs.
//
// Resuming: construct the optimizer and the scheduler as at the start, then load both state
// dicts (the optimizer's carries each group's lr and initial_lr, the scheduler's its counters).
#include <cstdint>
#include <string>
#include <vector>

#include "nn/optim/optimizer.h"

namespace xg::nn::optim {

class LRScheduler {
  public:
    virtual ~LRScheduler() = default;
    LRScheduler(const LRScheduler&) = delete;
    LRScheduler& operator=(const LRScheduler&) = delete;

    virtual std::string type_name() const = 0;

    // last_epoch += 1, then every group's lr = get_lr().
    void step();
    // The lrs the last step() set, one per group.
    const std::vector<double>& get_last_lr() const { return last_lr_; }
    const std::vector<double>& base_lrs() const { return base_lrs_; }
    int64_t last_epoch() const { return last_epoch_; }

    // "last_epoch", "_step_count" (0-d float64), "base_lrs", "_last_lr" (1-D float64, one per group).
    OptimizerStateDict state_dict() const;
    void load_state_dict(const OptimizerStateDict& state_dict, SrcLoc loc = SrcLoc::current());

  protected:
    LRScheduler(Optimizer& optimizer, const SrcLoc& loc);
    // The lrs for the current last_epoch_ (PyTorch's get_lr).
    virtual std::vector<double> get_lr() const = 0;
    // PyTorch's _initial_step(); the derived constructor calls it once its members are set.
    void initial_step();

    Optimizer& optimizer_;
    std::vector<double> base_lrs_;
    int64_t last_epoch_ = -1;
    int64_t step_count_ = 0;
    std::vector<double> last_lr_;
};

// lr = lr * gamma every step_size steps:  lr_t = base_lr * gamma^(t // step_size)
class StepLR : public LRScheduler {
  public:
    StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1, SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "StepLR"; }

  protected:
    std::vector<double> get_lr() const override;
    int64_t step_size_;
    double gamma_;
};

// lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2, computed recursively:
//   lr_t = (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max)) * (lr_{t-1} - eta_min) + eta_min
class CosineAnnealingLR : public LRScheduler {
  public:
    CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0, SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "CosineAnnealingLR"; }

  protected:
    std::vector<double> get_lr() const override;
    int64_t T_max_;
    double eta_min_;
};

// Linear ramp of a multiplicative factor from start_factor to end_factor over total_iters steps:
//   lr_t = base_lr * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters)
class LinearLR : public LRScheduler {
  public:
    LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5,
             SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "LinearLR"; }

  protected:
    std::vector<double> get_lr() const override;
    double start_factor_, end_factor_;
    int64_t total_iters_;
};

// Linear warmup, then cosine decay (xgrad's; what the ViT trainer uses). With W = warmup_steps,
// T = total_steps and t = last_epoch (the number of step() calls so far):
//   t <  W:        lr = base_lr * (t + 1) / (W + 1)         from ~0 up towards base_lr
//   W <= t <= T:   lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * (t - W) / (T - W))) / 2
//   t >  T:        lr = min_lr
// The warmup equals LinearLR(start_factor = 1/(W+1), total_iters = W); the decay equals
// CosineAnnealingLR(T_max = T - W, eta_min = min_lr) started at t = W.
class LinearWarmupCosine : public LRScheduler {
  public:
    LinearWarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr = 0,
                       SrcLoc loc = SrcLoc::current());
    std::string type_name() const override { return "LinearWarmupCosine"; }

  protected:
    std::vector<double> get_lr() const override;
    int64_t warmup_steps_, total_steps_;
    double min_lr_;
};

}  // namespace xg::nn::optim
