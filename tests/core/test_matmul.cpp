// matmul, mm, bmm and the GEMM kernel under them: the fast gemm against gemm_naive on every size
// 1..67 and on shapes crossing each cache block, in all stride layouts, on 1 and 2 threads (with
// the same bits on both), every torch.matmul rule against hand-computed values and an
// independent broadcast-multiply-sum reference, the error messages, node names, and a float64
// gradcheck for every case (including broadcast batches and transposed inputs).
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "core/kernels/gemm.h"
#include "xgrad.h"

using xg::Tensor;
using Inputs = std::vector<Tensor>;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// Deterministic values in [-1, 1), no RNG needed.
std::vector<double> pseudo_random(size_t n, uint64_t seed) {
    std::vector<double> v(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 11;
    for (double& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = 2.0 * static_cast<double>(s >> 11) / static_cast<double>(1ull << 53) - 1.0;
    }
    return v;
}

// A float64 leaf that requires grad, for gradcheck.
Tensor leaf(const xg::Shape& shape, uint64_t seed = 1) {
    return xg::tensor(pseudo_random(static_cast<size_t>(xg::numel_of(shape)), seed), shape,
                      xg::dtype(xg::kFloat64).requires_grad());
}

// xg::tensor(values, shape, options) with the values spelled as a braced list.
Tensor mat(const std::vector<double>& v, const xg::Shape& shape, xg::TensorOptions options = {}) {
    return xg::tensor(v, shape, options);
}
Tensor mat(std::initializer_list<double> v, xg::TensorOptions options = {}) { return xg::tensor(v, options); }

// A float32 tensor (no grad) for forward checks.
Tensor f32(const xg::Shape& shape, uint64_t seed = 1) {
    return xg::tensor(pseudo_random(static_cast<size_t>(xg::numel_of(shape)), seed), shape);
}

// matmul of >= 2-D operands without any GEMM: a[..., M, K, 1] * b[..., 1, K, N] summed over K.
Tensor reference_matmul(const Tensor& a, const Tensor& b) { return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum({-2}); }

bool close(const Tensor& x, const Tensor& y, double tol = 1e-5) { return xg::allclose(x, y, tol, tol); }

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const xg::Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// gemm vs gemm_naive for one shape, in one stride layout. A and B live in buffers with padded
// rows (leading dimension larger than the matrix) so no kernel can assume tight packing.
template <class T>
void check_gemm(int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate, uint64_t seed) {
    const int64_t lda = (trans_a ? M : K) + 3, ldb = (trans_b ? K : N) + 2, ldc = N + 1;
    auto buf = [&](int64_t rows, int64_t ld, uint64_t s) {
        std::vector<double> d = pseudo_random(static_cast<size_t>(rows * ld), s);
        return std::vector<T>(d.begin(), d.end());
    };
    std::vector<T> A = buf(trans_a ? K : M, lda, seed), B = buf(trans_b ? N : K, ldb, seed + 1);
    std::vector<T> C = buf(M, ldc, seed + 2), R = C;
    const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;  // A^T stored: element (i, k) at k*lda + i
    const int64_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;
    xg::kernels::gemm<T>(M, N, K, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, C.data(), ldc, accumulate);
    xg::kernels::gemm_naive<T>(M, N, K, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, R.data(), ldc, accumulate);
    const double tol = (std::is_same_v<T, float> ? 1e-6 : 1e-14) * static_cast<double>(K + 4);
    int64_t bad = 0;
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
            // Columns past N are padding and must be untouched.
            size_t at = static_cast<size_t>(i * ldc + j);
            if (std::abs(static_cast<double>(C[at]) - static_cast<double>(R[at])) > tol) ++bad;
        }
    INFO("M=" << M << " N=" << N << " K=" << K << " trans_a=" << trans_a << " trans_b=" << trans_b
              << " accumulate=" << accumulate);
    CHECK(bad == 0);
}

template <class T>
void check_gemm_shapes() {
    // Every size 1..67 as M against a set of N (and the other way round): below, at and above
    // the 6 x 16 register tile (6 x 8 for double) and its multiples, so every edge tile shape
    // occurs; K runs through values below, at and above a SIMD width.
    const std::vector<int64_t> others = {1, 5, 6, 7, 16, 17, 33, 67};
    const std::vector<int64_t> ks = {1, 2, 3, 7, 8, 9, 16, 19, 31, 64, 67};
    uint64_t seed = 1;
    for (int64_t s = 1; s <= 67; ++s)
        for (size_t t = 0; t < others.size(); ++t)
            for (int layout = 0; layout < 4; ++layout) {
                const int64_t K = ks[(static_cast<size_t>(s) + t + static_cast<size_t>(layout)) % ks.size()];
                check_gemm<T>(s, others[t], K, layout & 1, layout & 2, (s + layout) % 2 == 0, ++seed);
                check_gemm<T>(others[t], s, K, layout & 1, layout & 2, (s + layout) % 2 == 1, ++seed);
            }
    // Every K 1..67 on a full tile and on a ragged shape.
    for (int64_t K = 1; K <= 67; ++K)
        for (int layout = 0; layout < 4; ++layout) {
            check_gemm<T>(6, 16, K, layout & 1, layout & 2, K % 2 == 0, ++seed);
            check_gemm<T>(13, 19, K, layout & 1, layout & 2, K % 2 == 1, ++seed);
        }
}

// RAII: run a block with a given number of threads, then restore the previous setting.
struct ThreadCount {
    int saved = xg::get_num_threads();
    explicit ThreadCount(int n) { xg::set_num_threads(n); }
    ~ThreadCount() { xg::set_num_threads(saved); }
};

// Shapes large enough to be split over two threads and to cross every cache block (KC = 256,
// MC = 144 rows, NC = 4096 columns for float; 72 and 2048 for double), in every layout, on 1 and
// on 2 threads: each against gemm_naive, and the two thread counts bit-identical.
template <class T>
void check_gemm_large(const std::vector<int>& layouts) {
    struct Case {
        int64_t M, N, K;
    };
    const Case cases[] = {
        {150, 290, 270},  // many rows and columns: packed A, split by rows, two k blocks
        {151, 200, 520},  // N <= 256: A read in place, three k blocks, a ragged last row tile
        {5, 1500, 400},   // one row tile: split by columns
        {20, 4200, 30},   // past NC
    };
    uint64_t seed = 1000;
    for (const Case& c : cases)
        for (int layout : layouts) {
            const bool accumulate = (seed / 3 + static_cast<uint64_t>(layout)) % 2 == 0;
            const bool ta = layout & 1, tb = layout & 2;
            const int64_t lda = (ta ? c.M : c.K) + 3, ldb = (tb ? c.K : c.N) + 2, ldc = c.N + 1;
            auto buf = [&](int64_t rows, int64_t ld, uint64_t s) {
                std::vector<double> d = pseudo_random(static_cast<size_t>(rows * ld), s);
                return std::vector<T>(d.begin(), d.end());
            };
            std::vector<T> A = buf(ta ? c.K : c.M, lda, ++seed), B = buf(tb ? c.N : c.K, ldb, ++seed);
            const std::vector<T> C0 = buf(c.M, ldc, ++seed);
            std::vector<T> R = C0, C1 = C0, C2 = C0;
            const int64_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1, b_rs = tb ? 1 : ldb, b_cs = tb ? ldb : 1;
            xg::kernels::gemm_naive<T>(c.M, c.N, c.K, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, R.data(), ldc,
                                       accumulate);
            {
                ThreadCount one(1);
                xg::kernels::gemm<T>(c.M, c.N, c.K, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, C1.data(), ldc,
                                     accumulate);
            }
            {
                ThreadCount two(2);
                // Really split (the GEMM keeps too small a product on one thread).
                CHECK(xg::parallel::threads_for(static_cast<double>(c.M * c.N * c.K)) == 2);
                xg::kernels::gemm<T>(c.M, c.N, c.K, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, C2.data(), ldc,
                                     accumulate);
            }
            const double tol = (std::is_same_v<T, float> ? 1e-6 : 1e-14) * static_cast<double>(c.K + 4);
            int64_t bad = 0;
            for (size_t i = 0; i < R.size(); ++i)
                if (std::abs(static_cast<double>(C1[i]) - static_cast<double>(R[i])) > tol) ++bad;
            INFO("M=" << c.M << " N=" << c.N << " K=" << c.K << " trans_a=" << ta << " trans_b=" << tb
                      << " accumulate=" << accumulate);
            CHECK(bad == 0);
            CHECK(C1 == C2);  // bit for bit, whatever the thread count
        }
}

}  // namespace

// ---- the kernel ---------------------------------------------------------------------------------

TEST_CASE("matmul: gemm matches gemm_naive on odd shapes, all transposed layouts, float") { check_gemm_shapes<float>(); }

TEST_CASE("matmul: gemm matches gemm_naive on odd shapes, all transposed layouts, double") { check_gemm_shapes<double>(); }

TEST_CASE("matmul: gemm across cache blocks on 1 and 2 threads, bit-identical, float") {
    check_gemm_large<float>({0, 1, 2, 3});
}

TEST_CASE("matmul: gemm across cache blocks on 1 and 2 threads, bit-identical, double") {
    check_gemm_large<double>({0, 3});
}

TEST_CASE("matmul: batched matmul split over threads: same bits as one thread, matches the reference") {
    // Many small products (attention's shape, scaled down): the batch is spread over the threads.
    Tensor q = f32({512, 20, 16}, 5), k = f32({512, 16, 20}, 6);
    Tensor one, two;
    {
        ThreadCount t(1);
        one = xg::matmul(q, k);
    }
    {
        ThreadCount t(2);
        CHECK(xg::parallel::threads_for(512.0 * 20 * 16 * 20) == 2);
        two = xg::matmul(q, k);
        CHECK(xg::equal(two, xg::matmul(q, k)));  // and run to run
    }
    CHECK(xg::equal(one, two));
    CHECK(close(one, reference_matmul(q, k)));
    // A broadcast operand whose gradient sums over the batch (not split: one output).
    Tensor w = leaf({16, 7}, 7);
    Tensor x = leaf({512, 20, 16}, 8);
    Tensor g1, g2;
    {
        ThreadCount t(1);
        xg::matmul(x, w).sum().backward();
        g1 = w.grad().clone();
        w.set_grad(Tensor());
    }
    {
        ThreadCount t(2);
        xg::matmul(x, w).sum().backward();
        g2 = w.grad().clone();
    }
    CHECK(xg::equal(g1, g2));
}

// gemm_bias vs gemm_naive + bias, padded layouts, every transpose layout; with K past one k
// block (KC = 256: the bias must be added once, not per block) and on 1 and 2 threads (same bits).
template <class T>
void check_gemm_bias(int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, uint64_t seed) {
    const int64_t lda = (trans_a ? M : K) + 3, ldb = (trans_b ? K : N) + 2, ldc = N + 1;
    auto buf = [&](int64_t n, uint64_t s) {
        std::vector<double> d = pseudo_random(static_cast<size_t>(n), s);
        return std::vector<T>(d.begin(), d.end());
    };
    std::vector<T> A = buf((trans_a ? K : M) * lda, seed), B = buf((trans_b ? N : K) * ldb, seed + 1);
    std::vector<T> bias = buf(N, seed + 2), C = buf(M * ldc, seed + 3), R = C;
    const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
    const int64_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;
    xg::kernels::gemm_bias<T>(M, N, K, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, C.data(), ldc, bias.data());
    xg::kernels::gemm_naive<T>(M, N, K, A.data(), a_rs, a_cs, B.data(), b_rs, b_cs, R.data(), ldc, false);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) R[static_cast<size_t>(i * ldc + j)] += bias[static_cast<size_t>(j)];
    const double tol = (std::is_same_v<T, float> ? 1e-6 : 1e-14) * static_cast<double>(K + 4);
    int64_t bad = 0;
    for (size_t at = 0; at < C.size(); ++at)  // padding columns included: untouched
        if (std::abs(static_cast<double>(C[at]) - static_cast<double>(R[at])) > tol) ++bad;
    INFO("M=" << M << " N=" << N << " K=" << K << " trans_a=" << trans_a << " trans_b=" << trans_b);
    CHECK(bad == 0);
}

TEST_CASE("matmul: gemm_bias adds the bias once, on every tile shape, layout and thread count") {
    uint64_t seed = 100;
    for (int64_t M : {1, 2, 5, 6, 7, 13, 50})
        for (int64_t N : {1, 3, 8, 16, 17, 40})
            for (int64_t K : {0, 1, 9, 64, 300})
                for (int layout = 0; layout < 4; ++layout) {
                    check_gemm_bias<float>(M, N, K, layout & 1, layout & 2, ++seed);
                    check_gemm_bias<double>(M, N, K, layout & 1, layout & 2, ++seed);
                }
    // Large enough to run on two threads, in row bands and in column bands: the same bits.
    for (auto [M, N, K] : {std::array<int64_t, 3>{600, 160, 300}, std::array<int64_t, 3>{40, 700, 200}}) {
        std::vector<double> d = pseudo_random(static_cast<size_t>(M * K + K * N + N), 7);
        std::vector<float> v(d.begin(), d.end());
        std::vector<float> c1(static_cast<size_t>(M * N)), c2 = c1;
        {
            ThreadCount one(1);
            xg::kernels::gemm_bias<float>(M, N, K, v.data(), K, 1, v.data() + M * K, N, 1, c1.data(), N, v.data() + M * K + K * N);
        }
        {
            ThreadCount two(2);
            xg::kernels::gemm_bias<float>(M, N, K, v.data(), K, 1, v.data() + M * K, N, 1, c2.data(), N, v.data() + M * K + K * N);
        }
        CHECK(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("matmul: addmm is input + mat1 @ mat2, AddmmBackward0, any broadcast input") {
    Tensor m1 = leaf({5, 4}, 31), m2 = leaf({4, 3}, 32);
    for (xg::Shape in_shape : {xg::Shape{3}, xg::Shape{1, 3}, xg::Shape{5, 3}, xg::Shape{5, 1}, xg::Shape{}}) {
        CAPTURE(in_shape);
        Tensor in = leaf(in_shape, 33);
        Tensor y = xg::addmm(in, m1, m2);
        CHECK(y.grad_fn()->name() == "AddmmBackward0");
        CHECK(xg::allclose(y, in.detach() + xg::matmul(m1.detach(), m2.detach()), 1e-12, 1e-12));
        CHECK(xg::autograd::gradcheck([](const Inputs& x) { return xg::addmm(x[0], x[1], x[2]); }, {in, m1, m2}));
    }
    // mat2 a transposed weight (nn.Linear's W^T): W's gradient in W's own layout.
    Tensor w = leaf({3, 4}, 34), b = leaf({3}, 35);
    CHECK(xg::autograd::gradcheck([](const Inputs& x) { return xg::addmm(x[0], x[1], x[2].t()); }, {b, m1, w}));
    xg::addmm(b, m1, w.t()).sum().backward();
    CHECK(w.grad().is_contiguous());
    // float32 through the fused-bias kernel equals the product plus the bias to rounding.
    Tensor x32 = xg::randn({70, 33}), w32 = xg::randn({20, 33}), b32 = xg::randn({20});
    CHECK(xg::allclose(xg::addmm(b32, x32, w32.t()), xg::matmul(x32, w32.t()) + b32, 1e-5, 1e-5));
    std::string msg = error_of([&] { xg::addmm(b, m1, m1); });
    CHECK(contains(msg, "addmm: mat1 and mat2 shapes cannot be multiplied (5x4 and 5x4)"));
    CHECK(contains(msg, "test_matmul.cpp"));
    CHECK(contains(error_of([&] { xg::addmm(leaf({4}, 36), m1, m2); }), "addmm: shapes [4] and [5, 3] cannot be broadcast"));
    CHECK(contains(error_of([&] { xg::addmm(leaf({2, 5, 3}, 37), m1, m2); }), "does not broadcast to the product's shape [5, 3]"));
    CHECK(contains(error_of([&] { xg::addmm(b, m1.to(xg::kFloat32), m2); }), "one floating dtype"));
    CHECK(contains(error_of([&] { xg::addmm(b, m1.unsqueeze(0), m2); }), "must be matrices"));
}

TEST_CASE("matmul: gemm edge cases: K = 0, broadcast (stride 0) operands") {
    std::vector<float> C(6, 7.0f);
    float dummy = 0;
    xg::kernels::gemm<float>(2, 3, 0, &dummy, 0, 0, &dummy, 0, 0, C.data(), 3, true);
    CHECK(C == std::vector<float>(6, 7.0f));  // an empty sum adds nothing
    xg::kernels::gemm<float>(2, 3, 0, &dummy, 0, 0, &dummy, 0, 0, C.data(), 3, false);
    CHECK(C == std::vector<float>(6, 0.0f));
    // A is one value repeated (all strides 0), B one row repeated (row stride 0).
    float a = 2.0f;
    std::vector<float> brow = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    std::vector<float> out(4 * 20);
    xg::kernels::gemm<float>(4, 20, 5, &a, 0, 0, brow.data(), 0, 1, out.data(), 20, false);
    for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 20; ++j) CHECK(out[static_cast<size_t>(i * 20 + j)] == doctest::Approx(10.0 * (j + 1)));
}

// ---- forward rules ------------------------------------------------------------------------------

TEST_CASE("matmul: 1-D · 1-D is a dot product with a 0-d result") {
    Tensor y = xg::matmul(mat({1, 2, 3}), mat({4, 5, 6}));
    CHECK(y.dim() == 0);
    CHECK(y.item() == 32);
}

TEST_CASE("matmul: 2-D @ 2-D, hand-computed") {
    Tensor a = mat({1, 2, 3, 4}, {2, 2});
    Tensor b = mat({5, 6, 7, 8}, {2, 2});
    Tensor y = xg::matmul(a, b);
    CHECK(y.shape() == xg::Shape{2, 2});
    CHECK(values(y) == std::vector<double>{19, 22, 43, 50});
    CHECK(values(xg::mm(a, b)) == std::vector<double>{19, 22, 43, 50});
    CHECK(values(a.matmul(b)) == std::vector<double>{19, 22, 43, 50});
    // [2, 3] @ [3, 1]
    Tensor c = xg::arange(6).reshape({2, 3});
    CHECK(values(xg::matmul(c, mat({1, 10, 100}, {3, 1}))) == std::vector<double>{210, 543});
}

TEST_CASE("matmul: 1-D operands get a dim prepended or appended, then removed") {
    Tensor m = xg::arange(6).reshape({2, 3});  // [[0, 1, 2], [3, 4, 5]]
    Tensor y = xg::matmul(m, mat({1, 10, 100}));  // matrix @ vector
    CHECK(y.shape() == xg::Shape{2});
    CHECK(values(y) == std::vector<double>{210, 543});
    Tensor z = xg::matmul(mat({1, 10}), m);  // vector @ matrix
    CHECK(z.shape() == xg::Shape{3});
    CHECK(values(z) == std::vector<double>{30, 41, 52});
    // 1-D @ 3-D: the vector multiplies every matrix of the batch.
    Tensor b = xg::arange(12).reshape({2, 2, 3});
    Tensor w = xg::matmul(mat({1, 10}), b);
    CHECK(w.shape() == xg::Shape{2, 3});
    CHECK(values(w) == std::vector<double>{30, 41, 52, 96, 107, 118});
    // 3-D @ 1-D
    Tensor v = xg::matmul(b, mat({1, 10, 100}));
    CHECK(v.shape() == xg::Shape{2, 2});
    CHECK(values(v) == std::vector<double>{210, 543, 876, 1209});
}

TEST_CASE("matmul: batched with broadcast batch dims") {
    Tensor a = f32({2, 1, 3, 4}, 1);
    Tensor b = f32({5, 4, 6}, 2);
    Tensor y = xg::matmul(a, b);
    CHECK(y.shape() == xg::Shape{2, 5, 3, 6});
    CHECK(close(y, reference_matmul(a, b)));
    // A batch of one element by hand: y[1, 3] = a[1, 0] @ b[3].
    CHECK(close(y.select(0, 1).select(0, 3), xg::mm(a.select(0, 1).select(0, 0), b.select(0, 3))));
    // N-D @ 2-D (x @ W, the batch folds into the rows of one product) and 2-D @ N-D.
    Tensor x = f32({3, 5, 4}, 3), W = f32({4, 7}, 4);
    CHECK(close(xg::matmul(x, W), reference_matmul(x, W)));
    CHECK(close(xg::matmul(W.t(), x.transpose(1, 2)), reference_matmul(W.t(), x.transpose(1, 2))));
    // Explicitly expanded operands (stride 0) and bmm.
    Tensor e = f32({1, 4, 6}, 5).expand({3, 4, 6});
    CHECK(close(xg::bmm(x.narrow(1, 0, 3), e), reference_matmul(x.narrow(1, 0, 3), e)));
    CHECK(close(xg::matmul(f32({4, 1, 2, 3}, 6), f32({1, 2, 3, 2}, 7)),
                reference_matmul(f32({4, 1, 2, 3}, 6), f32({1, 2, 3, 2}, 7))));
}

TEST_CASE("matmul: transposed and non-contiguous inputs") {
    Tensor a = f32({5, 3}, 1).t();  // [3, 5], column-major
    Tensor b = f32({4, 5}, 2).t();  // [5, 4]
    CHECK(!a.is_contiguous());
    for (const auto& [x, y] : std::vector<std::pair<Tensor, Tensor>>{
             {a, b}, {a, b.contiguous()}, {a.contiguous(), b}, {a.contiguous(), b.contiguous()}})
        CHECK(close(xg::matmul(x, y), reference_matmul(a.contiguous(), b.contiguous())));
    // Batched, with the transposed last two dims (as in q @ k^T) and a strided slice.
    Tensor q = f32({2, 6, 8}, 3), k = f32({2, 6, 8}, 4);
    CHECK(close(xg::matmul(q, k.transpose(-1, -2)), reference_matmul(q, k.transpose(-1, -2))));
    Tensor every_other = f32({2, 6, 8}, 5).slice(2, 0, 8, 2);  // [2, 6, 4], column stride 2
    CHECK(close(xg::matmul(every_other, f32({4, 3}, 6)), reference_matmul(every_other, f32({4, 3}, 6))));
    // A large product with transposed operands takes every GEMM path.
    Tensor big_a = f32({70, 40}, 7), big_b = f32({50, 70}, 8);
    CHECK(close(xg::matmul(big_a.t(), big_b.t()), reference_matmul(big_a.t().contiguous(), big_b.t().contiguous()), 1e-4));
}

TEST_CASE("matmul: dtypes: promotion, float64 and int64") {
    Tensor a = mat({1, 2, 3, 4}, {2, 2});
    Tensor b = mat({5, 6, 7, 8}, {2, 2}, xg::dtype(xg::kFloat64));
    Tensor y = xg::matmul(a, b);
    CHECK(y.dtype() == xg::kFloat64);
    CHECK(values(y) == std::vector<double>{19, 22, 43, 50});
    Tensor i = xg::tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor yi = xg::matmul(i, i.t());
    CHECK(yi.dtype() == xg::kInt64);
    CHECK(values(yi) == std::vector<double>{14, 32, 32, 77});
}

TEST_CASE("matmul: empty dims") {
    Tensor y = xg::matmul(xg::ones({2, 0}), xg::ones({0, 3}));
    CHECK(y.shape() == xg::Shape{2, 3});
    CHECK(values(y) == std::vector<double>(6, 0.0));
    CHECK(xg::matmul(xg::ones({0, 4}), xg::ones({4, 3})).shape() == xg::Shape{0, 3});
    CHECK(xg::matmul(xg::ones({2, 0, 4, 5}), xg::ones({5, 3})).shape() == xg::Shape{2, 0, 4, 3});
}

// ---- errors -------------------------------------------------------------------------------------

TEST_CASE("matmul: shape errors name the op, both shapes and the caller's line") {
    std::string msg = error_of([] { xg::matmul(xg::zeros({1, 4, 48}), xg::zeros({8, 8})); });
    CHECK(contains(msg, "matmul: shapes [1, 4, 48] and [8, 8] cannot be multiplied (48 != 8)"));
    CHECK(contains(msg, "test_matmul.cpp"));

    msg = error_of([] { xg::zeros({3}).matmul(xg::zeros({4})); });
    CHECK(contains(msg, "matmul: shapes [3] and [4] cannot be multiplied (3 != 4)"));
    CHECK(contains(msg, "test_matmul.cpp"));

    msg = error_of([] { xg::matmul(xg::zeros({2, 3, 4}), xg::zeros({5, 4, 6})); });
    CHECK(contains(msg, "matmul"));
    CHECK(contains(msg, "[2, 3, 4]"));
    CHECK(contains(msg, "[5, 4, 6]"));
    CHECK(contains(msg, "do not broadcast"));
    CHECK(contains(msg, "test_matmul.cpp"));

    msg = error_of([] { xg::matmul(xg::scalar_tensor(2), xg::zeros({2})); });
    CHECK(contains(msg, "matmul: both arguments need to be at least 1-D"));
    CHECK(contains(msg, "test_matmul.cpp"));

    msg = error_of([] { xg::mm(xg::zeros({2, 3, 4}), xg::zeros({4, 5})); });
    CHECK(contains(msg, "mm: both arguments must be 2-D"));
    CHECK(contains(msg, "[2, 3, 4]"));
    CHECK(contains(msg, "test_matmul.cpp"));
    msg = error_of([] { xg::mm(xg::zeros({2, 3}), xg::zeros({4, 5})); });
    CHECK(contains(msg, "mm: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)"));

    msg = error_of([] { xg::bmm(xg::zeros({3, 4}), xg::zeros({4, 5})); });
    CHECK(contains(msg, "bmm: both arguments must be 3-D"));
    msg = error_of([] { xg::bmm(xg::zeros({2, 3, 4}), xg::zeros({3, 4, 5})); });
    CHECK(contains(msg, "bmm: shapes [2, 3, 4] and [3, 4, 5] have different batch sizes (2 != 3)"));
    CHECK(contains(msg, "test_matmul.cpp"));
}

// ---- autograd -----------------------------------------------------------------------------------

TEST_CASE("matmul: node names follow PyTorch") {
    Tensor m = leaf({2, 3}), n = leaf({3, 4}), v = leaf({3}), w = leaf({2});
    CHECK(xg::matmul(m, n).grad_fn()->name() == "MmBackward0");
    CHECK(xg::mm(m, n).grad_fn()->name() == "MmBackward0");
    CHECK(xg::matmul(m, v).grad_fn()->name() == "MvBackward0");
    CHECK(xg::matmul(v, v).grad_fn()->name() == "DotBackward0");
    CHECK(xg::matmul(w, m).grad_fn()->name() == "MmBackward0");
    CHECK(xg::bmm(leaf({2, 2, 3}), leaf({2, 3, 4})).grad_fn()->name() == "BmmBackward0");
    CHECK(xg::matmul(leaf({5, 2, 3}), n).grad_fn()->name() == "BmmBackward0");
    CHECK(contains(xg::autograd::to_dot(xg::matmul(m, n)), "MmBackward0"));
}

TEST_CASE("matmul: backward values, hand-computed") {
    // y = a @ b, L = sum(y): dL/da = ones @ b^T (row sums of b), dL/db = a^T @ ones (column sums of a).
    Tensor a = mat({1, 2, 3, 4}, {2, 2}, xg::requires_grad());
    Tensor b = mat({5, 6, 7, 8}, {2, 2}, xg::requires_grad());
    xg::matmul(a, b).sum().backward();
    CHECK(values(a.grad()) == std::vector<double>{11, 15, 11, 15});
    CHECK(values(b.grad()) == std::vector<double>{4, 4, 6, 6});
    // dot: dL/dx = y, dL/dy = x
    Tensor x = mat({1, 2, 3}, xg::requires_grad()), y = mat({4, 5, 6}, xg::requires_grad());
    xg::matmul(x, y).backward();
    CHECK(values(x.grad()) == std::vector<double>{4, 5, 6});
    CHECK(values(y.grad()) == std::vector<double>{1, 2, 3});
    // A weight shared by a batch gets the sum over the batch.
    Tensor batch = xg::ones({3, 2, 2});
    Tensor W = mat({1, 2, 3, 4}, {2, 2}, xg::requires_grad());
    xg::matmul(batch, W).sum().backward();
    CHECK(W.grad().shape() == xg::Shape{2, 2});
    CHECK(values(W.grad()) == std::vector<double>{6, 6, 6, 6});
}

TEST_CASE("matmul: only the input that requires grad gets one") {
    Tensor a = mat({1, 2, 3, 4}, {2, 2}, xg::requires_grad());
    Tensor b = mat({5, 6, 7, 8}, {2, 2});
    xg::matmul(a, b).sum().backward();
    CHECK(a.grad().defined());
    CHECK(!b.grad().defined());
}

TEST_CASE("matmul: gradcheck 2-D, matrix-vector, dot, vector-matrix") {
    auto mm_ = [](const Inputs& in) { return xg::matmul(in[0], in[1]); };
    CHECK(xg::autograd::gradcheck(mm_, {leaf({3, 4}, 1), leaf({4, 5}, 2)}));
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::mm(in[0], in[1]); }, {leaf({2, 3}, 3), leaf({3, 2}, 4)}));
    CHECK(xg::autograd::gradcheck(mm_, {leaf({3, 4}, 5), leaf({4}, 6)}));     // mv
    CHECK(xg::autograd::gradcheck(mm_, {leaf({4}, 7), leaf({4}, 8)}));        // dot
    CHECK(xg::autograd::gradcheck(mm_, {leaf({4}, 9), leaf({4, 3}, 10)}));    // vector @ matrix
    CHECK(xg::autograd::gradcheck(mm_, {leaf({17, 9}, 11), leaf({9, 19}, 12)}));  // SIMD tiles and tails
}

TEST_CASE("matmul: gradcheck 1-D @ N-D and N-D @ 1-D") {
    auto f = [](const Inputs& in) { return xg::matmul(in[0], in[1]); };
    CHECK(xg::autograd::gradcheck(f, {leaf({4}, 1), leaf({2, 4, 3}, 2)}));
    CHECK(xg::autograd::gradcheck(f, {leaf({2, 3, 4}, 3), leaf({4}, 4)}));
    CHECK(xg::autograd::gradcheck(f, {leaf({3}, 5), leaf({2, 2, 3, 2}, 6)}));
}

TEST_CASE("matmul: gradcheck batched with broadcast batch dims") {
    auto f = [](const Inputs& in) { return xg::matmul(in[0], in[1]); };
    CHECK(xg::autograd::gradcheck(f, {leaf({2, 1, 3, 4}, 1), leaf({5, 4, 6}, 2)}));
    CHECK(xg::autograd::gradcheck(f, {leaf({3, 5, 4}, 3), leaf({4, 2}, 4)}));     // x @ W: W shared
    CHECK(xg::autograd::gradcheck(f, {leaf({2, 3}, 5), leaf({4, 3, 2}, 6)}));     // W @ x: W shared
    CHECK(xg::autograd::gradcheck(f, {leaf({1, 2, 3}, 7), leaf({3, 1, 3, 2}, 8)}));
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::bmm(in[0], in[1]); },
                                  {leaf({3, 2, 4}, 9), leaf({3, 4, 2}, 10)}));
}

TEST_CASE("matmul: gradcheck transposed and expanded inputs") {
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::matmul(in[0].t(), in[1].t()); },
                                  {leaf({4, 3}, 1), leaf({5, 4}, 2)}));
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::matmul(in[0], in[1].transpose(-1, -2)); },
                                  {leaf({2, 3, 4}, 3), leaf({2, 5, 4}, 4)}));  // q @ k^T
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::matmul(in[0].transpose(1, 2), in[1]); },
                                  {leaf({2, 4, 3}, 5), leaf({4, 2}, 6)}));
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::matmul(in[0].expand({3, 2, 4}), in[1]); },
                                  {leaf({1, 2, 4}, 7), leaf({3, 4, 2}, 8)}));
    // The same input on both sides: the two gradients add up.
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::matmul(in[0], in[0].t()); }, {leaf({3, 4}, 9)}));
}

TEST_CASE("matmul: x @ W^T builds W's gradient in W's layout (contiguous .grad, same values)") {
    // nn.Linear's product: the gradient for W^T is computed as (g^T @ x) in W's own [N, K]
    // layout, so after TransposeBackward0 the leaf gets a contiguous gradient it can keep.
    for (xg::Shape x_shape : {xg::Shape{5, 4}, xg::Shape{3, 5, 4}, xg::Shape{4}}) {
        CAPTURE(x_shape);
        Tensor x = leaf(x_shape, 11), w = leaf({6, 4}, 12);
        Tensor y = xg::matmul(x, w.t());
        Tensor g = xg::randn(y.shape(), xg::dtype(xg::kFloat64));
        (y * g).sum().backward();
        REQUIRE(w.grad().defined());
        CHECK(w.grad().is_contiguous());
        CHECK(w.grad().shape() == xg::Shape{6, 4});
        // The reference: the same product through a contiguous copy of W^T.
        Tensor x2 = x.detach().requires_grad_(true);
        Tensor wt = w.detach().t().contiguous().requires_grad_(true);  // [4, 6]
        (xg::matmul(x2, wt) * g).sum().backward();
        CHECK(xg::allclose(w.grad(), wt.grad().t(), 1e-12, 1e-12));
        CHECK(xg::allclose(x.grad(), x2.grad(), 1e-12, 1e-12));
        // A second backward accumulates into that gradient.
        Tensor before = w.grad().clone();
        (xg::matmul(x, w.t()) * g).sum().backward();
        CHECK(xg::allclose(w.grad(), before * 2.0, 1e-12, 1e-12));
    }
    CHECK(xg::autograd::gradcheck([](const Inputs& in) { return xg::matmul(in[0], in[1].t()); },
                                  {leaf({2, 3, 4}, 13), leaf({5, 4}, 14)}));
}

TEST_CASE("matmul: detail::matmul_into writes into strided outputs (heads of a packed buffer)") {
    // out = the middle third of a [5, 2, 3*6] buffer seen as [2, 3 heads, 5, 2]: rows contiguous,
    // every other stride odd. The rest of the buffer must stay untouched.
    Tensor buffer = xg::full({5, 2, 18}, -7.0, xg::dtype(xg::kFloat64));
    Tensor out = xg::detail::make_view(buffer, {2, 3, 5, 2}, {18, 2, 36, 1}, 6);
    Tensor a = leaf({2, 3, 5, 4}, 21).detach(), b = leaf({4, 2}, 22).detach();
    xg::detail::matmul_into(out, a, b);  // b broadcasts over the batch
    CHECK(xg::allclose(out, xg::matmul(a, b), 1e-12, 1e-12));
    double untouched = 0;
    for (int64_t i = 0; i < 5; ++i)
        for (int64_t j = 0; j < 2; ++j)
            for (int64_t c : {0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17}) untouched += buffer[i][j][c].item() == -7.0;
    CHECK(untouched == 5 * 2 * 12);
    CHECK(contains(error_of([&] { xg::detail::matmul_into(out, b, a); }), "do not give out"));
    CHECK(contains(error_of([&] {
                       xg::detail::matmul_into(out.transpose(-1, -2), leaf({2, 3, 2, 4}, 24).detach(), leaf({4, 5}, 25).detach());
                   }),
                   "matmul_into: out's rows must be contiguous"));
    CHECK(contains(error_of([&] { xg::detail::matmul_into(out, leaf({4, 5, 4}, 23).detach(), b); }),
                   "does not broadcast to out"));
}

TEST_CASE("matmul: float32 with float64 promotes and the gradient comes back in float32") {
    Tensor a = mat({1, 2, 3, 4}, {2, 2}, xg::requires_grad());
    Tensor b = mat({5, 6, 7, 8}, {2, 2}, xg::dtype(xg::kFloat64));
    Tensor y = xg::matmul(a, b);
    CHECK(y.dtype() == xg::kFloat64);
    y.sum().backward();
    CHECK(a.grad().dtype() == xg::kFloat32);
    CHECK(values(a.grad()) == std::vector<double>{11, 15, 11, 15});
}
