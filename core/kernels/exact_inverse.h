#pragma once
// Dividing by a power of two (attention's sqrt(head_dim) = 4 or 8) is multiplying by its
// inverse, exactly: both round the same real number, x * 2^-e. A multiply runs several times
// faster than a divide (vdivps is not fully pipelined), so the division kernels use it when
// they can. This header includes only the standard library.
#include <cmath>

namespace xg::kernels {

// True, with *inverse = 1 / d, when x * (1 / d) == x / d for every x: d a power of two whose
// inverse is a normal number. Else false.
template <class T>
inline bool exact_inverse(T d, T* inverse) {
    int exponent = 0;
    const T mantissa = std::isfinite(d) ? std::frexp(d, &exponent) : T(0);  // d = mantissa * 2^exponent
    *inverse = T(1) / d;
    return (mantissa == T(0.5) || mantissa == T(-0.5)) && std::isfinite(*inverse) && *inverse * d == T(1);
}

}  // namespace xg::kernels
