#pragma once
// F::interpolate: resize the two spatial dims of an [N, C, H, W] tensor, as
// torch.nn.functional.interpolate (PyTorch 1.13) does for 4-D inputs.
//
//   namespace F = xg::nn::functional;
//   // PyTorch: F.interpolate(grid, size=(6, 6), mode="bicubic", align_corners=False)
//   Tensor bigger = F::interpolate(grid, {.size = F::IntPair(6, 6), .mode = "bicubic", .align_corners = false});
//   // PyTorch: F.interpolate(x, scale_factor=2)          (mode="nearest" is the default)
//   Tensor twice = F::interpolate(x, {.scale_factor = 2.0});
//
// Modes (the forward and the backward of all three live in nn/functional/interpolate.cpp):
//   "nearest"   each output pixel copies the input pixel floor(dst * in / out)
//   "bilinear"  a weighted mean of the 2 x 2 nearest input pixels
//   "bicubic"   a weighted sum of the 4 x 4 nearest input pixels with Keys' cubic kernel, A = -0.75
//               (PyTorch's and OpenCV's choice); the ViT uses it to resample its position
//               embedding grid for images of another size (vit/position_embedding.h).
// align_corners (bilinear, bicubic; default false, as PyTorch): false treats pixels as unit
// squares and aligns the outer edges of the corner pixels (src = (dst + 0.5) * in / out - 0.5);
// true aligns the centres of the corner pixels (src = dst * (in - 1) / (out - 1)).
// Pixels outside the image are read as the nearest border pixel (bicubic needs 2 beyond).
// Differentiable w.r.t. the input in every mode: each output is a fixed weighted sum of inputs,
// so the backward sends each output gradient back along the same weights.
#include <optional>
#include <string>

#include "core/tensor.h"
#include "nn/functional.h"

namespace xg::nn::functional {

// torch.nn.functional.interpolate's keyword arguments (antialias and recompute_scale_factor are
// not offered: PyTorch's defaults, False and None, are what xgrad does). Give exactly one of
// size and scale_factor. With scale_factor the output size is floor(in * scale_factor) and the
// source coordinate uses 1 / scale_factor itself, as PyTorch does.
struct InterpolateOptions {
    std::optional<IntPair> size = {};          // (out_h, out_w), or one int for both
    std::optional<double> scale_factor = {};   // the same factor for both dims
    std::string mode = "nearest";              // "nearest" | "bilinear" | "bicubic"
    std::optional<bool> align_corners = {};    // bilinear/bicubic only; unset means false
};

// input: [N, C, H, W]   ->   [N, C, out_h, out_w]
Tensor interpolate(const Tensor& input, const InterpolateOptions& options, SrcLoc loc = SrcLoc::current());

// The positional form, as Python's F.interpolate(input, size, scale_factor, mode, align_corners).
Tensor interpolate(const Tensor& input, std::optional<IntPair> size, std::optional<double> scale_factor = std::nullopt,
                   const std::string& mode = "nearest", std::optional<bool> align_corners = std::nullopt,
                   SrcLoc loc = SrcLoc::current());

}  // namespace xg::nn::functional
