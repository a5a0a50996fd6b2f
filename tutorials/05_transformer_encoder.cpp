// 05 — The Transformer encoder (the source's section 6.4), and its batch_first pitfall.
//
// nn.TransformerEncoderLayer reads its input as [seq, batch, d] unless batch_first=True
// (errata 4). The source passes [bs=1, seq=5, d=8] without it, so the encoder sees five
// sequences of length one: every token attends only to itself and the five tokens never see each
// other. No error is raised: the shapes fit either way. The test below shows it: change tokens
// 1-4 and see whether token 0's output moves.
//
// Run:  ./build/dev/tutorials/05_transformer_encoder
#include <iostream>

#include "nn/nn.h"
#include "xgrad.h"

namespace nn = xg::nn;
using xg::Tensor;
using xg::operator<<;  // prints a shape as [1, 4, 8], as torch.Size does

// How much token 0's output moves when every other token is changed.
double change_of_token0(nn::TransformerEncoder& encoder, const Tensor& token_embedding) {
    Tensor changed = token_embedding.clone();
    changed.slice(1, 1).add_(1.0);  // tokens 1..4 of every sequence; token 0 untouched
    Tensor before = encoder(token_embedding).select(1, 0);  // encoder_output[:, 0, :]
    Tensor after = encoder(changed).select(1, 0);
    return (before - after).abs().max().item();
}

int main() {
    xg::manual_seed(0);
    const int64_t bs = 1, seq_len = 5, model_dim = 8;
    // The [bs, 1 + num_patches, model_dim] sequence of tutorials 03-04.
    Tensor token_embedding = xg::randn({bs, seq_len, model_dim});

    // encoder_layer = nn.TransformerEncoderLayer(d_model=model_dim, nhead=8)
    auto encoder_layer = std::make_shared<nn::TransformerEncoderLayer>(model_dim, /*nhead=*/8);
    // errata 5: d_model=8 with nhead=8 leaves each head a single feature (legal, but a 1-number
    // query and key make for a crude similarity)
    std::cout << "head_dim = d_model / nhead = " << encoder_layer->self_attn->head_dim << "\n";
    // transformer_encoder = nn.TransformerEncoder(encoder_layer, num_layers=6)
    auto transformer_encoder = std::make_shared<nn::TransformerEncoder>(encoder_layer, /*num_layers=*/6);
    transformer_encoder->eval();  // dropout off, so that the two runs below differ only by their input

    // encoder_output = transformer_encoder(token_embedding)   (batch_first=False: read as [seq, batch, d])
    Tensor encoder_output = (*transformer_encoder)(token_embedding);
    std::cout << "encoder_output.shape: " << encoder_output.shape() << "\n";
    double wrong = change_of_token0(*transformer_encoder, token_embedding);
    std::cout << "batch_first=false: token 0's output moved by " << wrong
              << " when tokens 1-4 changed -> token 0 sees the other tokens: " << (wrong > 0 ? "yes" : "no") << "\n";

    // The fix: nn.TransformerEncoderLayer(d_model=model_dim, nhead=8, batch_first=True), with the
    // very same weights (the option changes how the input is read, not the parameters).
    auto fixed_layer = std::make_shared<nn::TransformerEncoderLayer>(
        model_dim, 8, nn::TransformerLayerOptions{.batch_first = true});
    auto fixed_encoder = std::make_shared<nn::TransformerEncoder>(fixed_layer, 6);
    fixed_encoder->load_state_dict(transformer_encoder->state_dict());
    fixed_encoder->eval();
    double right = change_of_token0(*fixed_encoder, token_embedding);
    std::cout << "batch_first=true:  token 0's output moved by " << right
              << " when tokens 1-4 changed -> token 0 sees the other tokens: " << (right > 0 ? "yes" : "no") << "\n";
    return (wrong == 0 && right > 0) ? 0 : 1;
}
