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

  private:
    std::shared_ptr<Storage> keep_;
    int64_t n_;
    double p_;
};

}  // namespace xg::nn::functional::detail
