#pragma once
// Checkpoints: one safetensors file that holds everything a training run needs to continue
// exactly where it stopped.
//
//   tensors                       metadata (strings)
//   model.<name>                  format          "xgrad.vit.checkpoint/1"
//     (the state dict, PyTorch's  config.<flag>   every setting of the run ("lr" -> "0.003")
//      names: model.cls_token,    state.<field>   step, epoch, batches_consumed, total_steps,
//      model.head.weight, ...)                    warmup_steps, elapsed_s, ... (TrainState)
//   optimizer.<key>               AdamW's state_dict (exp_avg, exp_avg_sq, step, param_groups.*)
//   scheduler.<key>               the LR schedule's state_dict (last_epoch, ...)
//   rng_state                     xg::get_rng_state(): the generator that draws dropout masks
//
// The data order needs no tensor: batch b of epoch e is a pure function of (seed, epoch, b)
// (vit/data/data_loader.h), so {epoch, batches_consumed} in the metadata is the data position.
//
// The PyTorch equivalent:
//   torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
//               "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
//               "epoch": epoch, "step": step, "args": vars(args)}, path)
//
// Saving goes through xg::save_safetensors, which writes a temporary file in the same folder,
// flushes it and renames it over the old checkpoint: a crash (or a kill -9) in the middle of a
// save leaves the previous checkpoint whole and loadable.
#include <cstdint>
#include <map>
#include <string>

#include "core/safetensors.h"
#include "nn/optim/lr_scheduler.h"
#include "nn/optim/optimizer.h"
#include "vit/train/train_config.h"
#include "vit/vision_transformer.h"

namespace xg::vit::train {

// Where a run stands, besides its weights and optimizer state.
struct TrainState {
    int64_t step = 0;              // optimizer steps done (over all sessions of the run)
    int64_t epoch = 0;             // the epoch in progress
    int64_t batches_consumed = 0;  // batches of that epoch already trained on
    int64_t total_steps = 0;       // the length of the LR schedule, planned when the run started
    int64_t warmup_steps = 0;      // the schedule's warmup, in steps
    double elapsed_s = 0;          // wall time of the run so far, over all its sessions
    double test_accuracy = -1;     // of the last evaluation (-1: none yet)
    bool finished = false;         // the schedule ran to its end
    // Running sums of the epoch in progress (the progress bar's loss and accuracy continue).
    double epoch_loss_sum = 0;
    int64_t epoch_correct = 0;
    int64_t epoch_seen = 0;
};

struct Checkpoint {
    TrainConfig config;
    TrainState state;
    TensorMap model;  // the model's state dict
    nn::optim::OptimizerStateDict optimizer;
    nn::optim::OptimizerStateDict scheduler;
    Tensor rng_state;
};

inline constexpr const char* kCheckpointFormat = "xgrad.vit.checkpoint/1";
inline constexpr const char* kModelFormat = "xgrad.vit.model/1";

// Writes a checkpoint atomically (see above).
void save_checkpoint(const std::string& path, const nn::Module& model, const nn::optim::Optimizer& optimizer,
                     const nn::optim::LRScheduler& scheduler, const TrainConfig& config, const TrainState& state,
                     SrcLoc loc = SrcLoc::current());

// Reads and checks a checkpoint: its format, every setting and counter (an xg::Error names the
// file and the bad entry). The tensors are checked against the model when they are loaded.
Checkpoint load_checkpoint(const std::string& path, SrcLoc loc = SrcLoc::current());

// The weights alone, for inference and for PyTorch: the state dict under its PyTorch names
// (load_file("model.safetensors") gives a dict model.load_state_dict accepts), with the
// settings in the metadata so the model can be rebuilt.
void save_model(const std::string& path, const nn::Module& model, const TrainConfig& config,
                SrcLoc loc = SrcLoc::current());

// A trained model from either kind of file (a checkpoint or a save_model file): the settings
// it was trained with and a VisionTransformer holding its weights, in eval mode.
struct TrainedModel {
    TrainConfig config;
    std::shared_ptr<VisionTransformer> model;
    TrainState state;  // a checkpoint's; zeros for a save_model file
};
TrainedModel load_trained_model(const std::string& path, SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit::train
