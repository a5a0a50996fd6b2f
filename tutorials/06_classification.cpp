// 06 — Classification (the source's section 6.5): the whole pipeline of tutorials 01-05, the
// CLS token's output through a Linear head, cross-entropy, and one backward pass.
//
// Run:  ./build/dev/tutorials/06_classification
#include <cmath>
#include <iostream>

#include "nn/nn.h"
#include "vit/image2emb.h"
#include "xgrad.h"

namespace nn = xg::nn;
using xg::Tensor;
using xg::operator<<;  // prints a shape as [1, 4, 8], as torch.Size does

int main() {
    xg::manual_seed(0);  // torch.manual_seed(0): the random draws below follow the source's order
    const int64_t bs = 1, ic = 3, image_h = 8, image_w = 8, patch_size = 4, model_dim = 8;
    const int64_t patch_depth = patch_size * patch_size * ic;

    // 6.1 image -> patch embeddings (conv way)
    Tensor image = xg::randn({bs, ic, image_h, image_w});
    Tensor weight = xg::randn({patch_depth, model_dim});
    weight = xg::randn({patch_depth, model_dim});
    Tensor kernel = weight.transpose(0, 1).reshape({-1, ic, patch_size, patch_size});
    Tensor patch_embedding_conv = xg::vit::image2emb_conv(image, kernel, patch_size);

    // 6.2 prepend the CLS token (fixed as in tutorial 03)
    Tensor cls_token_embedding = xg::randn({1, model_dim}, xg::requires_grad());
    Tensor token_embedding =
        xg::cat({cls_token_embedding.unsqueeze(0).expand({bs, 1, model_dim}), patch_embedding_conv}, 1);

    // 6.3 add the position embedding
    const int64_t max_num_token = 16;
    Tensor position_embedding_table = xg::randn({max_num_token, model_dim}, xg::requires_grad());
    const int64_t seq_len = token_embedding.size(1);
    Tensor position_embedding = position_embedding_table.slice(0, 0, seq_len).tile({token_embedding.size(0), 1, 1});
    token_embedding += position_embedding;

    // 6.4 the encoder (fixed as in tutorial 05: batch_first=True)
    auto encoder_layer = std::make_shared<nn::TransformerEncoderLayer>(
        model_dim, /*nhead=*/8, nn::TransformerLayerOptions{.batch_first = true});
    auto transformer_encoder = std::make_shared<nn::TransformerEncoder>(encoder_layer, /*num_layers=*/6);
    // encoder_output = transformer_encoder(token_embedding)
    Tensor encoder_output = (*transformer_encoder)(token_embedding);

    // 6.5 classification
    // cls_token_output = encoder_output[:, 0, :]
    Tensor cls_token_output = encoder_output.select(1, 0);
    // num_classes = 10
    const int64_t num_classes = 10;
    // label = torch.randint(10, (bs,))
    Tensor label = xg::randint(10, {bs});
    // linear_layer = nn.Linear(model_dim, num_classes)
    nn::Linear linear_layer(model_dim, num_classes);
    // logits = linear_layer(cls_token_output)
    Tensor logits = linear_layer(cls_token_output);
    // loss_fn = nn.CrossEntropyLoss()
    nn::CrossEntropyLoss loss_fn;
    // loss = loss_fn(logits, label)
    Tensor loss = loss_fn(logits, label);
    // print(loss)   PyTorch 1.13 running the source (errata fixed) after torch.manual_seed(0) prints
    //               tensor(3.0046, grad_fn=<NllLossBackward0>), and so does this line: the same
    //               random draws (dropout masks included) and the same arithmetic.
    std::cout << "label = " << label << "\n";
    std::cout << "logits.shape: " << logits.shape() << "\n";
    std::cout << "loss = " << loss << "\n";

    // loss.backward(): gradients reach every leaf, the CLS token included: it was never looked at
    // directly by the head, only through six layers of attention over the patches.
    loss.backward();
    // PyTorch: tensor([[-0.0787, -0.1371,  0.1574, -0.0613, -0.2189, -0.0793, -0.0618,  0.1877]])
    std::cout << "cls_token_embedding.grad = " << cls_token_embedding.grad() << "\n";
    std::cout << "linear_layer.weight.grad.shape: " << linear_layer.weight.grad().shape() << "\n";
    std::cout << "position_embedding_table.grad rows 5..15 are zero (those positions were not used): "
              << (position_embedding_table.grad().slice(0, 5).abs().max().item() == 0 ? "yes" : "no") << "\n";
    return std::isfinite(loss.item()) ? 0 : 1;
}
