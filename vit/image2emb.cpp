// image2emb_naive and image2emb_conv, line for line as the source writes them. Both are built
// from differentiable ops (unfold, matmul, conv2d, views), so their backward needs no code here.
#include "vit/image2emb.h"

#include "core/ops.h"
#include "nn/functional.h"

namespace xg::vit {

namespace F = nn::functional;

Tensor image2emb_naive(const Tensor& image, int64_t patch_size, const Tensor& weight, SrcLoc loc) {
    XG_CHECK(image.defined() && weight.defined(), loc, "image2emb_naive: image and weight must be defined");
    XG_CHECK(image.dim() == 4, loc, "image2emb_naive: image must be [bs, channels, h, w], got shape " << image.shape());
    XG_CHECK(patch_size > 0, loc, "image2emb_naive: patch_size must be positive, got " << patch_size);
    // image shape: bs*channel*h*w
    // patch = F.unfold(image, kernel_size=patch_size, stride=patch_size).transpose(-1, -2)
    Tensor patch = F::unfold(image, patch_size, {.stride = patch_size}, loc).transpose(-1, -2, loc);
    // patch_embedding = patch @ weight     [bs, num_patches, patch_depth] @ [patch_depth, model_dim]
    Tensor patch_embedding = patch.matmul(weight, loc);
    return patch_embedding;
}

Tensor image2emb_conv(const Tensor& image, const Tensor& kernel, int64_t stride, SrcLoc loc) {
    XG_CHECK(image.defined() && kernel.defined(), loc, "image2emb_conv: image and kernel must be defined");
    XG_CHECK(image.dim() == 4, loc, "image2emb_conv: image must be [bs, channels, h, w], got shape " << image.shape());
    // conv_output = F.conv2d(image, kernel, stride=stride)   # bs*oc*oh*ow
    Tensor conv_output = F::conv2d(image, kernel, /*bias=*/{}, stride, /*padding=*/0, /*dilation=*/1, loc);
    // bs, oc, oh, ow = conv_output.shape
    const int64_t bs = conv_output.size(0), oc = conv_output.size(1), oh = conv_output.size(2), ow = conv_output.size(3);
    // patch_embedding = conv_output.reshape((bs, oc, oh * ow)).transpose(-1, -2)
    Tensor patch_embedding = conv_output.reshape({bs, oc, oh * ow}, loc).transpose(-1, -2, loc);
    return patch_embedding;
}

}  // namespace xg::vit
