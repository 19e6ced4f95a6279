// MobileNetV2 (Sandler et al. 2018) with torchvision 0.14's parameter names, so torchvision's
// `mobilenet_v2` state_dict loads unchanged ("features.0.0.weight", "features.3.conv.1.1.running_var",
// "classifier.1.weight"); ref: torchvision/models/mobilenetv2.py.
//
// One module reproduces two graphs:
//   mobilenet_v2        torchvision: symmetric padding (k-1)/2, BN eps 1e-5 / momentum 0.1.
//   mobilenet_v2_keras  Keras' MobileNetV2 (keras_applications, tf.keras.applications): TF "same"
//                       padding, BN eps 1e-3 / momentum 0.001 (Keras' 0.999). Keras checkpoints
//                       (Conv1, block_N_expand, ...) reach it through pretrained/remap_keras.
// Why a separate variant: TF's "same" padding puts the odd pixel of a stride-2 3x3 conv at the
// bottom/right (pad_top = total/2, pad_bottom = total - pad_top, total = 1 for even inputs), while
// PyTorch pads 1 on every side. The two sample different pixels, so Keras weights in the
// torchvision graph give visibly different activations; reproducing the graph needs the padding.
// Keras builds the 224x224 model with explicit ZeroPadding2D(((0, 1), (0, 1))) layers, which is
// what TF "same" computes for every even size; we compute it from the actual input, so other
// sizes get TF's padding too.
//
// Left out: width multipliers other than through MobileNetV2Config (no registered variants for
// them), stochastic depth (torchvision's model has none).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "ark/models/model.h"

namespace ark::models {

struct MobileNetV2Config {
  double width_mult = 1.0;       // channel multiplier (torchvision's width_mult)
  int64_t round_nearest = 8;     // channel counts rounded to multiples of this
  double dropout = 0.2;          // before the classifier (ModelOptions::drop_rate > 0 overrides)
  bool tf_same_padding = false;  // TF/Keras "same": stride-2 convs pad bottom/right only
  double bn_eps = 1e-5;          // Keras: 1e-3
  double bn_momentum = 0.1;      // PyTorch's convention; Keras' momentum m is 1 - m here (0.999 -> 0.001)
};

/// torchvision's Conv2dNormActivation: children "0" (Conv2d, no bias), "1" (BatchNorm2d) and,
/// with `act`, "2" (ReLU6). With tf_same_padding, stride > 1 convs pad the input as TF does.
class ConvBNReLU6Impl : public nn::Module {
 public:
  ConvBNReLU6Impl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, bool act,
                  const MobileNetV2Config& cfg);
  Tensor forward(const Tensor& x);  // (N, in, H, W) -> (N, out, H', W')

  nn::Conv2d conv = nullptr;
  nn::BatchNorm2d bn = nullptr;
  nn::ReLU6 act = nullptr;  // empty when act is false
  bool tf_same = false;
};
ARK_MODULE(ConvBNReLU6);

/// The inverted residual: 1x1 expand (when expand_ratio != 1) -> 3x3 depthwise -> 1x1 linear
/// projection, under "conv" as torchvision names them ("conv.0.0", "conv.1.1", "conv.2", "conv.3");
/// the input is added back when stride is 1 and the channels match.
class InvertedResidualImpl : public nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio, const MobileNetV2Config& cfg);
  Tensor forward(const Tensor& x);

  nn::Sequential conv = nullptr;
  bool use_res_connect = false;
};
ARK_MODULE(InvertedResidual);

class MobileNetV2 : public VisionModel {
 public:
  MobileNetV2(const MobileNetV2Config& cfg, const ModelOptions& options);

  Tensor forward_features(const Tensor& x) override;  // (N, C, H, W) -> (N, 1280, H/32, W/32)
  Tensor forward_head(const Tensor& features, bool pre_logits = false) override;  // -> (N, classes)
  void reset_classifier(int64_t num_classes) override;
  std::vector<Tensor> forward_intermediates(const Tensor& x) override;
  std::vector<FeatureInfo> feature_info() const override;

  const MobileNetV2Config& config() const { return cfg_; }

  nn::Sequential features = nullptr;    // "features.0" stem ... "features.18" last 1x1 conv
  nn::Sequential classifier = nullptr;  // "classifier.0" Dropout, "classifier.1" Linear (Identity if 0 classes)

 private:
  MobileNetV2Config cfg_;
  std::vector<FeatureInfo> feature_info_;
};

/// torchvision's _make_divisible: rounds v to a multiple of `divisor`, never down by more than 10%.
int64_t make_divisible(double v, int64_t divisor);

/// TF "same" padding of one spatial dim: {before, after} with before = total / 2 (the odd pixel
/// goes after, i.e. bottom/right), total = max((ceil(n / stride) - 1) * stride + (k - 1) * dilation + 1 - n, 0).
std::pair<int64_t, int64_t> tf_same_padding(int64_t size, int64_t kernel, int64_t stride, int64_t dilation = 1);

}  // namespace ark::models
