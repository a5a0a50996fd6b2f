// The flag table of TrainConfig: one row per flag, used by the parser, by --help and by the
// checkpoint's metadata (see train_config.h).
#include "vit/train/train_config.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <sstream>
#include <system_error>

namespace xg::vit::train {

namespace {

// ---- values as text, both ways -----------------------------------------------------------------

// The shortest text that reads back as the same double ("0.003", "1e-05"), so a checkpoint's
// settings round-trip exactly.
std::string format_double(double v) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

template <class T>
bool parse_number(const std::string& text, T& out) {
    if (text.empty()) return false;
    const char* first = text.data();
    const char* last = text.data() + text.size();
    if constexpr (std::is_floating_point_v<T>) {
        if (*first == '+') ++first;  // from_chars does not accept a leading '+'
    }
    auto [end, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && end == last;
}

bool parse_bool(const std::string& text, bool& out) {
    if (text == "1" || text == "true" || text == "yes" || text == "on") {
        out = true;
        return true;
    }
    if (text == "0" || text == "false" || text == "no" || text == "off") {
        out = false;
        return true;
    }
    return false;
}

// ---- the table -----------------------------------------------------------------------------------

struct Flag {
    std::string name;        // without the leading "--"
    std::string value_name;  // "N", "LR", ... ("" for a switch such as --augment)
    std::string help;
    std::function<void(TrainConfig&, const std::string&, const SrcLoc&)> set;
    std::function<std::string(const TrainConfig&)> get;
    bool is_switch() const { return value_name.empty(); }
};

[[noreturn]] void bad_value(const std::string& flag, const std::string& text, const std::string& expected,
                            const SrcLoc& loc) {
    throw_error("--" + flag + ": expected " + expected + ", got \"" + text + "\" (see --help)", loc);
}

Flag int_flag(std::string name, std::string value_name, std::string help, int64_t TrainConfig::*member) {
    return {name, std::move(value_name), std::move(help),
            [name, member](TrainConfig& c, const std::string& text, const SrcLoc& loc) {
                if (!parse_number(text, c.*member)) bad_value(name, text, "an integer", loc);
            },
            [member](const TrainConfig& c) { return std::to_string(c.*member); }};
}

Flag double_flag(std::string name, std::string value_name, std::string help, double TrainConfig::*member) {
    return {name, std::move(value_name), std::move(help),
            [name, member](TrainConfig& c, const std::string& text, const SrcLoc& loc) {
                if (!parse_number(text, c.*member)) bad_value(name, text, "a number", loc);
            },
            [member](const TrainConfig& c) { return format_double(c.*member); }};
}

Flag string_flag(std::string name, std::string value_name, std::string help, std::string TrainConfig::*member,
                 std::vector<std::string> choices = {}) {
    return {name, std::move(value_name), std::move(help),
            [name, member, choices](TrainConfig& c, const std::string& text, const SrcLoc& loc) {
                if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) {
                    std::string expected = "one of";
                    for (const auto& ch : choices) expected += " " + ch;
                    bad_value(name, text, expected, loc);
                }
                c.*member = text;
            },
            [member](const TrainConfig& c) { return c.*member; }};
}

Flag switch_flag(std::string name, std::string help, bool TrainConfig::*member) {
    return {name, "", std::move(help),
            [name, member](TrainConfig& c, const std::string& text, const SrcLoc& loc) {
                if (!parse_bool(text, c.*member)) bad_value(name, text, "true or false", loc);
            },
            [member](const TrainConfig& c) { return std::string(c.*member ? "true" : "false"); }};
}

// Every flag, in the order --help lists them.
const std::vector<Flag>& flags() {
    static const std::vector<Flag> table = [] {
        std::vector<Flag> t;
        // data
        t.push_back(string_flag("data-dir", "DIR",
                                "folder of the four Fashion-MNIST .gz files (\"\" = $XGRAD_FASHION_MNIST if set, else "
                                "Debian's /usr/share/datasets/fashion-mnist)",
                                &TrainConfig::data_dir));
        t.push_back(int_flag("train-subset", "N", "train on the first N training images (0 = all 60000)",
                             &TrainConfig::train_subset));
        t.push_back(int_flag("test-subset", "N", "evaluate on the first N test images (0 = all 10000)",
                             &TrainConfig::test_subset));
        t.push_back(switch_flag("augment",
                                "augment the training images: random 28x28 crops of the image padded by "
                                "--crop-padding pixels, random horizontal flips",
                                &TrainConfig::augment));
        t.push_back(int_flag("crop-padding", "N",
                             "with --augment: black border added before the random 28x28 crop (0 = flips only)",
                             &TrainConfig::crop_padding));
        // model
        t.push_back(int_flag("patch-size", "P", "patches of P x P pixels (28 must divide by P: 2, 4, 7, 14)",
                             &TrainConfig::patch_size));
        t.push_back(int_flag("dim", "D", "model dimension: the length of every token's vector", &TrainConfig::dim));
        t.push_back(int_flag("depth", "L", "number of Transformer encoder layers", &TrainConfig::depth));
        t.push_back(int_flag("heads", "H", "attention heads per layer (D must divide by H)", &TrainConfig::heads));
        t.push_back(
            int_flag("mlp-dim", "M", "hidden size of each layer's feed-forward network", &TrainConfig::mlp_dim));
        t.push_back(
            double_flag("dropout", "P", "dropout probability inside every encoder layer", &TrainConfig::dropout));
        t.push_back(
            double_flag("emb-dropout", "P", "dropout probability on the token embeddings", &TrainConfig::emb_dropout));
        t.push_back(string_flag("pool", "cls|mean",
                                "classify from the CLS token's output, or from the mean of the patch tokens' outputs",
                                &TrainConfig::pool, {"cls", "mean"}));
        t.push_back(string_flag("patch-embedding", "linear|conv",
                                "patch embedding: unfold + Linear (the DNN view) or Conv2d (the CNN view)",
                                &TrainConfig::patch_embedding, {"linear", "conv"}));
        t.push_back(int_flag("patch-overlap", "O",
                             "with --patch-embedding conv: each patch's kernel also sees O pixels of its neighbours on "
                             "every side (kernel P+2O, stride P, padding O; the same 7x7 grid of tokens)",
                             &TrainConfig::patch_overlap));
        t.push_back(string_flag("norm", "pre|post",
                                "LayerNorm before each sublayer (ViT) or after (the original Transformer)",
                                &TrainConfig::norm, {"pre", "post"}));
        t.push_back(string_flag("activation", "gelu|relu", "activation of the feed-forward networks",
                                &TrainConfig::activation, {"gelu", "relu"}));
        // optimization
        t.push_back(int_flag("epochs", "N", "train for at most N epochs (the time budget may stop sooner)",
                             &TrainConfig::epochs));
        t.push_back(int_flag("batch-size", "B", "training images per step", &TrainConfig::batch_size));
        t.push_back(
            double_flag("lr", "LR", "peak learning rate of AdamW (reached after the warmup)", &TrainConfig::lr));
        t.push_back(double_flag("min-lr", "LR", "learning rate at the end of the cosine decay", &TrainConfig::min_lr));
        t.push_back(
            double_flag("weight-decay", "W",
                        "AdamW's decoupled weight decay (not applied to biases, norms, cls_token, pos_embedding)",
                        &TrainConfig::weight_decay));
        t.push_back(double_flag("beta1", "B1", "AdamW's beta1 (momentum of the gradient mean)", &TrainConfig::beta1));
        t.push_back(
            double_flag("beta2", "B2", "AdamW's beta2 (momentum of the squared gradient)", &TrainConfig::beta2));
        t.push_back(double_flag("warmup-steps", "N",
                                "linear warmup: N steps if N >= 1 (at most a fifth of all steps), or that fraction of all steps if "
                                "0 < N < 1",
                                &TrainConfig::warmup_steps));
        t.push_back(double_flag("label-smoothing", "EPS", "label smoothing of the cross-entropy loss",
                                &TrainConfig::label_smoothing));
        t.push_back(double_flag("clip-grad", "NORM", "clip the gradients' global norm to NORM (0 = no clipping)",
                                &TrainConfig::clip_grad));
        // the run
        t.push_back({"seed", "S", "seed of the weights, the data order, the augmentation and dropout",
                     [](TrainConfig& c, const std::string& text, const SrcLoc& loc) {
                         if (!parse_number(text, c.seed)) bad_value("seed", text, "a non-negative integer", loc);
                     },
                     [](const TrainConfig& c) { return std::to_string(c.seed); }});
        t.push_back(
            int_flag("threads", "N",
                     "threads of the tensor kernels (0 = auto: with a time budget the faster of 1 and all cores, "
                     "as the speed check measures; else $OMP_NUM_THREADS or all cores)",
                     &TrainConfig::threads));
        t.push_back(double_flag("time-budget", "SECONDS",
                                "wall time for the whole run, final evaluation included; the cosine schedule is "
                                "planned to end within it (0 = no budget: the schedule spans --epochs)",
                                &TrainConfig::time_budget));
        t.push_back(int_flag("eval-every", "N",
                             "also evaluate on the test set every N steps (0 = after each epoch only)",
                             &TrainConfig::eval_every));
        t.push_back(int_flag("eval-batch-size", "B", "test images per forward pass when evaluating",
                             &TrainConfig::eval_batch_size));
        t.push_back(switch_flag("tta",
                                "test-time augmentation: the final evaluation also classifies each test image's mirror "
                                "image and averages the two predicted distributions; the run reports this accuracy "
                                "(and the plain one beside it). Suits models trained with flips (--augment)",
                                &TrainConfig::tta));
        t.push_back(int_flag("log-every", "N",
                             "a metrics.csv row every N steps (and a progress line, when stdout is not a terminal)",
                             &TrainConfig::log_every));
        t.push_back(int_flag("stop-after", "N",
                             "stop after N steps of this session, saving a checkpoint as Ctrl-C does (0 = never; not "
                             "inherited by --resume)",
                             &TrainConfig::stop_after));
        t.push_back(string_flag("out", "DIR", "output folder: checkpoint.safetensors, model.safetensors, metrics.csv",
                                &TrainConfig::out));
        return t;
    }();
    return table;
}

const Flag* find_flag(const std::string& name) {
    for (const Flag& f : flags())
        if (f.name == name) return &f;
    return nullptr;
}

}  // namespace

// ---- TrainConfig ---------------------------------------------------------------------------------

ViTConfig TrainConfig::vit_config() const {
    ViTConfig c;
    c.image_size = 28;
    c.channels = 1;
    c.num_classes = 10;
    c.patch_size = patch_size;
    c.model_dim = dim;
    c.depth = depth;
    c.num_heads = heads;
    c.mlp_dim = mlp_dim;
    c.dropout = dropout;
    c.emb_dropout = emb_dropout;
    c.pool = pool;
    c.patch_embedding = patch_embedding;
    c.patch_overlap = patch_overlap;
    c.norm_first = norm == "pre";
    c.activation = activation;
    return c;
}

void TrainConfig::validate(SrcLoc loc) const {
    auto positive = [&](const char* flag, int64_t v) {
        XG_CHECK(v > 0, loc, "--" << flag << ": must be positive, got " << v);
    };
    auto non_negative = [&](const char* flag, double v) {
        XG_CHECK(v >= 0, loc, "--" << flag << ": must not be negative, got " << v);
    };
    positive("epochs", epochs);
    XG_CHECK(crop_padding >= 0 && crop_padding <= 28, loc, "--crop-padding: must be in [0, 28], got " << crop_padding);
    positive("batch-size", batch_size);
    positive("eval-batch-size", eval_batch_size);
    positive("log-every", log_every);
    for (auto [flag, v] : {std::pair{"train-subset", train_subset},
                           {"test-subset", test_subset},
                           {"threads", threads},
                           {"eval-every", eval_every},
                           {"stop-after", stop_after}})
        XG_CHECK(v >= 0, loc, "--" << flag << ": must not be negative, got " << v);
    XG_CHECK(lr > 0, loc, "--lr: must be positive, got " << lr);
    non_negative("min-lr", min_lr);
    XG_CHECK(min_lr <= lr, loc, "--min-lr " << min_lr << " is above --lr " << lr);
    non_negative("weight-decay", weight_decay);
    XG_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, loc,
             "--beta1/--beta2: must be in [0, 1), got " << beta1 << " and " << beta2);
    non_negative("warmup-steps", warmup_steps);
    XG_CHECK(warmup_steps < 1 || warmup_steps == static_cast<double>(static_cast<int64_t>(warmup_steps)), loc,
             "--warmup-steps: a step count (>= 1) must be whole, got " << warmup_steps);
    XG_CHECK(label_smoothing >= 0 && label_smoothing <= 1, loc,
             "--label-smoothing: must be in [0, 1], got " << label_smoothing);
    non_negative("clip-grad", clip_grad);
    non_negative("time-budget", time_budget);
    XG_CHECK(!out.empty(), loc, "--out: the output folder must not be empty");
    vit_config().validate(loc);  // patch size, heads, dropout, choices
}

std::map<std::string, std::string> TrainConfig::to_metadata() const {
    std::map<std::string, std::string> m;
    for (const Flag& f : flags()) m[f.name] = f.get(*this);
    return m;
}

void TrainConfig::apply_metadata(const std::map<std::string, std::string>& metadata, SrcLoc loc) {
    for (const Flag& f : flags()) {
        auto it = metadata.find(f.name);
        if (it != metadata.end()) f.set(*this, it->second, loc);
    }
}

const std::set<std::string>& resumable_flags() {
    static const std::set<std::string> names = {"data-dir",    "out",        "threads",
                                                "log-every",   "eval-every", "eval-batch-size",
                                                "time-budget", "stop-after", "resume"};
    return names;
}

// ---- the command line ------------------------------------------------------------------------------

ParsedArgs parse_train_args(int argc, const char* const* argv, SrcLoc loc) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    return parse_train_args(args, loc);
}

// Accepted forms: --flag VALUE, --flag=VALUE; a switch alone (--augment) or --augment=false;
// --resume alone (the run's own checkpoint), --resume PATH or --resume=PATH; --help or -h.
ParsedArgs parse_train_args(const std::vector<std::string>& args, SrcLoc loc) {
    ParsedArgs parsed;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            parsed.help = true;
            continue;
        }
        XG_CHECK(arg.rfind("--", 0) == 0 && arg.size() > 2, loc,
                 "unexpected argument \"" << arg << "\": flags start with -- (see --help)");
        std::string name = arg.substr(2);
        std::optional<std::string> value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        const bool next_is_value = i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0;
        if (name == "resume") {
            if (!value && next_is_value) value = args[++i];
            parsed.config.resume = value.value_or("");
            parsed.given.insert(name);
            continue;
        }
        const Flag* flag = find_flag(name);
        XG_CHECK(flag != nullptr, loc, "unknown flag --" << name << " (see --help for the list)");
        if (!value) {
            if (flag->is_switch()) {
                value = "true";
            } else {
                XG_CHECK(i + 1 < args.size(), loc, "--" << name << ": missing value " << flag->value_name);
                value = args[++i];
            }
        }
        flag->set(parsed.config, *value, loc);
        parsed.given.insert(name);
    }
    return parsed;
}

std::string train_help(const std::string& program) {
    std::ostringstream os;
    const TrainConfig defaults;
    os << "usage: " << program << " [flags]\n\n"
       << "Trains a Vision Transformer on Fashion-MNIST with AdamW, linear warmup + cosine decay, label smoothing\n"
       << "and gradient clipping; evaluates on the 10000 test images after every epoch; saves a checkpoint after\n"
       << "every epoch and on Ctrl-C. Ends by printing \"test accuracy: NN.NN%\".\n\n"
       << "flags (--flag VALUE or --flag=VALUE):\n";
    auto row = [&](const std::string& left, const std::string& help, const std::string& def) {
        os << "  " << left;
        if (left.size() < 30) {
            os << std::string(30 - left.size(), ' ');
        } else {
            os << "\n" << std::string(32, ' ');
        }
        os << help;
        if (!def.empty()) os << "  [default: " << def << "]";
        os << "\n";
    };
    for (const Flag& f : flags()) {
        const std::string left = "--" + f.name + (f.is_switch() ? "" : " " + f.value_name);
        std::string def = f.get(defaults);
        if (def.empty()) def = "\"\"";
        row(left, f.help, def);
    }
    row("--resume [PATH]",
        "continue the run saved in PATH (default <out>/checkpoint.safetensors) exactly where it stopped, with its "
        "settings; only --data-dir --out --threads --log-every --eval-every --eval-batch-size --time-budget "
        "--stop-after may change",
        "off");
    row("--help, -h", "print this help and exit", "");
    return os.str();
}

}  // namespace xg::vit::train
