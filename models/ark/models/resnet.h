// torchvision's ResNet family (resnet18/34/50/101/152, resnext50_32x4d, wide_resnet50_2) with
// torchvision 0.14's state_dict() names, so its checkpoints load unchanged:
//   conv1, bn1, layer{1..4}.{i}.{conv1,bn1,conv2,bn2[,conv3,bn3]}, layer{k}.0.downsample.{0,1}, fc
// ResNet v1.5: the Bottleneck's stride sits in its 3x3 conv (conv2), as torchvision's.
// Additions from timm, none of which adds a state_dict key: dropout before fc (drop_rate),
// stochastic depth on the residual branch (drop_path_rate), num_classes = 0 (no fc), in_chans.
// Deliberately left out: replace_stride_with_dilation, zero_init_residual, other norm layers.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ark/models/layers.h"
#include "ark/models/model.h"

namespace ark::models {

struct ResNetConfig {
  enum class Block { kBasic, kBottleneck };
  Block block = Block::kBasic;
  std::array<int64_t, 4> layers = {2, 2, 2, 2};  // blocks per stage
  int64_t groups = 1;                            // ResNeXt cardinality (Bottleneck only)
  int64_t width_per_group = 64;                  // 128 for wide_resnet*_2 (Bottleneck only)

  int64_t expansion() const { return block == Block::kBasic ? 1 : 4; }
};

/// Two 3x3 convs (resnet18/34). Stride in conv1; `downsample` is a 1x1 conv + BN, registered only
/// when the shape of the input changes ("layer2.0.downsample.0.weight").
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, double drop_path_rate);
  Tensor forward(const Tensor& x);

  nn::Conv2d conv1 = nullptr;
  nn::BatchNorm2d bn1 = nullptr;
  nn::Conv2d conv2 = nullptr;
  nn::BatchNorm2d bn2 = nullptr;
  nn::Sequential downsample = nullptr;
  double drop_path_rate;
};
ARK_MODULE(BasicBlock);

/// 1x1 -> 3x3 (grouped, strided: v1.5) -> 1x1 with 4x expansion (resnet50 and up).
class BottleneckImpl : public nn::Module {
 public:
  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, int64_t groups, int64_t base_width,
                 double drop_path_rate);
  Tensor forward(const Tensor& x);

  nn::Conv2d conv1 = nullptr;
  nn::BatchNorm2d bn1 = nullptr;
  nn::Conv2d conv2 = nullptr;
  nn::BatchNorm2d bn2 = nullptr;
  nn::Conv2d conv3 = nullptr;
  nn::BatchNorm2d bn3 = nullptr;
  nn::Sequential downsample = nullptr;
  double drop_path_rate;
};
ARK_MODULE(Bottleneck);

/// (N, in_chans, H, W) -> logits (N, num_classes); features (N, 512 * expansion, H/32, W/32).
/// A fresh model with in_chans != 3 simply has conv1 with in_chans inputs; adapt_state_dict
/// converts a 3-channel checkpoint's conv1 with timm's adapt_input_conv.
class ResNet : public VisionModel, public StateDictAdapter {
 public:
  explicit ResNet(const ResNetConfig& config, const ModelOptions& options = {});

  Tensor forward_features(const Tensor& x) override;
  Tensor forward_head(const Tensor& features, bool pre_logits = false) override;
  void reset_classifier(int64_t num_classes) override;
  /// The outputs of layer1..layer4 (reductions 4, 8, 16, 32).
  std::vector<Tensor> forward_intermediates(const Tensor& x) override;
  std::vector<FeatureInfo> feature_info() const override;
  /// conv1.weight with another channel count -> adapt_input_conv(in_chans, ...).
  void adapt_state_dict(OrderedDict<std::string, Tensor>& state_dict) const override;

  ResNetConfig config;
  nn::Conv2d conv1 = nullptr;
  nn::BatchNorm2d bn1 = nullptr;
  nn::MaxPool2d maxpool = nullptr;
  nn::Sequential layer1 = nullptr, layer2 = nullptr, layer3 = nullptr, layer4 = nullptr;
  nn::Linear fc = nullptr;  // empty when num_classes == 0

 private:
  Tensor stem(const Tensor& x);
  nn::Sequential make_layer(int64_t planes, int64_t blocks, int64_t stride, const std::vector<double>& dpr,
                            size_t& block_idx);

  int64_t in_chans_;
  int64_t inplanes_ = 64;
  double drop_rate_;
};

/// The torchvision configuration of a registered name ("resnet50", "wide_resnet50_2", ...).
ResNetConfig resnet_config(const std::string& name);

}  // namespace ark::models
