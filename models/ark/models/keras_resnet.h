// Keras' ResNet50 (tf.keras.applications.ResNet50, keras_applications/resnet_common.py) as its own
// architecture, `resnet50_keras`: the graph differs from torchvision's resnet50 in three ways that
// change the numbers, so Keras weights need it rather than a remap onto torchvision's model:
//   - ResNet v1: the stride of a downsampling bottleneck sits in its first 1x1 conv (torchvision's
//     v1.5 puts it in the 3x3);
//   - every conv has a bias (Keras' Conv2D default use_bias=True);
//   - BatchNormalization epsilon is 1.001e-5 (momentum 0.99 in Keras' convention = 0.01 here).
// Keras' stem pads explicitly (ZeroPadding2D 3, then 1 before the 3x3/2 max-pool); both equal
// PyTorch's symmetric padding (the pool's zero padding follows a ReLU, so it never wins a max).
//
// Parameter names are torchvision's ResNet names plus the conv biases ("conv1.bias",
// "layer1.0.conv1.bias", "layer1.0.downsample.0.bias", "fc"); pretrained/remap_keras maps Keras'
// names (conv1_conv, conv2_block1_1_conv, conv2_block1_0_bn, predictions) onto them.
// Left out: the classic keras 2.2.4 names (res2a_branch2a, eps 1e-3), ResNet101/152 Keras variants,
// stochastic depth.
#pragma once
#include <cstdint>
#include <vector>

#include "ark/models/model.h"

namespace ark::models {

/// 1x1 (stride) -> 3x3 -> 1x1 (x4 channels), each conv with a bias and a BN; projection shortcut
/// ("downsample.0" conv, "downsample.1" BN) when the shape changes.
class KerasBottleneckImpl : public nn::Module {
 public:
  KerasBottleneckImpl(int64_t in, int64_t planes, int64_t stride, bool downsample);
  Tensor forward(const Tensor& x);

  nn::Conv2d conv1 = nullptr, conv2 = nullptr, conv3 = nullptr;
  nn::BatchNorm2d bn1 = nullptr, bn2 = nullptr, bn3 = nullptr;
  nn::Sequential downsample = nullptr;  // registered only when needed
};
ARK_MODULE(KerasBottleneck);

class KerasResNet : public VisionModel {
 public:
  /// layers: blocks per stage ({3, 4, 6, 3} for ResNet50).
  KerasResNet(const std::vector<int64_t>& layers, const ModelOptions& options);

  Tensor forward_features(const Tensor& x) override;  // (N, C, H, W) -> (N, 2048, H/32, W/32)
  Tensor forward_head(const Tensor& features, bool pre_logits = false) override;
  void reset_classifier(int64_t num_classes) override;
  std::vector<Tensor> forward_intermediates(const Tensor& x) override;
  std::vector<FeatureInfo> feature_info() const override;

  nn::Conv2d conv1 = nullptr;
  nn::BatchNorm2d bn1 = nullptr;
  nn::ReLU relu = nullptr;
  nn::MaxPool2d maxpool = nullptr;
  nn::Sequential layer1 = nullptr, layer2 = nullptr, layer3 = nullptr, layer4 = nullptr;
  nn::Linear fc = nullptr;  // empty with 0 classes (forward returns the pooled features)

 private:
  Tensor stem(const Tensor& x);
  double drop_rate_ = 0;
};

/// Keras' BatchNormalization epsilon in its ResNets.
inline constexpr double kKerasResNetBnEps = 1.001e-5;

}  // namespace ark::models
