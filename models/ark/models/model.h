// The interface every vision model implements (timm's contract): forward = forward_head of
// forward_features; reset_classifier replaces the head; forward_intermediates returns the feature
// map of each stage (for Grad-CAM and detection heads). Parameter names follow the model's most
// common public checkpoint (torchvision), so real weights load unchanged.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ark/ark.h"

namespace ark::models {

/// Options every architecture accepts (ark::models::create("resnet50", {.num_classes = 10})).
struct ModelOptions {
  int64_t num_classes = 1000;       // 0 = no classifier (forward returns pooled features)
  int64_t in_chans = 3;             // other than 3: the first conv is adapted as timm does
  double drop_rate = 0.0;           // dropout before the classifier
  double drop_path_rate = 0.0;      // stochastic depth (where the architecture has residual blocks)
  std::optional<int64_t> image_size = std::nullopt;  // models with position embeddings (ViT); default per model
};

/// Where a model's stages end, for feature extraction (timm's feature_info).
struct FeatureInfo {
  std::string module;   // dotted module name whose output is the stage's feature map
  int64_t channels;
  int64_t reduction;    // stride relative to the input
};

class VisionModel : public nn::Module {
 public:
  explicit VisionModel(std::string name) : nn::Module(std::move(name)) {}
  virtual Tensor forward(const Tensor& x) { return forward_head(forward_features(x)); }
  /// Everything up to the classifier's input (unpooled for CNNs, tokens for ViT).
  virtual Tensor forward_features(const Tensor& x) = 0;
  /// Pooling (and dropout) then the classifier; with pre_logits, the pooled features only.
  virtual Tensor forward_head(const Tensor& features, bool pre_logits = false) = 0;
  /// Replaces the classifier for `num_classes` outputs (0 removes it), freshly initialised.
  virtual void reset_classifier(int64_t num_classes) = 0;
  /// The output of every stage listed in feature_info(), in order.
  virtual std::vector<Tensor> forward_intermediates(const Tensor& x) = 0;
  virtual std::vector<FeatureInfo> feature_info() const = 0;

  int64_t num_classes() const { return num_classes_; }
  int64_t num_features() const { return num_features_; }
  /// Dotted names of the first convolution and of the classifier (what fine-tuning replaces).
  const std::string& first_conv() const { return first_conv_; }
  const std::string& classifier() const { return classifier_; }

 protected:
  int64_t num_classes_ = 0;
  int64_t num_features_ = 0;
  std::string first_conv_, classifier_;
};

}  // namespace ark::models
