// Shape ops (narrow, slice, select, [], index_select, cat, stack, split, chunk, repeat, tile, flip)
// and the view ops (reshape, view, flatten, transpose, permute, unsqueeze, squeeze, expand):
// forward values against hand-computed ones, view semantics (writes seen through shared
// storage), negative dims and indices, error messages, node names, and a float64 gradcheck
// of every differentiable op on contiguous and non-contiguous inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "xgrad.h"

using xg::Tensor;
using Inputs = std::vector<Tensor>;
using V = std::vector<double>;

namespace {

V values(const Tensor& t) { return t.to_vector<double>(); }

// 0, 1, 2, ... in `shape` (float32 unless told otherwise).
Tensor iota(const xg::Shape& shape, xg::DType dt = xg::kFloat32) {
    return xg::arange(static_cast<double>(xg::numel_of(shape)), xg::dtype(dt)).reshape(shape);
}

Tensor index(std::vector<int64_t> v) { return xg::tensor(v, xg::Shape{static_cast<int64_t>(v.size())}); }

// A float64 leaf with distinct, deterministic values in [-1, 1] (no RNG needed).
Tensor leaf(const xg::Shape& shape, double seed = 0.0) {
    std::vector<double> v(static_cast<size_t>(xg::numel_of(shape)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(1.3 * static_cast<double>(i) + seed + 0.4);
    return xg::tensor(v, shape, xg::dtype(xg::kFloat64).requires_grad());
}

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

// gradcheck of a one-input function
template <class F>
bool gradcheck1(F f, const Tensor& x) {
    return xg::autograd::gradcheck([f](const Inputs& in) { return f(in[0]); }, {x});
}

bool shares_storage(const Tensor& a, const Tensor& b) { return a.impl()->storage == b.impl()->storage; }

}  // namespace

// ---- slicing views -----------------------------------------------------------------------------

TEST_CASE("shape: narrow forward, negative dims and starts, errors") {
    Tensor x = iota({3, 4});  // [[0,1,2,3],[4,5,6,7],[8,9,10,11]]
    Tensor n = x.narrow(1, 1, 2);
    CHECK(n.shape() == xg::Shape{3, 2});
    CHECK(values(n) == V{1, 2, 5, 6, 9, 10});
    CHECK(values(xg::narrow(x, -1, -2, 2)) == V{2, 3, 6, 7, 10, 11});
    CHECK(values(x.narrow(0, 2, 1)) == V{8, 9, 10, 11});
    CHECK(x.narrow(0, 3, 0).shape() == xg::Shape{0, 4});  // start == size is a valid empty slice
    CHECK(shares_storage(n, x));
    CHECK(n.storage_offset() == 1);
    CHECK_FALSE(n.is_contiguous());

    std::string e = error_of([&] { x.narrow(1, 3, 2); });
    CHECK(contains(e, "narrow: start (3) + length (2) exceeds dimension size (4)"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.narrow(0, -4, 1); }), "narrow: start -4 is out of range for dim 0 of size 3"));
    CHECK(contains(error_of([&] { x.narrow(0, 0, -1); }), "narrow: start (0) + length (-1)"));
    CHECK(contains(error_of([&] { x.narrow(2, 0, 1); }), "narrow: dim 2 is out of range"));
    CHECK(contains(error_of([&] { xg::scalar_tensor(1).narrow(0, 0, 1); }), "narrow: cannot be applied to a 0-dim tensor"));
}

TEST_CASE("shape: slice follows Python slicing") {
    Tensor x = iota({3, 4});
    CHECK(values(x.slice(1, 0, std::nullopt, 2)) == V{0, 2, 4, 6, 8, 10});       // x[:, ::2]
    CHECK(values(x.slice(1, -3, -1)) == V{1, 2, 5, 6, 9, 10});                   // x[:, -3:-1]
    CHECK(values(x.slice(0, 1, 100)) == V{4, 5, 6, 7, 8, 9, 10, 11});            // end clamped
    CHECK(values(x.slice(1, -100, 2)) == V{0, 1, 4, 5, 8, 9});                   // start clamped
    CHECK(values(x.slice(1, 1, std::nullopt, 3)) == V{1, 5, 9});                 // x[:, 1::3]
    CHECK(values(x.slice(-1, 3)) == V{3, 7, 11});                                // x[:, 3:]
    CHECK(x.slice(0, 2, 1).shape() == xg::Shape{0, 4});                           // end < start: empty
    CHECK(x.slice(0, 5).shape() == xg::Shape{0, 4});                              // start past the end
    CHECK(x.slice(0).shape() == xg::Shape{3, 4});                                 // x[:]
    Tensor s = x.slice(1, 1, std::nullopt, 2);
    CHECK(s.strides() == xg::Strides{4, 2});
    CHECK(s.storage_offset() == 1);
    CHECK(shares_storage(s, x));

    std::string e = error_of([&] { x.slice(1, 0, 4, 0); });
    CHECK(contains(e, "slice: step must be positive, got 0"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.slice(1, 0, 4, -1); }), "slice: step must be positive, got -1"));
    CHECK(contains(error_of([&] { x.slice(-3); }), "slice: dim -3 is out of range"));
}

TEST_CASE("shape: select and operator[]") {
    Tensor x = iota({3, 4});
    CHECK(x.select(1, -1).shape() == xg::Shape{3});
    CHECK(values(x.select(1, -1)) == V{3, 7, 11});
    CHECK(values(xg::select(x, 0, 2)) == V{8, 9, 10, 11});
    CHECK(values(x[1]) == V{4, 5, 6, 7});
    CHECK(values(x[-1]) == V{8, 9, 10, 11});
    Tensor one = x[1][2];
    CHECK(one.dim() == 0);
    CHECK(one.item() == 6);
    CHECK(shares_storage(x[1], x));
    CHECK(x.select(1, 2).strides() == xg::Strides{4});

    Tensor y = iota({2, 3, 4});
    CHECK(values(y.select(-2, 1)) == V{4, 5, 6, 7, 16, 17, 18, 19});

    std::string e = error_of([&] { x.select(0, 3); });
    CHECK(contains(e, "select: index 3 is out of range for dim 0 of size 3"));
    CHECK(contains(e, "[3, 4]"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.select(1, -5); }), "select: index -5 is out of range for dim 1 of size 4"));
    std::string e4 = error_of([&] { x[4]; });
    CHECK(contains(e4, "select: index 4 is out of range for dim 0 of size 3"));
    CHECK(contains(e4, "test_shape.cpp"));  // x[i] reports the caller's line too
    CHECK(contains(error_of([&] { one.select(0, 0); }), "select: cannot be applied to a 0-dim tensor"));
}

TEST_CASE("shape: writes through narrow, select and slice views reach the base") {
    Tensor base = xg::zeros({3, 4});
    {
        xg::NoGradGuard no_grad;
        base.narrow(1, 1, 2).fill_(1);                                       // columns 1, 2
        base[2].copy_(xg::tensor({5, 6, 7, 8}));                            // row 2
        base.slice(0, std::nullopt, std::nullopt, 2).select(1, 0).fill_(9);  // rows 0, 2 of column 0
    }
    CHECK(values(base) == V{9, 1, 1, 0, 0, 1, 1, 0, 9, 6, 7, 8});

    // ...and writes to the base are seen by views taken earlier.
    Tensor row = base[1];
    Tensor col = base.slice(1, 3);
    base.fill_(2);
    CHECK(values(row) == V{2, 2, 2, 2});
    CHECK(values(col) == V{2, 2, 2});

    // Splits are views too.
    std::vector<Tensor> parts = base.split(2, 1);
    parts[1].fill_(-1);
    CHECK(values(base) == V{2, 2, -1, -1, 2, 2, -1, -1, 2, 2, -1, -1});
}

// ---- index_select ------------------------------------------------------------------------------

TEST_CASE("shape: index_select forward and errors") {
    Tensor x = iota({3, 4});
    Tensor rows = x.index_select(0, index({2, 0, 2}));
    CHECK(rows.shape() == xg::Shape{3, 4});
    CHECK(values(rows) == V{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
    CHECK_FALSE(shares_storage(rows, x));  // a copy, as in PyTorch
    CHECK(values(xg::index_select(x, -1, index({3, 1}))) == V{3, 1, 7, 5, 11, 9});
    CHECK(values(x.t().index_select(1, index({1}))) == V{4, 5, 6, 7});  // non-contiguous input
    CHECK(x.index_select(0, index({})).shape() == xg::Shape{0, 4});
    Tensor scalar_index = xg::tensor(std::vector<int64_t>{1}, xg::Shape{});
    CHECK(x.index_select(1, scalar_index).shape() == xg::Shape{3, 1});  // a 0-d index keeps the dim
    CHECK(values(iota({3, 4}, xg::kInt64).index_select(0, index({1}))) == V{4, 5, 6, 7});

    std::string e = error_of([&] { x.index_select(1, index({0, 4})); });
    CHECK(contains(e, "index_select: index 4 is out of range for dim 1 of size 4"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.index_select(0, index({-1})); }), "index_select: index -1 is out of range"));
    CHECK(contains(error_of([&] { x.index_select(0, xg::tensor({0, 1})); }), "index_select: the index must be an int64 tensor"));
    CHECK(contains(error_of([&] { x.index_select(0, index({0, 1}).reshape({1, 2})); }),
                   "index_select: the index must be a 1-D (or 0-d) tensor, got shape [1, 2]"));
    CHECK(contains(error_of([&] { x.index_select(2, index({0})); }), "index_select: dim 2 is out of range"));
}

TEST_CASE("shape: index_select backward accumulates repeated indices") {
    Tensor x = iota({3, 2}, xg::kFloat64).requires_grad_();
    Tensor y = x.index_select(0, index({2, 0, 2}));
    CHECK(y.grad_fn()->name() == "IndexSelectBackward0");
    y.sum().backward();
    CHECK(values(x.grad()) == V{1, 1, 0, 0, 2, 2});
}

// ---- cat and stack -------------------------------------------------------------------------------

TEST_CASE("shape: cat forward, negative dims, dtype promotion") {
    Tensor a = iota({2, 3});                           // [[0,1,2],[3,4,5]]
    Tensor b = xg::arange(6, 10).reshape({2, 2});      // [[6,7],[8,9]]
    Tensor c = xg::arange(10, 13).reshape({1, 3});     // [[10,11,12]]
    CHECK(values(xg::cat({a, b}, 1)) == V{0, 1, 2, 6, 7, 3, 4, 5, 8, 9});
    CHECK(values(xg::cat({a, b}, -1)) == V{0, 1, 2, 6, 7, 3, 4, 5, 8, 9});
    CHECK(xg::cat({a, c}).shape() == xg::Shape{3, 3});
    CHECK(values(xg::cat({a, c}, -2)) == V{0, 1, 2, 3, 4, 5, 10, 11, 12});
    CHECK(values(xg::cat({a})) == values(a));
    CHECK_FALSE(shares_storage(xg::cat({a}), a));
    // Non-contiguous and empty inputs.
    CHECK(values(xg::cat({a.t().narrow(0, 0, 2), b}, 1)) == V{0, 3, 6, 7, 1, 4, 8, 9});
    CHECK(values(xg::cat({xg::zeros({0, 3}), a, xg::zeros({0, 3})})) == values(a));
    CHECK(values(xg::cat({iota({2, 1, 2}), xg::full({2, 2, 2}, -1)}, 1)) == V{0, 1, -1, -1, -1, -1, 2, 3, -1, -1, -1, -1});

    // Promotion as in PyTorch: int64 < float32 < float64.
    Tensor i = iota({1, 3}, xg::kInt64);
    CHECK(xg::cat({i, i}).dtype() == xg::kInt64);
    CHECK(xg::cat({i, c}).dtype() == xg::kFloat32);
    CHECK(values(xg::cat({i, c})) == V{0, 1, 2, 10, 11, 12});
    CHECK(xg::cat({c, iota({1, 3}, xg::kFloat64)}).dtype() == xg::kFloat64);
}

TEST_CASE("shape: cat of the class token and the patch embeddings (the tutorial's case)") {
    const int64_t bs = 2, n = 3, d = 4;
    Tensor cls_token = iota({1, 1, d}).requires_grad_();
    Tensor patch_embedding = (iota({bs, n, d}) * 0.5).requires_grad_();
    Tensor tokens = xg::cat({cls_token.expand({bs, 1, d}), patch_embedding}, /*dim=*/1);
    CHECK(tokens.shape() == xg::Shape{bs, n + 1, d});
    CHECK(tokens.grad_fn()->name() == "CatBackward0");
    CHECK(values(tokens.select(1, 0)) == V{0, 1, 2, 3, 0, 1, 2, 3});
    CHECK(xg::equal(tokens.slice(1, 1), patch_embedding));

    (tokens * 2).sum().backward();
    CHECK(cls_token.grad().shape() == xg::Shape{1, 1, d});
    CHECK(values(cls_token.grad()) == V{4, 4, 4, 4});  // shared by the batch: 2 * bs
    CHECK(values(patch_embedding.grad()) == V(static_cast<size_t>(bs * n * d), 2.0));

    // The source's mistake, kept as a lesson: a 2-D token cannot join 3-D patches.
    Tensor flat_token = xg::zeros({1, d});
    int line = __LINE__ + 1;
    std::string e = error_of([&] { xg::cat({flat_token, patch_embedding}, 1); });
    CHECK(contains(e, "cat"));
    CHECK(contains(e, "[1, 4]"));
    CHECK(contains(e, "[2, 3, 4]"));
    CHECK(contains(e, "test_shape.cpp:" + std::to_string(line)));
}

TEST_CASE("shape: cat errors") {
    std::string e = error_of([&] { xg::cat({xg::zeros({2, 3}), xg::zeros({3, 4})}, 1); });
    CHECK(contains(e, "cat: sizes of tensors must match except in dimension 1"));
    CHECK(contains(e, "[2, 3]"));
    CHECK(contains(e, "[3, 4]"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { xg::cat({}); }), "cat: expected a non-empty list of tensors"));
    CHECK(contains(error_of([&] { xg::cat({xg::scalar_tensor(1)}); }), "cat: zero-dimensional tensor (at position 0)"));
    CHECK(contains(error_of([&] { xg::cat({xg::zeros({2}), Tensor()}); }), "cat: tensor 1 is undefined"));
    CHECK(contains(error_of([&] { xg::cat({xg::zeros({2}), xg::zeros({2})}, 1); }), "cat: dim 1 is out of range"));
}

TEST_CASE("shape: cat backward keeps each input's dtype") {
    Tensor a = xg::ones({1, 2}, xg::requires_grad());
    Tensor b = xg::ones({2, 2}, xg::dtype(xg::kFloat64).requires_grad());
    Tensor y = xg::cat({a, b});
    CHECK(y.dtype() == xg::kFloat64);
    (y * iota({3, 2}, xg::kFloat64)).sum().backward();
    CHECK(a.grad().dtype() == xg::kFloat32);
    CHECK(values(a.grad()) == V{0, 1});
    CHECK(values(b.grad()) == V{2, 3, 4, 5});
}

TEST_CASE("shape: stack") {
    Tensor a = xg::tensor({0, 1, 2});
    Tensor b = xg::tensor({3, 4, 5});
    CHECK(xg::stack({a, b}).shape() == xg::Shape{2, 3});
    CHECK(values(xg::stack({a, b})) == V{0, 1, 2, 3, 4, 5});
    CHECK(values(xg::stack({a, b}, 1)) == V{0, 3, 1, 4, 2, 5});
    CHECK(values(xg::stack({a, b}, -1)) == V{0, 3, 1, 4, 2, 5});
    CHECK(xg::stack({iota({2, 3}), iota({2, 3})}, 1).shape() == xg::Shape{2, 2, 3});
    CHECK(xg::stack({xg::scalar_tensor(1), xg::scalar_tensor(2)}).shape() == xg::Shape{2});
    CHECK(xg::stack({a, iota({3}, xg::kFloat64)}).dtype() == xg::kFloat64);

    std::string e = error_of([&] { xg::stack({a, xg::zeros({4})}); });
    CHECK(contains(e, "stack: expects each tensor to be equal size, but got [3] at entry 0 and [4] at entry 1"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { xg::stack({}); }), "stack: expected a non-empty list"));
    CHECK(contains(error_of([&] { xg::stack({a, b}, 2); }), "stack: dim 2 is out of range"));
}

// ---- split and chunk -----------------------------------------------------------------------------

TEST_CASE("shape: split and chunk") {
    Tensor x = iota({5, 2});
    std::vector<Tensor> p = x.split(2);
    REQUIRE(p.size() == 3);
    CHECK(p[0].shape() == xg::Shape{2, 2});
    CHECK(p[2].shape() == xg::Shape{1, 2});
    CHECK(values(p[1]) == V{4, 5, 6, 7});
    CHECK(values(p[2]) == V{8, 9});
    CHECK(shares_storage(p[2], x));
    CHECK(xg::split(x, 7).size() == 1);  // split_size past the end: one piece
    std::vector<Tensor> cols = xg::split(x, 1, -1);
    REQUIRE(cols.size() == 2);
    CHECK(values(cols[1]) == V{1, 3, 5, 7, 9});

    std::vector<Tensor> q = x.split(std::vector<int64_t>{1, 0, 4});
    REQUIRE(q.size() == 3);
    CHECK(q[1].shape() == xg::Shape{0, 2});
    CHECK(values(q[2]) == V{2, 3, 4, 5, 6, 7, 8, 9});

    auto sizes = [](const std::vector<Tensor>& ts, int64_t dim) {
        std::vector<int64_t> s;
        for (const Tensor& t : ts) s.push_back(t.size(dim));
        return s;
    };
    CHECK(sizes(x.chunk(3), 0) == std::vector<int64_t>{2, 2, 1});
    CHECK(sizes(x.chunk(4), 0) == std::vector<int64_t>{2, 2, 1});  // fewer chunks than asked, as torch.chunk
    CHECK(sizes(x.chunk(6), 0) == std::vector<int64_t>{1, 1, 1, 1, 1});
    CHECK(sizes(iota({6}).chunk(4), 0) == std::vector<int64_t>{2, 2, 2});
    CHECK(sizes(xg::chunk(x, 2, 1), 1) == std::vector<int64_t>{1, 1});
    CHECK(sizes(xg::zeros({0, 2}).chunk(3), 0) == std::vector<int64_t>{0, 0, 0});
    CHECK(values(x.chunk(2)[1]) == V{6, 7, 8, 9});

    CHECK(contains(error_of([&] { x.split(0); }), "split: split_size can only be 0 if the dimension size is 0"));
    CHECK(contains(error_of([&] { x.split(-1); }), "split: split_size must be non-negative, got -1"));
    std::string e = error_of([&] { x.split(std::vector<int64_t>{1, 2}); });
    CHECK(contains(e, "split: split sizes [1, 2] sum to 3, but dim 0 of the tensor of shape [5, 2] has size 5"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.chunk(0); }), "chunk: chunks must be greater than 0, got 0"));
    CHECK(contains(error_of([&] { xg::scalar_tensor(1).chunk(1); }), "chunk: expects at least a 1-dimensional tensor"));
}

// ---- repeat and tile -----------------------------------------------------------------------------

TEST_CASE("shape: repeat and tile") {
    Tensor x = xg::tensor({1, 2, 3, 4}).reshape({2, 2});
    Tensor r = x.repeat({2, 3});
    CHECK(r.shape() == xg::Shape{4, 6});
    CHECK(values(r) == V{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
    CHECK(r.is_contiguous());
    CHECK_FALSE(shares_storage(r, x));
    CHECK(values(x.repeat({2, 1, 1})) == V{1, 2, 3, 4, 1, 2, 3, 4});
    CHECK(x.repeat({2, 1, 1}).shape() == xg::Shape{2, 2, 2});
    CHECK(values(xg::tensor({1, 2, 3}).repeat({2})) == V{1, 2, 3, 1, 2, 3});
    CHECK(values(x.t().repeat({1, 2})) == V{1, 3, 1, 3, 2, 4, 2, 4});  // non-contiguous input
    CHECK(x.repeat({0, 2}).shape() == xg::Shape{0, 4});
    CHECK(xg::scalar_tensor(7).repeat({3}).shape() == xg::Shape{3});

    // tile pads short reps with leading 1s; repeat would refuse them.
    CHECK(values(x.tile({2})) == V{1, 2, 1, 2, 3, 4, 3, 4});
    CHECK(values(xg::tile(x, {2, 1})) == V{1, 2, 3, 4, 1, 2, 3, 4});
    CHECK(xg::tile(x, {2, 1, 1}).shape() == xg::Shape{2, 2, 2});

    std::string e = error_of([&] { x.repeat({2}); });
    CHECK(contains(e, "repeat: the number of repeats [2] can not be smaller than the number of dimensions of the tensor [2, 2]"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.repeat({1, -1}); }), "repeat: repeats must be non-negative"));
}

TEST_CASE("shape: repeat backward sums over the copies") {
    Tensor x = xg::tensor({1, 2, 3}, xg::dtype(xg::kFloat64).requires_grad());
    Tensor y = x.repeat({2, 2});  // [2, 6]
    CHECK(y.grad_fn()->name() == "RepeatBackward0");
    (y * iota({2, 6}, xg::kFloat64)).sum().backward();
    // x[j] lands in columns j and j+3 of both rows: j + (j+3) + (6+j) + (9+j) = 4j + 18
    CHECK(values(x.grad()) == V{18, 22, 26});
}

TEST_CASE("shape: flip reverses the chosen dims (torch.flip), as a copy") {
    Tensor x = iota({2, 3, 4});
    Tensor w = x.flip({2});  // each row of 4 backwards
    CHECK(w.shape() == xg::Shape{2, 3, 4});
    CHECK(values(w.select(0, 0)) == V{3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8});
    CHECK(values(x.flip({-3}).select(0, 0)) == values(x.select(0, 1)));  // negative dims count from the end
    // flipping two dims = flipping one, then the other; flipping all = reversing the memory
    CHECK(values(x.flip({0, 2})) == values(x.flip({0}).flip({2})));
    V all = values(x);
    std::reverse(all.begin(), all.end());
    CHECK(values(xg::flip(x, {0, 1, 2})) == all);
    CHECK(values(x.flip({})) == values(x));  // no dims: a plain copy
    CHECK_FALSE(shares_storage(x.flip({}), x));
    CHECK(values(x.flip({1}).flip({1})) == values(x));  // a flip undoes itself
    // a non-contiguous input: the transpose of a [2, 3] matrix, rows reversed
    Tensor m = iota({2, 3});
    CHECK(values(m.t().flip({0})) == V{2, 5, 1, 4, 0, 3});
    CHECK(values(iota({4}, xg::kFloat64).flip({0})) == V{3, 2, 1, 0});  // float64, odd/even lengths
    CHECK(values(iota({5}).flip({0})) == V{4, 3, 2, 1, 0});
    CHECK(xg::scalar_tensor(5).flip({}).item() == 5);
    CHECK(iota({0, 3}).flip({0}).shape() == xg::Shape{0, 3});

    std::string e = error_of([&] { x.flip({1, -2}); });
    CHECK(contains(e, "flip: dim 1 appears multiple times in the list of dims [1, -2]"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.flip({3}); }), "flip"));
}

TEST_CASE("shape: flip backward is the same flip") {
    Tensor x = xg::tensor({1, 2, 3}, xg::dtype(xg::kFloat64).requires_grad());
    Tensor y = x.flip({0});
    CHECK(y.grad_fn()->name() == "FlipBackward0");
    (y * iota({3}, xg::kFloat64)).sum().backward();  // dL/dy = [0, 1, 2]  =>  dL/dx = [2, 1, 0]
    CHECK(values(x.grad()) == V{2, 1, 0});
}

// ---- node names and source lines ---------------------------------------------------------------

TEST_CASE("shape: node names match PyTorch and record the caller's line") {
    Tensor x = xg::ones({4, 6}, xg::requires_grad());
    auto name = [](const Tensor& t) { return t.grad_fn()->name(); };
    CHECK(name(x.narrow(0, 1, 2)) == "SliceBackward0");
    CHECK(name(x.slice(1, 0, 4, 2)) == "SliceBackward0");
    CHECK(name(x.select(1, 2)) == "SelectBackward0");
    CHECK(name(x[0]) == "SelectBackward0");
    CHECK(name(x.index_select(0, index({0}))) == "IndexSelectBackward0");
    CHECK(name(xg::cat({x, x})) == "CatBackward0");
    CHECK(name(xg::stack({x, x})) == "StackBackward0");
    CHECK(name(x.split(2)[0]) == "SplitBackward0");
    CHECK(name(x.chunk(3)[1]) == "SplitBackward0");  // 4 rows in 3 chunks: sizes 2, 2
    CHECK(name(x.split(std::vector<int64_t>{1, 3})[1]) == "SplitWithSizesBackward0");
    CHECK(name(x.repeat({1, 2})) == "RepeatBackward0");
    CHECK(name(x.tile({2})) == "RepeatBackward0");

    int line = __LINE__ + 1;
    Tensor y = xg::cat({x, x}, 1);
    CHECK(y.grad_fn()->loc().line() == static_cast<uint32_t>(line));
    Tensor z = x.slice(0, 1);
    CHECK(z.grad_fn()->loc().line() == static_cast<uint32_t>(line + 2));

    // No graph without requires_grad or under NoGradGuard.
    CHECK_FALSE(xg::cat({iota({2}), iota({2})}).requires_grad());
    xg::NoGradGuard no_grad;
    CHECK_FALSE(x.narrow(0, 0, 1).requires_grad());
    CHECK_FALSE(xg::stack({x, x}).requires_grad());
}

// ---- gradchecks of the shape ops -----------------------------------------------------------------

TEST_CASE("shape: gradcheck narrow, slice, select") {
    Tensor x = leaf({3, 5});
    CHECK(gradcheck1([](const Tensor& t) { return t.narrow(1, 1, 3); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.t().narrow(0, -2, 2); }, x));  // non-contiguous
    CHECK(gradcheck1([](const Tensor& t) { return t.slice(1, 0, std::nullopt, 2); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.t().slice(0, -4, -1, 2); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.select(-1, 3); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.t()[2]; }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t[1][4]; }, x));
    // The same region read twice: the gradients add up.
    CHECK(gradcheck1([](const Tensor& t) { return t.narrow(0, 0, 2) * t.slice(0, 1); }, x));
}

TEST_CASE("shape: gradcheck index_select") {
    Tensor x = leaf({3, 4});
    CHECK(gradcheck1([](const Tensor& t) { return t.index_select(0, index({2, 0, 2, 1})); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.index_select(-1, index({3, 3, 0})); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.t().index_select(1, index({1, 1})); }, x));
    Tensor y = leaf({2, 3, 4}, 1.0);
    CHECK(gradcheck1([](const Tensor& t) { return xg::index_select(t, 1, index({2, 0})); }, y));
}

TEST_CASE("shape: gradcheck cat and stack") {
    Tensor a = leaf({2, 3}), b = leaf({3, 2}, 1.0), c = leaf({1, 3}, 2.0);
    auto three = [](const Inputs& in) { return Inputs{in[0], in[1].t(), in[2].expand({2, 3})}; };
    CHECK(xg::autograd::gradcheck([&](const Inputs& in) { return xg::cat(three(in), 0); }, {a, b, c}));
    CHECK(xg::autograd::gradcheck([&](const Inputs& in) { return xg::cat(three(in), -1); }, {a, b, c}));
    CHECK(xg::autograd::gradcheck([&](const Inputs& in) { return xg::stack(three(in), 1); }, {a, b, c}));
    CHECK(xg::autograd::gradcheck([&](const Inputs& in) { return xg::stack(three(in), -1); }, {a, b, c}));
    // One input used twice.
    CHECK(gradcheck1([](const Tensor& t) { return xg::cat({t, t * 2.0}, 1); }, a));
}

TEST_CASE("shape: gradcheck split and chunk") {
    Tensor x = leaf({3, 5});
    CHECK(gradcheck1([](const Tensor& t) {
        std::vector<Tensor> p = t.split(2, 1);  // [3,2] [3,2] [3,1]
        return xg::cat({p[2], p[0] * 2.0, p[1] * 3.0}, 1);
    }, x));
    CHECK(gradcheck1([](const Tensor& t) {
        std::vector<Tensor> p = t.t().split(std::vector<int64_t>{3, 2});  // non-contiguous
        return xg::cat({p[1], p[0] * -1.0});
    }, x));
    CHECK(gradcheck1([](const Tensor& t) {
        std::vector<Tensor> p = t.chunk(2, 0);  // [2,5] [1,5]
        return p[0] * p[1];
    }, x));
}

TEST_CASE("shape: gradcheck repeat and tile") {
    Tensor x = leaf({2, 3});
    CHECK(gradcheck1([](const Tensor& t) { return t.repeat({2, 3}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.repeat({2, 1, 2}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.t().repeat({3, 2}); }, x));  // non-contiguous
    CHECK(gradcheck1([](const Tensor& t) { return t.tile({2}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return xg::tile(t.unsqueeze(1), {2, 1, 1, 2}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.repeat({0, 2}).sum() + t.sum(); }, x));
}

TEST_CASE("shape: gradcheck flip") {
    Tensor x = leaf({2, 3, 4});
    CHECK(gradcheck1([](const Tensor& t) { return t.flip({2}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.flip({0, -1}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(0, 2).flip({1}); }, x));  // non-contiguous
    CHECK(gradcheck1([](const Tensor& t) { return t.flip({1}) * t; }, x));            // x reaches y twice
}

// ---- the view ops of view_ops.cpp ------------------------------------------------------------------

TEST_CASE("shape: reshape, view and flatten") {
    Tensor x = iota({2, 3});
    CHECK(x.reshape({3, -1}).shape() == xg::Shape{3, 2});
    CHECK(x.reshape({-1}).shape() == xg::Shape{6});
    CHECK(shares_storage(x.reshape({3, 2}), x));
    CHECK(shares_storage(x.view({-1, 1, 2}), x));
    CHECK(x.view({-1, 1, 2}).shape() == xg::Shape{3, 1, 2});
    // A transposed tensor cannot be viewed flat, but reshape copies it.
    CHECK(values(x.t().reshape({-1})) == V{0, 3, 1, 4, 2, 5});
    CHECK_FALSE(shares_storage(x.t().reshape({-1}), x));
    CHECK(shares_storage(x.t().reshape({3, 1, 2}), x));  // splitting a dim needs no copy
    std::string e = error_of([&] { x.t().view({6}); });
    CHECK(contains(e, "view: view size [6] is not compatible with input tensor's size [3, 2]"));
    CHECK(contains(e, "use .reshape(...) instead"));
    CHECK(contains(e, "test_shape.cpp"));
    CHECK(contains(error_of([&] { x.reshape({-1, -1}); }), "reshape: only one dimension can be inferred (-1) in shape [-1, -1]"));
    CHECK(contains(error_of([&] { x.reshape({4, -1}); }), "reshape: shape [4, -1] is invalid for input of size 6"));
    CHECK(contains(error_of([&] { x.view({7}); }), "view: shape [7] is invalid for input of size 6"));

    Tensor y = iota({2, 3, 4});
    CHECK(y.flatten().shape() == xg::Shape{24});
    CHECK(y.flatten(1).shape() == xg::Shape{2, 12});
    CHECK(xg::flatten(y, 0, -2).shape() == xg::Shape{6, 4});
    CHECK(values(y.transpose(0, 2).flatten(1)) == values(y.transpose(0, 2).contiguous()));
    CHECK(xg::scalar_tensor(3).flatten().shape() == xg::Shape{1});
    CHECK(contains(error_of([&] { y.flatten(2, 1); }), "flatten: start_dim (2) cannot come after end_dim (1)"));
}

TEST_CASE("shape: transpose, permute, unsqueeze, squeeze, expand") {
    Tensor y = iota({2, 3, 4});
    Tensor t = y.transpose(0, -1);
    CHECK(t.shape() == xg::Shape{4, 3, 2});
    CHECK(t.strides() == xg::Strides{1, 4, 12});
    CHECK(values(t[1][2]) == V{9, 21});
    CHECK(shares_storage(t, y));
    CHECK(values(iota({2, 3}).t()) == V{0, 3, 1, 4, 2, 5});
    CHECK(contains(error_of([&] { y.transpose(0, 3); }), "transpose: dim 3 is out of range"));

    Tensor p = y.permute({2, 0, 1});
    CHECK(p.shape() == xg::Shape{4, 2, 3});
    CHECK(values(p[3][1]) == V{15, 19, 23});
    CHECK(xg::permute(y, {-1, -2, -3}).shape() == xg::Shape{4, 3, 2});
    CHECK(contains(error_of([&] { y.permute({0, 0, 1}); }), "permute: dim 0 repeats in [0, 0, 1]"));
    CHECK(contains(error_of([&] { y.permute({0, 1}); }), "permute: number of dims don't match"));

    Tensor x = iota({2, 3});
    CHECK(x.unsqueeze(0).shape() == xg::Shape{1, 2, 3});
    CHECK(x.unsqueeze(-1).shape() == xg::Shape{2, 3, 1});
    CHECK(xg::unsqueeze(x, 1).shape() == xg::Shape{2, 1, 3});
    CHECK(contains(error_of([&] { x.unsqueeze(3); }), "unsqueeze: dim 3 is out of range"));

    Tensor s = xg::zeros({1, 2, 1, 3});
    CHECK(s.squeeze().shape() == xg::Shape{2, 3});
    CHECK(s.squeeze(2).shape() == xg::Shape{1, 2, 3});
    CHECK(s.squeeze(-4).shape() == xg::Shape{2, 1, 3});
    CHECK(s.squeeze(1).shape() == xg::Shape{1, 2, 1, 3});  // size 2: nothing to squeeze
    CHECK(contains(error_of([&] { s.squeeze(4); }), "squeeze: dim 4 is out of range"));

    Tensor c = xg::tensor({1, 2}).reshape({2, 1});
    Tensor e = c.expand({2, 3});
    CHECK(values(e) == V{1, 1, 1, 2, 2, 2});
    CHECK(e.strides() == xg::Strides{1, 0});
    CHECK(shares_storage(e, c));
    CHECK(c.expand({3, -1, 4}).shape() == xg::Shape{3, 2, 4});
    CHECK(values(c.expand_as(iota({2, 2}))) == V{1, 1, 2, 2});
    std::string msg = error_of([&] { c.expand({3, 3}); });
    CHECK(contains(msg, "expand: the expanded size of the tensor (3) must match the existing size (2) at non-singleton dimension 0"));
    CHECK(contains(msg, "test_shape.cpp"));
    CHECK(contains(error_of([&] { c.expand({3}); }), "expand: the number of sizes provided (1) must be greater or equal"));
}

TEST_CASE("shape: gradcheck the view ops, contiguous and not") {
    Tensor x = leaf({2, 3, 4});
    CHECK(gradcheck1([](const Tensor& t) { return t.reshape({4, -1}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(0, 2).reshape({-1}); }, x));  // reshape copies
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(1, 2).reshape({2, 2, 2, 3}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.view({6, 4}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.permute({1, 0, 2}).view({3, 2, 2, 2}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.flatten(1); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.permute({2, 0, 1}).flatten(); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(0, 2); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(-1, -2).transpose(0, 1); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.permute({2, 0, 1}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(0, 1).permute({1, 2, 0}); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.unsqueeze(1); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(0, 2).unsqueeze(-1); }, x));
    CHECK(gradcheck1([](const Tensor& t) { return t[0].t(); }, x));

    Tensor s = leaf({2, 1, 3, 1});
    CHECK(gradcheck1([](const Tensor& t) { return t.squeeze(); }, s));
    CHECK(gradcheck1([](const Tensor& t) { return t.squeeze(1); }, s));
    CHECK(gradcheck1([](const Tensor& t) { return t.transpose(0, 2).squeeze(-1); }, s));

    Tensor c = leaf({3, 1});
    CHECK(gradcheck1([](const Tensor& t) { return t.expand({2, 3, 4}); }, c));
    CHECK(gradcheck1([](const Tensor& t) { return t.t().expand({2, 3}); }, c));  // [1,3] -> [2,3]
    CHECK(gradcheck1([](const Tensor& t) { return t.expand({3, 5}).t(); }, c));
}
