#pragma once
// Threads. xgrad runs its heavy kernels (the GEMM, batches of small matrix products, and
// elementwise ops, softmax and copies of big tensors) on a team of threads from its own small
// pool (core/parallel.cpp says why not OpenMP); everything else runs on the calling thread.
//
//   xg::set_num_threads(1);          // like torch.set_num_threads(1)
//   int n = xg::get_num_threads();   // starts at $OMP_NUM_THREADS, else the number of cores
//
// Determinism: work is cut into tasks with fixed boundaries (bands of rows of C, groups of
// matrices of a batch), each task writes its own part of the output, and computes every element
// of it with the same operations whichever thread runs it; no kernel sums partial results in an
// order that depends on scheduling. So results are bit-identical run to run, and across thread
// counts as well, although which thread runs which task is decided at run time.
//
// This header includes only the standard library (and core/error.h).
#include <atomic>
#include <cstdint>
#include <functional>

#include "core/error.h"

namespace xg {

// Threads the kernels may use from now on; n >= 1 (throws xg::Error otherwise).
void set_num_threads(int n, SrcLoc loc = SrcLoc::current());
int get_num_threads();

namespace parallel {

// True inside a parallel region: kernels called there run on their own thread only (a GEMM
// called once per attention head, say, when the heads are already spread over the threads).
bool in_parallel();

// The team size a kernel should use for `work` multiply-adds (or comparable operations): 1
// when there is too little work for a second thread to pay for waking it (a few microseconds),
// or when called inside a parallel region; else get_num_threads().
int threads_for(double work);

// Runs body(thread_id, team_size) on a team of `n` threads (n == 1: on the caller, no team).
// Called inside a team, body runs on the caller alone: body(0, 1).
// xgrad's kernels give each thread its own block of the output and never make threads wait for
// each other inside a team: on a loaded machine a thread waiting at a barrier can lose a whole
// time slice to someone else's process.
template <class Body>
void run_team(int n, Body&& body);

// Runs task(i) for every i in [0, count) on a team of `threads`: each thread takes the next task
// nobody has taken yet, until none is left. On a loaded machine one thread may start late (its
// core was busy); the others then do its share instead of waiting for it. Tasks must write
// disjoint outputs, each computed the same way whoever runs it (see "Determinism" above).
template <class Task>
void for_each_task(int threads, int64_t count, Task&& task);

// Runs body(begin, end) over disjoint pieces covering [0, count), on a team when there is enough
// work: `cost` is the work of one item in the units of threads_for, multiply-adds of the GEMM
// (an elementwise add counts 8 per element, a unary op or fused backward 16, a copy 4).
// For elementwise kernels: every item must be computed the same way whichever piece it falls
// in. Piece boundaries are multiples of 64 items, so a SIMD loop over a piece takes its scalar
// tail only where the one-thread loop does (at `count`), and the bits do not depend on the
// number of threads.
template <class Body>
void parallel_for(int64_t count, double cost, Body&& body);

// [begin, end) of thread `tid`'s share of `count` items split into `team` contiguous parts that
// differ by at most one item: the static partition every threaded loop uses.
inline void split(int64_t count, int tid, int team, int64_t& begin, int64_t& end) {
    const int64_t base = count / team, extra = count % team;
    begin = tid * base + (tid < extra ? tid : extra);
    end = begin + base + (tid < extra ? 1 : 0);
}

// Implementation detail of run_team (core/parallel.cpp, the thread pool).
void run_team_on_threads(int n, const std::function<void(int, int)>& body);

template <class Body>
void run_team(int n, Body&& body) {
    if (n <= 1) {
        body(0, 1);  // no team, no std::function: the common small case costs nothing extra
        return;
    }
    run_team_on_threads(n, body);
}

template <class Task>
void for_each_task(int threads, int64_t count, Task&& task) {
    if (threads <= 1 || count <= 1) {
        for (int64_t i = 0; i < count; ++i) task(i);
        return;
    }
    std::atomic<int64_t> next{0};
    run_team(count < threads ? static_cast<int>(count) : threads, [&](int, int) {
        for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) task(i);
    });
}

template <class Body>
void parallel_for(int64_t count, double cost, Body&& body) {
    const int threads = count > 64 ? threads_for(static_cast<double>(count) * cost) : 1;
    if (threads <= 1) {
        if (count > 0) body(int64_t{0}, count);
        return;
    }
    // A few pieces per thread, so a thread that starts late finds work taken by the others.
    const int64_t pieces = 4 * static_cast<int64_t>(threads);
    const int64_t piece = ((count + pieces - 1) / pieces + 63) / 64 * 64;
    const int64_t n_pieces = (count + piece - 1) / piece;
    for_each_task(threads, n_pieces, [&](int64_t i) {
        const int64_t begin = i * piece, end = begin + piece < count ? begin + piece : count;
        body(begin, end);
    });
}

}  // namespace parallel
}  // namespace xg
