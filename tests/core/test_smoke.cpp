#include <doctest/doctest.h>

#include "xgrad.h"

TEST_CASE("smoke: add, mul, sum backward") {
    xg::Tensor a = xg::tensor({1, 2, 3}, xg::requires_grad());
    xg::Tensor b = xg::tensor({4, 5, 6}, xg::requires_grad());
    xg::Tensor y = (a * b + a).sum();
    CHECK(y.item() == doctest::Approx(1 * 4 + 2 * 5 + 3 * 6 + 6));
    y.backward();
    CHECK(a.grad().to_vector<double>() == std::vector<double>{5, 6, 7});
    CHECK(b.grad().to_vector<double>() == std::vector<double>{1, 2, 3});
}
