// Printing and random numbers, both checked against PyTorch 1.13.1: every expected string or
// number below was produced by the Python snippet in the comment above it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "xgrad.h"

using xg::Tensor;

// ============================== printing ==============================

TEST_CASE("print: float matrix, scalars and int64") {
    // torch.arange(6.).reshape(2, 3) / 7
    CHECK(xg::to_string(xg::arange(6).reshape({2, 3}) / 7) ==
          "tensor([[0.0000, 0.1429, 0.2857],\n"
          "        [0.4286, 0.5714, 0.7143]])");
    // torch.tensor(3.)
    CHECK(xg::to_string(xg::scalar_tensor(3)) == "tensor(3.)");
    // torch.tensor(-2.5)
    CHECK(xg::to_string(xg::scalar_tensor(-2.5)) == "tensor(-2.5000)");
    // torch.tensor([1, 2, 3])
    CHECK(xg::to_string(xg::tensor(std::vector<int64_t>{1, 2, 3}, {3})) == "tensor([1, 2, 3])");
    // torch.arange(12).reshape(3, 4) - 5
    CHECK(xg::to_string(xg::arange(-5, 7, 1, xg::dtype(xg::kInt64)).reshape({3, 4})) ==
          "tensor([[-5, -4, -3, -2],\n"
          "        [-1,  0,  1,  2],\n"
          "        [ 3,  4,  5,  6]])");
    // torch.arange(6).reshape(2, 3).t()   (a non-contiguous view prints in logical order)
    CHECK(xg::to_string(xg::arange(6, xg::dtype(xg::kInt64)).reshape({2, 3}).t()) ==
          "tensor([[0, 3],\n"
          "        [1, 4],\n"
          "        [2, 5]])");
}

TEST_CASE("print: operator<< writes the same text as to_string") {
    Tensor t = xg::tensor({0.5, -1.25});
    std::ostringstream os;
    os << t;
    CHECK(os.str() == xg::to_string(t));
    CHECK(os.str() == "tensor([ 0.5000, -1.2500])");  // torch.tensor([0.5, -1.25])
}

TEST_CASE("print: dtype, requires_grad and grad_fn suffixes") {
    // torch.tensor([0.5, -1.25], dtype=torch.float64)
    CHECK(xg::to_string(xg::tensor({0.5, -1.25}, xg::dtype(xg::kFloat64))) ==
          "tensor([ 0.5000, -1.2500], dtype=torch.float64)");
    // torch.tensor([1., 2.], requires_grad=True)
    CHECK(xg::to_string(xg::tensor({1, 2}, xg::requires_grad())) == "tensor([1., 2.], requires_grad=True)");
    // torch.tensor([1., 2.], requires_grad=True) * 2
    CHECK(xg::to_string(xg::tensor({1, 2}, xg::requires_grad()) * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)");
    // torch.tensor([1.5, 2.], requires_grad=True) + torch.tensor([1., 1.])
    CHECK(xg::to_string(xg::tensor({1.5, 2}, xg::requires_grad()) + xg::tensor({1, 1})) ==
          "tensor([2.5000, 3.0000], grad_fn=<AddBackward0>)");
    // torch.arange(7., dtype=torch.float64, requires_grad=True)
    CHECK(xg::to_string(xg::arange(7, xg::dtype(xg::kFloat64).requires_grad())) ==
          "tensor([0., 1., 2., 3., 4., 5., 6.], dtype=torch.float64, requires_grad=True)");
}

TEST_CASE("print: suffixes move to a new line when they would pass 80 columns") {
    Tensor x = xg::arange(8, xg::dtype(xg::kFloat64).requires_grad());
    // torch.arange(8., dtype=torch.float64, requires_grad=True) / 3
    CHECK(xg::to_string(x / 3) ==
          "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333],\n"
          "       dtype=torch.float64, grad_fn=<DivBackward0>)");
    Tensor y = xg::arange(10, xg::dtype(xg::kFloat64).requires_grad());
    // torch.arange(10., dtype=torch.float64, requires_grad=True) / 3
    CHECK(xg::to_string(y / 3) ==
          "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667,\n"
          "        3.0000], dtype=torch.float64, grad_fn=<DivBackward0>)");
}

TEST_CASE("print: integer-valued floats, zeros, nan and inf") {
    // torch.tensor([1., -2., 30.])
    CHECK(xg::to_string(xg::tensor({1, -2, 30})) == "tensor([ 1., -2., 30.])");
    // torch.tensor([0., 0.])
    CHECK(xg::to_string(xg::tensor({0, 0})) == "tensor([0., 0.])");
    const double inf = std::numeric_limits<double>::infinity();
    // torch.tensor([float('nan'), 1.5, float('inf'), -float('inf')])
    CHECK(xg::to_string(xg::tensor({std::nan(""), 1.5, inf, -inf})) == "tensor([   nan, 1.5000,    inf,   -inf])");
    // torch.tensor([0.]) / 0      (x86 makes a NaN with the sign bit set; Python prints "nan")
    CHECK(xg::to_string(xg::tensor({0.0}) / 0) == "tensor([nan])");
    // torch.arange(24.).reshape(2, 3, 4) - 10     (a blank line between the 2-D blocks)
    CHECK(xg::to_string(xg::arange(24).reshape({2, 3, 4}) - 10) ==
          "tensor([[[-10.,  -9.,  -8.,  -7.],\n"
          "         [ -6.,  -5.,  -4.,  -3.],\n"
          "         [ -2.,  -1.,   0.,   1.]],\n"
          "\n"
          "        [[  2.,   3.,   4.,   5.],\n"
          "         [  6.,   7.,   8.,   9.],\n"
          "         [ 10.,  11.,  12.,  13.]]])");
}

TEST_CASE("print: scientific notation for wide, huge or tiny values") {
    // torch.tensor([1e5, 1.5, -2e-3])
    CHECK(xg::to_string(xg::tensor({1e5, 1.5, -2e-3})) == "tensor([ 1.0000e+05,  1.5000e+00, -2.0000e-03])");
    // torch.tensor([1e-5, 1.])
    CHECK(xg::to_string(xg::tensor({1e-5, 1})) == "tensor([1.0000e-05, 1.0000e+00])");
    // torch.tensor([1e9, 1.])     (integer-valued, but spanning too many orders of magnitude)
    CHECK(xg::to_string(xg::tensor({1e9, 1})) == "tensor([1.0000e+09, 1.0000e+00])");
}

TEST_CASE("print: long rows wrap at 80 columns") {
    // torch.arange(30.) / 3
    CHECK(xg::to_string(xg::arange(30) / 3) ==
          "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667,\n"
          "        3.0000, 3.3333, 3.6667, 4.0000, 4.3333, 4.6667, 5.0000, 5.3333, 5.6667,\n"
          "        6.0000, 6.3333, 6.6667, 7.0000, 7.3333, 7.6667, 8.0000, 8.3333, 8.6667,\n"
          "        9.0000, 9.3333, 9.6667])");
}

TEST_CASE("print: more than 1000 elements are summarized with ...") {
    // torch.arange(2000.) / 7
    CHECK(xg::to_string(xg::arange(2000) / 7) ==
          "tensor([0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 2.8529e+02, 2.8543e+02,\n"
          "        2.8557e+02])");
    // torch.arange(2000)
    CHECK(xg::to_string(xg::arange(2000, xg::dtype(xg::kInt64))) == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
    // torch.arange(1600.).reshape(40, 40)
    CHECK(xg::to_string(xg::arange(1600).reshape({40, 40})) ==
          "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 3.7000e+01, 3.8000e+01,\n"
          "         3.9000e+01],\n"
          "        [4.0000e+01, 4.1000e+01, 4.2000e+01,  ..., 7.7000e+01, 7.8000e+01,\n"
          "         7.9000e+01],\n"
          "        [8.0000e+01, 8.1000e+01, 8.2000e+01,  ..., 1.1700e+02, 1.1800e+02,\n"
          "         1.1900e+02],\n"
          "        ...,\n"
          "        [1.4800e+03, 1.4810e+03, 1.4820e+03,  ..., 1.5170e+03, 1.5180e+03,\n"
          "         1.5190e+03],\n"
          "        [1.5200e+03, 1.5210e+03, 1.5220e+03,  ..., 1.5570e+03, 1.5580e+03,\n"
          "         1.5590e+03],\n"
          "        [1.5600e+03, 1.5610e+03, 1.5620e+03,  ..., 1.5970e+03, 1.5980e+03,\n"
          "         1.5990e+03]])");
    // torch.arange(3000.).reshape(2, 3, 500) / 7     (only the last dim is elided)
    CHECK(xg::to_string(xg::arange(3000).reshape({2, 3, 500}) / 7) ==
          "tensor([[[0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 7.1000e+01,\n"
          "          7.1143e+01, 7.1286e+01],\n"
          "         [7.1429e+01, 7.1571e+01, 7.1714e+01,  ..., 1.4243e+02,\n"
          "          1.4257e+02, 1.4271e+02],\n"
          "         [1.4286e+02, 1.4300e+02, 1.4314e+02,  ..., 2.1386e+02,\n"
          "          2.1400e+02, 2.1414e+02]],\n"
          "\n"
          "        [[2.1429e+02, 2.1443e+02, 2.1457e+02,  ..., 2.8529e+02,\n"
          "          2.8543e+02, 2.8557e+02],\n"
          "         [2.8571e+02, 2.8586e+02, 2.8600e+02,  ..., 3.5671e+02,\n"
          "          3.5686e+02, 3.5700e+02],\n"
          "         [3.5714e+02, 3.5729e+02, 3.5743e+02,  ..., 4.2814e+02,\n"
          "          4.2829e+02, 4.2843e+02]]])");
}

TEST_CASE("print: summarized 3-D tensor elides blocks, rows and columns") {
    // torch.arange(2000).reshape(10, 10, 20)
    const char* expected = R"(tensor([[[   0,    1,    2,  ...,   17,   18,   19],
         [  20,   21,   22,  ...,   37,   38,   39],
         [  40,   41,   42,  ...,   57,   58,   59],
         ...,
         [ 140,  141,  142,  ...,  157,  158,  159],
         [ 160,  161,  162,  ...,  177,  178,  179],
         [ 180,  181,  182,  ...,  197,  198,  199]],

        [[ 200,  201,  202,  ...,  217,  218,  219],
         [ 220,  221,  222,  ...,  237,  238,  239],
         [ 240,  241,  242,  ...,  257,  258,  259],
         ...,
         [ 340,  341,  342,  ...,  357,  358,  359],
         [ 360,  361,  362,  ...,  377,  378,  379],
         [ 380,  381,  382,  ...,  397,  398,  399]],

        [[ 400,  401,  402,  ...,  417,  418,  419],
         [ 420,  421,  422,  ...,  437,  438,  439],
         [ 440,  441,  442,  ...,  457,  458,  459],
         ...,
         [ 540,  541,  542,  ...,  557,  558,  559],
         [ 560,  561,  562,  ...,  577,  578,  579],
         [ 580,  581,  582,  ...,  597,  598,  599]],

        ...,

        [[1400, 1401, 1402,  ..., 1417, 1418, 1419],
         [1420, 1421, 1422,  ..., 1437, 1438, 1439],
         [1440, 1441, 1442,  ..., 1457, 1458, 1459],
         ...,
         [1540, 1541, 1542,  ..., 1557, 1558, 1559],
         [1560, 1561, 1562,  ..., 1577, 1578, 1579],
         [1580, 1581, 1582,  ..., 1597, 1598, 1599]],

        [[1600, 1601, 1602,  ..., 1617, 1618, 1619],
         [1620, 1621, 1622,  ..., 1637, 1638, 1639],
         [1640, 1641, 1642,  ..., 1657, 1658, 1659],
         ...,
         [1740, 1741, 1742,  ..., 1757, 1758, 1759],
         [1760, 1761, 1762,  ..., 1777, 1778, 1779],
         [1780, 1781, 1782,  ..., 1797, 1798, 1799]],

        [[1800, 1801, 1802,  ..., 1817, 1818, 1819],
         [1820, 1821, 1822,  ..., 1837, 1838, 1839],
         [1840, 1841, 1842,  ..., 1857, 1858, 1859],
         ...,
         [1940, 1941, 1942,  ..., 1957, 1958, 1959],
         [1960, 1961, 1962,  ..., 1977, 1978, 1979],
         [1980, 1981, 1982,  ..., 1997, 1998, 1999]]]))";
    CHECK(xg::to_string(xg::arange(2000, xg::dtype(xg::kInt64)).reshape({10, 10, 20})) == expected);
}

TEST_CASE("print: empty and undefined tensors") {
    // torch.zeros(0, 3)
    CHECK(xg::to_string(xg::zeros({0, 3})) == "tensor([], size=(0, 3))");
    // torch.zeros(0, dtype=torch.int64)
    CHECK(xg::to_string(xg::zeros({0}, xg::dtype(xg::kInt64))) == "tensor([], dtype=torch.int64)");
    // torch.zeros(0)
    CHECK(xg::to_string(xg::zeros({0})) == "tensor([])");
    CHECK(xg::to_string(Tensor()) == "tensor(undefined)");
}

// ============================== random ==============================

TEST_CASE("random: the same seed gives the same numbers, another seed others") {
    xg::manual_seed(123);
    std::vector<float> a = xg::randn({100}).to_vector<float>();
    std::vector<float> r1 = xg::rand({5}).to_vector<float>();
    xg::manual_seed(123);
    CHECK(xg::randn({100}).to_vector<float>() == a);
    CHECK(xg::rand({5}).to_vector<float>() == r1);
    xg::manual_seed(124);
    CHECK(xg::randn({100}).to_vector<float>() != a);
}

TEST_CASE("random: randn matches PyTorch bit for bit") {
    // torch.manual_seed(0); torch.randn(2, 3)
    xg::manual_seed(0);
    CHECK(xg::to_string(xg::randn({2, 3})) ==
          "tensor([[ 1.5410, -0.2934, -2.1788],\n"
          "        [ 0.5684, -1.0845, -1.3986]])");

    // 16 or more float32 elements take PyTorch's vectorized Box-Muller path.
    // torch.manual_seed(0); torch.randn(20)
    xg::manual_seed(0);
    CHECK(xg::randn({20}).to_vector<float>() ==
          std::vector<float>{-1.12583983f, -1.1523602f,  -0.250578582f, -0.433878809f, 0.598839462f,
                             -1.55509508f, -0.34136039f, 1.85300612f,   0.468096405f,  -0.157712445f,
                             1.44366014f,  0.266049415f, 1.38936615f,   1.58633423f,   0.946298361f,
                             -0.843676746f, 0.931826591f, 1.25900924f,  2.00498056f,   0.0537369028f});

    // torch.manual_seed(0); torch.randn(20, dtype=torch.float64)
    xg::manual_seed(0);
    CHECK(xg::randn({20}, xg::dtype(xg::kFloat64)).to_vector<double>() ==
          std::vector<double>{-2.310411800234176,   -0.3732508612577643,  -1.0608166785462863,
                              0.99950935478117608,  -0.019964750907762653, 0.2102998901016947,
                              0.17718935139366584,  -0.83051005100844899, 0.23871805816817063,
                              0.73352836852728409,  -1.3218818291421377,  1.3148113651971234,
                              -0.68700369404354633, 1.4880743158106724,   -0.44841580471145109,
                              -0.89100303517073753, 0.67485754359400385,  1.0468653769814655,
                              0.15429517864658948,  -0.74989152283919414});

    // The second normal of a Box-Muller pair waits in the generator for the next call.
    // torch.manual_seed(0); torch.randn(3); torch.randn(3)
    xg::manual_seed(0);
    CHECK(xg::randn({3}).to_vector<float>() == std::vector<float>{1.54099607f, -0.293428898f, -2.17878938f});
    CHECK(xg::randn({3}).to_vector<float>() == std::vector<float>{0.568431258f, -1.08452237f, -1.39859545f});
    // torch.manual_seed(0); torch.randn(2, dtype=torch.float64)
    xg::manual_seed(0);
    CHECK(xg::randn({2}, xg::dtype(xg::kFloat64)).to_vector<double>() ==
          std::vector<double>{1.5409961082440433, -0.29342890576094638});
}

TEST_CASE("random: rand, randint, randperm and bernoulli match PyTorch") {
    // torch.manual_seed(42); torch.rand(5)
    xg::manual_seed(42);
    CHECK(xg::rand({5}).to_vector<float>() ==
          std::vector<float>{0.882269263f, 0.915003955f, 0.38286376f, 0.959305644f, 0.390448213f});
    // torch.manual_seed(42); torch.rand(3, dtype=torch.float64)
    xg::manual_seed(42);
    CHECK(xg::rand({3}, xg::dtype(xg::kFloat64)).to_vector<double>() ==
          std::vector<double>{0.058154485961429692, 0.062910167424577557, 0.12358607277440903});

    // torch.manual_seed(7); torch.randint(10, (8,)); torch.randint(-5, 5, (6,))
    xg::manual_seed(7);
    Tensor r = xg::randint(10, {8});
    CHECK(r.dtype() == xg::kInt64);
    CHECK(r.to_vector<int64_t>() == std::vector<int64_t>{5, 2, 1, 6, 3, 7, 7, 9});
    CHECK(xg::randint(-5, 5, {6}).to_vector<int64_t>() == std::vector<int64_t>{3, -4, 3, -4, 3, 2});

    // torch.manual_seed(7); torch.randperm(10)
    xg::manual_seed(7);
    CHECK(xg::randperm(10).to_vector<int64_t>() == std::vector<int64_t>{5, 0, 3, 4, 1, 7, 9, 6, 8, 2});

    // torch.manual_seed(1); torch.bernoulli(torch.full((12,), 0.5)); torch.empty(12).bernoulli_(0.5)
    xg::manual_seed(1);
    CHECK(xg::bernoulli(xg::full({12}, 0.5)).to_vector<int64_t>() ==
          std::vector<int64_t>{0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0});
    CHECK(xg::bernoulli({12}, 0.5).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1});
}

TEST_CASE("random: bulk bernoulli(p) is uniform<double>() < p draw for draw, ties on the high bits included, on 1 and 2 threads") {
    // The definition, one std::mt19937 draw at a time (PyTorch's engine): a uniform double from
    // two draws (hi first), compared with p.
    auto reference = [](uint32_t seed, int skip, int64_t n, double p) {
        std::mt19937 gen(seed);
        for (int i = 0; i < skip; ++i) gen();
        std::vector<int64_t> out;
        for (int64_t i = 0; i < n; ++i) {
            const uint64_t hi = gen(), lo = gen();
            const double u = static_cast<double>(((hi << 32) | lo) & ((uint64_t{1} << 53) - 1)) * 0x1p-53;
            out.push_back(u < p ? 1 : 0);
        }
        return out;
    };
    // xgrad's draws of n elements after one draw (so that the pairs straddle the engine's blocks
    // of 624), against the definition; then the generator must have moved on by exactly two
    // draws per element.
    auto check = [&](int64_t n, double p) {
        xg::manual_seed(11);
        (void)xg::rand({1});
        CHECK(xg::bernoulli({n}, p).to_vector<int64_t>() == reference(11, 1, n, p));
        std::mt19937 after(11);
        after.discard(static_cast<unsigned long long>(1 + 2 * n));
        CHECK(xg::randint(1 << 30, {1}).item() == static_cast<double>(after() % (1u << 30)));
    };
    // p chosen so that the first element's high 21 bits tie with p's: decided by its low draw,
    // once with p just above that element's u and once exactly at it (u < p false).
    std::mt19937 first(11);
    first();  // the skipped draw
    const uint64_t hi = first(), lo = first();
    const uint64_t bits = ((hi << 32) | lo) & ((uint64_t{1} << 53) - 1);
    for (double p : {0.9, 0.5, 0.0, 1.0, static_cast<double>(bits) * 0x1p-53, static_cast<double>(bits + 1) * 0x1p-53})
        check(1000, p);
    // From 2^16 elements the draws are shared out over the threads: the same mask on 1 and 2.
    const int saved = xg::get_num_threads();
    for (int threads : {1, 2}) {
        xg::set_num_threads(threads);
        check(100003, 0.9);
    }
    xg::set_num_threads(saved);
}

TEST_CASE("random: distributions look right") {
    xg::manual_seed(2024);
    std::vector<double> n = xg::randn({10000}).to_vector<double>();
    double mean = 0, sq = 0;
    for (double v : n) mean += v;
    mean /= static_cast<double>(n.size());
    for (double v : n) sq += (v - mean) * (v - mean);
    double stdev = std::sqrt(sq / static_cast<double>(n.size() - 1));
    CHECK(std::abs(mean) < 0.05);
    CHECK(std::abs(stdev - 1) < 0.05);

    std::vector<double> u = xg::rand({10000}, xg::dtype(xg::kFloat64)).to_vector<double>();
    CHECK(*std::min_element(u.begin(), u.end()) >= 0.0);
    CHECK(*std::max_element(u.begin(), u.end()) < 1.0);

    std::vector<int64_t> ints = xg::randint(-3, 4, {1000}).to_vector<int64_t>();
    std::set<int64_t> seen(ints.begin(), ints.end());
    CHECK(seen == std::set<int64_t>{-3, -2, -1, 0, 1, 2, 3});  // every value, and nothing else

    std::vector<int64_t> perm = xg::randperm(50).to_vector<int64_t>();
    std::sort(perm.begin(), perm.end());
    for (int64_t i = 0; i < 50; ++i) CHECK(perm[static_cast<size_t>(i)] == i);

    double ones = xg::bernoulli(xg::full({10000}, 0.3)).sum().item();
    CHECK(ones / 10000 == doctest::Approx(0.3).epsilon(0.1));
    CHECK(xg::bernoulli({1000}, 0.0).sum().item() == 0);
    CHECK(xg::bernoulli({1000}, 1.0).sum().item() == 1000);
}

TEST_CASE("random: options, *_like and leaves") {
    xg::manual_seed(0);
    Tensor w = xg::randn({2, 2}, xg::requires_grad());
    CHECK(w.is_leaf());
    CHECK(w.requires_grad());
    // torch.manual_seed(0); torch.randn(2, 2, requires_grad=True)
    CHECK(xg::to_string(w) ==
          "tensor([[ 1.5410, -0.2934],\n"
          "        [-2.1788,  0.5684]], requires_grad=True)");

    Tensor d = xg::zeros({3, 4}, xg::dtype(xg::kFloat64));
    CHECK(xg::randn_like(d).dtype() == xg::kFloat64);
    CHECK(xg::randn_like(d).shape() == xg::Shape{3, 4});
    CHECK(xg::rand_like(d).shape() == xg::Shape{3, 4});
    CHECK(xg::randint(0, 5, {4}, xg::dtype(xg::kFloat32)).dtype() == xg::kFloat32);
    CHECK(xg::randn({0, 3}).numel() == 0);
}

TEST_CASE("random: bad arguments are errors naming the op and the values") {
    CHECK_THROWS_WITH_AS(xg::randint(5, 5, {3}), doctest::Contains("randint: expects high > low, got low 5 and high 5"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(xg::randint(0, {3}), doctest::Contains("randint"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::bernoulli({3}, 1.5), doctest::Contains("bernoulli: expects 0 <= p <= 1, got p = 1.5"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(xg::bernoulli(xg::tensor({0.5, -0.1})), doctest::Contains("bernoulli"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::randn({2, -1}), doctest::Contains("randn: negative dimension -1"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::rand({-3}), doctest::Contains("rand: negative dimension -3"), xg::Error);
    CHECK_THROWS_WITH_AS(xg::randn({2}, xg::dtype(xg::kInt64)), doctest::Contains("randn: needs a floating dtype"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(xg::randperm(-1), doctest::Contains("randperm: n must be non-negative, got -1"), xg::Error);
}
