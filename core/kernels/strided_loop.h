#pragma once
// Walking N-d strided tensors without index arithmetic at every element.
//
// for_each_row(shape, {&strides_out, &strides_a, ...}, f) calls
//     f(offsets, n, inner_strides)
// once per innermost row: `offsets[k]` is operand k's element offset at the start of the row,
// `n` the row length and `inner_strides[k]` operand k's step along it. Dims that are laid out
// back to back for every operand are merged first, so a contiguous tensor is one long row and
// the kernel's SIMD loop sees it whole. A broadcast operand has stride 0 on its broadcast dims.
#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/shape.h"

namespace xg::kernels {

template <size_t N>
struct Coalesced {
    Shape shape;
    std::array<Strides, N> strides;
};

template <size_t N>
Coalesced<N> coalesce(const Shape& shape, const std::array<const Strides*, N>& strides) {
    Coalesced<N> c;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;  // size-1 dims never move the offset
        bool merge = !c.shape.empty();
        for (size_t k = 0; k < N && merge; ++k)
            merge = c.strides[k].back() == (*strides[k])[d] * shape[d];
        if (merge) {
            c.shape.back() *= shape[d];
            for (size_t k = 0; k < N; ++k) c.strides[k].back() = (*strides[k])[d];
        } else {
            c.shape.push_back(shape[d]);
            for (size_t k = 0; k < N; ++k) c.strides[k].push_back((*strides[k])[d]);
        }
    }
    if (c.shape.empty()) {  // a 0-d tensor or all-ones shape: one element
        c.shape.push_back(1);
        for (size_t k = 0; k < N; ++k) c.strides[k].push_back(1);
    }
    return c;
}

// Calls f(offsets, n, inner_strides) for rows [begin, end) of the coalesced layout `c` (rows
// counted with the last outer dim fastest, n = the innermost dim): the starting offsets by
// division, then an odometer over the outer dims that updates them incrementally.
template <size_t N, class F>
void walk_rows(const Coalesced<N>& c, int64_t begin, int64_t end, F&& f) {
    const size_t nd = c.shape.size();
    const int64_t n = c.shape[nd - 1];
    std::array<int64_t, N> inner{};
    for (size_t k = 0; k < N; ++k) inner[k] = c.strides[k][nd - 1];

    std::vector<int64_t> index(nd - 1, 0);  // counter over the outer dims
    std::array<int64_t, N> offsets{};
    int64_t r = begin;
    for (size_t d = nd - 1; d-- > 0;) {
        index[d] = r % c.shape[d];
        r /= c.shape[d];
        for (size_t k = 0; k < N; ++k) offsets[k] += index[d] * c.strides[k][d];
    }
    for (int64_t row = begin; row < end; ++row) {
        f(offsets, n, inner);
        for (size_t d = nd - 1; d-- > 0;) {  // odometer increment of the outer index
            ++index[d];
            for (size_t k = 0; k < N; ++k) offsets[k] += c.strides[k][d];
            if (index[d] < c.shape[d]) break;
            for (size_t k = 0; k < N; ++k) offsets[k] -= c.strides[k][d] * c.shape[d];
            index[d] = 0;
        }
    }
}

// The number of rows of a coalesced layout: the product of its outer dims.
template <size_t N>
int64_t row_count(const Coalesced<N>& c) {
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < c.shape.size(); ++d) rows *= c.shape[d];
    return rows;
}

template <size_t N, class F>
void for_each_row(const Shape& shape, const std::array<const Strides*, N>& strides, F&& f) {
    for (int64_t s : shape)
        if (s == 0) return;
    const Coalesced<N> c = coalesce<N>(shape, strides);
    walk_rows(c, 0, row_count(c), f);
}

// for_each_row for elementwise kernels (each output element a function of the inputs at the same
// index only), split over threads by parallel::parallel_for when the tensor is big enough;
// `cost` is the work per element (see parallel_for). A tensor that is one long row is cut into
// pieces of it; otherwise into groups of whole rows. Either way every element is computed by the
// same code as on one thread, so the bits do not depend on the thread count.
template <size_t N, class F>
void parallel_for_each_row(const Shape& shape, const std::array<const Strides*, N>& strides, double cost, F&& f) {
    for (int64_t s : shape)
        if (s == 0) return;
    const Coalesced<N> c = coalesce<N>(shape, strides);
    const int64_t n = c.shape.back();
    if (c.shape.size() == 1) {  // one row: pieces of it
        std::array<int64_t, N> inner{};
        for (size_t k = 0; k < N; ++k) inner[k] = c.strides[k][0];
        parallel::parallel_for(n, cost, [&](int64_t begin, int64_t end) {
            std::array<int64_t, N> offsets{};
            for (size_t k = 0; k < N; ++k) offsets[k] = begin * inner[k];
            f(offsets, end - begin, inner);
        });
        return;
    }
    parallel::parallel_for(row_count(c), cost * static_cast<double>(n),
                           [&](int64_t begin, int64_t end) { walk_rows(c, begin, end, f); });
}

}  // namespace xg::kernels
