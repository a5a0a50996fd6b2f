// 04 — Add the position embedding (the source's section 6.3), then resample it for another
// image size (section 4.4: "interpolate the position embedding at inference time").
//
// Self-attention by itself ignores order: shuffle the patches and each output is shuffled the
// same way. A learned vector per position, added to the tokens, tells the model where each
// patch came from.
//
// Run:  ./build/dev/tutorials/04_position_embedding
#include <iostream>

#include "vit/vit.h"
#include "xgrad.h"

using xg::Tensor;
using xg::operator<<;  // prints a shape as [1, 4, 8], as torch.Size does

int main() {
    xg::manual_seed(0);  // torch.manual_seed(0); tutorials 01-03 in the source's order
    const int64_t bs = 1, ic = 3, image_h = 8, image_w = 8, patch_size = 4, model_dim = 8;
    const int64_t patch_depth = patch_size * patch_size * ic;
    Tensor image = xg::randn({bs, ic, image_h, image_w});
    Tensor weight = xg::randn({patch_depth, model_dim});
    weight = xg::randn({patch_depth, model_dim});
    Tensor kernel = weight.transpose(0, 1).reshape({-1, ic, patch_size, patch_size});
    Tensor patch_embedding_conv = xg::vit::image2emb_conv(image, kernel, patch_size);
    Tensor cls_token_embedding = xg::randn({1, model_dim}, xg::requires_grad());
    Tensor token_embedding =
        xg::cat({cls_token_embedding.unsqueeze(0).expand({bs, 1, model_dim}), patch_embedding_conv}, 1);

    // max_num_token = 16
    const int64_t max_num_token = 16;
    // position_embedding_table = torch.randn(max_num_token, model_dim, requires_grad=True)
    Tensor position_embedding_table = xg::randn({max_num_token, model_dim}, xg::requires_grad());
    // seq_len = token_embedding.shape[1]   # 1 + 4
    const int64_t seq_len = token_embedding.size(1);
    // position_embedding = torch.tile(position_embedding_table[:seq_len], [token_embedding.shape[0], 1, 1])
    Tensor position_embedding = position_embedding_table.slice(0, 0, seq_len).tile({token_embedding.size(0), 1, 1});
    // errata 3: the source's comment says "5,bs,1,1"; the shape is (bs, seq_len, model_dim)
    std::cout << "position_embedding.shape: " << position_embedding.shape() << "\n";

    // token_embedding += position_embedding
    // errata 6: an in-place add on a tensor of the graph. Allowed, because nothing saved
    // token_embedding for its backward yet; the version counter is how autograd would notice.
    std::cout << "token_embedding._version before +=: " << token_embedding._version() << "\n";
    token_embedding += position_embedding;
    std::cout << "token_embedding._version after  +=: " << token_embedding._version()
              << "   grad_fn=" << token_embedding.grad_fn()->name() << "\n";
    std::cout << "token_embedding.shape: " << token_embedding.shape() << "\n\n";

    // ---- resampling: the same table for a 12 x 12 image (a 3 x 3 grid of patches) ------------
    // The model was trained on 2 x 2 patches; its table has 1 + 4 rows (CLS first). The grid rows
    // are an image of model_dim channels: resize it bicubic, keep the CLS row aside as it is.
    Tensor trained_table = position_embedding_table.slice(0, 0, 1 + 2 * 2).unsqueeze(0);  // [1, 5, 8]
    Tensor resampled = xg::vit::resample_pos_embedding(trained_table, /*old_grid=*/2, /*new_grid=*/3);
    std::cout << "table for 8x8 images:   " << trained_table.shape() << "\n";
    std::cout << "table for 12x12 images: " << resampled.shape() << "   (1 + 3*3 rows)\n";
    bool cls_kept = xg::equal(resampled.select(1, 0).detach(), trained_table.select(1, 0).detach());
    std::cout << "CLS row unchanged: " << (cls_kept ? "yes" : "NO") << "\n";
    // The corner patches of the new grid sit closest to the old corners, so they resemble them.
    std::cout << "old top-left patch: " << trained_table.select(1, 1).detach() << "\n";
    std::cout << "new top-left patch: " << resampled.select(1, 1).detach() << "\n";
    return cls_kept ? 0 : 1;
}
