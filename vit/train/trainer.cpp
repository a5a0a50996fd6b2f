// Trainer: the training loop of trainer.h. The step itself (train_step) is the five lines every
// PyTorch script has; the rest is bookkeeping: the time budget, checkpoints, resume, metrics.
#include "vit/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "nn/functional.h"
#include "nn/optim/clip_grad.h"
#include "vit/train/metrics.h"
#include "vit/train/progress.h"

namespace xg::vit::train {

namespace F = nn::functional;

namespace {

// ---- Ctrl-C ----------------------------------------------------------------------------------
// The handler only sets a flag (all a signal handler may safely do) and restores the default
// action, so a second Ctrl-C ends the process at once. The loop reads the flag between steps.
volatile std::sig_atomic_t g_interrupted = 0;

void on_sigint(int) {
    g_interrupted = 1;
    std::signal(SIGINT, SIG_DFL);
}

// Installs on_sigint for the duration of fit() and puts the previous handler back afterwards.
class SigintScope {
  public:
    SigintScope() {
        g_interrupted = 0;
        struct sigaction action {};
        action.sa_handler = on_sigint;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, &previous_);
    }
    ~SigintScope() { sigaction(SIGINT, &previous_, nullptr); }
    SigintScope(const SigintScope&) = delete;
    SigintScope& operator=(const SigintScope&) = delete;

  private:
    struct sigaction previous_ {};
};

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

// A flag's value in `config` as text (through the flag table, so every flag is covered).
std::string flag_value(const TrainConfig& config, const std::string& flag) {
    auto m = config.to_metadata();
    auto it = m.find(flag);
    return it == m.end() ? "" : it->second;
}

// AdamW's weight decay pulls weights towards zero. Matrices (and conv kernels) get it; biases,
// LayerNorm scales, the CLS token and the position embeddings do not (as timm and most ViT
// recipes do): shrinking a bias or a norm's gain towards 0 is not a useful prior.
//   decay    = [p for n, p in model.named_parameters() if p.dim() >= 2 and n not in ("cls_token", "pos_embedding")]
//   no_decay = [the others]
std::vector<nn::optim::ParamGroup> param_groups(const VisionTransformer& model, double weight_decay) {
    std::vector<Tensor> decay, no_decay;
    for (const auto& [name, p] : model.named_parameters()) {
        const bool embedding = name == "cls_token" || name == "pos_embedding";
        (p.dim() >= 2 && !embedding ? decay : no_decay).push_back(p);
    }
    return {nn::optim::ParamGroup(decay, {{"weight_decay", weight_decay}}),
            nn::optim::ParamGroup(no_decay, {{"weight_decay", 0.0}})};
}

}  // namespace

// ---- the settings of a run --------------------------------------------------------------------

std::string resume_path(const TrainConfig& config) {
    if (config.resume && !config.resume->empty()) return *config.resume;
    return (std::filesystem::path(config.out) / "checkpoint.safetensors").string();
}

TrainConfig resolve_config(const ParsedArgs& args, SrcLoc loc) {
    if (!args.config.resume) {
        args.config.validate(loc);
        return args.config;
    }
    const std::string path = resume_path(args.config);
    XG_CHECK(std::filesystem::exists(path), loc, "--resume: no checkpoint at " << path);
    TrainConfig config = load_checkpoint(path, loc).config;
    for (const std::string& flag : args.given) {
        if (flag == "resume") continue;
        const std::string given = flag_value(args.config, flag), saved = flag_value(config, flag);
        if (resumable_flags().count(flag)) {
            config.apply_metadata({{flag, given}}, loc);
        } else {
            XG_CHECK(given == saved, loc,
                     "--" << flag << " " << given << " differs from the checkpoint's " << saved
                          << ": a resumed run keeps the settings it started with (only --data-dir --out --threads "
                             "--log-every --eval-every --eval-batch-size --time-budget --stop-after may change)");
        }
    }
    // --stop-after belongs to one session: the resumed run does not inherit the value that stopped it.
    config.stop_after = args.config.stop_after;
    // A checkpoint given by path keeps its folder as the output folder unless --out says otherwise.
    if (!args.given.count("out") && args.config.resume && !args.config.resume->empty())
        config.out = std::filesystem::path(path).parent_path().string();
    if (config.out.empty()) config.out = ".";
    config.resume = path;
    config.validate(loc);
    return config;
}

// ---- construction ----------------------------------------------------------------------------

Trainer::Trainer(TrainConfig config, SrcLoc loc) : Trainer(std::move(config), std::cout, loc) {}

Trainer::Trainer(TrainConfig config, std::ostream& out, SrcLoc loc)
    : config_(std::move(config)),
      out_(out),
      interactive_(&out == &std::cout && stdout_is_terminal()),
      session_start_(std::chrono::steady_clock::now()) {
    if (config_.resume) {
        // The checkpoint's settings, with the resumable ones (threads, output folder, ...) ours.
        resumed_ = load_checkpoint(resume_path(config_), loc);
        TrainConfig saved = resumed_->config;
        std::map<std::string, std::string> ours = config_.to_metadata(), overrides;
        for (const std::string& flag : resumable_flags())
            if (ours.count(flag)) overrides[flag] = ours[flag];
        saved.apply_metadata(overrides, loc);
        saved.resume = config_.resume;
        config_ = saved;
    }
    config_.validate(loc);
    // torch.set_num_threads(n)   (0: the library's default, or with a time budget the faster of 1 and all)
    if (config_.threads > 0) set_num_threads(static_cast<int>(config_.threads), loc);

    // train_set = torchvision.datasets.FashionMNIST(root, train=True); test_set = ...(train=False)
    const std::string dir = config_.data_dir.empty() ? data::default_fashion_mnist_dir() : config_.data_dir;
    train_set_.emplace(dir, /*train=*/true, loc);
    test_set_.emplace(dir, /*train=*/false, loc);
    if (config_.train_subset > 0) train_set_ = train_set_->subset(config_.train_subset, loc);
    if (config_.test_subset > 0) test_set_ = test_set_->subset(config_.test_subset, loc);
    // train_loader = DataLoader(train_set, batch_size, shuffle=True)
    loader_ = std::make_unique<data::DataLoader>(
        *train_set_,
        data::DataLoaderOptions{
            .batch_size = config_.batch_size,
            .shuffle = true,
            .seed = config_.seed,
            .augment = config_.augment,
            .crop_padding = config_.crop_padding},
        loc);

    // torch.manual_seed(seed); model = ViT(...)
    manual_seed(config_.seed);
    model_ = std::make_shared<VisionTransformer>(config_.vit_config(), loc);
    params_ = model_->parameters();
    // optimizer = torch.optim.AdamW([{"params": decay, ...}, {"params": no_decay, "weight_decay": 0}], lr, betas)
    optimizer_ = std::make_unique<nn::optim::AdamW>(param_groups(*model_, config_.weight_decay), config_.lr,
                                                    nn::optim::Betas{config_.beta1, config_.beta2}, 1e-8,
                                                    config_.weight_decay, false, loc);
    out_dir_ = config_.out;
    std::filesystem::create_directories(out_dir_);

    if (resumed_) {
        // model.load_state_dict(ckpt["model"]); optimizer.load_state_dict(ckpt["optimizer"]); ...
        state_ = resumed_->state;
        elapsed_before_ = state_.elapsed_s;
        XG_CHECK(state_.batches_consumed <= loader_->num_batches(), loc,
                 "checkpoint " << resume_path(config_) << ": " << state_.batches_consumed
                               << " batches consumed, but an epoch has only " << loader_->num_batches());
        model_->load_state_dict(resumed_->model, /*strict=*/true, loc);
        scheduler_ = std::make_unique<nn::optim::LinearWarmupCosine>(*optimizer_, state_.warmup_steps,
                                                                     state_.total_steps, config_.min_lr, loc);
        optimizer_->load_state_dict(resumed_->optimizer, loc);
        scheduler_->load_state_dict(resumed_->scheduler, loc);
        // torch.set_rng_state(ckpt["rng"]): the dropout masks continue where they stopped
        set_rng_state(resumed_->rng_state, loc);
        resumed_.reset();
        // The machine may be faster or slower than when the run started: time it again (this
        // leaves the model and the generator as they are) for the budget checks.
        if (config_.time_budget > 0) timing_ = measure_speed();
    } else {
        plan_schedule();
    }
}

Trainer::~Trainer() = default;

double Trainer::elapsed() const {
    return elapsed_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start_).count();
}

// ---- the time budget ----------------------------------------------------------------------------

// A few training steps and one evaluation batch, timed on a copy of the model with random images.
// The real model, its optimizer and the random generator are left exactly as they were, so a run
// with a time budget trains the same weights as one without (only the schedule's length differs).
//
// With --threads 0 (auto) it also decides how many threads to use: the steps are timed on all the
// cores and on one, and the faster wins. On an idle machine two threads beat one; on a busy one a
// kernel that splits its work waits, at its end, for a thread the OS has given to someone else,
// and one thread wins by far. (Results are bit-identical whatever the thread count.)
Trainer::Timing Trainer::measure_speed() {
    using clock = std::chrono::steady_clock;
    const Tensor rng = get_rng_state();
    auto probe = std::static_pointer_cast<VisionTransformer>(model_->clone());
    nn::optim::AdamW probe_optimizer(probe->parameters(), config_.lr);
    const int64_t bs = std::min(config_.batch_size, train_set_->size());
    Tensor images = randn({bs, 1, 28, 28});
    Tensor labels = randint(10, {bs});
    auto step = [&] {
        Tensor loss = F::cross_entropy((*probe)(images), labels, {}, -100, "mean", config_.label_smoothing);
        probe_optimizer.zero_grad();
        loss.backward();
        if (config_.clip_grad > 0) nn::optim::clip_grad_norm_(probe->parameters(), config_.clip_grad);
        probe_optimizer.step();
    };
    // Seconds per step: at least 3 steps and 2 seconds (under load a single step says little), at
    // most 20 steps or 8 s; and no more once the steps are clearly slower than `beat` seconds.
    auto seconds_per_step = [&](double beat) {
        const auto warm = clock::now();
        step();  // the first step after a change allocates and warms the caches; not counted
        const double warm_s = std::chrono::duration<double>(clock::now() - warm).count();
        if (warm_s > 3 * beat) return warm_s;
        int64_t n = 0;
        const auto start = clock::now();
        double seconds = 0;
        while (true) {
            step();
            ++n;
            seconds = std::chrono::duration<double>(clock::now() - start).count();
            const double per_step = seconds / static_cast<double>(n);
            if ((n >= 3 && seconds >= 2.0) || n >= 20 || seconds > 8.0 || per_step > 1.5 * beat) return per_step;
        }
    };
    // The mean seconds of n steps.
    auto timed_steps = [&](int64_t n) {
        const auto start = clock::now();
        for (int64_t i = 0; i < n; ++i) step();
        return std::chrono::duration<double>(clock::now() - start).count() / static_cast<double>(n);
    };
    const double no_limit = std::numeric_limits<double>::infinity();
    Timing t;
    t.threads = get_num_threads();
    if (config_.threads == 0 && t.threads > 1) {
        // One thread against all of them, in alternating rounds, keeping each one's best round: a
        // shared host slows one core or the other for a second here and there, and a single
        // measurement of each caught in such a second picks the wrong one (it did, picking one
        // thread that trained 30 % slower). A setting clearly slower than the other in a round is
        // not measured again (on a busy machine all cores lose by far).
        const int many = t.threads;
        set_num_threads(1);
        step();  // the first step after a change allocates and warms the caches; not counted
        double one_s = timed_steps(1), many_s = no_limit;
        const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(0.4 / one_s), 2, 10);  // ~0.4 s a round
        set_num_threads(many);
        step();
        const auto rounds_start = clock::now();
        for (int round = 0; round < 3; ++round) {
            if (round > 0 && std::chrono::duration<double>(clock::now() - rounds_start).count() > 5.0) break;
            if (round == 0 || many_s < 1.5 * one_s) {
                set_num_threads(many);
                many_s = std::min(many_s, timed_steps(n));
            }
            set_num_threads(1);
            one_s = std::min(one_s, timed_steps(n));
        }
        if (one_s <= many_s) {
            t.threads = 1;
            t.step_s = one_s;
            t.threads_other = many;
            t.step_s_other = many_s;
        } else {
            set_num_threads(many);
            t.step_s = many_s;
            t.threads_other = 1;
            t.step_s_other = one_s;
        }
    } else {
        t.step_s = seconds_per_step(no_limit);
    }

    const int64_t eb = std::min(config_.eval_batch_size, test_set_->size());
    Tensor test_images = randn({eb, 1, 28, 28});
    probe->eval();
    {
        NoGradGuard no_grad;
        (*probe)(test_images);  // warm up
        const auto e0 = clock::now();
        (*probe)(test_images);
        const double per_image = std::chrono::duration<double>(clock::now() - e0).count() / static_cast<double>(eb);
        t.eval_s = per_image * static_cast<double>(test_set_->size());
    }
    set_rng_state(rng);
    return t;
}

// The safety margin the plan keeps: the schedule ends this many seconds before the budget.
static double budget_margin(double budget) { return std::max(2.0, 0.01 * budget); }

// The most steps that fit in `seconds` when a step takes step_s and each evaluation eval_s,
// starting after step `from`: the evaluations are one per epoch boundary crossed, one per
// --eval-every multiple, and the final one.
static int64_t steps_that_fit(double seconds, double step_s, double eval_s, int64_t from, int64_t max_more,
                              int64_t steps_per_epoch, int64_t eval_every) {
    auto cost = [&](int64_t n) {
        const int64_t last = from + n;  // the final step
        int64_t evals = 1;
        if (n > 0) evals += (last - 1) / steps_per_epoch - from / steps_per_epoch;
        if (eval_every > 0 && n > 0) evals += (last - 1) / eval_every - from / eval_every;
        return static_cast<double>(n) * step_s + static_cast<double>(evals) * eval_s;
    };
    int64_t lo = 0, hi = max_more;  // the answer is in [lo, hi]; cost is increasing in n
    if (cost(hi) <= seconds) return hi;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (cost(mid) <= seconds) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

void Trainer::plan_schedule() {
    const int64_t spe = loader_->num_batches();
    const int64_t max_total = config_.epochs * spe;
    int64_t total = max_total;
    if (config_.time_budget > 0) {
        timing_ = measure_speed();
        const double left = config_.time_budget - elapsed() - budget_margin(config_.time_budget) -
                            final_eval_extra(timing_.eval_s);
        total = steps_that_fit(left, timing_.step_s, timing_.eval_s, 0, max_total, spe, config_.eval_every);
        total = std::max<int64_t>(total, 1);
    }
    state_.total_steps = total;
    // A step count is capped at a fifth of the run, so that a short run (a small budget) still
    // spends most of its steps in the cosine decay.
    state_.warmup_steps = config_.warmup_steps >= 1
                              ? std::min<int64_t>(static_cast<int64_t>(config_.warmup_steps), total / 5)
                              : static_cast<int64_t>(std::llround(config_.warmup_steps * static_cast<double>(total)));
    // scheduler = linear warmup for warmup_steps, then cosine down to min_lr at total_steps
    scheduler_ = std::make_unique<nn::optim::LinearWarmupCosine>(*optimizer_, state_.warmup_steps, state_.total_steps,
                                                                 config_.min_lr);
}

// Revises the schedule's length from the speed measured so far (the machine's load changes).
// The schedule is rebuilt with the new length and the same position; the learning rate of the
// next step comes from the new cosine, a small step from the old one.
bool Trainer::replan(double step_s, double eval_s) {
    const int64_t spe = loader_->num_batches();
    const int64_t max_total = config_.epochs * spe;
    const double left =
        config_.time_budget - elapsed() - budget_margin(config_.time_budget) - final_eval_extra(eval_s);
    int64_t total = state_.step +
                    steps_that_fit(left, step_s, eval_s, state_.step, max_total - state_.step, spe, config_.eval_every);
    total = std::max(total, state_.step);
    const auto diff = std::abs(static_cast<double>(total - state_.total_steps));
    if (diff <= 0.01 * static_cast<double>(state_.total_steps) && total <= max_total) return false;
    const nn::optim::OptimizerStateDict position = scheduler_->state_dict();
    std::vector<double> lrs;
    for (const auto& g : optimizer_->param_groups()) lrs.push_back(g["lr"]);
    scheduler_ = std::make_unique<nn::optim::LinearWarmupCosine>(*optimizer_, std::min(state_.warmup_steps, total),
                                                                 std::max<int64_t>(total, 1), config_.min_lr);
    scheduler_->load_state_dict(position);
    for (size_t i = 0; i < lrs.size(); ++i) optimizer_->set_lr(lrs[i], i);
    state_.total_steps = std::max<int64_t>(total, 1);
    state_.warmup_steps = std::min(state_.warmup_steps, state_.total_steps);
    return true;
}

bool Trainer::time_left_for_step(double step_s, double eval_s) const {
    if (config_.time_budget <= 0) return true;
    return elapsed() + step_s + eval_s + 1.0 <= config_.time_budget;
}

// ---- one step ------------------------------------------------------------------------------------

Trainer::StepResult Trainer::train_step(const data::Batch& batch) {
    // model.train()
    model_->train();
    // logits = model(images)                                                   [B, 10]
    Tensor logits = (*model_)(batch.images);
    // loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    Tensor loss = F::cross_entropy(logits, batch.labels, {}, -100, "mean", config_.label_smoothing);
    // optimizer.zero_grad()
    optimizer_->zero_grad();
    // loss.backward()
    loss.backward();
    // torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    if (config_.clip_grad > 0) nn::optim::clip_grad_norm_(params_, config_.clip_grad);
    // optimizer.step()
    optimizer_->step();
    // scheduler.step()
    scheduler_->step();
    ++state_.step;

    // correct = (logits.argmax(dim=1) == labels).sum().item()
    NoGradGuard no_grad;
    StepResult r;
    r.loss = loss.item();
    r.correct = static_cast<int64_t>(eq(logits.argmax(1), batch.labels).sum().item());
    return r;
}

EvalResult Trainer::evaluate_test(bool final) {
    return evaluate(*model_, *test_set_, config_.eval_batch_size, 28, /*with_mirror=*/final && config_.tta);
}

// The final evaluation's cost beyond an ordinary one: with --tta it also runs the mirror images.
double Trainer::final_eval_extra(double eval_s) const { return config_.tta ? eval_s : 0.0; }

// The accuracy a run reports: with --tta the mirror-averaged one.
static double reported_accuracy(const EvalResult& r) { return r.mirrored ? r.mirror_accuracy : r.accuracy; }

std::string Trainer::save_checkpoint() {
    state_.elapsed_s = elapsed();
    const std::string path = (std::filesystem::path(out_dir_) / "checkpoint.safetensors").string();
    train::save_checkpoint(path, *model_, *optimizer_, *scheduler_, config_, state_);
    return path;
}

// ---- the loop ------------------------------------------------------------------------------------

namespace {

// Re-checks on real training steps whether one thread or all of them train faster. The speed
// check before training measures a few seconds, and a shared host has slow seconds (the kernel
// writing out a build that just finished is one: it made two fresh-clone runs pick one thread,
// 30 % slower than two). So every kEvery steps, kWindow steps on the current count are compared
// with the next kWindow steps on the other count, and the faster keeps the job. Every kernel
// gives the same bits on any thread count: the weights do not depend on what this decides.
class ThreadTuner {
  public:
    static constexpr int64_t kWindow = 20, kEvery = 1000;

    ThreadTuner(bool enabled, int current, int other) : enabled_(enabled), current_(current), other_(other) {}

    // Call before each training step: the window on the other count starts here.
    void before_step() const {
        if (enabled_ && n_ == lead_ + kWindow) set_num_threads(other_);
    }

    // Call after each step with its seconds; returns a line to print when the count changed.
    std::string after_step(double seconds) {
        if (!enabled_) return {};
        if (n_ >= lead_ + kWindow) {
            other_s_ += seconds;
        } else if (n_ >= lead_) {
            current_s_ += seconds;
        }
        if (++n_ < lead_ + 2 * kWindow) return {};
        std::string line;
        if (other_s_ < 0.95 * current_s_) {  // clearly faster: switch
            line = "threads: " + std::to_string(other_) + " from now on (" + fmt("%.3f", other_s_ / kWindow) +
                   " s/step against " + fmt("%.3f", current_s_ / kWindow) + " on " + std::to_string(current_) + ")";
            std::swap(current_, other_);
        }
        set_num_threads(current_);
        n_ = 0;
        lead_ = kEvery - 2 * kWindow;
        current_s_ = other_s_ = 0;
        return line;
    }

  private:
    bool enabled_;
    int current_, other_;
    int64_t n_ = 0, lead_ = kWindow;  // the first check starts after kWindow warm-up steps
    double current_s_ = 0, other_s_ = 0;
};

}  // namespace

TrainResult Trainer::fit() {
    SigintScope sigint;
    const int64_t spe = loader_->num_batches();
    const bool budget = config_.time_budget > 0;
    const bool resumed = state_.step > 0 || state_.epoch > 0 || state_.batches_consumed > 0;
    MetricsCsv metrics((std::filesystem::path(out_dir_) / "metrics.csv").string(), resumed ? state_.step : -1);
    ProgressBar bar(out_, interactive_, config_.log_every);
    auto epochs_planned = [&] { return (state_.total_steps + spe - 1) / spe; };

    {
        std::ostringstream os;
        const ViTConfig v = config_.vit_config();
        os << "Fashion-MNIST: " << train_set_->size() << " training images (" << spe << " steps of "
           << config_.batch_size << " per epoch), " << test_set_->size() << " test images\n"
           << "model: ViT patch " << v.patch_size << ", dim " << v.model_dim << ", depth " << v.depth << ", heads "
           << v.num_heads << ", mlp " << v.mlp_dim << ", pool " << v.pool << ", " << v.patch_embedding
           << " patch embedding"
           << (v.patch_overlap > 0 ? " (" + std::to_string(v.patch_kernel()) + "x" + std::to_string(v.patch_kernel()) +
                                         " kernels, overlap " + std::to_string(v.patch_overlap) + ")"
                                   : std::string())
           << ", " << config_.norm << "-norm, dropout " << v.dropout << ": " << model_->num_parameters()
           << " parameters\n"
           << "optimizer: AdamW lr " << config_.lr << " (warmup " << state_.warmup_steps << " steps, cosine to "
           << config_.min_lr << "), weight decay " << config_.weight_decay << ", label smoothing "
           << config_.label_smoothing << ", clip " << config_.clip_grad
           << (config_.augment ? ", augment (crop padding " + std::to_string(config_.crop_padding) + ", flips)" : "")
           << (config_.tta ? "\nfinal evaluation: also each test image's mirror image, the two predictions averaged (--tta)" : "");
        if (resumed)
            os << "\nresumed from " << resume_path(config_) << " at step " << state_.step << " of "
               << state_.total_steps << " (epoch " << state_.epoch + 1 << ", batch " << state_.batches_consumed << "), "
               << format_duration(state_.elapsed_s) << " elapsed";
        if (budget) {
            os << "\nspeed check: " << fmt("%.3f", timing_.step_s) << " s/step ("
               << fmt("%.0f", static_cast<double>(config_.batch_size) / timing_.step_s) << " img/s) on "
               << timing_.threads << (timing_.threads == 1 ? " thread" : " threads");
            if (timing_.threads_other > 0)
                os << " (" << timing_.threads_other << (timing_.threads_other == 1 ? " thread: " : " threads: ")
                   << fmt("%.3f", timing_.step_s_other) << " s/step)";
            os << ", evaluation ~" << fmt("%.1f", timing_.eval_s) << " s\nplan: " << state_.total_steps << " steps ("
               << fmt("%.1f", static_cast<double>(state_.total_steps) / static_cast<double>(spe))
               << " epochs) to end within the " << config_.time_budget << " s budget";
        } else if (!resumed) {
            os << "\nplan: " << state_.total_steps << " steps (" << config_.epochs << " epochs)";
        }
        bar.print(os.str());
    }

    // The speeds the time checks use: a running average of the step time, the last evaluation's time.
    double step_s = timing_.step_s, eval_s = timing_.eval_s;
    // Sums over the steps since the last metrics row ("window") and since the last re-plan.
    double window_loss = 0, window_time = 0;
    int64_t window_correct = 0, window_seen = 0, window_steps = 0;
    double plan_time = 0;
    int64_t plan_steps = 0, session_steps = 0;
    double last_lr = optimizer_->get_lr(0);
    enum class Stop { kNone, kInterrupted, kStopAfter, kOutOfTime } stop = Stop::kNone;
    // --threads 0: keep checking one thread against all of them (the speed check's pair, or after
    // a run without a budget, all the cores against one)
    const int threads_now = get_num_threads();
    const int threads_other = timing_.threads_other > 0 ? timing_.threads_other : (threads_now > 1 ? 1 : 0);
    ThreadTuner threads(config_.threads == 0 && threads_other > 0, threads_now, threads_other);

    auto metrics_row = [&](std::optional<double> test_acc, std::optional<double> test_acc_tta) {
        MetricsRow row;
        row.step = state_.step;
        row.epoch = static_cast<double>(state_.step) / static_cast<double>(spe);
        if (window_steps > 0) {
            row.loss = window_loss / static_cast<double>(window_steps);
            row.train_acc = static_cast<double>(window_correct) / static_cast<double>(window_seen);
            row.images_per_s = static_cast<double>(window_seen) / window_time;
            row.lr = last_lr;
        }
        row.test_acc = test_acc;
        row.test_acc_tta = test_acc_tta;
        row.elapsed_s = elapsed();
        metrics.write(row);
        window_loss = window_time = 0;
        window_correct = window_seen = window_steps = 0;
    };
    auto evaluate_and_log = [&](const char* what, bool final) {
        EvalResult r = evaluate_test(final);
        eval_s = r.mirrored ? r.seconds / 2 : r.seconds;  // the seconds of one pass over the test set
        state_.test_accuracy = reported_accuracy(r);
        metrics_row(r.accuracy, r.mirrored ? std::optional<double>(r.mirror_accuracy) : std::nullopt);
        char line[200];
        std::snprintf(line, sizeof line, "%s step %lld (epoch %.2f): test accuracy %.2f%%, test loss %.4f", what,
                      static_cast<long long>(state_.step), static_cast<double>(state_.step) / static_cast<double>(spe),
                      100.0 * r.accuracy, r.loss);
        std::string text = line;
        if (r.mirrored) text += fmt("; averaged with the mirror images (--tta): %.2f%%", 100.0 * r.mirror_accuracy);
        bar.print(text + fmt(" (%.1f s)", r.seconds));
        return r;
    };

    while (state_.step < state_.total_steps && stop == Stop::kNone) {
        // for images, labels in train_loader:   (from the resumed position, if any)
        loader_->start_epoch(state_.epoch, state_.batches_consumed);
        while (state_.step < state_.total_steps) {
            if (g_interrupted) {
                stop = Stop::kInterrupted;
                break;
            }
            if (config_.stop_after > 0 && session_steps >= config_.stop_after) {
                stop = Stop::kStopAfter;
                break;
            }
            if (budget && !time_left_for_step(step_s, eval_s + final_eval_extra(eval_s))) {
                stop = Stop::kOutOfTime;
                break;
            }
            data::Batch batch;
            if (!loader_->next(batch)) break;  // the end of the epoch

            const auto t0 = std::chrono::steady_clock::now();
            last_lr = optimizer_->get_lr(0);  // the lr this step uses (scheduler.step() then sets the next)
            threads.before_step();
            StepResult r = train_step(batch);
            const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (std::string line = threads.after_step(dt); !line.empty()) bar.print(line);

            const int64_t bs = batch.labels.numel();
            state_.batches_consumed = loader_->batches_consumed();
            state_.epoch_loss_sum += r.loss;
            state_.epoch_correct += r.correct;
            state_.epoch_seen += bs;
            ++session_steps;
            window_loss += r.loss;
            window_correct += r.correct;
            window_seen += bs;
            window_time += dt;
            ++window_steps;
            plan_time += dt;
            ++plan_steps;
            // A running mean that forgets slowly: the budget checks follow the machine's load.
            step_s = step_s > 0 ? 0.95 * step_s + 0.05 * dt : dt;

            ProgressInfo p;
            p.epoch = state_.epoch + 1;
            p.epochs = epochs_planned();
            p.batch = state_.batches_consumed;
            p.batches = spe;
            p.step = state_.step;
            // the epoch's running means (batches_consumed counts this epoch's batches, resumed ones included)
            p.loss = state_.epoch_loss_sum / static_cast<double>(std::max<int64_t>(1, state_.batches_consumed));
            p.accuracy = static_cast<double>(state_.epoch_correct) /
                         static_cast<double>(std::max<int64_t>(1, state_.epoch_seen));
            p.images_per_s = static_cast<double>(bs) / step_s;
            p.lr = last_lr;
            const int64_t steps_left = state_.total_steps - state_.step;
            const int64_t evals_left = 1 + (state_.total_steps - 1) / spe - state_.step / spe;
            p.eta_s = static_cast<double>(steps_left) * step_s + static_cast<double>(evals_left) * eval_s +
                      final_eval_extra(eval_s);
            bar.update(p);

            if (state_.step % config_.log_every == 0) metrics_row(std::nullopt, std::nullopt);
            if (on_step) on_step(*this);
            if (config_.eval_every > 0 && state_.step % config_.eval_every == 0 && state_.step < state_.total_steps &&
                state_.batches_consumed < spe)
                evaluate_and_log("eval:", false);
        }
        if (stop != Stop::kNone || state_.batches_consumed < spe || state_.step >= state_.total_steps) break;

        // The end of an epoch with more to come: evaluate, save a checkpoint, revise the plan.
        // (test_acc = evaluate(model, test_loader); torch.save(checkpoint, path))
        if (!budget || time_left_for_step(step_s, 2 * eval_s + final_eval_extra(eval_s)))
            evaluate_and_log("epoch end:", false);
        state_.epoch += 1;
        state_.batches_consumed = 0;
        state_.epoch_loss_sum = 0;
        state_.epoch_correct = state_.epoch_seen = 0;
        save_checkpoint();
        if (budget && plan_steps > 0) {
            const int64_t before = state_.total_steps;
            if (replan(plan_time / static_cast<double>(plan_steps), eval_s)) {
                char line[160];
                std::snprintf(line, sizeof line, "re-planned: %lld steps (was %lld) from the measured %.3f s/step",
                              static_cast<long long>(state_.total_steps), static_cast<long long>(before),
                              plan_time / static_cast<double>(plan_steps));
                bar.print(line);
            }
            plan_time = 0;
            plan_steps = 0;
        }
    }

    TrainResult result;
    result.steps = state_.step;
    if (stop == Stop::kInterrupted || stop == Stop::kStopAfter) {
        if (window_steps > 0) metrics_row(std::nullopt, std::nullopt);
        result.checkpoint_path = save_checkpoint();
        result.elapsed_s = state_.elapsed_s;
        result.interrupted = stop == Stop::kInterrupted;
        result.stopped = stop == Stop::kStopAfter;
        bar.print(std::string(result.interrupted ? "interrupted (Ctrl-C)" : "--stop-after") + ": stopped at step " +
                  std::to_string(state_.step) + " of " + std::to_string(state_.total_steps) + ": checkpoint saved to " +
                  result.checkpoint_path + "\nresume with: --resume " + result.checkpoint_path);
        return result;
    }

    // The final evaluation, then the final checkpoint and the weights on their own.
    if (stop == Stop::kOutOfTime)
        bar.print("time budget: stopping at step " + std::to_string(state_.step) + " of " +
                  std::to_string(state_.total_steps) + " to leave time for the final evaluation");
    EvalResult final_eval = evaluate_and_log("final:", true);
    state_.finished = state_.step >= state_.total_steps;
    result.checkpoint_path = save_checkpoint();
    save_model((std::filesystem::path(out_dir_) / "model.safetensors").string(), *model_, config_);
    result.test_accuracy = reported_accuracy(final_eval);
    result.finished = state_.finished;
    result.out_of_time = stop == Stop::kOutOfTime;
    result.elapsed_s = elapsed();
    std::ostringstream os;
    os << "trained " << state_.step << " steps in " << format_duration(result.elapsed_s) << "; saved "
       << result.checkpoint_path << ", " << (std::filesystem::path(out_dir_) / "model.safetensors").string() << ", "
       << metrics.path() << "\n"
       << (final_eval.mirrored ? "the test accuracy below averages each test image's prediction with its mirror "
                                 "image's (--tta); without: " + fmt("%.2f", 100.0 * final_eval.accuracy) + "%\n"
                               : "")
       << "test accuracy: " << fmt("%.2f", 100.0 * reported_accuracy(final_eval)) << "%";
    bar.print(os.str());
    return result;
}

}  // namespace xg::vit::train
