#pragma once
// The nn library in one include, as `import torch.nn as nn`:
//   #include "nn/nn.h"
//   namespace nn = xg::nn;  namespace F = xg::nn::functional;
//   auto head = std::make_shared<nn::Linear>(model_dim, num_classes);
#include "nn/attention.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/module.h"
#include "nn/modules/activation.h"
#include "nn/modules/activation_attention.h"
#include "nn/modules/container.h"
#include "nn/modules/conv.h"
#include "nn/modules/dropout.h"
#include "nn/modules/fold.h"
#include "nn/modules/linear.h"
#include "nn/modules/loss.h"
#include "nn/modules/normalization.h"
#include "nn/modules/transformer.h"
