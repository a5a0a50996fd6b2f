// bench_gemm: xgrad's GEMM against OpenBLAS's cblas_sgemm in one binary, plus the steps that
// lead to it (bench/gemm_steps.h). Google Benchmark runs everything; at the end a table pairs
// each xgrad run with the OpenBLAS run of the same shape and thread count:
//
//   ./build/h_bench/bench/bench_gemm                                  everything
//   ./build/h_bench/bench/bench_gemm --benchmark_filter='square/512'  one shape
//   ./build/h_bench/bench/bench_gemm --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//
// Names are group/shape/layout/threads/implementation, e.g. "vit/6400x384x128/NN/t1/openblas"
// (shapes are MxNxK).
// Layouts: NN = A @ B, NT = A @ B^T (B stored transposed, as x @ W^T in nn.Linear), TN = A^T @ B
// (the weight gradient g^T @ x). GFLOP/s = 2*M*N*K / time. One-thread runs are timed in CPU
// time of the calling thread, which a shared machine's other processes do not inflate; two-thread
// runs in wall-clock time (the only fair clock for a team), so on a loaded machine those are
// noisy. Compare the ratio column (both sides measured in the same minute).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstdio>
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

void set_threads(int threads) {
    xg::set_num_threads(threads);
    openblas_set_num_threads(threads);
}

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

// One GEMM shape, xgrad and OpenBLAS, registered next to each other.
void register_pair(const std::string& group, int64_t M, int64_t N, int64_t K, Layout layout, int threads) {
    const std::string base =
        group + "/" + shape_name(M, N, K) + "/" + layout_name(layout) + "/t" + std::to_string(threads) + "/";
    const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
    for (const bool ours : {true, false}) {
        auto run = [=](benchmark::State& state) {
            set_threads(threads);
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
void register_attention(int64_t batch, int64_t M, int64_t N, int64_t K, int threads) {
    const std::string base = "attention/" + std::to_string(batch) + "x" + shape_name(M, N, K) + "/NN/t" +
                             std::to_string(threads) + "/";
    const double flops = 2.0 * static_cast<double>(batch * M * N * K);
    auto ours = [=](benchmark::State& state) {
        set_threads(threads);
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
        set_threads(threads);
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
    configure(benchmark::RegisterBenchmark((base + "xgrad").c_str(), ours), threads);
    configure(benchmark::RegisterBenchmark((base + "openblas").c_str(), theirs), threads);
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
            set_threads(step.threads);
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

// Collects every run while printing them as usual, for the table at the end.
class CollectingReporter : public benchmark::ConsoleReporter {
  public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            if (run.error_occurred) continue;
            auto it = run.counters.find("GFLOP/s");
            if (it == run.counters.end()) continue;
            std::string name = run.run_name.str();
            const std::string real_time = "/real_time";  // UseRealTime() appends it
            if (name.size() > real_time.size() && name.compare(name.size() - real_time.size(), real_time.size(), real_time) == 0)
                name.resize(name.size() - real_time.size());
            if (run.run_type == Run::RT_Aggregate) {
                if (run.aggregate_name == "median") medians[name] = it->second.value;
            } else {
                samples[name].push_back(it->second.value);
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }
    // The median over repetitions when there were several, else the one run.
    double gflops(const std::string& name) const {
        if (auto it = medians.find(name); it != medians.end()) return it->second;
        auto it = samples.find(name);
        if (it == samples.end() || it->second.empty()) return 0;
        std::vector<double> v = it->second;
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& [name, v] : samples) out.push_back(name);
        return out;
    }

  private:
    std::map<std::string, double> medians;
    std::map<std::string, std::vector<double>> samples;
};

}  // namespace

int main(int argc, char** argv) {
    for (int64_t n : {64, 128, 256, 512, 1024}) register_steps(n);
    for (int threads : {1, 2}) {
        for (int64_t n : {64, 128, 256, 384, 512, 768, 1024}) register_pair("square", n, n, n, Layout::NN, threads);
        // The ViT's big products (Fashion-MNIST batch 128 x 50 tokens = 6400 rows, d 128, MLP 512):
        // qkv projection, first and second MLP layer, each in the stated NN form and in the form
        // nn.Linear really runs (x @ W^T: NT); and a weight gradient g^T @ x (TN, K = 6400).
        for (Layout layout : {Layout::NN, Layout::NT}) {
            register_pair("vit", 6400, 384, 128, layout, threads);
            register_pair("vit", 6400, 512, 128, layout, threads);
            register_pair("vit", 6400, 128, 512, layout, threads);
        }
        register_pair("vit", 128, 384, 6400, Layout::TN, threads);
        register_attention(1024, 50, 50, 16, threads);
    }

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    const double peak = xg::bench::fma_peak_gflops();
    CollectingReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);

    // The ratio table: xgrad's speed over OpenBLAS's (> 1: xgrad is faster).
    std::printf("\nFMA peak of one core, measured: %.1f GFLOP/s\n\n", peak);
    std::printf("%-36s %12s %12s %8s %10s\n", "benchmark", "xgrad GF/s", "OpenBLAS", "ratio", "% of peak");
    for (const std::string& name : reporter.names()) {
        const std::string suffix = "/xgrad";
        if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        const std::string key = name.substr(0, name.size() - suffix.size());
        const double ours = reporter.gflops(name), theirs = reporter.gflops(key + "/openblas");
        const int threads = key.find("/t2") != std::string::npos ? 2 : 1;
        std::printf("%-36s %12.1f %12.1f %8.2f %9.0f%%\n", key.c_str(), ours, theirs, theirs > 0 ? ours / theirs : 0.0,
                    100.0 * ours / (peak * threads));
    }
    // And the steps, each against step 1 (the naive loop) of the same size.
    std::printf("\n%-36s %12s %10s\n", "GEMM step", "GF/s", "vs naive");
    for (const std::string& name : reporter.names()) {
        if (name.rfind("steps/", 0) != 0) continue;
        const std::string shape = name.substr(0, name.find("/NN/"));
        const double naive = reporter.gflops(shape + "/NN/t1/1_naive");
        if (naive > 0) std::printf("%-36s %12.2f %9.1fx\n", name.c_str(), reporter.gflops(name), reporter.gflops(name) / naive);
        else std::printf("%-36s %12.2f %10s\n", name.c_str(), reporter.gflops(name), "-");
    }
    benchmark::Shutdown();
    return 0;
}
