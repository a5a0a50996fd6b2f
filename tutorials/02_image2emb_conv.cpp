// 02 — Image to patch embeddings, the CNN way (the source's section 6.1, second half).
//
// A convolution whose kernel and stride both equal the patch size visits each patch once and
// takes the dot product of the whole patch with each output channel's kernel: exactly the
// patch @ weight of tutorial 01, if kernel[o] is column o of weight laid out as [ic, p, p].
// The conv's output feature map [bs, model_dim, 2, 2] flattened is the sequence of patches.
//
// Run:  ./build/dev/tutorials/02_image2emb_conv
#include <iostream>

#include "nn/functional.h"
#include "vit/image2emb.h"
#include "xgrad.h"

namespace F = xg::nn::functional;
using xg::Tensor;
using xg::operator<<;  // prints a shape as [1, 4, 8], as torch.Size does

// def image2emb_conv(image, kernel, stride):
Tensor image2emb_conv(const Tensor& image, const Tensor& kernel, int64_t stride) {
    // conv_output = F.conv2d(image, kernel, stride=stride)   # bs*oc*oh*ow
    Tensor conv_output = F::conv2d(image, kernel, /*bias=*/{}, stride);
    // bs, oc, oh, ow = conv_output.shape
    const int64_t bs = conv_output.size(0), oc = conv_output.size(1), oh = conv_output.size(2), ow = conv_output.size(3);
    // patch_embedding = conv_output.reshape((bs, oc, oh * ow)).transpose(-1, -2)
    Tensor patch_embedding = conv_output.reshape({bs, oc, oh * ow}).transpose(-1, -2);
    return patch_embedding;
}

int main() {
    xg::manual_seed(0);  // torch.manual_seed(0)
    const int64_t bs = 1, ic = 3, image_h = 8, image_w = 8, patch_size = 4, model_dim = 8;
    const int64_t patch_depth = patch_size * patch_size * ic;
    Tensor image = xg::randn({bs, ic, image_h, image_w});  // image = torch.randn(bs, ic, image_h, image_w)
    Tensor weight = xg::randn({patch_depth, model_dim});   // weight = torch.randn(patch_depth, model_dim)
    // Tutorial 01's function, kept in the library as xg::vit::image2emb_naive (vit/image2emb.cpp).
    Tensor patch_embedding_naive = xg::vit::image2emb_naive(image, patch_size, weight);

    // kernel = weight.transpose(0, 1).reshape((-1, ic, patch_size, patch_size))   # oc*ic*kh*kw
    Tensor kernel = weight.transpose(0, 1).reshape({-1, ic, patch_size, patch_size});
    std::cout << "kernel.shape: " << kernel.shape() << "   (out channels = model_dim, ic, kh, kw)\n";

    // patch_embedding_conv = image2emb_conv(image, kernel, patch_size)
    Tensor patch_embedding_conv = image2emb_conv(image, kernel, patch_size);
    std::cout << "patch_embedding_conv.shape: " << patch_embedding_conv.shape() << "\n";
    std::cout << "patch_embedding_conv = " << patch_embedding_conv << "\n";

    // The two ways agree up to float rounding (the sums run in another order).
    double max_diff = (patch_embedding_naive - patch_embedding_conv).abs().max().item();
    bool agree = xg::allclose(patch_embedding_naive, patch_embedding_conv, /*rtol=*/1e-5, /*atol=*/1e-5);
    std::cout << "\nmax |naive - conv| = " << max_diff << "\n";
    std::cout << "naive and conv agree: " << (agree ? "yes" : "NO") << "\n";
    return agree ? 0 : 1;
}
