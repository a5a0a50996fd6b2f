// The LR schedules of nn/optim/lr_scheduler.h, each get_lr transcribed from PyTorch 1.13's
// torch/optim/lr_scheduler.py (same branches, same order of floating point operations).
#include "nn/optim/lr_scheduler.h"

#include <cmath>
#include <numbers>
#include <set>

#include "core/ops.h"

namespace xg::nn::optim {

namespace {

constexpr double pi = std::numbers::pi;  // == Python's math.pi

// Python's a % b for b > 0 (never negative), which PyTorch's CosineAnnealingLR relies on.
int64_t py_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

std::vector<double> group_lrs(const Optimizer& opt) {
    std::vector<double> lrs;
    for (const auto& g : opt.param_groups()) lrs.push_back(g["lr"]);
    return lrs;
}

}  // namespace

// ---- the base ------------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, const SrcLoc& loc) : optimizer_(optimizer) {
    XG_CHECK(!optimizer.param_groups().empty(), loc, "lr_scheduler: the optimizer has no parameter groups");
    for (auto& group : optimizer_.param_groups()) {
        group.options.emplace("initial_lr", group["lr"]);  // setdefault: a resumed group keeps its own
        base_lrs_.push_back(group["initial_lr"]);
    }
}

void LRScheduler::initial_step() {
    step_count_ = 0;
    step();
}

void LRScheduler::step() {
    ++step_count_;
    ++last_epoch_;
    std::vector<double> lrs = get_lr();
    auto& groups = optimizer_.param_groups();
    for (size_t i = 0; i < groups.size() && i < lrs.size(); ++i) groups[i]["lr"] = lrs[i];
    last_lr_ = group_lrs(optimizer_);
}

OptimizerStateDict LRScheduler::state_dict() const {
    auto vec = [](const std::vector<double>& v) {
        return tensor(v, Shape{static_cast<int64_t>(v.size())}, dtype(kFloat64));
    };
    return {{"last_epoch", scalar_tensor(static_cast<double>(last_epoch_), dtype(kFloat64))},
            {"_step_count", scalar_tensor(static_cast<double>(step_count_), dtype(kFloat64))},
            {"base_lrs", vec(base_lrs_)},
            {"_last_lr", vec(last_lr_)}};
}

void LRScheduler::load_state_dict(const OptimizerStateDict& sd, SrcLoc loc) {
    const std::string name = type_name();
    const int64_t groups = static_cast<int64_t>(optimizer_.param_groups().size());
    const std::set<std::string> expected = {"last_epoch", "_step_count", "base_lrs", "_last_lr"};
    for (const auto& [key, t] : sd)
        XG_CHECK(expected.count(key), loc,
                 name << ": unexpected key '" << key << "' in state_dict (expected last_epoch, _step_count, base_lrs, _last_lr)");
    for (const auto& key : expected) XG_CHECK(sd.count(key), loc, name << ": missing key '" << key << "' in state_dict");
    for (const char* key : {"last_epoch", "_step_count"}) {
        const Tensor& t = sd.at(key);
        XG_CHECK(t.defined() && t.numel() == 1, loc, name << ": state_dict['" << key << "'] must hold one number");
        const double v = t.item();
        XG_CHECK(v == std::floor(v) && v >= (std::string(key) == "last_epoch" ? -1 : 0), loc,
                 name << ": state_dict['" << key << "'] = " << v << " is not a valid count");
    }
    for (const char* key : {"base_lrs", "_last_lr"}) {
        const Tensor& t = sd.at(key);
        XG_CHECK(t.defined() && t.dim() == 1 && t.numel() == groups, loc,
                 name << ": state_dict['" << key << "'] must have one lr per parameter group (" << groups
                      << "), got shape " << (t.defined() ? t.shape() : Shape{}));
    }
    last_epoch_ = static_cast<int64_t>(sd.at("last_epoch").item());
    step_count_ = static_cast<int64_t>(sd.at("_step_count").item());
    base_lrs_ = sd.at("base_lrs").to_vector<double>();
    last_lr_ = sd.at("_last_lr").to_vector<double>();
}

// ---- StepLR ----------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma, SrcLoc loc)
    : LRScheduler(optimizer, loc), step_size_(step_size), gamma_(gamma) {
    XG_CHECK(step_size > 0, loc, "StepLR: step_size must be a positive integer, got " << step_size);
    XG_CHECK(gamma >= 0, loc, "StepLR: gamma must be >= 0, got " << detail::format_double(gamma));
    initial_step();
}

std::vector<double> StepLR::get_lr() const {
    std::vector<double> lrs = group_lrs(optimizer_);
    if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
    for (double& lr : lrs) lr = lr * gamma_;
    return lrs;
}

// ---- CosineAnnealingLR -------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min, SrcLoc loc)
    : LRScheduler(optimizer, loc), T_max_(T_max), eta_min_(eta_min) {
    XG_CHECK(T_max > 0, loc, "CosineAnnealingLR: T_max must be a positive integer, got " << T_max);
    XG_CHECK(eta_min >= 0, loc, "CosineAnnealingLR: eta_min must be >= 0, got " << detail::format_double(eta_min));
    initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() const {
    std::vector<double> lrs = group_lrs(optimizer_);
    const double t = static_cast<double>(last_epoch_), T = static_cast<double>(T_max_);
    if (last_epoch_ == 0) return lrs;
    if (step_count_ == 1 && last_epoch_ > 0) {  // started mid-way: the closed form
        for (size_t i = 0; i < lrs.size(); ++i)
            lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * (1 + std::cos(t * pi / T)) / 2;
        return lrs;
    }
    if (py_mod(last_epoch_ - 1 - T_max_, 2 * T_max_) == 0) {  // past a minimum: climb back up
        for (size_t i = 0; i < lrs.size(); ++i)
            lrs[i] = lrs[i] + (base_lrs_[i] - eta_min_) * (1 - std::cos(pi / T)) / 2;
        return lrs;
    }
    for (double& lr : lrs)
        lr = (1 + std::cos(pi * t / T)) / (1 + std::cos(pi * (t - 1) / T)) * (lr - eta_min_) + eta_min_;
    return lrs;
}

// ---- LinearLR ------------------------------------------------------------------------------

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters, SrcLoc loc)
    : LRScheduler(optimizer, loc), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
    XG_CHECK(start_factor <= 1.0 && start_factor > 0, loc,
             "LinearLR: starting multiplicative factor expected to be in (0, 1], got "
                 << detail::format_double(start_factor));
    XG_CHECK(end_factor <= 1.0 && end_factor >= 0, loc,
             "LinearLR: ending multiplicative factor expected to be between 0 and 1, got "
                 << detail::format_double(end_factor));
    XG_CHECK(total_iters > 0, loc, "LinearLR: total_iters must be a positive integer, got " << total_iters);
    initial_step();
}

std::vector<double> LinearLR::get_lr() const {
    std::vector<double> lrs = group_lrs(optimizer_);
    if (last_epoch_ == 0) {
        for (double& lr : lrs) lr = lr * start_factor_;
        return lrs;
    }
    if (last_epoch_ > total_iters_) return lrs;
    const double diff = end_factor_ - start_factor_;
    for (double& lr : lrs)
        lr = lr * (1. + diff / (static_cast<double>(total_iters_) * start_factor_ +
                                static_cast<double>(last_epoch_ - 1) * diff));
    return lrs;
}

// ---- LinearWarmupCosine ------------------------------------------------------------------

LinearWarmupCosine::LinearWarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr,
                                       SrcLoc loc)
    : LRScheduler(optimizer, loc), warmup_steps_(warmup_steps), total_steps_(total_steps), min_lr_(min_lr) {
    XG_CHECK(warmup_steps >= 0, loc, "LinearWarmupCosine: warmup_steps must be >= 0, got " << warmup_steps);
    XG_CHECK(total_steps > 0 && total_steps >= warmup_steps, loc,
             "LinearWarmupCosine: total_steps must be > 0 and >= warmup_steps (" << warmup_steps << "), got "
                                                                               << total_steps);
    XG_CHECK(min_lr >= 0, loc, "LinearWarmupCosine: min_lr must be >= 0, got " << detail::format_double(min_lr));
    initial_step();
}

std::vector<double> LinearWarmupCosine::get_lr() const {
    std::vector<double> lrs(base_lrs_.size());
    const int64_t t = last_epoch_, W = warmup_steps_, T = total_steps_;
    for (size_t i = 0; i < lrs.size(); ++i) {
        const double base = base_lrs_[i];
        if (t < W) {
            lrs[i] = base * static_cast<double>(t + 1) / static_cast<double>(W + 1);
        } else if (t <= T && T > W) {
            const double progress = static_cast<double>(t - W) / static_cast<double>(T - W);
            lrs[i] = min_lr_ + (base - min_lr_) * (1 + std::cos(pi * progress)) / 2;
        } else {
            lrs[i] = t == W ? base : min_lr_;  // T == W: the peak, then min_lr
        }
    }
    return lrs;
}

}  // namespace xg::nn::optim
