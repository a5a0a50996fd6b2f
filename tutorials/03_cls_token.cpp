// 03 — Prepend the CLS token embedding (the source's section 6.2).
//
// The CLS token is one learned vector of model_dim numbers, the same for every image. It is put
// in front of the patch sequence; through self-attention it reads every patch, and the encoder's
// output at its position is what the classifier looks at (tutorial 06).
//
// The source's line does not run (errata 2): it puts a Python list inside the list of tensors,
// and even without that, a 2-D [1, model_dim] token cannot be concatenated with a 3-D
// [bs, num_patches, model_dim] sequence. Here is that error, as xgrad reports it, then the fix.
//
// Run:  ./build/dev/tutorials/03_cls_token
#include <iostream>

#include "vit/image2emb.h"
#include "xgrad.h"

using xg::Tensor;
using xg::operator<<;  // prints a shape as [1, 4, 8], as torch.Size does

int main() {
    xg::manual_seed(0);  // torch.manual_seed(0); the draws below follow the source's order
    const int64_t bs = 1, ic = 3, image_h = 8, image_w = 8, patch_size = 4, model_dim = 8;
    const int64_t patch_depth = patch_size * patch_size * ic;
    Tensor image = xg::randn({bs, ic, image_h, image_w});
    Tensor weight = xg::randn({patch_depth, model_dim});  // the source draws a weight for the naive way...
    weight = xg::randn({patch_depth, model_dim});         // ...and a new one for the conv way
    Tensor kernel = weight.transpose(0, 1).reshape({-1, ic, patch_size, patch_size});
    Tensor patch_embedding_conv = xg::vit::image2emb_conv(image, kernel, patch_size);  // [1, 4, 8]

    // cls_token_embedding = torch.randn(1, model_dim, requires_grad=True)
    Tensor cls_token_embedding = xg::randn({1, model_dim}, xg::requires_grad());

    // token_embedding = torch.cat([[bs, cls_token_embedding], patch_embedding_conv], dim=1)   (sic)
    // C++ cannot even spell the inner list; the closest line is the cat of the token as it is:
    std::cout << "The source's concatenation:\n";
    try {
        Tensor token_embedding = xg::cat({cls_token_embedding, patch_embedding_conv}, /*dim=*/1);
    } catch (const xg::Error& e) {
        // PyTorch: "Tensors must have same number of dimensions: got 2 and 3"
        std::cout << "  xg::Error: " << e.what() << "\n\n";
    }

    // The fix: give the token a batch dim, [1, 1, model_dim], and expand it to [bs, 1, model_dim]
    // (a view: every sequence shares the one learned vector, and their gradients add up in it).
    // cls_token_embedding.unsqueeze(0).expand(bs, 1, model_dim)
    Tensor cls_tokens = cls_token_embedding.unsqueeze(0).expand({bs, 1, model_dim});
    // token_embedding = torch.cat([cls_tokens, patch_embedding_conv], dim=1)
    Tensor token_embedding = xg::cat({cls_tokens, patch_embedding_conv}, /*dim=*/1);
    std::cout << "The fix: expand the token to " << cls_tokens.shape() << ", then cat on dim 1\n";
    std::cout << "token_embedding.shape: " << token_embedding.shape() << "   (bs, 1 + num_patches, model_dim)\n";
    std::cout << "token_embedding = " << token_embedding << "\n";

    // Row 0 of every sequence is the CLS token itself.
    bool first_is_cls = xg::equal(token_embedding.select(1, 0).detach(), cls_token_embedding.detach());
    std::cout << "\ntoken_embedding[:, 0] is the CLS token: " << (first_is_cls ? "yes" : "NO") << "\n";
    return first_is_cls ? 0 : 1;
}
