#pragma once
// Section 6.1 of the source: an image becomes a sequence of patch embeddings, two ways.
//
//   DNN view: cut the image into patches (F::unfold), then one matrix multiply maps each
//             flattened patch to a model_dim vector.
//   CNN view: a convolution whose kernel and stride are both the patch size computes exactly
//             the same dot products; flatten its output feature map into the sequence.
//
// The two agree when kernel = weight.transpose(0, 1).reshape({-1, ic, patch_size, patch_size}),
// because unfold lays each patch out channel-major (c, i, j), the order of a conv kernel's
// [ic, kh, kw] dims. tutorials/01_image2emb_naive.cpp and 02_image2emb_conv.cpp show both.
#include <cstdint>

#include "core/tensor.h"

namespace xg::vit {

// PyTorch (the source):
//   def image2emb_naive(image, patch_size, weight):
//       patch = F.unfold(image, kernel_size=patch_size, stride=patch_size).transpose(-1, -2)
//       patch_embedding = patch @ weight
//   image: [bs, ic, h, w]   weight: [ic * patch_size^2, model_dim]   ->   [bs, (h/p) * (w/p), model_dim]
Tensor image2emb_naive(const Tensor& image, int64_t patch_size, const Tensor& weight, SrcLoc loc = SrcLoc::current());

// PyTorch (the source):
//   def image2emb_conv(image, kernel, stride):
//       conv_output = F.conv2d(image, kernel, stride=stride)   # bs*oc*oh*ow
//       bs, oc, oh, ow = conv_output.shape
//       patch_embedding = conv_output.reshape((bs, oc, oh * ow)).transpose(-1, -2)
//   image: [bs, ic, h, w]   kernel: [model_dim, ic, p, p]   ->   [bs, oh * ow, model_dim]
Tensor image2emb_conv(const Tensor& image, const Tensor& kernel, int64_t stride, SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit
