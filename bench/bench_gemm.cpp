// bench_gemm: xgrad's GEMM against OpenBLAS's cblas_sgemm in one binary, plus the steps that
// lead to it (bench/gemm_steps.h), with Google Benchmark. A table at the end pairs each xgrad
// result with OpenBLAS's for the same shape and thread count:
//
//   ./build/h_bench/bench/bench_gemm                                  everything, 3 rounds
//   ./build/h_bench/bench/bench_gemm --benchmark_filter='square/512'  one shape
//   ./build/h_bench/bench/bench_gemm --rounds=5 --json=gemm.json      medians of 5, also as JSON
//
// The two libraries run in separate processes (this binary runs itself with --impl=xgrad and
// --impl=openblas), alternately, round after round, and each result is the median over rounds.
// Separate processes because their threads do not share well: OpenBLAS's idle threads wait for
// work by spinning with sched_yield, and beside them a 2-thread xgrad 128^3 GEMM took 8 ms
// instead of 0.03. Alternating rounds because the machine's load drifts.
//
// Names are group/shape/layout/threads/implementation, e.g. "vit/6400x384x128/NN/t1/openblas"
// (shapes are MxNxK). Layouts: NN = A @ B, NT = A @ B^T (B stored transposed, as x @ W^T in
// nn.Linear), TN = A^T @ B (the weight gradient g^T @ x). GFLOP/s = 2*M*N*K / time. One-thread
// runs are timed in CPU time of the calling thread, which a shared machine's other processes do
// not inflate; two-thread runs in wall-clock time (the only fair clock for a team), so on a
// loaded machine those are noisy. Compare the ratio column.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/fma_peak.h"
#include "bench/gemm_steps.h"
#include "core/kernels/gemm.h"
#include "core/parallel.h"
#include "xgrad.h"

namespace {

enum class Layout { NN, NT, TN };
const char* layout_name(Layout l) { return l == Layout::NN ? "NN" : l == Layout::NT ? "NT" : "TN"; }

// Row-major operands of C[M, N] = op(A) @ op(B), filled with values in [-1, 1).
struct Problem {
    int64_t M, N, K;
    Layout layout;
    std::vector<float> A, B, C;
    int64_t lda, ldb;  // row lengths of A and B as stored

    Problem(int64_t M, int64_t N, int64_t K, Layout layout) : M(M), N(N), K(K), layout(layout) {
        const bool ta = layout == Layout::TN, tb = layout == Layout::NT;
        lda = ta ? M : K;
        ldb = tb ? K : N;
        A = fill(static_cast<size_t>(M * K), 1);
        B = fill(static_cast<size_t>(K * N), 2);
        C.assign(static_cast<size_t>(M * N), 0.0f);
    }
    static std::vector<float> fill(size_t n, uint32_t seed) {
        std::vector<float> v(n);
        uint32_t s = seed * 2654435761u;
        for (float& x : v) {
            s = s * 1664525u + 1013904223u;
            x = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
        }
        return v;
    }
    void xgrad() {
        const bool ta = layout == Layout::TN, tb = layout == Layout::NT;
        // A transposed view is just swapped strides: element (i, k) of A^T is A[k * lda + i].
        xg::kernels::gemm<float>(M, N, K, A.data(), ta ? 1 : lda, ta ? lda : 1, B.data(), tb ? 1 : ldb, tb ? ldb : 1,
                                 C.data(), N, false);
    }
    void openblas() {
        cblas_sgemm(CblasRowMajor, layout == Layout::TN ? CblasTrans : CblasNoTrans,
                    layout == Layout::NT ? CblasTrans : CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                    static_cast<int>(K), 1.0f, A.data(), static_cast<int>(lda), B.data(), static_cast<int>(ldb), 0.0f,
                    C.data(), static_cast<int>(N));
    }
};

// Each process sets only its own library's thread count (see the top of the file).
void set_xgrad_threads(int threads) { xg::set_num_threads(threads); }
void set_openblas_threads(int threads) { openblas_set_num_threads(threads); }

void report_flops(benchmark::State& state, double flops_per_iteration) {
    state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()) * 1e-9,
                                                   benchmark::Counter::kIsRate);
}

// Microseconds; wall-clock time for a team of threads, CPU time for one thread (see the top).
void configure(benchmark::internal::Benchmark* b, int threads) {
    b->Unit(benchmark::kMicrosecond);
    if (threads > 1) b->UseRealTime();
}

std::string shape_name(int64_t M, int64_t N, int64_t K) {
    return std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
}

// One GEMM shape, on xgrad (ours) or OpenBLAS.
void register_gemm(bool ours, const std::string& group, int64_t M, int64_t N, int64_t K, Layout layout, int threads) {
    const std::string base =
        group + "/" + shape_name(M, N, K) + "/" + layout_name(layout) + "/t" + std::to_string(threads) + "/";
    const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
    {
        auto run = [=](benchmark::State& state) {
            if (ours) set_xgrad_threads(threads);
            else set_openblas_threads(threads);
            Problem p(M, N, K, layout);
            for (auto _ : state) {
                if (ours) p.xgrad();
                else p.openblas();
                benchmark::DoNotOptimize(p.C.data());
                benchmark::ClobberMemory();
            }
            report_flops(state, flops);
        };
        configure(benchmark::RegisterBenchmark((base + (ours ? "xgrad" : "openblas")).c_str(), run), threads);
    }
}

// Attention's products: `batch` independent [M, K] @ [K, N]. xgrad runs them as one xg::matmul
// of [batch, M, K] @ [batch, K, N] (which spreads the batch over the threads); OpenBLAS gets one
// cblas_sgemm per matrix, as PyTorch's bmm on the CPU does.
void register_attention(bool xgrad, int64_t batch, int64_t M, int64_t N, int64_t K, int threads) {
    const std::string base = "attention/" + std::to_string(batch) + "x" + shape_name(M, N, K) + "/NN/t" +
                             std::to_string(threads) + "/";
    const double flops = 2.0 * static_cast<double>(batch * M * N * K);
    auto ours = [=](benchmark::State& state) {
        set_xgrad_threads(threads);
        xg::NoGradGuard no_grad;
        xg::Tensor a = xg::tensor(Problem::fill(static_cast<size_t>(batch * M * K), 1), {batch, M, K});
        xg::Tensor b = xg::tensor(Problem::fill(static_cast<size_t>(batch * K * N), 2), {batch, K, N});
        for (auto _ : state) {
            xg::Tensor c = xg::matmul(a, b);
            benchmark::DoNotOptimize(c.data_ptr<float>());
        }
        report_flops(state, flops);
    };
    auto theirs = [=](benchmark::State& state) {
        set_openblas_threads(threads);
        std::vector<float> a = Problem::fill(static_cast<size_t>(batch * M * K), 1);
        std::vector<float> b = Problem::fill(static_cast<size_t>(batch * K * N), 2);
        std::vector<float> c(static_cast<size_t>(batch * M * N));
        const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
        for (auto _ : state) {
            for (int64_t i = 0; i < batch; ++i)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data() + i * M * K, k,
                            b.data() + i * K * N, n, 0.0f, c.data() + i * M * N, n);
            benchmark::DoNotOptimize(c.data());
            benchmark::ClobberMemory();
        }
        report_flops(state, flops);
    };
    if (xgrad) configure(benchmark::RegisterBenchmark((base + "xgrad").c_str(), ours), threads);
    else configure(benchmark::RegisterBenchmark((base + "openblas").c_str(), theirs), threads);
}

// The steps of bench/gemm_steps.h on one square size (row-major NN; steps 1-4 on one thread).
void register_steps(int64_t n) {
    const double flops = 2.0 * static_cast<double>(n * n * n);
    struct Step {
        const char* name;
        int threads;
        void (*run)(Problem&);
    };
    const Step steps[] = {
        {"1_naive", 1,
         [](Problem& p) {
             xg::kernels::gemm_naive<float>(p.M, p.N, p.K, p.A.data(), p.K, 1, p.B.data(), p.N, 1, p.C.data(), p.N, false);
         }},
        {"2_blocked", 1,
         [](Problem& p) { xg::bench::gemm_blocked(p.M, p.N, p.K, p.A.data(), p.K, p.B.data(), p.N, p.C.data(), p.N); }},
        {"3_register_blocked", 1,
         [](Problem& p) {
             xg::bench::gemm_register_blocked(p.M, p.N, p.K, p.A.data(), p.K, p.B.data(), p.N, p.C.data(), p.N);
         }},
        {"4_packed", 1, [](Problem& p) { p.xgrad(); }},
        {"5_threaded", 2, [](Problem& p) { p.xgrad(); }},
    };
    for (const Step& step : steps) {
        if (n > 512 && std::string(step.name) == "1_naive") continue;  // seconds per call; the trend is clear
        auto run = [=](benchmark::State& state) {
            set_xgrad_threads(step.threads);
            Problem p(n, n, n, Layout::NN);
            for (auto _ : state) {
                step.run(p);
                benchmark::DoNotOptimize(p.C.data());
                benchmark::ClobberMemory();
            }
            report_flops(state, flops);
        };
        const std::string name =
            "steps/" + shape_name(n, n, n) + "/NN/t" + std::to_string(step.threads) + "/" + step.name;
        configure(benchmark::RegisterBenchmark(name.c_str(), run), step.threads);
    }
}

// ---- the driver ----------------------------------------------------------------------------------

void register_all(bool ours) {
    if (ours)
        for (int64_t n : {64, 128, 256, 512, 1024}) register_steps(n);
    for (int threads : {1, 2}) {
        for (int64_t n : {64, 128, 256, 384, 512, 768, 1024}) register_gemm(ours, "square", n, n, n, Layout::NN, threads);
        // The ViT's big products (Fashion-MNIST batch 128 x 50 tokens = 6400 rows, d 128, MLP
        // 512): qkv projection, first and second MLP layer, each in the stated NN form and in the
        // form nn.Linear really runs (x @ W^T: NT); and a weight gradient g^T @ x (TN, K = 6400).
        for (Layout layout : {Layout::NN, Layout::NT}) {
            register_gemm(ours, "vit", 6400, 384, 128, layout, threads);
            register_gemm(ours, "vit", 6400, 512, 128, layout, threads);
            register_gemm(ours, "vit", 6400, 128, 512, layout, threads);
        }
        register_gemm(ours, "vit", 128, 384, 6400, Layout::TN, threads);
        // The main job's default model (d 64, MLP 128, batch 64 x 50 tokens = 3200 rows): the
        // qkv projection, its input gradient, and its weight gradient g^T @ x (K = 3200).
        register_gemm(ours, "main", 3200, 192, 64, Layout::NT, threads);
        register_gemm(ours, "main", 3200, 64, 192, Layout::NN, threads);
        register_gemm(ours, "main", 192, 64, 3200, Layout::TN, threads);
        register_gemm(ours, "main", 128, 64, 3200, Layout::TN, threads);
        register_attention(ours, 1024, 50, 50, 16, threads);
    }
}

// argv without the arguments that start with `prefix`; the value of the last one in `value`.
std::vector<std::string> take(const std::vector<std::string>& args, const std::string& prefix, std::string& value) {
    std::vector<std::string> rest;
    for (const std::string& a : args) {
        if (a.rfind(prefix, 0) == 0) value = a.substr(prefix.size());
        else rest.push_back(a);
    }
    return rest;
}

std::string quoted(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// GFLOP/s per benchmark name ("/real_time" removed) from one child's Google Benchmark JSON.
std::map<std::string, double> read_results(const std::string& path) {
    std::map<std::string, double> out;
    std::ifstream in(path);
    if (!in) return out;
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("benchmarks")) return out;
    for (const auto& b : j["benchmarks"]) {
        if (!b.contains("GFLOP/s") || b.value("run_type", "") != "iteration") continue;
        std::string name = b.value("run_name", "");
        const std::string suffix = "/real_time";  // UseRealTime() appends it
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            name.resize(name.size() - suffix.size());
        out[name] = b["GFLOP/s"].get<double>();
    }
    return out;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// The parent: rounds of (xgrad child, OpenBLAS child), then the tables.
int drive(const std::string& self, const std::vector<std::string>& args) {
    std::string rounds_arg = "3", json_path;
    std::vector<std::string> rest = take(take(args, "--rounds=", rounds_arg), "--json=", json_path);
    const int rounds = std::max(1, std::atoi(rounds_arg.c_str()));
    std::string passthrough;
    for (const std::string& a : rest) passthrough += " " + quoted(a);
    const double peak = xg::bench::fma_peak_gflops();
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    std::printf("bench_gemm: %d rounds, load average %.1f at the start\n", rounds, load[0]);

    std::map<std::string, std::vector<double>> samples;
    const std::string out = "/tmp/bench_gemm_" + std::to_string(getpid()) + ".json";
    for (int r = 0; r < rounds; ++r) {
        for (const char* impl : {"xgrad", "openblas"}) {
            std::printf("round %d/%d: %s\n", r + 1, rounds, impl);
            std::fflush(stdout);
            const std::string cmd = quoted(self) + " --impl=" + impl + passthrough + " --benchmark_out=" + quoted(out) +
                                    " --benchmark_out_format=json > /dev/null 2>&1";
            if (std::system(cmd.c_str()) != 0) {
                std::fprintf(stderr, "bench_gemm: the %s run failed; run it by hand to see why:\n  %s\n", impl,
                             cmd.c_str());
                return 1;
            }
            for (const auto& [name, gflops] : read_results(out)) samples[name].push_back(gflops);
            std::remove(out.c_str());
        }
    }
    getloadavg(load, 3);

    // The ratio table: xgrad's speed over OpenBLAS's (> 1: xgrad is faster).
    std::printf("\nFMA peak of one core, measured: %.1f GFLOP/s;  load average at the end %.1f\n\n", peak, load[0]);
    std::printf("| %-36s | %10s | %10s | %6s | %9s |\n", "benchmark (MxNxK)", "xgrad GF/s", "OpenBLAS", "ratio",
                "% of peak");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(38, '-').c_str(), std::string(12, '-').c_str(),
                std::string(12, '-').c_str(), std::string(8, '-').c_str(), std::string(11, '-').c_str());
    nlohmann::json json = {{"peak_gflops", peak}, {"rounds", rounds}, {"results", nlohmann::json::array()}};
    for (const auto& [name, v] : samples) {
        const std::string suffix = "/xgrad";
        if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        const std::string key = name.substr(0, name.size() - suffix.size());
        const double ours = median(v), theirs = median(samples[key + "/openblas"]);
        const int threads = key.find("/t2") != std::string::npos ? 2 : 1;
        std::printf("| %-36s | %10.1f | %10.1f | %6.2f | %8.0f%% |\n", key.c_str(), ours, theirs,
                    theirs > 0 ? ours / theirs : 0.0, 100.0 * ours / (peak * threads));
        json["results"].push_back({{"benchmark", key}, {"xgrad_gflops", ours}, {"openblas_gflops", theirs}});
    }
    // And the steps, each against step 1 (the naive loop) of the same size.
    std::printf("\n| %-44s | %10s | %9s |\n", "GEMM step", "GF/s", "vs naive");
    std::printf("|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(12, '-').c_str(), std::string(11, '-').c_str());
    for (const auto& [name, v] : samples) {
        if (name.rfind("steps/", 0) != 0) continue;
        const std::string shape = name.substr(0, name.find("/NN/"));
        const double naive = median(samples[shape + "/NN/t1/1_naive"]);
        if (naive > 0) std::printf("| %-44s | %10.2f | %8.1fx |\n", name.c_str(), median(v), median(v) / naive);
        else std::printf("| %-44s | %10.2f | %9s |\n", name.c_str(), median(v), "-");
        json["results"].push_back({{"benchmark", name}, {"xgrad_gflops", median(v)}});
    }
    if (!json_path.empty()) std::ofstream(json_path) << json.dump(2) << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string impl;
    args = take(args, "--impl=", impl);
    if (impl.empty()) return drive(argv[0], args);  // the parent

    // A child: one library's benchmarks, Google Benchmark's usual output. Google Benchmark gets
    // the arguments without --impl.
    register_all(impl == "xgrad");
    std::vector<char*> child_argv = {argv[0]};
    for (std::string& a : args) child_argv.push_back(a.data());
    int child_argc = static_cast<int>(child_argv.size());
    benchmark::Initialize(&child_argc, child_argv.data());
    if (benchmark::ReportUnrecognizedArguments(child_argc, child_argv.data())) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
