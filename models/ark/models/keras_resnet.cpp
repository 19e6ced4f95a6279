// Keras' ResNet50 (v1, conv biases, BN eps 1.001e-5): blocks, model, registration. See
// keras_resnet.h for how it differs from torchvision's resnet50.
#include "ark/models/keras_resnet.h"

#include <string>

#include "ark/models/registry.h"

namespace ark::models {

void register_keras_resnet_models();

namespace {
nn::BatchNorm2d keras_bn(int64_t c) {
  // Keras' momentum 0.99 (weight of the old running value) is PyTorch's 0.01.
  return nn::BatchNorm2d(nn::BatchNormOptions(c).eps(kKerasResNetBnEps).momentum(0.01));
}
nn::Conv2d keras_conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(padding).bias(true));
}
}  // namespace

KerasBottleneckImpl::KerasBottleneckImpl(int64_t in, int64_t planes, int64_t stride, bool downsample)
    : nn::Module("Bottleneck") {
  conv1 = register_module("conv1", keras_conv(in, planes, 1, stride, 0));  // v1: stride in the first 1x1
  bn1 = register_module("bn1", keras_bn(planes));
  conv2 = register_module("conv2", keras_conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", keras_bn(planes));
  conv3 = register_module("conv3", keras_conv(planes, planes * 4, 1, 1, 0));
  bn3 = register_module("bn3", keras_bn(planes * 4));
  if (downsample) {
    nn::Sequential ds;
    ds->push_back(keras_conv(in, planes * 4, 1, stride, 0));
    ds->push_back(keras_bn(planes * 4));
    this->downsample = register_module("downsample", ds);
  }
}

Tensor KerasBottleneckImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor h = relu(bn1(conv1(x)));
    h = relu(bn2(conv2(h)));
    h = bn3(conv3(h));
    return relu(h + (downsample ? downsample(x) : x));
  });
}

KerasResNet::KerasResNet(const std::vector<int64_t>& layers, const ModelOptions& options)
    : VisionModel("ResNet"), drop_rate_(options.drop_rate) {
  ARK_CHECK(layers.size() == 4, "KerasResNet: expected 4 stages, got ", layers.size());
  ARK_CHECK(options.drop_path_rate == 0, "resnet50_keras: drop_path_rate is not supported, got ",
            options.drop_path_rate);
  conv1 = register_module("conv1", keras_conv(options.in_chans, 64, 7, 2, 3));
  bn1 = register_module("bn1", keras_bn(64));
  relu = register_module("relu", nn::ReLU());
  maxpool = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  int64_t in = 64;
  auto stage = [&](const char* name, int64_t planes, int64_t blocks, int64_t stride) {
    nn::Sequential s;
    for (int64_t i = 0; i < blocks; ++i) {
      s->push_back(KerasBottleneck(in, planes, i == 0 ? stride : 1, i == 0));
      in = planes * 4;
    }
    return register_module(name, s);
  };
  layer1 = stage("layer1", 64, layers[0], 1);
  layer2 = stage("layer2", 128, layers[1], 2);
  layer3 = stage("layer3", 256, layers[2], 2);
  layer4 = stage("layer4", 512, layers[3], 2);
  num_features_ = in;
  first_conv_ = "conv1";
  classifier_ = "fc";

  // torchvision's ResNet initialisation (Keras' own is glorot_uniform; only fine-tuning from
  // scratch sees the difference), with zero conv biases.
  NoGradGuard g;
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0, kFanOut, kReLU);
      nn::init::zeros_(conv->bias);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  reset_classifier(options.num_classes);
}

Tensor KerasResNet::stem(const Tensor& x) { return maxpool(relu(bn1(conv1(x)))); }

Tensor KerasResNet::forward_features(const Tensor& x) { return layer4(layer3(layer2(layer1(stem(x))))); }

Tensor KerasResNet::forward_head(const Tensor& x, bool pre_logits) {
  Tensor pooled = adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // (N, 2048)
  if (drop_rate_ > 0) pooled = dropout(pooled, drop_rate_, is_training());
  return pre_logits || !fc ? pooled : fc(pooled);
}

void KerasResNet::reset_classifier(int64_t num_classes) {
  ARK_CHECK(num_classes >= 0, "reset_classifier: num_classes must be >= 0, got ", num_classes);
  num_classes_ = num_classes;
  if (fc) unregister_module("fc");
  fc = nullptr;
  if (num_classes > 0) fc = register_module("fc", nn::Linear(num_features_, num_classes));
}

std::vector<Tensor> KerasResNet::forward_intermediates(const Tensor& x) {
  std::vector<Tensor> out;
  Tensor h = relu(bn1(conv1(x)));
  out.push_back(h);
  h = layer1(maxpool(h));
  out.push_back(h);
  for (auto* layer : {&layer2, &layer3, &layer4}) {
    h = (*layer)(h);
    out.push_back(h);
  }
  return out;
}

std::vector<FeatureInfo> KerasResNet::feature_info() const {
  return {{"relu", 64, 2}, {"layer1", 256, 4}, {"layer2", 512, 8}, {"layer3", 1024, 16}, {"layer4", 2048, 32}};
}

void register_keras_resnet_models() {
  register_model({"resnet50_keras", "resnet", {3, 224, 224}, [](const ModelOptions& o) {
                    return std::make_shared<KerasResNet>(std::vector<int64_t>{3, 4, 6, 3}, o);
                  }});
}

}  // namespace ark::models
