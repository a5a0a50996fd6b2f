#pragma once
// Trainer: a Vision Transformer trained on Fashion-MNIST, the way a PyTorch training script
// does it, with the chores a real run needs (a time budget, checkpoints, resume, metrics):
//
//   model = ViT(...)                                            # TrainConfig::vit_config()
//   optimizer = torch.optim.AdamW(param_groups, lr, betas, weight_decay=wd)
//   scheduler = warmup + cosine over total_steps                # nn::optim::LinearWarmupCosine
//   for epoch in range(epochs):
//       model.train()
//       for images, labels in train_loader:
//           logits = model(images)
//           loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
//           optimizer.zero_grad()
//           loss.backward()
//           torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
//           optimizer.step()
//           scheduler.step()
//       test_acc = evaluate(model, test_loader)                 # vit/train/evaluate.h
//       torch.save({...}, "checkpoint.pt")                      # vit/train/checkpoint.h
//
//   xg::vit::train::Trainer trainer(config);
//   xg::vit::train::TrainResult result = trainer.fit();
//
// The time budget. With --time-budget S the run must be over (final evaluation included) within
// S seconds of wall time. Before training, the Trainer times a few steps and one evaluation
// batch on a copy of the model (the real model and the random generator are left as they were)
// and plans the number of steps the budget holds; the cosine schedule then runs over exactly
// that many steps, so the learning rate reaches its minimum when the time is up, not half-way.
// If the machine turns out slower than measured, training stops early (at the latest moment that
// still leaves room for the final evaluation) and evaluates.
//
// Stopping and resuming. Ctrl-C (SIGINT) sets a flag; the loop finishes its step, saves a
// checkpoint and returns (a second Ctrl-C kills at once; the last checkpoint is intact because
// saves are atomic). A checkpoint is also saved after each epoch and at the end. Resuming
// (TrainConfig::resume) restores the weights, AdamW's moments, the schedule, the random
// generator (dropout masks) and the data position, so with one thread the resumed run computes
// bit for bit what the uninterrupted run would have.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "nn/optim/adam.h"
#include "nn/optim/lr_scheduler.h"
#include "vit/data/data_loader.h"
#include "vit/data/fashion_mnist.h"
#include "vit/train/checkpoint.h"
#include "vit/train/evaluate.h"
#include "vit/train/train_config.h"
#include "vit/vision_transformer.h"

namespace xg::vit::train {

struct TrainResult {
    double test_accuracy = -1;    // of the final evaluation (-1 when the run was interrupted)
    int64_t steps = 0;            // optimizer steps done in total
    double elapsed_s = 0;         // wall time of the run, over all its sessions
    bool finished = false;        // the schedule ran to its end
    bool interrupted = false;     // stopped by Ctrl-C: resume to continue
    bool stopped = false;         // stopped by --stop-after: resume to continue
    bool out_of_time = false;     // stopped by the time budget before the schedule's end
    std::string checkpoint_path;  // the checkpoint saved last
};

// The settings of a run from its command line: the flags as given, or, with --resume, the
// settings saved in the checkpoint with the resumable flags (resumable_flags()) applied on top.
// Any other flag given with --resume must repeat the checkpoint's value, else an xg::Error.
TrainConfig resolve_config(const ParsedArgs& args, SrcLoc loc = SrcLoc::current());

// The checkpoint --resume refers to: the path given, or <out>/checkpoint.safetensors.
std::string resume_path(const TrainConfig& config);

class Trainer {
  public:
    // Loads the data, builds the model and the optimizer (or restores them from config.resume).
    // Progress goes to `out`; the bar redraws in place only when `out` is std::cout and that is
    // a terminal.
    explicit Trainer(TrainConfig config, std::ostream& out, SrcLoc loc = SrcLoc::current());
    explicit Trainer(TrainConfig config, SrcLoc loc = SrcLoc::current());
    ~Trainer();
    Trainer(const Trainer&) = delete;
    Trainer& operator=(const Trainer&) = delete;

    // Trains until the schedule ends, the time budget runs out, Ctrl-C or --stop-after; saves
    // checkpoints and metrics.csv in config.out; prints "test accuracy: NN.NN%" at the end of a
    // run that was not interrupted.
    TrainResult fit();

    // One optimizer step on one batch; returns the (label-smoothed) loss and the number of
    // correctly classified images. Public so tests can drive training step by step.
    struct StepResult {
        double loss = 0;
        int64_t correct = 0;
    };
    StepResult train_step(const data::Batch& batch);

    // The test accuracy now (eval mode, no graph, config.eval_batch_size images at a time). The
    // final evaluation of a --tta run also averages with the mirror images; the others do not
    // (each would cost a second pass over the test set, ~5 % of a ten-minute budget in all).
    EvalResult evaluate_test(bool final = false);
    double final_eval_extra(double eval_s) const;

    // Writes <out>/checkpoint.safetensors with the current position; returns its path.
    std::string save_checkpoint();

    // Called after every training step of fit() (tests use it to send Ctrl-C at a chosen step;
    // a learner can print or plot from it), as a callback in PyTorch Lightning.
    std::function<void(const Trainer&)> on_step;

    const TrainConfig& config() const { return config_; }
    const TrainState& state() const { return state_; }
    VisionTransformer& model() { return *model_; }
    nn::optim::AdamW& optimizer() { return *optimizer_; }
    int64_t steps_per_epoch() const { return loader_->num_batches(); }

  private:
    struct Timing {
        double step_s = 0;        // seconds per training step, on `threads` threads
        double eval_s = 0;        // seconds per evaluation of the test set
        int threads = 1;          // the thread count chosen
        int threads_other = 0;    // the thread count tried and not chosen (0: none tried)
        double step_s_other = 0;  // seconds per step on threads_other
    };
    Timing measure_speed();
    void plan_schedule();
    bool replan(double step_s, double eval_s);
    double elapsed() const;
    bool time_left_for_step(double step_s, double eval_s) const;
    void log_eval(const EvalResult& r);

    TrainConfig config_;
    std::ostream& out_;
    bool interactive_;
    std::chrono::steady_clock::time_point session_start_;
    double elapsed_before_ = 0;  // elapsed_s of the sessions before this one (resume)

    std::optional<data::FashionMNIST> train_set_, test_set_;
    std::unique_ptr<data::DataLoader> loader_;
    std::shared_ptr<VisionTransformer> model_;
    std::vector<Tensor> params_;
    std::unique_ptr<nn::optim::AdamW> optimizer_;
    std::unique_ptr<nn::optim::LinearWarmupCosine> scheduler_;
    std::optional<Checkpoint> resumed_;  // what config.resume held, until fit() restores it
    TrainState state_;
    Timing timing_;  // the speed check before training (time budget only)
    std::string out_dir_;
};

}  // namespace xg::vit::train
