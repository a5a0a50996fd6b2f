#pragma once
// The free functions of xgrad's tensor library, named as in PyTorch (torch.add, torch.cat, ...).
// Each one is differentiable where PyTorch's is; its forward and backward live together in
// one file of core/ops/ (named after the family: elementwise, unary, reduce, shape, matmul, ...).
#include <optional>
#include <vector>

#include "core/parallel.h"  // xg::set_num_threads, xg::get_num_threads
#include "core/tensor.h"

namespace xg {

// ---- creation (core/ops/creation.cpp) --------------------------------------------------
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor arange(double end, TensorOptions options = {});
Tensor arange(double start, double end, double step = 1, TensorOptions options = {},
              SrcLoc loc = SrcLoc::current());
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {},
                SrcLoc loc = SrcLoc::current());
Tensor eye(int64_t n, TensorOptions options = {});
Tensor eye(int64_t n, int64_t m, TensorOptions options = {});
Tensor empty_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor zeros_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor ones_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor full_like(const Tensor& t, double value, std::optional<TensorOptions> options = std::nullopt);
// From values: tensor({1, 2, 3}) is float32 (PyTorch's default dtype); pass dtype(kInt64)
// for labels. The shape form checks that the number of values fits the shape.
Tensor tensor(std::initializer_list<double> values, TensorOptions options = {});
Tensor tensor(const std::vector<double>& values, TensorOptions options = {});
Tensor tensor(const std::vector<double>& values, const Shape& shape, TensorOptions options = {},
              SrcLoc loc = SrcLoc::current());
Tensor tensor(const std::vector<float>& values, const Shape& shape, SrcLoc loc = SrcLoc::current());
Tensor tensor(const std::vector<int64_t>& values, const Shape& shape, SrcLoc loc = SrcLoc::current());
Tensor scalar_tensor(double value, TensorOptions options = {});  // 0-d

// ---- random (core/random.cpp); every draw comes from the generator manual_seed sets ------
void manual_seed(uint64_t seed);
// The generator's whole state, as torch.get_rng_state() / torch.set_rng_state(): a 1-D int64
// tensor a checkpoint can save; setting it back makes every later draw repeat exactly (the
// dropout masks of a resumed training run are the ones the uninterrupted run would draw).
Tensor get_rng_state();
void set_rng_state(const Tensor& state, SrcLoc loc = SrcLoc::current());
Tensor randn(const Shape& shape, TensorOptions options = {});
Tensor rand(const Shape& shape, TensorOptions options = {});
Tensor randint(int64_t high, const Shape& shape, TensorOptions options = dtype(kInt64));
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options = dtype(kInt64),
               SrcLoc loc = SrcLoc::current());
Tensor bernoulli(const Tensor& probabilities, SrcLoc loc = SrcLoc::current());  // 0/1 per element
Tensor bernoulli(const Shape& shape, double p, TensorOptions options = {}, SrcLoc loc = SrcLoc::current());
Tensor randn_like(const Tensor& t);
namespace detail {
// out[0..n) = 0/1 bytes, the same draws in the same order as bernoulli(shape, p) with n elements
// makes: F::dropout keeps its mask in one byte per element instead of a float tensor.
void bernoulli_bytes(uint8_t* out, int64_t n, double p);
}  // namespace detail
Tensor rand_like(const Tensor& t);
Tensor randperm(int64_t n, TensorOptions options = dtype(kInt64));

// ---- elementwise, with broadcasting (core/ops/binary_ops.cpp) ----------------------------
Tensor add(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor add(const Tensor& a, const Tensor& b, double alpha, SrcLoc loc = SrcLoc::current());  // a + alpha*b
Tensor sub(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor mul(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor div(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor pow(const Tensor& base, const Tensor& exponent, SrcLoc loc = SrcLoc::current());
Tensor pow(const Tensor& base, double exponent, SrcLoc loc = SrcLoc::current());
Tensor pow(double base, const Tensor& exponent, SrcLoc loc = SrcLoc::current());
Tensor maximum(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor minimum(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
// where(condition, a, b): a where condition != 0, else b (condition is not differentiated).
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
// Comparisons: 1 where true, 0 where false, in the promoted dtype of the inputs (xgrad has no
// bool dtype); never differentiable.
Tensor eq(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor ne(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor gt(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor ge(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor lt(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor le(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
// Scalar overloads: the scalar takes the tensor's dtype (an int64 tensor with a non-integral
// scalar becomes float32, as in PyTorch).
Tensor add(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());
Tensor sub(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());
Tensor rsub(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());  // b - a
Tensor mul(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());
Tensor div(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());
Tensor rdiv(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());  // b / a
Tensor gt(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());
Tensor lt(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());
Tensor eq(const Tensor& a, double b, SrcLoc loc = SrcLoc::current());

// ---- unary math (core/ops/unary_ops.cpp) ---------------------------------------------
Tensor neg(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor exp(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor log(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor sqrt(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor rsqrt(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor abs(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor tanh(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor sigmoid(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor relu(const Tensor& x, SrcLoc loc = SrcLoc::current());
// approximate = "none" (the exact erf form) or "tanh", as torch.nn.functional.gelu.
Tensor gelu(const Tensor& x, const std::string& approximate = "none", SrcLoc loc = SrcLoc::current());
Tensor sin(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor cos(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max,
             SrcLoc loc = SrcLoc::current());

// ---- reductions (core/ops/reduce_ops.cpp) ------------------------------------------------
// An empty `dims` list means "all dims" (PyTorch's dim=None).
Tensor sum(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false, SrcLoc loc = SrcLoc::current());
Tensor mean(const Tensor& x, SrcLoc loc = SrcLoc::current());
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false, SrcLoc loc = SrcLoc::current());
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false,
           SrcLoc loc = SrcLoc::current());
Tensor std(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false,
           SrcLoc loc = SrcLoc::current());
Tensor max(const Tensor& x, SrcLoc loc = SrcLoc::current());  // all elements
Tensor min(const Tensor& x, SrcLoc loc = SrcLoc::current());
struct ValuesIndices {
    Tensor values;
    Tensor indices;  // int64
};
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false, SrcLoc loc = SrcLoc::current());
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false, SrcLoc loc = SrcLoc::current());
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false, SrcLoc loc = SrcLoc::current());
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false, SrcLoc loc = SrcLoc::current());
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false, SrcLoc loc = SrcLoc::current());
Tensor argmax(const Tensor& x, SrcLoc loc = SrcLoc::current());  // index into the flattened tensor

// ---- shape and views (core/ops/view_ops.cpp, core/ops/shape_ops.cpp) ----------------------
Tensor reshape(const Tensor& x, const Shape& shape, SrcLoc loc = SrcLoc::current());
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1, SrcLoc loc = SrcLoc::current());
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims, SrcLoc loc = SrcLoc::current());
Tensor unsqueeze(const Tensor& x, int64_t dim, SrcLoc loc = SrcLoc::current());
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt, SrcLoc loc = SrcLoc::current());
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1, SrcLoc loc = SrcLoc::current());
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length, SrcLoc loc = SrcLoc::current());
Tensor select(const Tensor& x, int64_t dim, int64_t index, SrcLoc loc = SrcLoc::current());
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index, SrcLoc loc = SrcLoc::current());
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0, SrcLoc loc = SrcLoc::current());
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0, SrcLoc loc = SrcLoc::current());
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0, SrcLoc loc = SrcLoc::current());
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0, SrcLoc loc = SrcLoc::current());
Tensor tile(const Tensor& x, const std::vector<int64_t>& reps, SrcLoc loc = SrcLoc::current());
// torch.flip: reverses the order of the elements along each of `dims` (a copy, as in PyTorch).
Tensor flip(const Tensor& x, const std::vector<int64_t>& dims, SrcLoc loc = SrcLoc::current());

// ---- linear algebra (core/ops/matmul.cpp) ---------------------------------------------
// torch.matmul rules: 1-D·1-D dot, 2-D@2-D mm, 1-D operands get a dim prepended/appended
// (then removed), N-D operands are batches of matrices with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor mm(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
Tensor bmm(const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
// input + mat1 @ mat2 (torch.addmm): mat1 [M, K], mat2 [K, N], input broadcastable to [M, N]
// (nn.Linear's bias [N]); one dtype. grad_fn AddmmBackward0.
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, SrcLoc loc = SrcLoc::current());
namespace detail {
// out = a @ b written into an existing tensor, whatever its batch and row strides (its rows must
// be contiguous): addmm's backward writes a weight's gradient straight into the weight's layout.
// a and b broadcast over out's batch dims. No autograd.
void matmul_into(const Tensor& out, const Tensor& a, const Tensor& b, SrcLoc loc = SrcLoc::current());
}  // namespace detail

// ---- softmax family (core/ops/softmax.cpp) ------------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim, SrcLoc loc = SrcLoc::current());
Tensor log_softmax(const Tensor& x, int64_t dim, SrcLoc loc = SrcLoc::current());
// dL/dx of y = softmax(x, dim) from g = dL/dy and y itself (torch._softmax_backward_data):
// y * (g - sum(g * y, dim)). Not differentiable; for the backward of a fused op written with
// tensors (the fused attention calls its row kernel, core/kernels/softmax_row.h, head by head).
Tensor softmax_backward_data(const Tensor& grad, const Tensor& output, int64_t dim, SrcLoc loc = SrcLoc::current());

// ---- autograd-aware helpers ---------------------------------------------------------------
// Sums `grad` down to `shape` (the reverse of broadcasting): every backward of a broadcasting
// op calls this. Differentiable.
Tensor sum_to(const Tensor& grad, const Shape& shape, SrcLoc loc = SrcLoc::current());
// True when the two tensors have the same shape and every |a-b| <= atol + rtol*|b|.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
              SrcLoc loc = SrcLoc::current());
bool equal(const Tensor& a, const Tensor& b);  // same shape and identical values

}  // namespace xg
