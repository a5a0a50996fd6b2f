#pragma once
// The public API of xgrad in one include:
//   #include "xgrad.h"
//   xg::Tensor w = xg::randn({48, 8}, xg::requires_grad());
#include "core/autograd/autograd.h"
#include "core/autograd/grad_mode.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"
