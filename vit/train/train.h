#pragma once
// The Fashion-MNIST trainer in one include (docs/training.md):
//   #include "vit/train/train.h"
//   namespace train = xg::vit::train;
//   train::Trainer trainer(train::resolve_config(train::parse_train_args(argc, argv)));
//   train::TrainResult result = trainer.fit();
#include "vit/train/checkpoint.h"
#include "vit/train/evaluate.h"
#include "vit/train/metrics.h"
#include "vit/train/progress.h"
#include "vit/train/train_config.h"
#include "vit/train/trainer.h"
