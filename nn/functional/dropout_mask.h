#pragma once
// A dropout mask kept as one byte per element (nn/functional/dropout.cpp explains why), shared by
// F::dropout and the fused attention (nn/functional/attention.cpp), which applies it to the
// attention weights in its forward and again to their gradient in its backward.
#include <cstdint>
#include <memory>

#include "core/storage.h"
#include "core/tensor.h"

namespace xg::nn::functional::detail {

class DropoutMask {
  public:
    // n draws of Bernoulli(1 - p) from the global generator: 1 = keep, 0 = drop.
    DropoutMask(int64_t n, double p);
    // A fresh contiguous tensor x * (keep ? 1/(1-p) : 0); x has the mask's element count.
    Tensor apply(const Tensor& x) const;

    // The same on a piece of the mask: out[i] = in[i] * (keep[offset + i] ? 1/(1-p) : 0) for
    // i < n (out may be in). The fused attention applies the mask one head at a time with it.
    // 1/(1-p) is rounded to T, exactly what PyTorch's noise.div_(1 - p) leaves in its mask;
    // dropped elements are multiplied by 0, not set to 0, so a NaN stays NaN as in PyTorch's
    // x * noise. Written as arithmetic rather than `keep ? scale : 0` so that the compiler
    // vectorizes it (bytes widened to 8 floats at a time); the select compiled to a scalar loop
    // 4x slower.
    template <class T>
    void apply(const T* in, T* out, int64_t offset, int64_t n) const {
        const T scale = T(1) / static_cast<T>(1.0 - p_);
        const uint8_t* keep = static_cast<const uint8_t*>(keep_->data()) + offset;
        for (int64_t i = 0; i < n; ++i) out[i] = in[i] * (static_cast<T>(keep[i]) * scale);
    }

  private:
    std::shared_ptr<Storage> keep_;
    int64_t n_;
    double p_;
};

}  // namespace xg::nn::functional::detail
