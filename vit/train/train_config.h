#pragma once
// TrainConfig: every setting of a Fashion-MNIST training run, and the command line that fills it.
//
// One table of flags (train_config.cpp) serves three purposes, so they cannot drift apart:
//   parse_train_args   reads `--lr 2e-3 --depth 6 --augment ...` (or `--lr=2e-3`)
//   train_help         prints every flag, what it does and its default (`--help`)
//   to_metadata /      writes the settings into a checkpoint as strings and reads them back,
//   apply_metadata     so `--resume` continues with exactly the settings of the run it resumes
//
// PyTorch scripts do the same with argparse:
//   parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of AdamW")
//   args = parser.parse_args()
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "vit/vision_transformer.h"

namespace xg::vit::train {

struct TrainConfig {
    // ---- data
    std::string data_dir;      // "" = data::default_fashion_mnist_dir()
    int64_t train_subset = 0;  // train on the first N training images (0 = all 60000)
    int64_t test_subset = 0;   // evaluate on the first N test images (0 = all 10000)
    bool augment = true;       // the DataLoader's random crops and horizontal flips
    int64_t crop_padding = 0;  // with augment: the crops' zero padding (0 = flips only, the default)
    // ---- model (the fields of ViTConfig)
    int64_t patch_size = 4;
    int64_t dim = 64;
    int64_t depth = 4;
    int64_t heads = 4;
    int64_t mlp_dim = 128;
    double dropout = 0.0;
    double emb_dropout = 0.0;
    std::string pool = "mean";               // "cls" | "mean"
    std::string patch_embedding = "conv";    // "linear" | "conv"
    int64_t patch_overlap = 2;               // conv only: pixels each patch's kernel reaches into its neighbours
    std::string norm = "pre";                // "pre" (ViT) | "post" (the original Transformer)
    std::string activation = "gelu";         // "gelu" | "relu"
    // ---- optimization
    int64_t epochs = 25;  // at most this many epochs (the time budget may end training sooner)
    int64_t batch_size = 64;
    double lr = 2e-3;            // AdamW's peak learning rate
    double min_lr = 1e-5;        // where the cosine ends
    double weight_decay = 0.05;  // decoupled (AdamW); not applied to biases, norms, cls_token, pos_embedding
    double beta1 = 0.9;
    double beta2 = 0.999;
    double warmup_steps = 200;  // >= 1: steps of linear warmup; in (0, 1): a fraction of all steps
    double label_smoothing = 0.1;
    double clip_grad = 1.0;  // max gradient norm (0 = no clipping)
    // ---- the run
    uint64_t seed = 0;
    int64_t threads = 0;       // 0 = auto (see --help)
    double time_budget = 585;  // seconds for the whole run, final evaluation included (0 = none)
    int64_t eval_every = 0;    // also evaluate every N steps (0 = only after each epoch)
    int64_t eval_batch_size = 1000;
    bool tta = true;           // the final evaluation also averages with the mirror images (test-time augmentation)
    int64_t log_every = 50;  // a metrics.csv row (and a progress line when not a terminal) every N steps
    int64_t stop_after = 0;  // stop, as Ctrl-C does, after this run has made N steps (0 = never)
    std::string out = "runs/fashion_mnist";  // checkpoint.safetensors, model.safetensors, metrics.csv
    std::optional<std::string> resume;       // "" = <out>/checkpoint.safetensors

    // The model these settings describe (image size 28, 1 channel, 10 classes).
    ViTConfig vit_config() const;
    // Throws xg::Error naming the flag and its value when a setting is out of range.
    void validate(SrcLoc loc = SrcLoc::current()) const;

    // The settings as flag name -> value text ("lr" -> "0.003"), without --resume.
    std::map<std::string, std::string> to_metadata() const;
    // Sets every flag found in `metadata` (keys as to_metadata writes them); unknown keys are ignored.
    void apply_metadata(const std::map<std::string, std::string>& metadata, SrcLoc loc = SrcLoc::current());
};

struct ParsedArgs {
    TrainConfig config;
    bool help = false;            // --help was given: print train_help() and exit
    std::set<std::string> given;  // the flags that appeared on the command line ("lr", "resume", ...)
};

// Parses argv[1..argc). An unknown flag, a missing or malformed value is an xg::Error whose
// message names the flag and suggests --help.
ParsedArgs parse_train_args(int argc, const char* const* argv, SrcLoc loc = SrcLoc::current());
ParsedArgs parse_train_args(const std::vector<std::string>& args, SrcLoc loc = SrcLoc::current());

// The --help text: usage, then every flag with its value, its meaning and its default.
std::string train_help(const std::string& program = "07_train_fashion_mnist");

// The flags a resumed run may set again (they change how the run is watched or stored, not what it
// computes): data-dir, out, threads, log-every, eval-every, eval-batch-size, time-budget,
// stop-after, resume. Any other flag given with --resume must equal the checkpoint's value.
const std::set<std::string>& resumable_flags();

}  // namespace xg::vit::train
