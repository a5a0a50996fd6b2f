#pragma once
// Helpers shared by the vit test files: fixture loading, error capture, comparisons.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "xgrad.h"

namespace vit_test {

using xg::Tensor;

// A fixture written by tests/fixtures/vit_fixtures.py.
inline xg::SafetensorsFile fixture(const std::string& name) {
    return xg::load_safetensors(std::string(XGRAD_FIXTURES_DIR) + "/vit/" + name + ".safetensors");
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
    double m = 0.0;
    for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
    return m;
}

// |got - expected| <= tol everywhere; returns the max error so callers can report it.
inline double check_close(const Tensor& got, const Tensor& expected, double tol, const std::string& what) {
    REQUIRE_MESSAGE(got.shape() == expected.shape(),
                    what << ": shape " << xg::shape_str(got.shape()) << " vs " << xg::shape_str(expected.shape()));
    double err = max_abs_diff(got, expected);
    CHECK_MESSAGE(err <= tol, what << ": max abs error " << err << " > " << tol);
    return err;
}

template <class Fn>
std::string error_of(Fn&& f) {
    try {
        f();
    } catch (const xg::Error& e) {
        return e.what();
    }
    return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace vit_test
