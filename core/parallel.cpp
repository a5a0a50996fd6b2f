// xg::set_num_threads / get_num_threads and the small helpers of core/parallel.h.
#include "core/parallel.h"

#include <atomic>

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
#ifdef _OPENMP
#pragma omp parallel num_threads(n)
    body(omp_get_thread_num(), omp_get_num_threads());
#else
    (void)n;
    body(0, 1);
#endif
}

}  // namespace parallel
}  // namespace xg
