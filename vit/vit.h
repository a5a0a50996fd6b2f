#pragma once
// The Vision Transformer library in one include:
//   #include "vit/vit.h"
//   auto model = std::make_shared<xg::vit::VisionTransformer>(xg::vit::ViTConfig::toy());
#include "vit/image2emb.h"
#include "vit/position_embedding.h"
#include "vit/vision_transformer.h"
