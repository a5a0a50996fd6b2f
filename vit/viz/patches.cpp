#include "vit/viz/patches.h"

#include "core/ops.h"
#include "nn/functional.h"

namespace xg::vit::viz {

namespace F = nn::functional;

Tensor cut_patches(const Tensor& image, int64_t patch_size, SrcLoc loc) {
    XG_CHECK(image.defined() && image.dim() == 3, loc,
             "viz::cut_patches: expected an image [C, H, W], got " << (image.defined() ? shape_str(image.shape()) : "undefined"));
    const int64_t C = image.size(0), H = image.size(1), W = image.size(2), p = patch_size;
    XG_CHECK(p > 0 && H % p == 0 && W % p == 0, loc,
             "viz::cut_patches: image " << shape_str(image.shape()) << " does not cut into whole " << p << "x" << p << " patches");
    // The model's own patching: one column of C*p*p values per patch, in (c, row, col) order.
    Tensor columns = F::unfold(image.unsqueeze(0, loc), p, {.stride = p}, loc);  // [1, C*p*p, n]
    return columns.squeeze(0, loc).transpose(0, 1, loc).reshape({-1, C, p, p}, loc).contiguous(loc);  // [n, C, p, p]
}

Tensor assemble_patches(const Tensor& patches, int64_t grid_h, int64_t grid_w, SrcLoc loc) {
    XG_CHECK(patches.defined() && patches.dim() == 4 && patches.size(2) == patches.size(3), loc,
             "viz::assemble_patches: expected patches [n, C, p, p], got "
                 << (patches.defined() ? shape_str(patches.shape()) : "undefined"));
    XG_CHECK(grid_h > 0 && grid_w > 0 && patches.size(0) == grid_h * grid_w, loc,
             "viz::assemble_patches: " << patches.size(0) << " patches do not fill a " << grid_h << " x " << grid_w << " grid");
    const int64_t C = patches.size(1), p = patches.size(2);
    // [gh, gw, C, p, p] -> [C, gh, p, gw, p]: patch row, then the row inside the patch, and so on.
    return patches.reshape({grid_h, grid_w, C, p, p}, loc)
        .permute({2, 0, 3, 1, 4}, loc)
        .reshape({C, grid_h * p, grid_w * p}, loc);
}

}  // namespace xg::vit::viz
