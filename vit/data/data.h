#pragma once
// The Fashion-MNIST data pipeline in one include (docs/data.md):
//   #include "vit/data/data.h"
//   namespace data = xg::vit::data;
//   data::FashionMNIST train(data::default_fashion_mnist_dir(), /*train=*/true);
//   data::DataLoader loader(train, {.batch_size = 128, .augment = true});
#include "vit/data/data_loader.h"
#include "vit/data/fashion_mnist.h"
#include "vit/data/idx.h"
