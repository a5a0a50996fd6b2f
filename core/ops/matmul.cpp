// matmul, mm, bmm: torch.matmul's rules on top of one strided GEMM kernel (core/kernels/gemm.h).
//
// Every case is reduced to one picture, a batch of matrix products
//     out[batch..., M, N] = a[batch..., M, K] @ b[batch..., K, N]
//   - a 1-D a [K] is the row [1, K], and the M dim is removed from the result;
//   - a 1-D b [K] is the column [K, 1], and the N dim is removed from the result;
//   - the batch dims broadcast (NumPy rules); an operand is read with stride 0 along the batch
//     dims it was broadcast over, so a shared weight is never copied per batch;
//   - transposed and other strided operands reach the GEMM as strides, never as copies.
// The backward uses the same picture with transposed views, and a gradient buffer that has
// stride 0 along the batch dims its operand was broadcast over: the products of all those
// batches are summed straight into it (no [batch..., K, N] gradient is built and reduced).
#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "core/autograd/node.h"
#include "core/kernels/gemm.h"
#include "core/kernels/strided_loop.h"
#include "core/ops.h"
#include "core/parallel.h"

namespace xg {

using autograd::SavedTensor;

namespace {

// ---- views without autograd (the graph records only the matmul node) ------------------------

// x with a size-1 dim inserted at `dim`, with the stride torch.unsqueeze would give it.
Tensor unsqueeze_view(const Tensor& x, int64_t dim) {
    Shape shape = x.shape();
    Strides strides = x.strides();
    const auto d = static_cast<size_t>(dim);
    int64_t stride = d < shape.size() ? shape[d] * strides[d] : 1;
    shape.insert(shape.begin() + dim, 1);
    strides.insert(strides.begin() + dim, stride);
    return detail::make_view(x, shape, strides, x.storage_offset());
}

// The two matrix dims of m swapped: m^T, same memory.
Tensor transposed_view(const Tensor& m) {
    Shape shape = m.shape();
    Strides strides = m.strides();
    std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
    std::swap(strides[strides.size() - 1], strides[strides.size() - 2]);
    return detail::make_view(m, shape, strides, m.storage_offset());
}

// m is W^T for a contiguous 2-D W (nn.Linear's weight as `weight.t()`): the backwards of matmul
// and addmm then build m's gradient in W's layout and hand back its transpose, which
// TransposeBackward0 turns into a contiguous tensor AccumulateGrad keeps without a copy.
bool transpose_of_contiguous(const Tensor& m) {
    return m.dim() == 2 && m.stride(0) == 1 && m.stride(1) == m.size(0) && m.size(1) > 1;
}

// m [..., R, C] seen as [batch..., R, C]: stride 0 along the batch dims it lacks or has as 1.
Tensor expand_batch(const Tensor& m, const Shape& batch) {
    const size_t nb = batch.size(), own = m.shape().size() - 2;
    Shape shape = batch;
    Strides strides(nb, 0);
    for (size_t i = 0; i < own; ++i)
        if (m.shape()[i] != 1) strides[nb - own + i] = m.strides()[i];
    for (size_t i = own; i < own + 2; ++i) {
        shape.push_back(m.shape()[i]);
        strides.push_back(m.strides()[i]);
    }
    return detail::make_view(m, shape, strides, m.storage_offset());
}

// Gives a fresh contiguous tensor another shape with the same elements (a 1-D operand's
// [1, K] back to [K], say). No view node: the caller owns the tensor.
void relabel(Tensor& t, const Shape& shape) {
    t.impl()->shape = shape;
    t.impl()->strides = contiguous_strides(shape);
}

// ---- the batched product -------------------------------------------------------------------

// out[batch..., M, N] = a[batch..., M, K] @ b[batch..., K, N], all three over one batch shape;
// out's memory may be uninitialized. Where `out` has stride 0 along a batch dim, the products of
// that dim are summed into it.
template <class T>
void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b) {
    const size_t nb = out.shape().size() - 2;
    const Shape batch(out.shape().begin(), out.shape().begin() + static_cast<std::ptrdiff_t>(nb));
    const int64_t M = out.shape()[nb], N = out.shape()[nb + 1], K = a.shape()[nb + 1];
    const int64_t a_rs = a.strides()[nb], a_cs = a.strides()[nb + 1];
    const int64_t b_rs = b.strides()[nb], b_cs = b.strides()[nb + 1];
    const int64_t c_rs = out.strides()[nb];
    const Strides sa(a.strides().begin(), a.strides().begin() + static_cast<std::ptrdiff_t>(nb));
    const Strides sb(b.strides().begin(), b.strides().begin() + static_cast<std::ptrdiff_t>(nb));
    const Strides sc(out.strides().begin(), out.strides().begin() + static_cast<std::ptrdiff_t>(nb));
    const T* A = a.data_ptr<T>();
    const T* B = b.data_ptr<T>();
    T* C = out.data_ptr<T>();

    // One C[m, N] (+)= A[m, k] @ B[k, N], rows of A and C ars and crs apart; int64 has no SIMD
    // kernel and takes the plain loop.
    auto product_rows = [&](int64_t m, int64_t k, const T* pa, int64_t ars, const T* pb, T* pc, int64_t crs,
                            bool accumulate) {
        if constexpr (std::is_floating_point_v<T>) kernels::gemm<T>(m, N, k, pa, ars, a_cs, pb, b_rs, b_cs, pc, crs, accumulate);
        else kernels::gemm_naive<T>(m, N, k, pa, ars, a_cs, pb, b_rs, b_cs, pc, crs, accumulate);
    };
    auto product = [&](int64_t m, int64_t k, const T* pa, const T* pb, T* pc, bool accumulate) {
        product_rows(m, k, pa, a_rs, pb, pc, c_rs, accumulate);
    };

    // When the memory layout allows it, the whole batch is one bigger product (fewer, larger
    // GEMM calls run faster). After merging contiguous batch dims there is one batch dim of n:
    kernels::Coalesced<3> merged = kernels::coalesce<3>(batch, {&sa, &sb, &sc});
    if (merged.shape.size() == 1 && merged.shape[0] > 1) {
        const int64_t n = merged.shape[0];
        const int64_t sa0 = merged.strides[0][0], sb0 = merged.strides[1][0], sc0 = merged.strides[2][0];
        // b shared by every batch (x @ W, x [n, M, K]): the batches stack into the rows of
        // one [n*M, K] @ [K, N].
        if (sb0 == 0 && sa0 == M * a_rs && sc0 == M * c_rs) return product(n * M, K, A, B, C, false);
        // The same with one row per batch, whatever the batch strides: the batch is the rows.
        // (nn.MultiheadAttention projects its input as a [L, N, E] view: with N = 1, L products
        // of a single row each would otherwise run as L matrix-vector products.)
        if (sb0 == 0 && sc0 != 0 && M == 1) return product_rows(n, K, A, sa0, B, C, sc0, false);
        // out shared by every batch (the gradient of that W: x^T @ g summed over n): the batches
        // line up along k, one [M, n*K] @ [n*K, N].
        if (sc0 == 0 && sa0 == K * a_cs && sb0 == K * b_rs) return product(M, n * K, A, B, C, false);
    }

    bool sums = false;  // some batch dim of out has stride 0
    for (size_t i = 0; i < nb; ++i) sums = sums || (sc[i] == 0 && batch[i] > 1);
    // The element offsets of each product's A, B and C.
    std::vector<std::array<int64_t, 3>> products;
    kernels::for_each_row<3>(batch, {&sa, &sb, &sc}, [&](auto off, int64_t n, auto st) {
        for (int64_t i = 0; i < n; ++i) products.push_back({off[0] + i * st[0], off[1] + i * st[1], off[2] + i * st[2]});
    });
    const auto count = static_cast<int64_t>(products.size());
    const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
    // Many products, each too small to be worth splitting (attention: 1024 heads x [50, 16] @
    // [16, 50]): the threads take groups of whole products, each product run on one thread.
    // Not when products sum into one output (its threads would race on it); and with a few large
    // products, each GEMM spreads its own rows over the threads instead.
    const int threads = sums || count < 2 ? 1 : parallel::threads_for(work * static_cast<double>(count));
    if (threads > 1 && (count >= 4 * threads || parallel::threads_for(work) == 1)) {
        const int64_t groups = std::min<int64_t>(count, 8 * threads);  // group g: products [p0, p1)
        parallel::for_each_task(threads, groups, [&](int64_t g) {
            int64_t p0, p1;
            parallel::split(count, static_cast<int>(g), static_cast<int>(groups), p0, p1);
            for (int64_t p = p0; p < p1; ++p) {
                const auto& [oa, ob, oc] = products[static_cast<size_t>(p)];
                product(M, K, A + oa, B + ob, C + oc, false);
            }
        });
        return;
    }
    if (sums) {  // each output matrix starts at zero, then every product of its batch adds in
        std::vector<int64_t> outputs;
        for (const auto& p : products) outputs.push_back(p[2]);
        std::sort(outputs.begin(), outputs.end());
        outputs.erase(std::unique(outputs.begin(), outputs.end()), outputs.end());
        for (int64_t oc : outputs)
            for (int64_t i = 0; i < M; ++i) std::fill(C + oc + i * c_rs, C + oc + i * c_rs + N, T(0));
    }
    for (const auto& [oa, ob, oc] : products) product(M, K, A + oa, B + ob, C + oc, sums);
}

// The node name PyTorch 1.13 shows for this case. PyTorch reaches some cases through
// reshapes and shows another node on top (a 3-D @ 2-D matmul is a folded mm, grad_fn
// UnsafeViewBackward0; a 1-D @ 2-D one is an mm then a squeeze, SqueezeBackward1). xgrad
// records one node per matmul, named after the product it computes: BmmBackward0 for every
// batched case, MmBackward0 for 1-D @ 2-D.
const char* node_name(int64_t a_dim, int64_t b_dim) {
    if (a_dim == 1 && b_dim == 1) return "DotBackward0";
    if (a_dim == 2 && b_dim == 1) return "MvBackward0";
    if (a_dim <= 2 && b_dim == 2) return "MmBackward0";
    return "BmmBackward0";
}

Tensor matmul_impl(const Tensor& a_in, const Tensor& b_in, const char* op, const SrcLoc& loc) {
    // ---- checks: both at least 1-D, inner sizes equal, batch dims broadcastable ----
    XG_CHECK(a_in.defined() && b_in.defined(), loc, op << ": an input tensor is undefined");
    XG_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, loc,
             op << ": both arguments need to be at least 1-D, but they are " << a_in.dim() << "-D and " << b_in.dim()
                << "-D (shapes " << a_in.shape() << " and " << b_in.shape() << ")");
    const int64_t K = a_in.shape().back();
    const int64_t K_b = b_in.dim() == 1 ? b_in.shape()[0] : b_in.shape()[static_cast<size_t>(b_in.dim() - 2)];
    XG_CHECK(K == K_b, loc,
             op << ": shapes " << a_in.shape() << " and " << b_in.shape() << " cannot be multiplied (" << K << " != "
                << K_b << ")");
    Tensor a = a_in, b = b_in;
    if (a.dtype() != b.dtype()) {
        DType t = promote(a.dtype(), b.dtype());
        a = a.to(t, loc);
        b = b.to(t, loc);
    }

    // ---- the batch-of-matrices picture ----
    const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
    Tensor am = a_vec ? unsqueeze_view(a, 0) : a;  // am: [..., M, K]
    Tensor bm = b_vec ? unsqueeze_view(b, 1) : b;  // bm: [..., K, N]
    const int64_t M = am.shape()[am.shape().size() - 2], N = bm.shape().back();
    const Shape a_batch(am.shape().begin(), am.shape().end() - 2), b_batch(bm.shape().begin(), bm.shape().end() - 2);
    Shape batch(std::max(a_batch.size(), b_batch.size()), 1);
    for (size_t i = 0; i < batch.size(); ++i) {  // broadcast, aligned from the right
        int64_t sa = i < a_batch.size() ? a_batch[a_batch.size() - 1 - i] : 1;
        int64_t sb = i < b_batch.size() ? b_batch[b_batch.size() - 1 - i] : 1;
        XG_CHECK(sa == sb || sa == 1 || sb == 1, loc,
                 op << ": shapes " << a_in.shape() << " and " << b_in.shape() << " cannot be multiplied: batch dims "
                    << a_batch << " and " << b_batch << " do not broadcast (" << sa << " != " << sb << ")");
        batch[batch.size() - 1 - i] = sa == 1 ? sb : sa;
    }
    Shape full = batch;  // out: [batch..., M, N]
    full.push_back(M);
    full.push_back(N);

    Tensor out = detail::make_empty(full, a.dtype());
    XG_DISPATCH(a.dtype(), T, [&] { batched_gemm<T>(out, expand_batch(am, batch), expand_batch(bm, batch)); });
    Shape out_shape = batch;  // the dims a 1-D operand added are removed again
    if (!a_vec) out_shape.push_back(M);
    if (!b_vec) out_shape.push_back(N);
    relabel(out, out_shape);

    if (autograd::needs_grad({&a, &b})) {
        // Save only what the backward reads: b for a's gradient, a for b's.
        SavedTensor saved_a = b.requires_grad() ? SavedTensor(a) : SavedTensor();
        SavedTensor saved_b = a.requires_grad() ? SavedTensor(b) : SavedTensor();
        // y = a @ b   =>   dL/da = g @ b^T,  dL/db = a^T @ g
        const bool b_transposed = transpose_of_contiguous(b);
        autograd::attach(out, node_name(a.dim(), b.dim()), loc, {a, b},
                         [saved_a, saved_b, a_vec, b_vec, b_transposed, batch, a_shape = a.shape(), b_shape = b.shape(),
                          am_shape = am.shape(), bm_shape = bm.shape()](const Tensor& g) -> std::vector<Tensor> {
                             // g: [batch..., M, N] again, with the dims of 1-D operands put back.
                             Tensor gm = b_vec ? unsqueeze_view(g, g.dim()) : g;
                             if (a_vec) gm = unsqueeze_view(gm, gm.dim() - 1);
                             Tensor ga, gb;
                             if (saved_b.defined()) {  // dL/da = g @ b^T, summed over a's broadcast batch dims
                                 const Tensor& bv = saved_b.get();
                                 Tensor b_mat = b_vec ? unsqueeze_view(bv, 1) : bv;
                                 ga = detail::make_empty(am_shape, g.dtype());  // batched_gemm writes all of it
                                 XG_DISPATCH_FLOAT(g.dtype(), T, [&] {
                                     batched_gemm<T>(expand_batch(ga, batch), gm, expand_batch(transposed_view(b_mat), batch));
                                 });
                                 relabel(ga, a_shape);
                             }
                             if (saved_a.defined() && b_transposed) {
                                 // b = W^T: dL/dW = g^T @ a in W's layout, handed back
                                 // transposed (see transpose_of_contiguous). Same sums.
                                 const Tensor& av = saved_a.get();
                                 Tensor a_mat = a_vec ? unsqueeze_view(av, 0) : av;
                                 Tensor gw = detail::make_empty({bm_shape[1], bm_shape[0]}, g.dtype());  // [N, K]
                                 XG_DISPATCH_FLOAT(g.dtype(), T, [&] {
                                     batched_gemm<T>(expand_batch(gw, batch), transposed_view(gm), expand_batch(a_mat, batch));
                                 });
                                 gb = transposed_view(gw);
                             } else if (saved_a.defined()) {  // dL/db = a^T @ g, summed over b's broadcast batch dims
                                 const Tensor& av = saved_a.get();
                                 Tensor a_mat = a_vec ? unsqueeze_view(av, 0) : av;
                                 gb = detail::make_empty(bm_shape, g.dtype());
                                 XG_DISPATCH_FLOAT(g.dtype(), T, [&] {
                                     batched_gemm<T>(expand_batch(gb, batch), expand_batch(transposed_view(a_mat), batch), gm);
                                 });
                                 relabel(gb, b_shape);
                             }
                             return {ga, gb};
                         });
    }
    return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, SrcLoc loc) { return matmul_impl(a, b, "matmul", loc); }

Tensor mm(const Tensor& a, const Tensor& b, SrcLoc loc) {
    XG_CHECK(a.defined() && b.defined(), loc, "mm: an input tensor is undefined");
    XG_CHECK(a.dim() == 2 && b.dim() == 2, loc,
             "mm: both arguments must be 2-D matrices, but got shapes " << a.shape() << " and " << b.shape());
    return matmul_impl(a, b, "mm", loc);
}

Tensor bmm(const Tensor& a, const Tensor& b, SrcLoc loc) {
    XG_CHECK(a.defined() && b.defined(), loc, "bmm: an input tensor is undefined");
    XG_CHECK(a.dim() == 3 && b.dim() == 3, loc,
             "bmm: both arguments must be 3-D batches of matrices, but got shapes " << a.shape() << " and " << b.shape());
    XG_CHECK(a.shape()[0] == b.shape()[0], loc,
             "bmm: shapes " << a.shape() << " and " << b.shape() << " have different batch sizes (" << a.shape()[0]
                            << " != " << b.shape()[0] << ")");
    return matmul_impl(a, b, "bmm", loc);
}

Tensor Tensor::matmul(const Tensor& other, SrcLoc loc) const { return xg::matmul(*this, other, loc); }

// out = input + mat1 @ mat2 (torch.addmm with beta = alpha = 1): nn.Linear's x @ W^T + b on a
// 2-D x. A bias row ([N], or [1, N]) is added by the GEMM as it stores each tile of the product
// (kernels::gemm_bias), so it costs no pass of its own; any other input broadcast to [M, N] is
// copied into the output first and the product added to it.
//   out = input + mat1 @ mat2   =>   dL/dinput = sum_to(g, input.shape),
//                                    dL/dmat1 = g @ mat2^T,   dL/dmat2 = mat1^T @ g
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, SrcLoc loc) {
    const char* op = "addmm";
    XG_CHECK(input.defined() && mat1.defined() && mat2.defined(), loc, op << ": an input tensor is undefined");
    XG_CHECK(mat1.dim() == 2 && mat2.dim() == 2, loc,
             op << ": mat1 and mat2 must be matrices, got shapes " << mat1.shape() << " and " << mat2.shape());
    XG_CHECK(mat1.size(1) == mat2.size(0), loc,
             op << ": mat1 and mat2 shapes cannot be multiplied (" << mat1.size(0) << "x" << mat1.size(1) << " and "
                << mat2.size(0) << "x" << mat2.size(1) << ")");
    XG_CHECK(is_floating(mat1.dtype()) && mat1.dtype() == mat2.dtype() && input.dtype() == mat1.dtype(), loc,
             op << ": input, mat1 and mat2 must have one floating dtype, got " << dtype_name(input.dtype()) << ", "
                << dtype_name(mat1.dtype()) << " and " << dtype_name(mat2.dtype()));
    const int64_t M = mat1.size(0), K = mat1.size(1), N = mat2.size(1);
    const Shape out_shape{M, N};
    XG_CHECK(input.dim() <= 2 && broadcast_shapes(input.shape(), out_shape, op, loc) == out_shape, loc,
             op << ": input of shape " << input.shape() << " does not broadcast to the product's shape " << out_shape);
    Tensor out = detail::make_empty(out_shape, mat1.dtype());
    const bool bias_row = input.dim() >= 1 && input.size(-1) == N && input.numel() == N;
    XG_DISPATCH_FLOAT(out.dtype(), T, [&] {
        const T* A = mat1.data_ptr<T>();
        const T* B = mat2.data_ptr<T>();
        T* C = out.data_ptr<T>();
        if (bias_row) {
            Tensor bias = input.is_contiguous() ? input : input.contiguous();
            kernels::gemm_bias<T>(M, N, K, A, mat1.stride(0), mat1.stride(1), B, mat2.stride(0), mat2.stride(1), C, N,
                                  bias.data_ptr<T>());
        } else {
            detail::copy_into(out, input, loc);
            kernels::gemm<T>(M, N, K, A, mat1.stride(0), mat1.stride(1), B, mat2.stride(0), mat2.stride(1), C, N, true);
        }
    });
    if (autograd::needs_grad({&input, &mat1, &mat2})) {
        SavedTensor saved_1 = mat2.requires_grad() ? SavedTensor(mat1) : SavedTensor();
        SavedTensor saved_2 = mat1.requires_grad() ? SavedTensor(mat2) : SavedTensor();
        const bool mat2_transposed = transpose_of_contiguous(mat2);
        autograd::attach(out, "AddmmBackward0", loc, {input, mat1, mat2},
                         [saved_1, saved_2, mat2_transposed, input_shape = input.shape(),
                          input_grad = input.requires_grad()](const Tensor& g) -> std::vector<Tensor> {
                             Tensor g_input = input_grad ? sum_to(g, input_shape) : Tensor();
                             Tensor g1, g2;
                             if (saved_2.defined()) {  // dL/dmat1 = g @ mat2^T
                                 const Tensor& m2 = saved_2.get();
                                 g1 = detail::make_empty({g.size(0), m2.size(0)}, g.dtype());
                                 detail::matmul_into(g1, g, transposed_view(m2));
                             }
                             if (saved_1.defined()) {  // dL/dmat2 = mat1^T @ g
                                 const Tensor& m1 = saved_1.get();
                                 if (mat2_transposed) {  // (g^T @ mat1) in W's layout, handed back transposed
                                     Tensor gw = detail::make_empty({g.size(1), m1.size(1)}, g.dtype());
                                     detail::matmul_into(gw, transposed_view(g), m1);
                                     g2 = transposed_view(gw);
                                 } else {
                                     g2 = detail::make_empty({m1.size(1), g.size(1)}, g.dtype());
                                     detail::matmul_into(g2, transposed_view(m1), g);
                                 }
                             }
                             return {g_input, g1, g2};
                         });
    }
    return out;
}

void detail::matmul_into(const Tensor& out, const Tensor& a, const Tensor& b, SrcLoc loc) {
    const char* op = "matmul_into";
    XG_CHECK(out.defined() && a.defined() && b.defined(), loc, op << ": a tensor is undefined");
    XG_CHECK(a.dim() >= 2 && b.dim() >= 2 && out.dim() >= 2, loc,
             op << ": out, a and b must be (batches of) matrices, got " << out.shape() << ", " << a.shape() << " and "
                << b.shape());
    XG_CHECK(is_floating(out.dtype()) && a.dtype() == out.dtype() && b.dtype() == out.dtype(), loc,
             op << ": out, a and b must have one floating dtype");
    const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
    XG_CHECK(b.size(-2) == K && out.size(-2) == M && out.size(-1) == N, loc,
             op << ": shapes " << a.shape() << " @ " << b.shape() << " do not give out " << out.shape());
    XG_CHECK(out.stride(-1) == 1 || N == 1, loc, op << ": out's rows must be contiguous, got strides " << out.strides());
    const Shape batch(out.shape().begin(), out.shape().end() - 2);
    for (const Tensor* t : {&a, &b}) {
        const int64_t own = t->dim() - 2, nb = static_cast<int64_t>(batch.size());
        bool fits = own <= nb;
        for (int64_t i = 0; fits && i < own; ++i) {
            const int64_t size = t->size(i), want = batch[static_cast<size_t>(nb - own + i)];
            fits = size == want || size == 1;
        }
        XG_CHECK(fits, loc, op << ": operand " << t->shape() << " does not broadcast to out " << out.shape());
    }
    XG_DISPATCH_FLOAT(out.dtype(), T, [&] { batched_gemm<T>(out, expand_batch(a, batch), expand_batch(b, batch)); });
}

}  // namespace xg
