#pragma once
// xg::nn::optim in one include: optimizers, gradient clipping, learning-rate schedules.
#include "nn/optim/adam.h"
#include "nn/optim/clip_grad.h"
#include "nn/optim/lr_scheduler.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/sgd.h"
