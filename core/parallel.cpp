// xg::set_num_threads / get_num_threads, and the thread pool behind parallel::run_team.
//
// Why our own pool and not OpenMP: a team's threads must wait somewhere between two kernels.
// libgomp's threads wait by spinning for a few milliseconds (300,000 rounds) before they sleep.
// On this machine's virtual cores a spinning core slows the other one down: the Fashion-MNIST
// training step of bench_workloads (fmnist_train, 2 threads) took 730 ms with libgomp's default
// wait, 515 ms with GOMP_SPINCOUNT=10000, and main_default 129 ms (slower than one thread's
// 131 ms) against 79 ms. libgomp reads those settings from the environment once, when it is
// loaded, so a library cannot choose them for its users. This pool spins for a short, fixed time
// (kSpinMicroseconds) and then sleeps on a futex (C++20 std::atomic::wait).
//
// How a team runs (run_team_on_threads(n, body)):
//   1. the caller publishes the job (body, n) and sets the `go` number of workers 1..n-1;
//   2. the caller runs body(0, n) itself, while workers 1..n-1 run body(id, n);
//   3. each worker decrements `remaining_` when done; the caller waits for it to reach 0.
// Exceptions thrown by body on a worker are carried to the caller and rethrown there.
#include "core/parallel.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"

namespace xg {

namespace {

// 0 until first asked: then $OMP_NUM_THREADS if set (the variable every numeric library honours,
// PyTorch included), else the number of cores.
std::atomic<int> num_threads{0};

int default_threads() {
    if (const char* env = std::getenv("OMP_NUM_THREADS")) {
        const int n = std::atoi(env);
        if (n >= 1) return n;
    }
    const unsigned cores = std::thread::hardware_concurrency();
    return cores >= 1 ? static_cast<int>(cores) : 1;
}

// True on a thread while it runs a team's body (the caller and the workers alike).
thread_local bool inside_team = false;

// How long a waiting thread spins before it sleeps. Long enough to catch the next kernel of a
// training step (a few microseconds later), short enough not to slow the other core down.
constexpr auto kSpinMicroseconds = std::chrono::microseconds(50);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Waits until `value` differs from `old`: spins for kSpinMicroseconds, then sleeps.
template <class T>
T wait_for_change(const std::atomic<T>& value, T old) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpinMicroseconds;
    for (int round = 0;; ++round) {
        T now = value.load(std::memory_order_acquire);
        if (now != old) return now;
        cpu_relax();
        if ((round & 63) == 63 && std::chrono::steady_clock::now() > spin_until) break;
    }
    for (;;) {
        value.wait(old, std::memory_order_acquire);
        T now = value.load(std::memory_order_acquire);
        if (now != old) return now;
    }
}

class ThreadPool {
  public:
    ThreadPool() : owner_pid_(getpid()) {}
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // The pool lives until the process ends (never destroyed: a kernel may still run from a
    // static destructor). A child created by fork() has none of its parent's threads, so it
    // gets a pool of its own.
    static ThreadPool& instance() {
        static std::mutex mutex;
        static std::vector<ThreadPool*> pools;  // every pool ever made: still reachable, not leaked
        static std::atomic<ThreadPool*> current{nullptr};
        ThreadPool* p = current.load(std::memory_order_acquire);
        if (p != nullptr && p->owner_pid_ == getpid()) return *p;
        std::lock_guard<std::mutex> lock(mutex);
        p = current.load(std::memory_order_acquire);
        if (p == nullptr || p->owner_pid_ != getpid()) {
            p = new ThreadPool();
            pools.push_back(p);
            current.store(p, std::memory_order_release);
        }
        return *p;
    }

    void run(int n, const std::function<void(int, int)>& body) {
        std::lock_guard<std::mutex> lock(run_mutex_);  // one team at a time
        start_workers(n - 1);
        body_ = &body;
        team_ = n;
        error_ = nullptr;
        remaining_.store(n - 1, std::memory_order_relaxed);
        const uint64_t job = ++jobs_;
        for (int i = 0; i < n - 1; ++i) {  // wake workers 1 .. n-1 only
            workers_[static_cast<size_t>(i)]->go.store(job, std::memory_order_release);
            workers_[static_cast<size_t>(i)]->go.notify_one();
        }

        std::exception_ptr own_error;
        inside_team = true;
        try {
            body(0, n);
        } catch (...) {
            own_error = std::current_exception();
        }
        inside_team = false;
        // Wait for the workers even after an exception: body lives on this stack frame.
        for (int left = remaining_.load(std::memory_order_acquire); left != 0;)
            left = wait_for_change(remaining_, left);
        body_ = nullptr;
        if (own_error) std::rethrow_exception(own_error);
        if (error_) std::rethrow_exception(error_);
    }

  private:
    // A worker sleeps until `go` changes: the caller sets it to the job's number when it wants
    // this worker in the team. Workers outside a team are not woken, and never read its job.
    struct Worker {
        std::atomic<uint64_t> go{0};
    };

    void start_workers(int count) {
        while (static_cast<int>(workers_.size()) < count) {
            workers_.push_back(std::make_unique<Worker>());
            const int id = static_cast<int>(workers_.size());
            std::thread([this, id, w = workers_.back().get()] { work(id, *w); }).detach();  // lives as long as the process
        }
    }

    void work(int id, Worker& me) {
        for (uint64_t seen = 0;;) {
            seen = wait_for_change(me.go, seen);
            inside_team = true;
            try {
                (*body_)(id, team_);
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_mutex_);
                if (!error_) error_ = std::current_exception();
            }
            inside_team = false;
            if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) remaining_.notify_one();
        }
    }

    pid_t owner_pid_;
    std::mutex run_mutex_;
    std::vector<std::unique_ptr<Worker>> workers_;
    uint64_t jobs_ = 0;
    std::atomic<int> remaining_{0};
    // The job, written by run() before the workers' `go` is set (release) and read by them after
    // they see it (acquire).
    const std::function<void(int, int)>* body_ = nullptr;
    int team_ = 0;
    std::mutex error_mutex_;
    std::exception_ptr error_;
};

}  // namespace

void set_num_threads(int n, SrcLoc loc) {
    XG_CHECK(n >= 1, loc, "set_num_threads: the number of threads must be at least 1, got " << n);
    num_threads.store(n, std::memory_order_relaxed);
}

int get_num_threads() {
    int n = num_threads.load(std::memory_order_relaxed);
    if (n == 0) {
        n = default_threads();
        num_threads.store(n, std::memory_order_relaxed);
    }
    return n;
}

namespace parallel {

bool in_parallel() { return inside_team; }

int threads_for(double work) {
    // Each thread gets at least 2^20 multiply-adds (~10 us on one core): waking the team and
    // waiting for it at the end costs a few microseconds on a quiet machine, and far more on a
    // loaded one, where a worker that went to sleep must wait for a free core.
    constexpr double kMinWorkPerThread = 1 << 20;
    const int n = get_num_threads();
    if (n <= 1 || in_parallel() || work < 2 * kMinWorkPerThread) return 1;
    const int useful = static_cast<int>(work / kMinWorkPerThread);
    return useful < n ? useful : n;
}

void run_team_on_threads(int n, const std::function<void(int, int)>& body) {
    if (n <= 1 || inside_team) {
        body(0, 1);
        return;
    }
    ThreadPool::instance().run(n, body);
}

}  // namespace parallel
}  // namespace xg
