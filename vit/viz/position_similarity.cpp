#include "vit/viz/position_similarity.h"

#include "core/autograd/grad_mode.h"
#include "core/ops.h"

namespace xg::vit::viz {

Tensor position_similarity(const Tensor& pos_embedding, SrcLoc loc) {
    XG_CHECK(pos_embedding.defined() && (pos_embedding.dim() == 2 || pos_embedding.dim() == 3), loc,
             "viz::position_similarity: expected pos_embedding [1, 1 + n, d] or [1 + n, d], got "
                 << (pos_embedding.defined() ? shape_str(pos_embedding.shape()) : "undefined"));
    Tensor table = pos_embedding.dim() == 3 ? pos_embedding.select(0, 0, loc) : pos_embedding;  // [1 + n, d]
    XG_CHECK(table.size(0) >= 2, loc, "viz::position_similarity: the table has no patch rows (only the CLS row)");
    NoGradGuard no_grad;
    // float64: the diagonal then comes out as 1 to ~1e-15, not to float32's ~1e-7.
    Tensor e = table.slice(0, 1, std::nullopt, 1, loc).to(kFloat64, loc);  // [n, d], the CLS row dropped
    Tensor norm = e.pow(2.0, loc).sum({1}, /*keepdim=*/true, loc).sqrt(loc);  // [n, 1]
    Tensor unit = div(e, norm, loc);                                        // rows of length 1
    return unit.matmul(unit.t(loc), loc);                                   // [n, n]
}

}  // namespace xg::vit::viz
