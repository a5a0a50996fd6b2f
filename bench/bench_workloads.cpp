// bench_workloads: the xgrad side of bench/compare_pytorch.py. Each workload is one step of a
// ViT (vit/VisionTransformer) on random data of the right shape; the PyTorch side runs the same
// step on the reference model of tests/fixtures/vit_fixtures.py.
//
//   toy                  the source's toy model (ViTConfig::toy(): 3x8x8, patch 4, d 8, 8 heads,
//                        6 post-norm layers, MLP 2048), batch 1, forward + backward
//   fmnist_train         ViTConfig::fashion_mnist() (1x28x28, patch 4, d 128, 6 layers, 8 heads,
//                        MLP 512, GELU, pre-norm), batch 128, forward + backward + AdamW step
//   fmnist_infer_bs1     the same model in eval mode under no_grad, batch 1, forward
//   fmnist_infer_bs256   ... batch 256
//   tiny_train           ViT-Tiny's encoder (d 192, 12 layers, 3 heads, MLP 768) on 3x32x32 with
//                        patch 4 (64 patches), 10 classes, batch 64, forward + backward + AdamW
//   main_default         the main job's default model (tutorials/07 with no flags: 1x28x28, patch 4,
//                        d 64, 4 layers, 4 heads, MLP 128, mean pooling), its batch (64), fwd + bwd + AdamW
//
// Two ways to run it:
//   bench_workloads [--threads N] [--iters N] [workload ...]     prints a small table
//   bench_workloads --serve                                       what compare_pytorch.py uses:
//       reads commands from stdin, one per line, and answers each with one JSON line:
//         run <workload> <threads> <iters>   ->  {"workload": ..., "threads": N, "seconds": [t1, ...],
//                                                 "cpu_seconds": [c1, ...]}   (wall and CPU time per step)
//         peak                               ->  {"peak_gflops": G}   (one core's FMA peak)
//         quit
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/fma_peak.h"
#include "nn/nn.h"
#include "nn/optim/optim.h"
#include "vit/train/train_config.h"
#include "vit/vit.h"
#include "xgrad.h"

namespace F = xg::nn::functional;
using xg::Tensor;
using xg::vit::ViTConfig;
using xg::vit::VisionTransformer;

namespace {

struct WorkloadSpec {
    ViTConfig config;
    int64_t batch;
    bool train;      // forward + backward (+ the optimizer step below) in train mode; else eval + no_grad
    bool optimizer;  // AdamW step after the backward
};

ViTConfig tiny_cifar() {
    ViTConfig c = ViTConfig::tiny();
    c.image_size = 32;
    c.patch_size = 4;
    c.num_classes = 10;
    return c;
}

const std::map<std::string, WorkloadSpec>& specs() {
    static const std::map<std::string, WorkloadSpec> s = {
        {"toy", {ViTConfig::toy(), 1, true, false}},
        {"fmnist_train", {ViTConfig::fashion_mnist(), 128, true, true}},
        {"fmnist_infer_bs1", {ViTConfig::fashion_mnist(), 1, false, false}},
        {"fmnist_infer_bs256", {ViTConfig::fashion_mnist(), 256, false, false}},
        {"tiny_train", {tiny_cifar(), 64, true, true}},
        {"main_default", {xg::vit::train::TrainConfig{}.vit_config(), xg::vit::train::TrainConfig{}.batch_size, true, true}},
    };
    return s;
}

// A model, its data and optimizer, built once per workload and reused by every step.
class Workload {
  public:
    explicit Workload(const WorkloadSpec& spec) : spec_(spec) {
        xg::manual_seed(0);
        model_ = std::make_shared<VisionTransformer>(spec.config);
        const auto& c = spec.config;
        images_ = xg::rand({spec.batch, c.channels, c.image_size.h, c.image_size.w});
        labels_ = xg::randint(c.num_classes, {spec.batch});
        if (spec.train) {
            model_->train();
            if (spec.optimizer) optimizer_ = std::make_unique<xg::nn::optim::AdamW>(model_->parameters(), 1e-3);
        } else {
            model_->eval();
        }
    }

    void step() {
        if (!spec_.train) {
            xg::NoGradGuard no_grad;
            Tensor logits = (*model_)(images_);
            sink_ += logits.data_ptr<float>()[0];
            return;
        }
        if (optimizer_) optimizer_->zero_grad();
        else model_->zero_grad();
        Tensor loss = F::cross_entropy((*model_)(images_), labels_);
        loss.backward();
        if (optimizer_) optimizer_->step();
        sink_ += static_cast<float>(loss.item());
    }

  private:
    WorkloadSpec spec_;
    std::shared_ptr<VisionTransformer> model_;
    std::unique_ptr<xg::nn::optim::AdamW> optimizer_;
    Tensor images_, labels_;
    float sink_ = 0;  // keeps the results observable
};

Workload& workload(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Workload>> built;
    auto it = built.find(name);
    if (it == built.end()) {
        auto spec = specs().find(name);
        if (spec == specs().end()) throw std::runtime_error("unknown workload '" + name + "'");
        it = built.emplace(name, std::make_unique<Workload>(spec->second)).first;
    }
    return *it->second;
}

// The process's CPU time (all threads).
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Wall-clock seconds per step, one entry per step (and the CPU seconds of each, if asked).
std::vector<double> time_steps(const std::string& name, int threads, int iters, std::vector<double>* cpu = nullptr) {
    xg::set_num_threads(threads);
    Workload& w = workload(name);
    std::vector<double> seconds;
    for (int i = 0; i < iters; ++i) {
        const double cpu_start = cpu_seconds();
        const auto start = std::chrono::steady_clock::now();
        w.step();
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (cpu) cpu->push_back(cpu_seconds() - cpu_start);
    }
    return seconds;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

int serve() {
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string command;
        in >> command;
        try {
            if (command == "quit") return 0;
            if (command == "peak") {
                std::printf("{\"peak_gflops\": %.3f}\n", xg::bench::fma_peak_gflops());
            } else if (command == "run") {
                std::string name;
                int threads = 1, iters = 1;
                in >> name >> threads >> iters;
                std::vector<double> cpu;
                const std::vector<double> s = time_steps(name, threads, iters, &cpu);
                std::printf("{\"workload\": \"%s\", \"threads\": %d, \"seconds\": [", name.c_str(), threads);
                for (size_t i = 0; i < s.size(); ++i) std::printf("%s%.9f", i ? ", " : "", s[i]);
                std::printf("], \"cpu_seconds\": [");
                for (size_t i = 0; i < cpu.size(); ++i) std::printf("%s%.9f", i ? ", " : "", cpu[i]);
                std::printf("]}\n");
            } else {
                std::printf("{\"error\": \"unknown command '%s'\"}\n", command.c_str());
            }
        } catch (const std::exception& e) {
            std::string what = e.what();
            std::replace(what.begin(), what.end(), '"', '\'');
            std::replace(what.begin(), what.end(), '\n', ' ');
            std::printf("{\"error\": \"%s\"}\n", what.c_str());
        }
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> names;
    int threads = xg::get_num_threads(), iters = 10;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--serve") return serve();
        if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
        else if (arg == "--iters" && i + 1 < argc) iters = std::stoi(argv[++i]);
        else if (specs().count(arg)) names.push_back(arg);
        else {
            std::fprintf(stderr, "usage: %s [--serve] [--threads N] [--iters N] [workload ...]\nworkloads:", argv[0]);
            for (const auto& [name, spec] : specs()) std::fprintf(stderr, " %s", name.c_str());
            std::fprintf(stderr, "\n");
            return 2;
        }
    }
    if (names.empty())
        for (const auto& [name, spec] : specs()) names.push_back(name);
    // cpu ms: the process's CPU time per step (all threads). On a shared machine it is what the
    // step cost, whoever else was running; the wall-clock columns include waiting for a core.
    std::printf("%-20s %7s %10s %10s %10s %12s %10s\n", "workload", "threads", "median ms", "best ms", "cpu ms",
                "sys allocs", "cached MB");
    for (const std::string& name : names) {
        time_steps(name, threads, 2);  // warm-up: build the model, fill the allocator's cache
        const xg::AllocatorStats before = xg::allocator_stats();
        const double cpu_before = cpu_seconds();
        const std::vector<double> s = time_steps(name, threads, iters);
        const double cpu = (cpu_seconds() - cpu_before) / iters;
        const xg::AllocatorStats after = xg::allocator_stats();
        // Allocations per step that the caching allocator could not serve (0 once warm).
        const double misses = static_cast<double>(after.misses - before.misses) / iters;
        std::printf("%-20s %7d %10.3f %10.3f %10.3f %12.1f %10.1f\n", name.c_str(), threads, 1e3 * median(s),
                    1e3 * *std::min_element(s.begin(), s.end()), 1e3 * cpu, misses,
                    static_cast<double>(after.cached_bytes) / 1048576.0);
    }
    return 0;
}
