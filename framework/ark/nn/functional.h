// nn::functional (alias F): libtorch's torch::nn::functional, the stateless forms of the layers,
// taking an options struct: F::conv2d(x, w, F::Conv2dFuncOptions().stride(2).padding(1)),
// F::cross_entropy(x, y, F::CrossEntropyFuncOptions().reduction(ark::kSum)).
// Each is a thin adapter onto an op of ark/ops (which owns checks, kernels and backward).
// Deliberately left out: 1-D/3-D pooling, bicubic/trilinear interpolation, fractional/lp pooling.
#pragma once
#include <cstdint>

#include "ark/core/tensor.h"
#include "ark/nn/options/activation.h"
#include "ark/nn/options/conv.h"
#include "ark/nn/options/dropout.h"
#include "ark/nn/options/embedding.h"
#include "ark/nn/options/linear.h"
#include "ark/nn/options/loss.h"
#include "ark/nn/options/normalization.h"
#include "ark/nn/options/pooling.h"
#include "ark/nn/options/vision.h"

namespace ark::nn::functional {

// ---- activations ----
Tensor relu(Tensor input, const ReLUFuncOptions& options = {});
Tensor relu6(Tensor input, const ReLU6FuncOptions& options = {});
Tensor leaky_relu(Tensor input, const LeakyReLUFuncOptions& options = {});
Tensor elu(Tensor input, const ELUFuncOptions& options = {});
Tensor gelu(const Tensor& input, const GELUFuncOptions& options = {});
Tensor silu(const Tensor& input);
Tensor hardswish(const Tensor& input);
Tensor hardsigmoid(const Tensor& input);
Tensor softplus(const Tensor& input, const SoftplusFuncOptions& options = {});
Tensor softmax(const Tensor& input, const SoftmaxFuncOptions& options);
Tensor log_softmax(const Tensor& input, const LogSoftmaxFuncOptions& options);

// ---- dropout (identity unless options.training()) ----
Tensor dropout(Tensor input, const DropoutFuncOptions& options = {});
/// Zeroes whole channels of (N, C, H, W) or (C, H, W) input.
Tensor dropout2d(Tensor input, const Dropout2dFuncOptions& options = {});

// ---- linear, convolution, pooling ----
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});
Tensor conv1d(const Tensor& input, const Tensor& weight, const Conv1dFuncOptions& options = {});
Tensor conv2d(const Tensor& input, const Tensor& weight, const Conv2dFuncOptions& options = {});
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const ConvTranspose2dFuncOptions& options = {});
Tensor max_pool2d(const Tensor& input, const MaxPool2dFuncOptions& options);
Tensor avg_pool2d(const Tensor& input, const AvgPool2dFuncOptions& options);
Tensor adaptive_avg_pool2d(const Tensor& input, const AdaptiveAvgPool2dFuncOptions& options);

// ---- normalisation ----
/// With options.training(), updates running_mean/running_var in place (when defined).
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormFuncOptions& options = {});
Tensor layer_norm(const Tensor& input, const LayerNormFuncOptions& options);
Tensor group_norm(const Tensor& input, const GroupNormFuncOptions& options);
Tensor rms_norm(const Tensor& input, const RMSNormFuncOptions& options);
/// input / max(||input||_p along dim, eps).
Tensor normalize(const Tensor& input, const NormalizeFuncOptions& options = {});

// ---- embedding ----
/// With max_norm, the looked-up rows of `weight` are renormalised in place first (as PyTorch).
Tensor embedding(const Tensor& input, const Tensor& weight, const EmbeddingFuncOptions& options = {});
Tensor one_hot(const Tensor& tensor, int64_t num_classes = -1);

// ---- losses ----
Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyFuncOptions& options = {});
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossFuncOptions& options = {});
Tensor mse_loss(const Tensor& input, const Tensor& target, const MSELossFuncOptions& options = {});
Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossFuncOptions& options = {});
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const SmoothL1LossFuncOptions& options = {});
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BinaryCrossEntropyFuncOptions& options = {});
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BinaryCrossEntropyWithLogitsFuncOptions& options = {});

// ---- resampling and geometry ----
/// 4-D input; modes kNearest, kBilinear (align_corners) and kArea. With scale_factor the output
/// size is floor(in * scale) and the sampling grid follows from the sizes (identical to
/// PyTorch's whenever in * scale is a whole number).
Tensor interpolate(const Tensor& input, const InterpolateFuncOptions& options = {});
Tensor pad(const Tensor& input, const PadFuncOptions& options);
/// PyTorch >= 1.13's formula: sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along dim.
Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, const CosineSimilarityFuncOptions& options = {});

}  // namespace ark::nn::functional

namespace ark::nn {
namespace F = functional;
}
