// xg::set_num_threads / get_num_threads and the small helpers of core/parallel.h.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "core/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace xg {

namespace {

// 0 until first asked: then OpenMP's own default, which honours OMP_NUM_THREADS (and is the
// number of cores without it). Kept here rather than in OpenMP's per-thread setting so that a
// value set on one thread holds for kernels started from any thread.
std::atomic<int> num_threads{0};

// ---- a loaded machine ---------------------------------------------------------------------
//
// OpenMP's threads, once a team ends, spin for a few milliseconds waiting for the next one, and
// a team ends only when all its threads have. That is the fastest way to run on cores nobody
// else wants. On a machine whose cores are all busy with other processes (this one is shared by
// a whole team compiling), a worker is often not running when a team starts: the team then
// waits a scheduler time slice (milliseconds) for it, and the spinning steals time from
// everyone. Measured on 2 cores at load 10: a 128^3 GEMM took 15 ms on 2 threads against
// 0.04 ms on one, and batch-1 ViT inference 198 ms per step against 2.2 ms.
//
// So every team checks how late its threads started (and finished, beyond what uneven work
// explains). When they were late, kernels run on the calling thread for a while (50 ms,
// doubling up to 5 s while it keeps happening), then try the team again. The results do not
// change: every kernel gives the same bits on any number of threads. On a quiet machine no
// team is ever late and all threads are used.
using Clock = std::chrono::steady_clock;
constexpr Clock::duration kLate = std::chrono::milliseconds(1);
constexpr Clock::duration kFirstBackoff = std::chrono::milliseconds(50), kMaxBackoff = std::chrono::seconds(5);
std::atomic<Clock::rep> serial_until{0};              // Clock ticks: until then, teams of one
std::atomic<Clock::rep> backoff{kFirstBackoff.count()};
std::atomic<bool> adaptive{true};

void record_team(Clock::time_point begin, const std::vector<Clock::time_point>& start,
                 const std::vector<Clock::time_point>& end, int team) {
    Clock::time_point last_start = begin, last_end = end[0];
    for (int t = 1; t < team; ++t) {
        last_start = std::max(last_start, start[static_cast<size_t>(t)]);
        last_end = std::max(last_end, end[static_cast<size_t>(t)]);
    }
    // A thread may finish after the master by up to one task of work; half of the master's
    // time is a generous bound for that (tasks are an eighth of the work or less).
    const bool late = last_start - begin > kLate || last_end - end[0] > kLate + (end[0] - begin) / 2;
    if (late) {
        const Clock::rep wait = backoff.load(std::memory_order_relaxed);
        serial_until.store((Clock::now() + Clock::duration(wait)).time_since_epoch().count(),
                           std::memory_order_relaxed);
        backoff.store(std::min(2 * wait, kMaxBackoff.count()), std::memory_order_relaxed);
    } else {
        backoff.store(kFirstBackoff.count(), std::memory_order_relaxed);
    }
}

bool teams_paused() {
    return adaptive.load(std::memory_order_relaxed) &&
           Clock::now().time_since_epoch().count() < serial_until.load(std::memory_order_relaxed);
}

int default_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

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

bool in_parallel() {
#ifdef _OPENMP
    return omp_in_parallel() != 0;
#else
    return false;
#endif
}

void set_adaptive(bool enabled) {
    adaptive.store(enabled, std::memory_order_relaxed);
    serial_until.store(0, std::memory_order_relaxed);
    backoff.store(kFirstBackoff.count(), std::memory_order_relaxed);
}

int threads_for(double work) {
    // Each thread gets at least 2^20 multiply-adds (~10 us on one core): waking the team and
    // waiting for it at the end costs a few microseconds on a quiet machine, and far more on a
    // loaded one, where a worker that went to sleep must wait for a free core.
    constexpr double kMinWorkPerThread = 1 << 20;
    const int n = get_num_threads();
    if (n <= 1 || in_parallel() || work < 2 * kMinWorkPerThread || teams_paused()) return 1;
    const int useful = static_cast<int>(work / kMinWorkPerThread);
    return useful < n ? useful : n;
}

void run_team_on_threads(int n, const std::function<void(int, int)>& body) {
#ifdef _OPENMP
    std::vector<Clock::time_point> start(static_cast<size_t>(n)), end(static_cast<size_t>(n));
    int team = 1;
    const Clock::time_point begin = Clock::now();
#pragma omp parallel num_threads(n)
    {
        const int tid = omp_get_thread_num();
        start[static_cast<size_t>(tid)] = Clock::now();
        body(tid, omp_get_num_threads());
        end[static_cast<size_t>(tid)] = Clock::now();
        if (tid == 0) team = omp_get_num_threads();
    }
    record_team(begin, start, end, team);
#else
    (void)n;
    body(0, 1);
#endif
}

}  // namespace parallel
}  // namespace xg
