// ResNet family. ref: torchvision/models/resnet.py (0.14); stochastic depth and the head follow
// timm/models/resnet.py (drop_path on the residual branch before the add, linear rate per block).
#include "ark/models/resnet.h"

#include <map>

#include "ark/models/registry.h"

namespace ark::models {

namespace {

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride = 1, int64_t groups = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).groups(groups).bias(false));
}

nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

// torchvision's downsample: Sequential(conv1x1(inplanes, out, stride), BatchNorm2d(out)) -> ".0", ".1".
nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  return nn::Sequential(conv1x1(in, out, stride), nn::BatchNorm2d(out));
}

}  // namespace

// ---- blocks ----

BasicBlockImpl::BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, double drop_path_rate)
    : nn::Module("BasicBlock"), drop_path_rate(drop_path_rate) {
  conv1 = register_module("conv1", conv3x3(inplanes, planes, stride));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv3x3(planes, planes));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  if (stride != 1 || inplanes != planes)
    downsample = register_module("downsample", make_downsample(inplanes, planes, stride));
}

Tensor BasicBlockImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor out = ark::relu(bn1(conv1(x)));
    out = drop_path(bn2(conv2(out)), drop_path_rate, is_training());
    return ark::relu(add_residual(out, downsample ? downsample(x) : x));
  });
}

BottleneckImpl::BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, int64_t groups, int64_t base_width,
                               double drop_path_rate)
    : nn::Module("Bottleneck"), drop_path_rate(drop_path_rate) {
  // torchvision: width = int(planes * (base_width / 64.0)) * groups
  const int64_t width =
      static_cast<int64_t>(static_cast<double>(planes) * (static_cast<double>(base_width) / 64.0)) * groups;
  const int64_t out = planes * 4;
  conv1 = register_module("conv1", conv1x1(inplanes, width));
  bn1 = register_module("bn1", nn::BatchNorm2d(width));
  conv2 = register_module("conv2", conv3x3(width, width, stride, groups));  // v1.5: stride here
  bn2 = register_module("bn2", nn::BatchNorm2d(width));
  conv3 = register_module("conv3", conv1x1(width, out));
  bn3 = register_module("bn3", nn::BatchNorm2d(out));
  if (stride != 1 || inplanes != out)
    downsample = register_module("downsample", make_downsample(inplanes, out, stride));
}

Tensor BottleneckImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor out = ark::relu(bn1(conv1(x)));
    out = ark::relu(bn2(conv2(out)));
    out = drop_path(bn3(conv3(out)), drop_path_rate, is_training());
    return ark::relu(add_residual(out, downsample ? downsample(x) : x));
  });
}

// ---- model ----

ResNet::ResNet(const ResNetConfig& cfg, const ModelOptions& options)
    : VisionModel("ResNet"), config(cfg), in_chans_(options.in_chans), drop_rate_(options.drop_rate) {
  ARK_CHECK(cfg.block == ResNetConfig::Block::kBottleneck || (cfg.groups == 1 && cfg.width_per_group == 64),
            "ResNet: BasicBlock only supports groups=1 and width_per_group=64, got ", cfg.groups, " and ",
            cfg.width_per_group);
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in_chans_, 64, 7).stride(2).padding(3).bias(false)));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  maxpool = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  const int64_t total = cfg.layers[0] + cfg.layers[1] + cfg.layers[2] + cfg.layers[3];
  const std::vector<double> dpr = drop_path_rates(options.drop_path_rate, total);
  size_t block_idx = 0;
  layer1 = register_module("layer1", make_layer(64, cfg.layers[0], 1, dpr, block_idx));
  layer2 = register_module("layer2", make_layer(128, cfg.layers[1], 2, dpr, block_idx));
  layer3 = register_module("layer3", make_layer(256, cfg.layers[2], 2, dpr, block_idx));
  layer4 = register_module("layer4", make_layer(512, cfg.layers[3], 2, dpr, block_idx));
  num_features_ = 512 * cfg.expansion();
  first_conv_ = "conv1";
  classifier_ = "fc";
  // torchvision's init: kaiming_normal_(fan_out, relu) for every conv; BN weight 1, bias 0 (the
  // layer's default); fc keeps Linear's default (set by reset_classifier).
  apply([](nn::Module& m) {
    if (auto* conv = m.as<nn::Conv2d>()) nn::init::kaiming_normal_(conv->weight, 0, kFanOut, kReLU);
  });
  reset_classifier(options.num_classes);
}

nn::Sequential ResNet::make_layer(int64_t planes, int64_t blocks, int64_t stride, const std::vector<double>& dpr,
                                  size_t& block_idx) {
  nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i, ++block_idx) {
    const int64_t s = i == 0 ? stride : 1;
    if (config.block == ResNetConfig::Block::kBasic) {
      layer->push_back(BasicBlock(inplanes_, planes, s, dpr[block_idx]));
    } else {
      layer->push_back(Bottleneck(inplanes_, planes, s, config.groups, config.width_per_group, dpr[block_idx]));
    }
    inplanes_ = planes * config.expansion();
  }
  return layer;
}

Tensor ResNet::stem(const Tensor& x) {
  ARK_CHECK(x.dim() == 4 && x.size(1) == in_chans_, "ResNet: expected input (N, ", in_chans_, ", H, W), got ",
            x.sizes());
  return maxpool(ark::relu(bn1(conv1(x))));
}

Tensor ResNet::forward_features(const Tensor& x) {
  return layer4(layer3(layer2(layer1(stem(x)))));  // (N, C, H/32, W/32)
}

Tensor ResNet::forward_head(const Tensor& features, bool pre_logits) {
  Tensor x = features.mean({2, 3});  // torchvision's AdaptiveAvgPool2d(1) + flatten: (N, C)
  if (drop_rate_ > 0) x = ark::dropout(x, drop_rate_, is_training());
  if (pre_logits || !fc) return x;
  return fc(x);
}

void ResNet::reset_classifier(int64_t num_classes) {
  ARK_CHECK(num_classes >= 0, "ResNet::reset_classifier: num_classes must be >= 0, got ", num_classes);
  num_classes_ = num_classes;
  if (num_classes == 0) {
    if (fc) unregister_module("fc");
    fc = nullptr;
    return;
  }
  nn::Linear head(num_features_, num_classes);
  fc = fc ? replace_module("fc", head) : register_module("fc", head);
}

std::vector<Tensor> ResNet::forward_intermediates(const Tensor& x) {
  std::vector<Tensor> out;
  Tensor y = stem(x);
  for (auto* layer : {&layer1, &layer2, &layer3, &layer4}) out.push_back(y = (*layer)(y));
  return out;
}

std::vector<FeatureInfo> ResNet::feature_info() const {
  const int64_t e = config.expansion();
  return {{"layer1", 64 * e, 4}, {"layer2", 128 * e, 8}, {"layer3", 256 * e, 16}, {"layer4", 512 * e, 32}};
}

void ResNet::adapt_state_dict(OrderedDict<std::string, Tensor>& state_dict) const {
  if (Tensor* w = state_dict.find("conv1.weight"); w && w->dim() == 4 && w->size(1) != in_chans_)
    *w = adapt_input_conv(in_chans_, *w);
}

// ---- registration ----

ResNetConfig resnet_config(const std::string& name) {
  using B = ResNetConfig::Block;
  static const std::map<std::string, ResNetConfig> configs = {
      {"resnet18", {B::kBasic, {2, 2, 2, 2}, 1, 64}},
      {"resnet34", {B::kBasic, {3, 4, 6, 3}, 1, 64}},
      {"resnet50", {B::kBottleneck, {3, 4, 6, 3}, 1, 64}},
      {"resnet101", {B::kBottleneck, {3, 4, 23, 3}, 1, 64}},
      {"resnet152", {B::kBottleneck, {3, 8, 36, 3}, 1, 64}},
      {"resnext50_32x4d", {B::kBottleneck, {3, 4, 6, 3}, 32, 4}},
      {"wide_resnet50_2", {B::kBottleneck, {3, 4, 6, 3}, 1, 128}},
  };
  auto it = configs.find(name);
  ARK_CHECK(it != configs.end(), "resnet_config: unknown ResNet '", name, "'");
  return it->second;
}

void register_resnet_models() {
  for (const char* name : {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                           "wide_resnet50_2"}) {
    const ResNetConfig cfg = resnet_config(name);
    register_model({name, "resnet", {3, 224, 224}, [cfg](const ModelOptions& o) -> std::shared_ptr<VisionModel> {
                      return std::make_shared<ResNet>(cfg, o);
                    }});
  }
}

}  // namespace ark::models
