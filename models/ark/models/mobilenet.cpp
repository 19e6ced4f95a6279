// MobileNetV2: blocks, model, torchvision's initialisation, and the registered variants
// (mobilenet_v2, mobilenet_v2_keras). See mobilenet.h for why the Keras graph needs its own padding.
#include "ark/models/mobilenet.h"

#include <cmath>
#include <string>

#include "ark/models/registry.h"

namespace ark::models {

int64_t make_divisible(double v, int64_t divisor) {
  const auto d = static_cast<double>(divisor);
  int64_t new_v = std::max<int64_t>(divisor, static_cast<int64_t>(v + d / 2) / divisor * divisor);
  if (static_cast<double>(new_v) < 0.9 * v) new_v += divisor;  // never round down by more than 10%
  return new_v;
}

std::pair<int64_t, int64_t> tf_same_padding(int64_t size, int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t out = (size + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  return {total / 2, total - total / 2};
}

// ---- blocks ----

ConvBNReLU6Impl::ConvBNReLU6Impl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, bool act,
                                 const MobileNetV2Config& cfg)
    : nn::Module("Conv2dNormActivation"), tf_same(cfg.tf_same_padding && stride > 1) {
  // A stride-1 "same" conv with an odd kernel pads (k-1)/2 on both sides in TF too, so only the
  // strided convs pad in forward().
  const int64_t padding = tf_same ? 0 : (kernel - 1) / 2;
  conv = register_module("0", nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                             .stride(stride).padding(padding).groups(groups).bias(false)));
  bn = register_module("1", nn::BatchNorm2d(nn::BatchNormOptions(out).eps(cfg.bn_eps).momentum(cfg.bn_momentum)));
  if (act) this->act = register_module("2", nn::ReLU6());
}

Tensor ConvBNReLU6Impl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor h = x;
    if (tf_same) {
      const auto& o = conv->options;
      auto [top, bottom] = tf_same_padding(x.size(-2), o.kernel_size()[0], o.stride()[0], o.dilation()[0]);
      auto [left, right] = tf_same_padding(x.size(-1), o.kernel_size()[1], o.stride()[1], o.dilation()[1]);
      if (top || bottom || left || right) h = constant_pad_nd(x, {left, right, top, bottom});
    }
    h = bn(conv(h));
    return act ? act(h) : h;
  });
}

InvertedResidualImpl::InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio,
                                           const MobileNetV2Config& cfg)
    : nn::Module("InvertedResidual"), use_res_connect(stride == 1 && in == out) {
  ARK_CHECK(stride == 1 || stride == 2, "InvertedResidual: stride must be 1 or 2, got ", stride);
  const auto hidden = static_cast<int64_t>(std::lround(static_cast<double>(in * expand_ratio)));
  nn::Sequential layers;
  if (expand_ratio != 1) layers->push_back(ConvBNReLU6(in, hidden, 1, 1, 1, true, cfg));  // pointwise expand
  layers->push_back(ConvBNReLU6(hidden, hidden, 3, stride, hidden, true, cfg));          // depthwise
  layers->push_back(nn::Conv2d(nn::Conv2dOptions(hidden, out, 1).bias(false)));          // pointwise linear
  layers->push_back(nn::BatchNorm2d(nn::BatchNormOptions(out).eps(cfg.bn_eps).momentum(cfg.bn_momentum)));
  conv = register_module("conv", layers);
}

Tensor InvertedResidualImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return use_res_connect ? x + conv(x) : conv(x); });
}

// ---- model ----

namespace {
// torchvision's initialisation: convs kaiming_normal_(fan_out), BN 1/0, Linear N(0, 0.01)/0.
void init_linear(nn::LinearImpl& fc) {
  NoGradGuard g;
  nn::init::normal_(fc.weight, 0, 0.01);
  nn::init::zeros_(fc.bias);
}

nn::Sequential make_classifier(double dropout, int64_t num_features, int64_t num_classes) {
  nn::Sequential head;
  head->push_back(nn::Dropout(dropout));
  if (num_classes > 0) {
    nn::Linear fc(num_features, num_classes);
    init_linear(*fc);
    head->push_back(fc);
  } else {
    head->push_back(nn::Identity());
  }
  return head;
}
}  // namespace

MobileNetV2::MobileNetV2(const MobileNetV2Config& cfg, const ModelOptions& options)
    : VisionModel("MobileNetV2"), cfg_(cfg) {
  ARK_CHECK(options.drop_path_rate == 0, "mobilenet_v2: drop_path_rate is not supported (MobileNetV2 has no "
            "stochastic depth), got ", options.drop_path_rate);
  if (options.drop_rate > 0) cfg_.dropout = options.drop_rate;
  // t (expand ratio), c (channels), n (repeats), s (stride of the first repeat)
  const int64_t setting[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                 {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t in = make_divisible(32 * cfg_.width_mult, cfg_.round_nearest);
  const int64_t last = make_divisible(1280 * std::max(1.0, cfg_.width_mult), cfg_.round_nearest);

  nn::Sequential f;
  f->push_back(ConvBNReLU6(options.in_chans, in, 3, 2, 1, true, cfg_));
  int64_t reduction = 2;
  feature_info_.clear();
  for (const auto& [t, c, n, s] : setting) {
    const int64_t out = make_divisible(static_cast<double>(c) * cfg_.width_mult, cfg_.round_nearest);
    // A stage ends before the next stride-2 block: record the last block at each reduction.
    if (s == 2) feature_info_.push_back({"features." + std::to_string(f->size() - 1), in, reduction});
    for (int64_t i = 0; i < n; ++i) {
      f->push_back(InvertedResidual(in, out, i == 0 ? s : 1, t, cfg_));
      in = out;
    }
    reduction *= s;
  }
  f->push_back(ConvBNReLU6(in, last, 1, 1, 1, true, cfg_));
  feature_info_.push_back({"features." + std::to_string(f->size() - 1), last, reduction});
  features = register_module("features", f);

  num_features_ = last;
  num_classes_ = options.num_classes;
  first_conv_ = "features.0.0";
  classifier_ = "classifier.1";
  classifier = register_module("classifier", make_classifier(cfg_.dropout, num_features_, num_classes_));

  NoGradGuard g;
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0, kFanOut);
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

Tensor MobileNetV2::forward_features(const Tensor& x) { return features(x); }

Tensor MobileNetV2::forward_head(const Tensor& x, bool pre_logits) {
  Tensor pooled = adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // (N, C)
  return pre_logits ? pooled : classifier(pooled);
}

void MobileNetV2::reset_classifier(int64_t num_classes) {
  ARK_CHECK(num_classes >= 0, "reset_classifier: num_classes must be >= 0, got ", num_classes);
  num_classes_ = num_classes;
  auto head = make_classifier(cfg_.dropout, num_features_, num_classes);
  head->train(is_training());
  classifier = replace_module("classifier", head);
}

std::vector<Tensor> MobileNetV2::forward_intermediates(const Tensor& x) {
  std::vector<Tensor> out;
  size_t next = 0;
  Tensor h = x;
  for (size_t i = 0; i < features->size() && next < feature_info_.size(); ++i) {
    h = features->begin()[static_cast<ptrdiff_t>(i)].forward(h);
    if (feature_info_[next].module == "features." + std::to_string(i)) {
      out.push_back(h);
      ++next;
    }
  }
  return out;
}

std::vector<FeatureInfo> MobileNetV2::feature_info() const { return feature_info_; }

// ---- registry ----

void register_mobilenet_models() {
  register_model({"mobilenet_v2", "mobilenetv2", {3, 224, 224}, [](const ModelOptions& o) {
                    return std::make_shared<MobileNetV2>(MobileNetV2Config{}, o);
                  }});
  // Keras' graph: TF "same" padding, BN epsilon 1e-3 and momentum 0.999 (Keras' convention).
  register_model({"mobilenet_v2_keras", "mobilenetv2", {3, 224, 224}, [](const ModelOptions& o) {
                    MobileNetV2Config cfg;
                    cfg.tf_same_padding = true;
                    cfg.bn_eps = 1e-3;
                    cfg.bn_momentum = 1 - 0.999;
                    return std::make_shared<MobileNetV2>(cfg, o);
                  }});
}

}  // namespace ark::models
