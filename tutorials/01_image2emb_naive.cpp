// 01 — Image to patch embeddings, the DNN way (the source's section 6.1, first half).
//
// Cut the image into patch_size x patch_size patches, flatten each patch into one row of
// patch_depth = ic * patch_size^2 numbers, and map every row to a model_dim vector with one
// matrix multiply. F::unfold does the cutting: it is im2col, the same routine a convolution
// uses (nn/functional/fold.cpp), which is why tutorial 02 can do all this with a conv2d.
//
// Run:  ./build/dev/tutorials/01_image2emb_naive
#include <iostream>

#include "nn/functional.h"
#include "xgrad.h"

namespace F = xg::nn::functional;
using xg::Tensor;
using xg::operator<<;  // prints a shape as [1, 4, 8], as torch.Size does

// def image2emb_naive(image, patch_size, weight):
Tensor image2emb_naive(const Tensor& image, int64_t patch_size, const Tensor& weight) {
    // image shape: bs*channel*h*w
    // patch = F.unfold(image, kernel_size=patch_size, stride=patch_size).transpose(-1, -2)
    Tensor patch = F::unfold(image, patch_size, {.stride = patch_size}).transpose(-1, -2);
    // patch_embedding = patch @ weight
    Tensor patch_embedding = patch.matmul(weight);
    return patch_embedding;
}

int main() {
    xg::manual_seed(0);  // torch.manual_seed(0): from here on, the same random numbers as PyTorch

    // bs, ic, image_h, image_w = 1, 3, 8, 8
    const int64_t bs = 1, ic = 3, image_h = 8, image_w = 8;
    const int64_t patch_size = 4;                              // patch_size = 4: each patch is 4x4
    const int64_t model_dim = 8;                               // model_dim = 8: each patch becomes 8 numbers
    const int64_t patch_depth = patch_size * patch_size * ic;  // patch_depth = patch_size * patch_size * ic
    Tensor image = xg::randn({bs, ic, image_h, image_w});      // image = torch.randn(bs, ic, image_h, image_w)
    Tensor weight = xg::randn({patch_depth, model_dim});       // weight = torch.randn(patch_depth, model_dim)

    // What unfold returns: one column of 48 pixel values per patch, 4 patches (2 down x 2 across).
    Tensor columns = F::unfold(image, patch_size, {.stride = patch_size});
    std::cout << "F.unfold(image) shape: " << columns.shape() << "   (bs, patch_depth, num_patches)\n";

    // patch_embedding_naive = image2emb_naive(image, patch_size, weight)
    // (errata 1: the source calls it image2emb_navie, a NameError at run time; in C++ a
    //  misspelt name does not compile.)
    Tensor patch_embedding_naive = image2emb_naive(image, patch_size, weight);
    // print(patch_embedding_naive.shape)   ->  torch.Size([1, 4, 8]): four patches, each a vector of 8
    std::cout << "patch_embedding_naive.shape: " << patch_embedding_naive.shape() << "\n";
    // PyTorch 1.13 after torch.manual_seed(0) prints the same digits:
    //   tensor([[[ -2.7614,   3.6700,   1.6438,  -4.5695,  -5.9387,  -7.0003,   2.4935,
    //             -10.8923],
    //            [ -6.6496, -12.7849,   0.8366,  -3.6780, ...
    std::cout << "patch_embedding_naive = " << patch_embedding_naive << "\n";

    // A weight of the wrong shape is caught where the multiply happens, naming both shapes and
    // this file's line (PyTorch: "mat1 and mat2 shapes cannot be multiplied (4x48 and 8x8)").
    try {
        image2emb_naive(image, patch_size, xg::randn({model_dim, model_dim}));
    } catch (const xg::Error& e) {
        std::cout << "\nwith an [8, 8] weight:\n  " << e.what() << "\n";
    }
    return 0;
}
