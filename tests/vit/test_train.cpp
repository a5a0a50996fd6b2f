// The Fashion-MNIST trainer (vit/train): flags and --help, the generator's saved state, a small
// training run (the loss falls, metrics.csv and the checkpoints are written), exact resume after
// a stop (bit-identical weights), Ctrl-C, checkpoints that survive a kill -9 in the middle of a
// save, and the errors of bad checkpoints and of changed settings on --resume.
//
// The runs use a tiny model on a few hundred images of the real dataset when it is installed
// (/usr/share/datasets/fashion-mnist, or $XGRAD_FASHION_MNIST), else of a synthetic one written
// in the same IDX format. No test depends on the machine's speed.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "core/safetensors.h"
#include "nn/functional.h"
#include "vit/data/data.h"
#include "vit/train/train.h"
#include "vit_test_util.h"
#include "xgrad.h"

namespace fs = std::filesystem;
namespace data = xg::vit::data;
namespace train = xg::vit::train;
namespace F = xg::nn::functional;
using namespace vit_test;
using xg::Tensor;

namespace {

// A fresh, empty folder under the system's temporary directory.
std::string temp_dir(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("xgrad_test_train_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir.string();
}

// n images of 28 x 28 whose class is drawn as a bright vertical bar at column 2 * label + 4,
// over noise: learnable in a few steps, in the IDX format of the real files.
void write_synthetic_split(const fs::path& dir, const std::string& prefix, int64_t n, uint32_t seed) {
    std::mt19937 gen(seed);
    data::IdxArray images{{n, 28, 28}, std::vector<uint8_t>(static_cast<size_t>(n) * 784)};
    data::IdxArray labels{{n}, std::vector<uint8_t>(static_cast<size_t>(n))};
    for (int64_t i = 0; i < n; ++i) {
        const auto label = static_cast<uint8_t>(gen() % 10);
        labels.data[static_cast<size_t>(i)] = label;
        for (int64_t y = 0; y < 28; ++y)
            for (int64_t x = 0; x < 28; ++x) {
                const bool bar = x == 2 * label + 4 || x == 2 * label + 5;
                images.data[static_cast<size_t>(i * 784 + y * 28 + x)] =
                    static_cast<uint8_t>(bar ? 200 + gen() % 56 : gen() % 60);
            }
    }
    // read_idx_gz reads uncompressed files as well, whatever their name says
    auto write = [&](const std::string& name, const data::IdxArray& a) {
        std::vector<uint8_t> bytes = data::serialize_idx(a);
        std::ofstream(dir / name, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    };
    write(prefix + "-images-idx3-ubyte.gz", images);
    write(prefix + "-labels-idx1-ubyte.gz", labels);
}

// The dataset folder the runs use: the real Fashion-MNIST if installed, else a synthetic one.
const std::string& dataset_dir() {
    static const std::string dir = [] {
        const std::string real = data::default_fashion_mnist_dir();
        if (fs::exists(fs::path(real) / "train-images-idx3-ubyte.gz") &&
            fs::exists(fs::path(real) / "t10k-images-idx3-ubyte.gz"))
            return real;
        MESSAGE("Fashion-MNIST is not installed: the training tests use a synthetic dataset");
        const std::string synthetic = temp_dir("synthetic_data");
        write_synthetic_split(synthetic, "train", 1024, 1);
        write_synthetic_split(synthetic, "t10k", 256, 2);
        return synthetic;
    }();
    return dir;
}

// A model small enough to train in seconds in a Debug build: 4 x 4 = 16 patches of 7 x 7 pixels,
// dim 16, one layer of 2 heads. Dropout and augmentation are on, so that resume must restore the
// generator and the data position to be exact.
train::TrainConfig tiny_config(const std::string& out) {
    train::TrainConfig c;
    c.data_dir = dataset_dir();
    c.train_subset = 256;
    c.test_subset = 200;
    c.augment = true;
    c.crop_padding = 2;
    c.patch_size = 7;
    c.patch_embedding = "linear";
    c.patch_overlap = 0;
    c.tta = false;
    c.dim = 16;
    c.depth = 1;
    c.heads = 2;
    c.mlp_dim = 32;
    c.dropout = 0.1;
    c.emb_dropout = 0.1;
    c.epochs = 2;
    c.batch_size = 32;  // 8 steps per epoch
    c.lr = 3e-3;
    c.warmup_steps = 3;
    c.time_budget = 0;  // the schedule spans the epochs: no timing involved
    c.eval_batch_size = 100;
    c.log_every = 4;
    c.threads = 1;  // exact resume is promised for one thread (and the tests run side by side)
    c.out = out;
    return c;
}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream is(text);
    for (std::string line; std::getline(is, line);) lines.push_back(line);
    return lines;
}

// Splits a CSV line into its cells (empty cells kept).
std::vector<std::string> cells(const std::string& line) {
    std::vector<std::string> out;
    std::string cell;
    std::istringstream is(line);
    while (std::getline(is, cell, ',')) out.push_back(cell);
    if (!line.empty() && line.back() == ',') out.push_back("");
    return out;
}

// Exact equality of two tensors' values (bit for bit for floats that are not NaN).
bool identical(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
    return a.to_vector<double>() == b.to_vector<double>();
}

}  // namespace

// ---- flags -------------------------------------------------------------------------------------

TEST_CASE("train: --help lists every flag with its default") {
    const std::string help = train::train_help();
    for (const char* flag : {"--data-dir DIR",
                             "--epochs N",
                             "--batch-size B",
                             "--lr LR",
                             "--weight-decay W",
                             "--warmup-steps N",
                             "--label-smoothing EPS",
                             "--clip-grad NORM",
                             "--dim D",
                             "--depth L",
                             "--heads H",
                             "--mlp-dim M",
                             "--patch-size P",
                             "--dropout P",
                             "--pool cls|mean",
                             "--patch-embedding linear|conv",
                             "--norm pre|post",
                             "--augment",
                             "--seed S",
                             "--threads N",
                             "--time-budget SECONDS",
                             "--eval-every N",
                             "--train-subset N",
                             "--out DIR",
                             "--resume [PATH]",
                             "--log-every N",
                             "--help"})
        CHECK_MESSAGE(contains(help, flag), "--help does not list " << flag);
    const train::TrainConfig defaults;
    CHECK(contains(help, "--lr LR"));
    CHECK(contains(help, "[default: " + defaults.to_metadata().at("lr") + "]"));
    CHECK(contains(help, "[default: " + defaults.to_metadata().at("time-budget") + "]"));
    // every settable flag has a row with a default
    for (const auto& [flag, value] : defaults.to_metadata()) CHECK_MESSAGE(contains(help, "--" + flag), flag);
}

TEST_CASE("train: parse_train_args reads values, switches, = forms and --resume with or without a path") {
    train::ParsedArgs a = train::parse_train_args(std::vector<std::string>{
        "--lr", "2e-3", "--depth=6", "--augment", "--pool", "cls", "--norm=post", "--seed", "7", "--resume"});
    CHECK(a.config.lr == 2e-3);
    CHECK(a.config.depth == 6);
    CHECK(a.config.augment);
    CHECK(a.config.pool == "cls");
    CHECK(a.config.norm == "post");
    CHECK(a.config.seed == 7);
    REQUIRE(a.config.resume.has_value());
    CHECK(a.config.resume->empty());
    CHECK(a.given.count("lr") == 1);
    CHECK(a.given.count("dim") == 0);
    CHECK_FALSE(a.help);

    train::ParsedArgs b =
        train::parse_train_args(std::vector<std::string>{"--resume", "x/ck.safetensors", "--augment=false", "-h"});
    CHECK(*b.config.resume == "x/ck.safetensors");
    CHECK_FALSE(b.config.augment);
    CHECK(b.help);
    CHECK(train::resume_path(b.config) == "x/ck.safetensors");
    CHECK(train::resume_path(train::TrainConfig{}) == "runs/fashion_mnist/checkpoint.safetensors");

    auto parse_error = [](std::vector<std::string> args) { return error_of([&] { train::parse_train_args(args); }); };
    CHECK(contains(parse_error({"--learning-rate", "1"}), "unknown flag --learning-rate (see --help"));
    CHECK(contains(parse_error({"--lr", "fast"}), "--lr: expected a number, got \"fast\""));
    CHECK(contains(parse_error({"--epochs", "2.5"}), "--epochs: expected an integer, got \"2.5\""));
    CHECK(contains(parse_error({"--pool", "max"}), "--pool: expected one of cls mean, got \"max\""));
    CHECK(contains(parse_error({"--dim"}), "--dim: missing value D"));
    CHECK(contains(parse_error({"lr"}), "unexpected argument \"lr\""));

    // Settings are validated before anything runs: the message names the flag.
    train::TrainConfig c;
    c.heads = 5;
    CHECK(contains(error_of([&] { c.validate(); }), "model_dim 64 is not divisible by num_heads 5"));
    c = train::TrainConfig{};
    c.lr = 0;
    CHECK(contains(error_of([&] { c.validate(); }), "--lr: must be positive"));
    c = train::TrainConfig{};
    c.warmup_steps = 2.5;
    CHECK(contains(error_of([&] { c.validate(); }), "--warmup-steps: a step count (>= 1) must be whole"));
    CHECK(train::parse_train_args(std::vector<std::string>{"--augment", "--crop-padding", "0"}).config.crop_padding == 0);
    c = train::TrainConfig{};
    c.crop_padding = -1;
    CHECK(contains(error_of([&] { c.validate(); }), "--crop-padding: must be in [0, 28], got -1"));

    train::ParsedArgs o = train::parse_train_args(
        std::vector<std::string>{"--patch-embedding", "conv", "--patch-overlap", "1", "--tta=false"});
    CHECK(o.config.patch_overlap == 1);
    CHECK(o.config.vit_config().patch_kernel() == 6);  // 4 + 2 * 1
    CHECK_FALSE(o.config.tta);
    CHECK(train::parse_train_args(std::vector<std::string>{"--tta"}).config.tta);
    c = train::TrainConfig{};
    c.patch_embedding = "linear";
    c.patch_overlap = 1;
    CHECK(contains(error_of([&] { c.validate(); }), "patch_overlap 1 needs patch_embedding \"conv\""));
}

TEST_CASE("train: settings round-trip through checkpoint metadata exactly") {
    train::TrainConfig c;
    c.lr = 0.1 + 0.2;  // not a short decimal: must survive as text bit for bit
    c.pool = "cls";
    c.augment = true;
    c.seed = 123456789012345ULL;
    train::TrainConfig d;
    d.apply_metadata(c.to_metadata());
    CHECK(d.lr == c.lr);
    CHECK(d.pool == "cls");
    CHECK(d.augment);
    CHECK(d.seed == c.seed);
    CHECK(d.to_metadata() == c.to_metadata());

    // Applying some settings leaves the others as they are (a resume applies --threads, --out, ...).
    train::TrainConfig e;
    e.patch_embedding = "conv";
    e.patch_overlap = 3;
    e.tta = true;
    e.apply_metadata({{"threads", "1"}, {"out", "elsewhere"}});
    CHECK(e.patch_overlap == 3);
    CHECK(e.tta);
    CHECK(e.threads == 1);
}

TEST_CASE("train: a model file written before --patch-overlap and --tta existed loads with both off") {
    const std::string dir = temp_dir("old_file");
    train::TrainConfig c = tiny_config(dir);  // linear patch embedding, no overlap, no --tta
    xg::manual_seed(0);
    xg::vit::VisionTransformer model(c.vit_config());
    const std::string path = dir + "/model.safetensors";
    train::save_model(path, model, c);
    xg::SafetensorsFile f = xg::load_safetensors(path);
    REQUIRE(f.metadata.erase("config.patch-overlap") == 1);
    REQUIRE(f.metadata.erase("config.tta") == 1);
    xg::save_safetensors(path, f.tensors, f.metadata);
    train::TrainedModel m = train::load_trained_model(path);  // the new defaults (conv, overlap 2) would not fit
    CHECK(m.config.patch_overlap == 0);
    CHECK_FALSE(m.config.tta);
    CHECK(m.config.patch_embedding == "linear");
}

// ---- the generator's state -----------------------------------------------------------------------

TEST_CASE("train: get_rng_state / set_rng_state make the draws repeat") {
    xg::manual_seed(3);
    xg::randn({5});  // 5 scalar normals: leaves one cached, which the state must carry too
    Tensor state = xg::get_rng_state();
    CHECK(state.dtype() == xg::kInt64);
    CHECK(state.dim() == 1);
    Tensor a = xg::randn({7}), b = xg::rand({40}), c = xg::bernoulli({33}, 0.5), d = xg::randperm(20);
    xg::manual_seed(99);  // anything in between
    xg::randn({100});
    xg::set_rng_state(state);
    CHECK(identical(xg::randn({7}), a));
    CHECK(identical(xg::rand({40}), b));
    CHECK(identical(xg::bernoulli({33}, 0.5), c));
    CHECK(identical(xg::randperm(20), d));
    // The state is a copy: drawing does not change a saved one.
    CHECK(identical(state, state.clone()));

    // A state from a file is checked before it is used.
    CHECK(contains(error_of([] { xg::set_rng_state(xg::zeros({10}, xg::dtype(xg::kInt64))); }),
                   "set_rng_state: expects " + std::to_string(state.numel()) + " values"));
    CHECK(contains(error_of([] { xg::set_rng_state(xg::zeros({3})); }), "expects a 1-D int64 tensor"));
    Tensor bad = state.clone();
    bad.data_ptr<int64_t>()[0] = -5;
    CHECK(contains(error_of([&] { xg::set_rng_state(bad); }), "value -5 at index 0 is not a 32-bit generator word"));
    bad = state.clone();
    bad.data_ptr<int64_t>()[state.numel() - 2] = 7;
    CHECK(contains(error_of([&] { xg::set_rng_state(bad); }), "the cached-normal flag"));
}

// ---- training ------------------------------------------------------------------------------------

TEST_CASE("train: a small run lowers the loss and writes metrics.csv, the checkpoint and the model") {
    const std::string out = temp_dir("smoke");
    train::TrainConfig c = tiny_config(out);
    c.train_subset = 512;
    c.epochs = 4;  // 16 steps per epoch, 64 steps
    c.dropout = c.emb_dropout = 0;
    c.augment = false;
    c.label_smoothing = 0;
    c.dim = 32;
    c.mlp_dim = 64;
    c.lr = 1e-2;
    c.patch_embedding = "conv";  // overlapping 9 x 9 kernels at stride 7
    c.patch_overlap = 1;
    c.tta = true;  // evaluations also average with the mirror images
    std::ostringstream log;
    train::Trainer trainer(c, log);
    CHECK(trainer.steps_per_epoch() == 16);
    train::TrainResult r = trainer.fit();
    CHECK(r.finished);
    CHECK_FALSE(r.interrupted);
    CHECK(r.steps == 64);

    // The log ends with the accuracy line, on its own line.
    const std::vector<std::string> lines = lines_of(log.str());
    REQUIRE(lines.size() > 3);
    MESSAGE("the smoke run ends:\n"
            << lines[lines.size() - 4] << "\n" << lines[lines.size() - 2] << "\n" << lines[lines.size() - 1]);
    CHECK(lines.back().rfind("test accuracy: ", 0) == 0);
    CHECK(lines.back().back() == '%');
    CHECK(contains(lines[lines.size() - 2], "averages each test image's prediction with its mirror image's (--tta)"));
    CHECK(contains(lines[lines.size() - 4], "averaged with the mirror images (--tta): "));

    // metrics.csv: the header, a row every 4 steps, an evaluation row after each epoch.
    const std::vector<std::string> csv = lines_of(read_text(out + "/metrics.csv"));
    REQUIRE(csv.size() > 2);
    CHECK(csv[0] == "step,epoch,loss,lr,train_acc,test_acc,test_acc_tta,images_per_s,elapsed_s");
    std::vector<double> losses;
    int eval_rows = 0, tta_rows = 0;
    for (size_t i = 1; i < csv.size(); ++i) {
        std::vector<std::string> row = cells(csv[i]);
        REQUIRE(row.size() == 9);
        if (!row[2].empty()) losses.push_back(std::stod(row[2]));
        if (!row[5].empty()) ++eval_rows;
        if (!row[6].empty()) ++tta_rows;
        if (!row[6].empty()) CHECK(i + 1 == csv.size());  // --tta: the final evaluation's row only
    }
    REQUIRE(losses.size() >= 2);
    const double first_loss = losses.front(), last_loss = losses.back();
    MESSAGE("training loss: first window " << first_loss << ", last window " << last_loss);
    CHECK(eval_rows == 4);    // epochs 1-3 end + the final evaluation
    CHECK(tta_rows == 1);
    CHECK(first_loss > 1.5);  // about ln 10 = 2.30 at the start
    CHECK(last_loss < 1.3);   // learned something in 64 steps (about 1.0 on the real data)
    CHECK(last_loss < 0.6 * first_loss);
    CHECK(r.test_accuracy > 0.55);  // 10 classes: chance is 0.1 (about 0.7 on the real data)

    // The checkpoint and the model file load back, and hold the trained weights.
    train::Checkpoint ck = train::load_checkpoint(out + "/checkpoint.safetensors");
    CHECK(ck.state.step == 64);
    CHECK(ck.state.finished);
    CHECK(ck.state.test_accuracy == r.test_accuracy);
    CHECK(ck.config.dim == 32);
    train::TrainedModel m = train::load_trained_model(out + "/model.safetensors");
    CHECK(m.config.to_metadata() == ck.config.to_metadata());
    CHECK_FALSE(m.model->is_training());
    auto loaded = m.model->state_dict();
    auto trained = trainer.model().state_dict();
    REQUIRE(loaded.size() == trained.size());
    for (size_t i = 0; i < loaded.size(); ++i) {
        CHECK(loaded[i].first == trained[i].first);
        CHECK_MESSAGE(identical(loaded[i].second, trained[i].second), loaded[i].first);
    }
}

TEST_CASE("train: --threads 0 re-checks the thread count on real steps, and the weights do not change") {
    // 64 steps: the trainer runs steps 40-59 on the other thread count (one, when the machine has
    // more cores) and keeps the faster; the run must end with the weights of a one-thread run.
    auto config = [](const std::string& out, int64_t threads) {
        train::TrainConfig c = tiny_config(out);
        c.train_subset = 512;
        c.test_subset = 100;
        c.batch_size = 16;
        c.epochs = 2;  // 32 steps per epoch
        c.dim = 64;    // kernels large enough to be split between threads ([16*17, 64] x [64, 192])
        c.mlp_dim = 128;
        c.heads = 4;
        c.threads = threads;
        return c;
    };
    const int cores = xg::get_num_threads();
    std::ostringstream log_auto, log_one;
    train::Trainer automatic(config(temp_dir("threads_auto"), 0), log_auto);
    train::TrainResult ra = automatic.fit();
    train::Trainer one(config(temp_dir("threads_one"), 1), log_one);
    train::TrainResult rb = one.fit();
    xg::set_num_threads(cores);
    REQUIRE(ra.steps == 64);
    REQUIRE(rb.steps == 64);
    const std::string what = contains(log_auto.str(), "threads: ") ? "switched" : "kept its thread count";
    MESSAGE(cores << " threads available; the automatic run " << what);
    auto a = automatic.model().state_dict(), b = one.model().state_dict();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK_MESSAGE(identical(a[i].second, b[i].second), a[i].first);
    CHECK(ra.test_accuracy == rb.test_accuracy);
}

// ---- resume -----------------------------------------------------------------------------------------

TEST_CASE("train: a run stopped and resumed twice ends bit-identical to the same run straight through") {
    // 2 epochs of 8 steps, with dropout and augmentation: the weights after step 16 depend on every
    // dropout mask and every augmented batch, so the resumed run must restore the generator and the
    // data position exactly, besides the weights, AdamW's moments and the schedule.
    const std::string dir_a = temp_dir("straight"), dir_b = temp_dir("resumed");
    std::ostringstream log_a;
    train::Trainer straight(tiny_config(dir_a), log_a);
    train::TrainResult ra = straight.fit();
    REQUIRE(ra.finished);
    REQUIRE(ra.steps == 16);

    // Session 1: steps 1-5 (stopped in the middle of epoch 1).
    train::TrainConfig b = tiny_config(dir_b);
    b.stop_after = 5;
    {
        std::ostringstream log;
        train::Trainer t(b, log);
        train::TrainResult r = t.fit();
        CHECK(r.stopped);
        CHECK(r.steps == 5);
        CHECK(contains(log.str(), "--stop-after: stopped at step 5 of 16"));
    }
    // Session 2, from the command line as a person would: steps 6-11 (across the end of epoch 1).
    const std::string ck = dir_b + "/checkpoint.safetensors";
    {
        train::TrainConfig rc = train::resolve_config(
            train::parse_train_args(std::vector<std::string>{"--resume", ck, "--stop-after", "6"}));
        CHECK(rc.dim == 16);
        CHECK(rc.augment);
        CHECK(rc.stop_after == 6);
        CHECK(rc.out == dir_b);
        std::ostringstream log;
        train::Trainer t(rc, log);
        train::TrainResult r = t.fit();
        CHECK(r.stopped);
        CHECK(r.steps == 11);
        CHECK(contains(log.str(), "resumed from " + ck + " at step 5 of 16 (epoch 1, batch 5)"));
        CHECK(contains(log.str(), "epoch end: step 8"));
    }
    // Session 3: to the end (--stop-after is not inherited from the session that set it).
    std::ostringstream log;
    train::Trainer resumed(train::resolve_config(train::parse_train_args(std::vector<std::string>{"--resume", ck})),
                           log);
    train::TrainResult rb = resumed.fit();
    CHECK(rb.finished);
    CHECK(rb.steps == 16);

    // The weights, bit for bit.
    auto wa = straight.model().state_dict(), wb = resumed.model().state_dict();
    REQUIRE(wa.size() == wb.size());
    int differing = 0;
    for (size_t i = 0; i < wa.size(); ++i)
        if (!identical(wa[i].second, wb[i].second)) {
            ++differing;
            MESSAGE(wa[i].first << " differs: max |diff| " << max_abs_diff(wa[i].second, wb[i].second));
        }
    CHECK(differing == 0);
    // AdamW's state (moments, step counts, lrs) too.
    auto oa = straight.optimizer().state_dict(), ob = resumed.optimizer().state_dict();
    REQUIRE(oa.size() == ob.size());
    for (const auto& [key, t] : oa) {
        REQUIRE(ob.count(key) == 1);
        CHECK_MESSAGE(identical(t, ob.at(key)), key);
    }
    CHECK(ra.test_accuracy == rb.test_accuracy);
    // The continued metrics.csv: one header, steps in increasing order.
    const std::vector<std::string> csv = lines_of(read_text(dir_b + "/metrics.csv"));
    REQUIRE(csv.size() > 3);
    CHECK(csv[0] == train::MetricsCsv::kHeader);
    int64_t previous = -1;
    for (size_t i = 1; i < csv.size(); ++i) {
        const int64_t step = std::stoll(cells(csv[i])[0]);
        CHECK(step >= previous);
        previous = step;
    }
    CHECK(previous == 16);
}

TEST_CASE("train: --resume keeps the checkpoint's settings; changing the model or the recipe is an error") {
    const std::string dir = temp_dir("resume_flags");
    train::TrainConfig c = tiny_config(dir);
    c.stop_after = 2;
    c.patch_embedding = "conv";  // settings other than the defaults must come back from the checkpoint
    c.patch_overlap = 1;
    c.tta = true;
    {
        std::ostringstream log;
        train::Trainer(c, log).fit();
    }
    const std::string ck = dir + "/checkpoint.safetensors";
    auto resolve = [](std::vector<std::string> args) { return train::resolve_config(train::parse_train_args(args)); };
    CHECK(contains(error_of([&] {
                       resolve({"--resume", ck, "--dim", "32"});
                   }),
                   "--dim 32 differs from the checkpoint's 16: a resumed run keeps the settings it started with"));
    CHECK(contains(error_of([&] {
                       resolve({"--resume", ck, "--lr", "0.1"});
                   }),
                   "--lr 0.1 differs from the checkpoint's 0.003"));
    // Repeating a setting is fine; the resumable ones change.
    const std::string other = temp_dir("resume_flags_out");
    train::TrainConfig r =
        resolve({"--resume", ck, "--dim", "16", "--log-every", "1", "--out", other, "--time-budget", "30"});
    CHECK(r.dim == 16);
    CHECK(r.log_every == 1);
    CHECK(r.out == other);
    CHECK(r.time_budget == 30);
    CHECK(*r.resume == ck);
    CHECK(r.patch_overlap == 1);
    CHECK(r.tta);
    // The trainer rebuilds the checkpoint's model (9 x 9 kernels) and goes on.
    r.stop_after = 1;
    r.time_budget = 0;
    std::ostringstream log;
    train::TrainResult more = train::Trainer(r, log).fit();
    CHECK(more.steps == 3);
    // --resume alone: <out>/checkpoint.safetensors
    CHECK(*resolve({"--resume", "--out", dir}).resume == ck);
    CHECK(contains(error_of([&] {
                       resolve({"--resume", dir + "/nothing.safetensors"});
                   }),
                   "--resume: no checkpoint at " + dir + "/nothing.safetensors"));
}

// ---- Ctrl-C -----------------------------------------------------------------------------------------

TEST_CASE("train: Ctrl-C (SIGINT) ends the step in progress, saves a checkpoint and returns") {
    const std::string out = temp_dir("sigint");
    std::ostringstream log;
    train::Trainer t(tiny_config(out), log);
    t.on_step = [](const train::Trainer& tr) {
        if (tr.state().step == 3) std::raise(SIGINT);  // as if the user pressed Ctrl-C during step 3
    };
    struct sigaction before {};
    sigaction(SIGINT, nullptr, &before);
    train::TrainResult r = t.fit();
    CHECK(r.interrupted);
    CHECK(r.steps == 3);
    CHECK(contains(log.str(), "interrupted (Ctrl-C): stopped at step 3 of 16"));
    CHECK(contains(log.str(), "resume with: --resume " + out + "/checkpoint.safetensors"));
    CHECK_FALSE(contains(log.str(), "test accuracy:"));
    train::Checkpoint ck = train::load_checkpoint(r.checkpoint_path);
    CHECK(ck.state.step == 3);
    CHECK(ck.state.epoch == 0);
    CHECK(ck.state.batches_consumed == 3);
    // fit() put the previous SIGINT handler back
    struct sigaction after {};
    sigaction(SIGINT, nullptr, &after);
    CHECK((after.sa_handler == before.sa_handler));
}

// ---- crash safety -----------------------------------------------------------------------------------

TEST_CASE("train: a process killed (SIGKILL) while it saves leaves the previous checkpoint loadable") {
    const std::string out = temp_dir("kill");
    const std::string path = out + "/checkpoint.safetensors";
    // A model whose checkpoint takes a few milliseconds to write, so kills land mid-write.
    train::TrainConfig c;
    c.dim = 128;
    c.depth = 4;
    c.heads = 4;
    c.mlp_dim = 256;
    xg::manual_seed(0);
    xg::vit::VisionTransformer model(c.vit_config());
    xg::nn::optim::AdamW optimizer(model.parameters());
    xg::nn::optim::LinearWarmupCosine scheduler(optimizer, 0, 10);
    // Save number k has every weight equal to k and state.step == k: a loaded file must be one
    // whole save, never a mix.
    auto save_number = [&](int64_t k) {
        for (Tensor& p : model.parameters()) p.detach().fill_(static_cast<double>(k));
        train::TrainState s;
        s.step = k;
        s.total_steps = 1 << 30;
        train::save_checkpoint(path, model, optimizer, scheduler, c, s);
    };
    save_number(0);

    std::mt19937 gen(12345);
    int64_t latest_seen = 0;
    int mid_write = 0;
    for (int round = 0; round < 8; ++round) {
        int done_pipe[2];
        REQUIRE(::pipe(done_pipe) == 0);
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            // The child saves again and again, until it is killed, and reports each completed save.
            ::close(done_pipe[0]);
            try {
                for (int64_t k = latest_seen + 1;; ++k) {
                    save_number(k);
                    const char done = 1;
                    if (::write(done_pipe[1], &done, 1) != 1) ::_exit(2);
                }
            } catch (...) {
                ::_exit(1);
            }
        }
        ::close(done_pipe[1]);
        // Let the child complete one save (however slow the machine), then kill it at a random
        // moment of the next one.
        char done = 0;
        const bool saved = ::read(done_pipe[0], &done, 1) == 1;
        CHECK_MESSAGE(saved, "round " << round << ": the child died before its first save");
        std::this_thread::sleep_for(std::chrono::microseconds(gen() % 30000));
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        ::close(done_pipe[0]);
        CHECK(WIFSIGNALED(status));
        for (const auto& entry : fs::directory_iterator(out))
            if (entry.path().filename().string().find(".tmp.") != std::string::npos) {
                ++mid_write;  // the kill interrupted a save: its temporary file is left behind
                fs::remove(entry.path());
            }

        train::Checkpoint ck = train::load_checkpoint(path);  // must not throw
        bool whole = true;
        for (const auto& [name, t] : ck.model) {
            std::vector<double> v = t.to_vector<double>();
            for (double x : v) whole = whole && x == static_cast<double>(ck.state.step);
        }
        CHECK_MESSAGE(whole, "round " << round << ": the weights of save " << ck.state.step << " are mixed");
        CHECK(ck.state.step > latest_seen);  // a newer save than the last round's
        latest_seen = ck.state.step;
    }
    MESSAGE("8 kills: " << mid_write << " landed in the middle of a save; the last whole save was number "
                        << latest_seen);
}

TEST_CASE("train: a half-written save never replaces the checkpoint; a truncated checkpoint is a clear error") {
    const std::string out = temp_dir("truncated");
    const std::string path = out + "/checkpoint.safetensors";
    train::TrainConfig c = tiny_config(out);
    xg::manual_seed(0);
    xg::vit::VisionTransformer model(c.vit_config());
    xg::nn::optim::AdamW optimizer(model.parameters());
    xg::nn::optim::LinearWarmupCosine scheduler(optimizer, 0, 10);
    train::TrainState s;
    s.step = 1;
    s.total_steps = 10;
    train::save_checkpoint(path, model, optimizer, scheduler, c, s);
    s.step = 2;
    train::save_checkpoint(out + "/next.safetensors", model, optimizer, scheduler, c, s);
    std::string next = read_text(out + "/next.safetensors");

    // What a crash in the middle of save 2 leaves: half of its bytes in the temporary file.
    std::ofstream(path + ".tmp.99999.0", std::ios::binary)
        .write(next.data(), static_cast<std::streamsize>(next.size() / 2));
    CHECK(train::load_checkpoint(path).state.step == 1);

    // What a save without the temporary file would leave: a truncated checkpoint. Detected, not read.
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(next.data(), static_cast<std::streamsize>(next.size() / 2));
    const std::string err = error_of([&] { train::load_checkpoint(path); });
    CHECK(contains(err, path));
    CHECK_FALSE(err.empty());
}

TEST_CASE("train: files that are not checkpoints, or carry bad settings, are clear errors") {
    const std::string out = temp_dir("bad_files");
    const std::string weights = out + "/weights.safetensors";
    xg::save_safetensors(weights, {{"w", xg::zeros({2})}});
    CHECK(contains(error_of([&] { train::load_checkpoint(weights); }),
                   "checkpoint " + weights + ": not a training checkpoint (metadata \"format\" is missing"));
    CHECK(contains(error_of([&] { train::load_trained_model(weights); }),
                   "neither a training checkpoint nor a trained model"));

    // A real checkpoint, then damaged metadata.
    train::TrainConfig c = tiny_config(out);
    c.stop_after = 1;
    {
        std::ostringstream log;
        train::Trainer(c, log).fit();
    }
    const std::string ck = out + "/checkpoint.safetensors";
    auto damaged = [&](const std::string& key, const std::string& value) {
        xg::SafetensorsFile f = xg::load_safetensors(ck);
        f.metadata[key] = value;
        const std::string path = out + "/damaged.safetensors";
        xg::save_safetensors(path, f.tensors, f.metadata);
        return error_of([&] { train::load_checkpoint(path); });
    };
    CHECK(contains(damaged("state.step", "abc"), "metadata \"state.step\" = \"abc\" is not an integer >= 0"));
    CHECK(contains(damaged("state.step", "999"), "inconsistent counters (step 999, total_steps 16"));
    CHECK(contains(damaged("config.dim", "-3"), "bad settings"));
    CHECK(contains(damaged("config.pool", "max"), "--pool: expected one of cls mean"));
    // A checkpoint whose tensors do not fit the model it describes.
    {
        xg::SafetensorsFile f = xg::load_safetensors(ck);
        f.metadata["config.dim"] = "32";
        f.metadata["config.mlp-dim"] = "32";
        const std::string path = out + "/wrong_shapes.safetensors";
        xg::save_safetensors(path, f.tensors, f.metadata);
        CHECK(contains(error_of([&] { train::load_trained_model(path); }), "shape"));
    }
}

// ---- pieces -------------------------------------------------------------------------------------------

TEST_CASE("train: a time budget ends the run with the final evaluation, however slow the machine") {
    const std::string out = temp_dir("budget");
    train::TrainConfig c = tiny_config(out);
    c.epochs = 1000;
    c.time_budget = 0.5;  // far less than the speed check itself takes: no step fits
    std::ostringstream log;
    train::Trainer t(c, log);
    train::TrainResult r = t.fit();
    CHECK_FALSE(r.interrupted);
    CHECK(r.test_accuracy >= 0);
    CHECK(t.state().total_steps >= 1);
    CHECK(t.state().total_steps < 1000 * t.steps_per_epoch());
    CHECK(contains(log.str(), "speed check: "));
    CHECK(contains(log.str(), "to end within the 0.5 s budget"));
    const std::vector<std::string> lines = lines_of(log.str());
    CHECK(lines.back().rfind("test accuracy: ", 0) == 0);
    CHECK(fs::exists(out + "/model.safetensors"));
}

TEST_CASE("train: the speed check of a time budget leaves the model and the generator untouched") {
    // A budget far larger than the run needs: the plan is capped by --epochs, so the schedule is the
    // one of the unbudgeted run, and so must be every weight (the speed check trains a copy of the
    // model on random images and puts the generator back).
    std::ostringstream log_a, log_b;
    train::Trainer plain(tiny_config(temp_dir("no_budget")), log_a);
    plain.fit();
    train::TrainConfig c = tiny_config(temp_dir("big_budget"));
    c.time_budget = 36000;
    train::Trainer budgeted(c, log_b);
    train::TrainResult r = budgeted.fit();
    CHECK(r.finished);
    CHECK(budgeted.state().total_steps == 16);
    CHECK(contains(log_b.str(), "plan: 16 steps (2.0 epochs) to end within the 36000 s budget"));
    auto wa = plain.model().state_dict(), wb = budgeted.model().state_dict();
    REQUIRE(wa.size() == wb.size());
    for (size_t i = 0; i < wa.size(); ++i) CHECK_MESSAGE(identical(wa[i].second, wb[i].second), wa[i].first);
}

TEST_CASE("train: metrics.csv of a resumed run keeps the rows up to the checkpoint and drops later ones") {
    const std::string out = temp_dir("metrics");
    const std::string path = out + "/metrics.csv";
    {
        train::MetricsCsv m(path);
        for (int64_t step : {10, 20, 30}) m.write({.step = step, .epoch = 0.5, .loss = 1.0, .elapsed_s = 1.0});
    }
    {
        train::MetricsCsv m(path, /*resume_step=*/20);  // the checkpoint was saved at step 20
        m.write({.step = 30, .epoch = 0.75, .loss = 0.5, .test_acc = 0.875, .elapsed_s = 2.0});
    }
    const std::vector<std::string> lines = lines_of(read_text(path));
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == train::MetricsCsv::kHeader);
    CHECK(lines[1] == "10,0.500,1.0000,,,,,,1.0");
    CHECK(lines[2] == "20,0.500,1.0000,,,,,,1.0");
    CHECK(lines[3] == "30,0.750,0.5000,,,0.8750,,,2.0");
}

TEST_CASE("train: evaluate counts per class, works at another image size and keeps the model's mode") {
    train::TrainConfig c = tiny_config(temp_dir("evaluate"));
    data::FashionMNIST test = data::FashionMNIST(dataset_dir(), false).subset(50);
    xg::manual_seed(0);
    xg::vit::VisionTransformer model(c.vit_config());
    model.train();
    train::EvalResult r = train::evaluate(model, test, 20);
    CHECK(r.count == 50);
    CHECK(model.is_training());
    int64_t counted = 0, correct = 0;
    for (size_t k = 0; k < 10; ++k) {
        counted += r.class_count[k];
        correct += r.class_correct[k];
    }
    CHECK(counted == 50);
    CHECK(r.accuracy == doctest::Approx(static_cast<double>(correct) / 50.0));
    // The same accuracy by hand, one forward pass in eval mode.
    model.eval();
    {
        xg::NoGradGuard no_grad;
        data::DataLoader loader(test, {.batch_size = 50, .shuffle = false});
        loader.start_epoch(0);
        data::Batch b;
        REQUIRE(loader.next(b));
        const double by_hand = xg::eq(model(b.images).argmax(1), b.labels).sum().item() / 50.0;
        CHECK(r.accuracy == doctest::Approx(by_hand));
    }
    // 42 x 42 images: a 6 x 6 patch grid, the 4 x 4 position table resampled on the fly.
    train::EvalResult big = train::evaluate(model, test, 25, 42);
    CHECK(big.count == 50);
    CHECK_FALSE(model.is_training());
    CHECK(contains(error_of([&] { train::evaluate(model, test, 25, 40); }), "not divisible by patch_size 7"));
}

TEST_CASE("train: evaluate with mirror images averages the two predicted distributions (--tta)") {
    train::TrainConfig c = tiny_config(temp_dir("evaluate_mirror"));
    data::FashionMNIST test = data::FashionMNIST(dataset_dir(), false).subset(40);
    xg::manual_seed(1);
    xg::vit::VisionTransformer model(c.vit_config());
    train::EvalResult plain = train::evaluate(model, test, 40);
    train::EvalResult r = train::evaluate(model, test, 15, 28, /*with_mirror=*/true);  // batches 15, 15, 10
    CHECK_FALSE(plain.mirrored);
    CHECK(r.mirrored);
    CHECK(r.accuracy == doctest::Approx(plain.accuracy));
    CHECK(r.loss == doctest::Approx(plain.loss));
    // By hand: p = (softmax(model(x)) + softmax(model(x.flip([3])))) / 2, then argmax and -log p[label].
    model.eval();
    xg::NoGradGuard no_grad;
    data::DataLoader loader(test, {.batch_size = 40, .shuffle = false});
    loader.start_epoch(0);
    data::Batch b;
    REQUIRE(loader.next(b));
    Tensor mirrored = b.images.flip({3});
    CHECK(mirrored.select(3, 0).to_vector<float>() == b.images.select(3, 27).to_vector<float>());
    Tensor p = (xg::softmax(model(b.images), 1) + xg::softmax(model(mirrored), 1)) * 0.5;
    const double accuracy = xg::eq(p.argmax(1), b.labels).sum().item() / 40.0;
    const double loss = F::nll_loss(p.log(), b.labels).item();
    CHECK(r.mirror_accuracy == doctest::Approx(accuracy));
    CHECK(r.mirror_loss == doctest::Approx(loss).epsilon(1e-5));
    MESSAGE("untrained model: plain " << r.accuracy << ", mirror-averaged " << r.mirror_accuracy);
}

TEST_CASE("train: the progress bar redraws in place on a terminal and prints plain lines otherwise") {
    train::ProgressInfo p;
    p.epoch = 2;
    p.epochs = 10;
    p.batch = 50;
    p.batches = 100;
    p.loss = 0.5;
    p.accuracy = 0.8125;
    p.images_per_s = 700;
    p.lr = 1e-3;
    p.eta_s = 125;
    {
        std::ostringstream os;
        train::ProgressBar bar(os, /*interactive=*/false, /*log_every=*/10);
        for (int64_t step = 1; step <= 20; ++step) {
            p.step = step;
            bar.update(p);
        }
        const std::vector<std::string> lines = lines_of(os.str());
        REQUIRE(lines.size() == 2);  // steps 10 and 20
        CHECK(lines[0] ==
              "epoch 2/10 [##########..........] 50/100  loss 0.5000  acc 81.25%  700 img/s  lr 1.00e-03  ETA 2:05");
        CHECK_FALSE(contains(os.str(), "\r"));
    }
    {
        std::ostringstream os;
        {
            train::ProgressBar bar(os, /*interactive=*/true, /*log_every=*/10);
            p.step = 1;
            bar.update(p);
            bar.print("evaluation");
        }
        CHECK(os.str().rfind("\repoch 2/10", 0) == 0);
        CHECK(contains(os.str(),
                       "\n"
                       "evaluation\n"));
    }
    CHECK(train::format_duration(59.6) == "1:00");
    CHECK(train::format_duration(3725) == "1:02:05");
    CHECK(train::format_duration(-1) == "?");
}
