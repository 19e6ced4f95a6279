// Where a vision model looks: Grad-CAM (Selvaraju et al. 2017) for convolutional models and
// attention rollout (Abnar & Zuidema 2020) for ViT, built on the framework's forward hooks and
// tensor gradient hooks, as pytorch-grad-cam computes them:
//   grad_cam: A = the target layer's output (1, K, h, w), dA = d logit[target] / dA;
//             weights_k = mean over (h, w) of dA_k; cam = relu(sum_k weights_k * A_k);
//             bilinear upsampling to the input size (align_corners=False), then min-max scaled
//             to [0, 1] (all zeros when the map is constant).
//   attention_rollout: per layer, the attention probabilities averaged over heads (or the max,
//             or the min), the `discard_ratio` lowest entries of each layer zeroed (class token
//             kept), plus the identity, rows renormalised; the product over layers; the class
//             token's row over the patches, reshaped to the patch grid, upsampled and scaled.
// The model is run in eval mode (and every module put back in the mode it was in); parameters'
// gradients are not touched: the forward hook swaps the layer's output for a detached copy that
// requires grad, and d logit / dA comes from autograd::grad, which accumulates into nothing.
// Deliberate departures from vit-explain's rollout: rows are renormalised by their own sums
// (vit-explain divides by a broadcast row vector, i.e. column j by row j's sum), and the map is
// min-max scaled like Grad-CAM's rather than divided by its maximum.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "ark/models/model.h"

namespace ark::models {

struct CamResult {
  Tensor heatmap;          // float32 (H, W) in [0, 1], the input's spatial size
  int64_t target = 0;      // the class explained (the top-1 class when none was asked)
  Tensor logits;           // (1, num_classes): the model's output for `input`, in eval mode
  std::string layer;       // grad_cam: the module explained; attention_rollout: empty
};

/// Grad-CAM of `input` (1, C, H, W) for class `target` (default: the predicted class) at the
/// module `layer` (a dotted name; default: the last entry of model.feature_info()). Throws
/// ark::Error for a model without a spatial feature map at that layer, or a bad target.
CamResult grad_cam(VisionModel& model, const Tensor& input, std::optional<int64_t> target = std::nullopt,
                   const std::string& layer = "");

enum class HeadFusion { kMean, kMax, kMin };

/// Attention rollout of a ViT (models/vit.h) for `input` (1, C, H, W); discard_ratio in [0, 1).
/// The map is class-agnostic; `target` is the top-1 class (-1 for a model without classifier).
/// Throws ark::Error for a model that is not a VisionTransformer.
CamResult attention_rollout(VisionModel& model, const Tensor& input, HeadFusion fusion = HeadFusion::kMean,
                            double discard_ratio = 0.0);

/// grad_cam for convolutional models, attention_rollout for ViT (where `target`, when given, is
/// checked and reported but does not change the class-agnostic map).
CamResult explain(VisionModel& model, const Tensor& input, std::optional<int64_t> target = std::nullopt);

}  // namespace ark::models
