// Grad-CAM and attention rollout (models/cam.h): against PyTorch's hooks on torchvision models
// with random weights (tools/reference/cam_ref.py), on a hand-weighted network whose classes key
// on two image regions, and the contract around them (errors, eval mode, untouched gradients).
#include <gtest/gtest.h>

#include <string>

#include "ark/ark.h"
#include "ark/models/cam.h"
#include "ark/models/registry.h"
#include "ark/models/vit.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;

const io::TensorDict& reference() {
  static const io::SafetensorsFile file = io::load_safetensors(test::reference_file("cam_ref.py", "cam_ref.safetensors"));
  return file.tensors;
}

// Loads the reference's "<prefix><key>" entries that name the model's state (strict: every key).
void load_prefixed(nn::Module& model, const std::string& prefix) {
  const auto own = model.state_dict();
  OrderedDict<std::string, Tensor> sd;
  for (const auto& item : reference())
    if (item.key().rfind(prefix, 0) == 0 && own.contains(item.key().substr(prefix.size())))
      sd.insert(item.key().substr(prefix.size()), item.value());
  model.load_state_dict(sd);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return (a.to(kDouble) - b.to(kDouble)).abs().max().item<double>();
}

std::shared_ptr<VisionModel> reference_resnet18() {
  auto model = create("resnet18", {.num_classes = 10});
  load_prefixed(*model, "resnet.");
  return model;
}

ViTConfig tiny_vit_config() {
  ViTConfig c;
  c.patch_size = 8;
  c.num_layers = 3;
  c.num_heads = 4;
  c.hidden_dim = 32;
  c.mlp_dim = 64;
  c.image_size = 48;
  return c;
}

std::shared_ptr<VisionTransformer> reference_vit() {
  auto model = std::make_shared<VisionTransformer>(tiny_vit_config(), ModelOptions{.num_classes = 10});
  load_prefixed(*model, "vit.");
  return model;
}

TEST(GradCam, MatchesPyTorchHooksOnResNet18) {
  const auto& T = reference();
  auto model = reference_resnet18();
  const Tensor& x = T["resnet.input"];
  struct Case {
    std::string layer;
    std::optional<int64_t> target;
  };
  for (const Case& c : {Case{"", std::nullopt}, Case{"layer3", 3}, Case{"layer2.1.conv2", 7}}) {
    const std::string key = "gradcam." + (c.layer.empty() ? std::string("layer4") : c.layer);
    SCOPED_TRACE(key);
    CamResult r = grad_cam(*model, x, c.target, c.layer);
    EXPECT_EQ(r.layer, c.layer.empty() ? "layer4" : c.layer);  // default: the last feature_info() entry
    EXPECT_EQ(r.target, T[key + ".target"].item<int64_t>());
    EXPECT_LE(max_abs_diff(r.logits, T["resnet.logits"]), 1e-4);
    ASSERT_EQ(r.heatmap.sizes(), IntArrayRef({96, 96}));
    EXPECT_EQ(r.heatmap.scalar_type(), kFloat);
    EXPECT_FLOAT_EQ(r.heatmap.min().item<float>(), 0.0f);
    EXPECT_FLOAT_EQ(r.heatmap.max().item<float>(), 1.0f);
    // The heatmap is min-max scaled to [0, 1], so 1e-4 absolute is 1e-4 of its range.
    EXPECT_LE(max_abs_diff(r.heatmap, T[key]), 1e-4);
  }
  // explain() picks Grad-CAM at the default layer for a CNN.
  EXPECT_LE(max_abs_diff(explain(*model, x).heatmap, T["gradcam.layer4"]), 1e-4);
}

TEST(AttentionRollout, MatchesPyTorchOnATinyViT) {
  const auto& T = reference();
  auto model = reference_vit();
  const Tensor& x = T["vit.input"];

  // The opt-in capture yields nn.MultiheadAttention's per-head weights, and the explicit path
  // computes the same forward as the fused one.
  std::vector<Tensor> probs;
  model->eval();
  NoGradGuard no_grad;
  const Tensor fused_logits = model->forward(x);
  for (auto& b : model->encoder->blocks) b->on_attention_probs = [&](const Tensor& p) { probs.push_back(p); };
  const Tensor explicit_logits = model->forward(x);
  for (auto& b : model->encoder->blocks) b->on_attention_probs = nullptr;
  ASSERT_EQ(probs.size(), 3u);
  for (size_t i = 0; i < probs.size(); ++i)
    EXPECT_LE(max_abs_diff(probs[i], T["vit.attn." + std::to_string(i)]), 5e-5) << "layer " << i;
  EXPECT_LE(max_abs_diff(fused_logits, T["vit.logits"]), 1e-4);
  EXPECT_LE(max_abs_diff(explicit_logits, fused_logits), 1e-5);

  struct Case {
    HeadFusion fusion;
    double discard;
    std::string key;
  };
  for (const Case& c : {Case{HeadFusion::kMean, 0.0, "mean_0"}, Case{HeadFusion::kMean, 0.3, "mean_0.3"},
                        Case{HeadFusion::kMax, 0.5, "max_0.5"}, Case{HeadFusion::kMin, 0.9, "min_0.9"}}) {
    SCOPED_TRACE(c.key);
    CamResult r = attention_rollout(*model, x, c.fusion, c.discard);
    ASSERT_EQ(r.heatmap.sizes(), IntArrayRef({48, 48}));
    EXPECT_EQ(r.target, T["vit.logits"].argmax(1).item<int64_t>());
    EXPECT_LE(max_abs_diff(r.heatmap, T["rollout." + c.key]), 1e-4);
  }
  // A caller's own capture keeps working during rollout and stays set afterwards.
  int seen = 0;
  for (auto& b : model->encoder->blocks) b->on_attention_probs = [&](const Tensor&) { ++seen; };
  attention_rollout(*model, x);
  EXPECT_EQ(seen, 3);
  for (auto& b : model->encoder->blocks) {
    EXPECT_TRUE(b->on_attention_probs);
    b->on_attention_probs = nullptr;
  }
  // explain() picks rollout for a ViT.
  EXPECT_LE(max_abs_diff(explain(*model, x).heatmap, T["rollout.mean_0"]), 1e-4);
}

// Two colour detectors: class 1 counts red evidence, class 0 green, each through a 3x3 detector,
// a stride-2 pooling conv, global average pooling and a linear head (all weights set by hand,
// with a spatially constant feature and cross terms so the map is not one channel copied). An
// image with a red square in the top-left quadrant and a green one in the bottom-right: class 1's
// Grad-CAM must light up the top-left, class 0's the bottom-right.
class TwoColourNet : public VisionModel {
 public:
  explicit TwoColourNet(bool with_head = true) : VisionModel("TwoColourNet"), with_head_(with_head) {
    NoGradGuard no_grad;
    auto detect = nn::Conv2d(nn::Conv2dOptions(3, 2, 3).padding(1));
    detect->weight.zero_();
    for (int64_t c = 0; c < 2; ++c)  // channel c: colour c minus half the other two
      for (int64_t i = 0; i < 3; ++i) detect->weight[c][i].fill_(i == c ? 1.0 / 9 : -0.5 / 9);
    detect->bias.fill_(-0.2);
    auto pool = nn::Conv2d(nn::Conv2dOptions(2, 4, 3).stride(2).padding(1));
    pool->weight.zero_();
    pool->weight[0][0].fill_(1.0 / 9);  // red
    pool->weight[1][1].fill_(1.0 / 9);  // green
    pool->weight[2][0].fill_(1.0 / 9);  // red - green
    pool->weight[2][1].fill_(-1.0 / 9);
    pool->bias.zero_();
    pool->bias[3].fill_(0.5);  // a constant feature: min-max must remove it
    features = register_module("features", nn::Sequential(detect, nn::ReLU(), pool, nn::ReLU()));
    fc = register_module("fc", nn::Linear(4, 2));
    fc->weight.copy_(ark::tensor({-0.5f, 1.0f, -0.5f, 0.1f, 1.0f, -0.5f, 0.5f, 0.1f}).view({2, 4}));
    fc->bias.zero_();
    num_classes_ = with_head ? 2 : 0;
    num_features_ = 4;
    first_conv_ = "features.0";
    classifier_ = "fc";
  }
  Tensor forward_features(const Tensor& x) override { return features(x); }
  Tensor forward_head(const Tensor& f, bool pre_logits) override {
    Tensor pooled = f.mean({2, 3});
    return pre_logits || !with_head_ ? pooled : fc(pooled);
  }
  void reset_classifier(int64_t) override {}
  std::vector<Tensor> forward_intermediates(const Tensor& x) override { return {features(x)}; }
  std::vector<FeatureInfo> feature_info() const override { return {{"features", 4, 2}}; }

  nn::Sequential features = nullptr;
  nn::Linear fc = nullptr;

 private:
  bool with_head_;
};

TEST(GradCam, LightsUpTheRegionEachClassKeysOn) {
  manual_seed(0);
  auto model = std::make_shared<TwoColourNet>();
  Tensor x = ark::rand({1, 3, 64, 64}) * 0.3;  // dim noise everywhere
  x.narrow(2, 8, 16).narrow(3, 8, 16).zero_();
  x.select(1, 0).narrow(1, 8, 16).narrow(2, 8, 16).fill_(1.0);    // red square, top-left quadrant
  x.narrow(2, 40, 16).narrow(3, 40, 16).zero_();
  x.select(1, 1).narrow(1, 40, 16).narrow(2, 40, 16).fill_(1.0);  // green square, bottom-right

  auto quadrant_ratio = [](const Tensor& heat, int64_t r, int64_t c) {
    Tensor mask = ark::zeros({64, 64});
    mask.narrow(0, r * 32, 32).narrow(1, c * 32, 32).fill_(1.0);
    const double inside = (heat * mask).sum().item<double>() / mask.sum().item<double>();
    const double outside = (heat * (1 - mask)).sum().item<double>() / (1 - mask).sum().item<double>();
    return inside / std::max(outside, 1e-12);
  };
  CamResult red = grad_cam(*model, x, 1);
  EXPECT_GT(quadrant_ratio(red.heatmap, 0, 0), 3.0);
  EXPECT_GT(red.heatmap.narrow(0, 12, 8).narrow(1, 12, 8).min().item<float>(), 0.9f);  // the square's centre
  CamResult green = grad_cam(*model, x, 0);
  EXPECT_GT(quadrant_ratio(green.heatmap, 1, 1), 3.0);
  EXPECT_GT(green.heatmap.narrow(0, 44, 8).narrow(1, 44, 8).min().item<float>(), 0.9f);
  // Orientation: rows are the image's rows (a transposed map would light the same diagonal
  // quadrants, so also put the red square top-right and look there).
  Tensor y = ark::rand({1, 3, 64, 64}) * 0.3;
  y.narrow(2, 8, 16).narrow(3, 40, 16).zero_();
  y.select(1, 0).narrow(1, 8, 16).narrow(2, 40, 16).fill_(1.0);
  EXPECT_GT(quadrant_ratio(grad_cam(*model, y, 1).heatmap, 0, 1), 3.0);
  // No evidence for a class anywhere: a constant map, all zeros rather than 0/0.
  Tensor blank = ark::zeros({1, 3, 64, 64});
  CamResult none = grad_cam(*model, blank, 1);
  EXPECT_TRUE(ark::equal(none.heatmap, ark::zeros({64, 64})));
}

// A two-layer ViT whose class token looks for light: conv_proj puts each patch's mean brightness
// in dimension 0 beside a constant 1 in dimension 1, head 0's keys read dimension 0 after ln_1
// and the class token's query is large, so the class token attends to the brightest patch; head
// 1 attends uniformly, and the blocks add nothing to the tokens (zero out_proj and MLP), so the
// second layer repeats the first. A bright patch at grid cell (row 0, column 1) of an otherwise
// dim image must be what the rollout lights up, and not its transposed cell (row 1, column 0).
TEST(AttentionRollout, LightsUpThePatchTheClassTokenAttendsTo) {
  ViTConfig c;
  c.patch_size = 8;
  c.num_layers = 2;
  c.num_heads = 2;
  c.hidden_dim = 4;
  c.mlp_dim = 4;
  c.image_size = 32;
  auto vit = std::make_shared<VisionTransformer>(c, ModelOptions{.num_classes = 2});
  {
    NoGradGuard no_grad;
    for (auto& p : vit->named_parameters()) {
      const bool ln_weight = p.key().find(".ln") != std::string::npos && p.key().ends_with(".weight");
      p.value().fill_(ln_weight ? 1.0 : 0.0);
    }
    vit->conv_proj->weight[0].fill_(1.0 / (3 * 64));  // dimension 0: the patch's mean brightness
    vit->conv_proj->bias[1].fill_(1.0);               // dimension 1: a constant
    vit->class_token[0][0][2].fill_(1.0);             // the class token: dimension 2 only
    for (auto& block : vit->encoder->blocks) {
      Tensor w = block->self_attention->in_proj_weight;  // rows: q (0..3), k (4..7), v (8..11)
      w[0][2].fill_(10.0);  // head 0's query: large for the class token (ln_1 of it peaks at dim 2)
      w[4][0].fill_(1.0);   // head 0's key: the brightness after ln_1
      for (int64_t i = 8; i < 12; ++i) w[i][i - 8].fill_(1.0);
    }
  }
  manual_seed(0);
  Tensor x = ark::rand({1, 3, 32, 32}) * 0.2;
  x.narrow(2, 0, 8).narrow(3, 8, 8).fill_(1.0);  // grid cell (row 0, column 1)

  auto cell_mean = [](const Tensor& heat, int64_t r, int64_t col) {
    return heat.narrow(0, r * 8, 8).narrow(1, col * 8, 8).mean().item<double>();
  };
  for (HeadFusion fusion : {HeadFusion::kMean, HeadFusion::kMax}) {
    CamResult r = attention_rollout(*vit, x, fusion);
    const double bright = cell_mean(r.heatmap, 0, 1);
    const double rest = (r.heatmap.sum().item<double>() - bright * 64) / (32 * 32 - 64);
    EXPECT_GT(bright, 3 * rest);
    EXPECT_GT(bright, 3 * cell_mean(r.heatmap, 1, 0));  // not the transposed cell
    EXPECT_EQ(r.heatmap.argmax().item<int64_t>() / 32 / 8, 0);
    EXPECT_EQ(r.heatmap.argmax().item<int64_t>() % 32 / 8, 1);
  }
}

TEST(GradCam, RejectsBadLayersTargetsAndInputs) {
  auto model = std::make_shared<TwoColourNet>();
  Tensor x = ark::rand({1, 3, 32, 32});
  auto message = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const ark::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(message([&] { grad_cam(*model, x, std::nullopt, "feature"); }).find("did you mean 'features'"),
            std::string::npos);
  EXPECT_NE(message([&] { grad_cam(*model, x, std::nullopt, "fc"); }).find("spatial feature map"),
            std::string::npos);
  EXPECT_NE(message([&] { grad_cam(*model, x, 2); }).find("out of range for 2 classes"), std::string::npos);
  EXPECT_NE(message([&] { grad_cam(*model, x, -1); }).find("out of range"), std::string::npos);
  EXPECT_NE(message([&] { grad_cam(*model, ark::rand({2, 3, 32, 32})); }).find("expected one image"),
            std::string::npos);
  EXPECT_NE(message([&] { grad_cam(*model, ark::rand({3, 32, 32})); }).find("expected one image"),
            std::string::npos);
  EXPECT_NE(message([&] { grad_cam(*model, Tensor()); }).find("undefined"), std::string::npos);
  EXPECT_NE(message([&] { attention_rollout(*model, x); }).find("needs a VisionTransformer"), std::string::npos);
  TwoColourNet headless(false);
  EXPECT_NE(message([&] { grad_cam(headless, x); }).find("has no classifier"), std::string::npos);
  // Sibling stages tie in edit distance: all are offered.
  auto resnet = create("resnet18", {.num_classes = 10});
  EXPECT_NE(message([&] { grad_cam(*resnet, x, std::nullopt, "layer5"); }).find("'layer3' or 'layer4'"),
            std::string::npos);

  auto vit = std::make_shared<VisionTransformer>(tiny_vit_config(), ModelOptions{.num_classes = 10});
  Tensor xv = ark::randn({1, 3, 48, 48});
  // The blocks' tokens are no feature map, and self_attention's own forward never runs in ark's ViT.
  EXPECT_NE(message([&] { grad_cam(*vit, xv, std::nullopt, ""); }).find("use attention_rollout"),
            std::string::npos);
  EXPECT_NE(message([&] { grad_cam(*vit, xv, 0, "encoder.layers.encoder_layer_0.self_attention"); })
                .find("did not run"),
            std::string::npos);
  EXPECT_NE(message([&] { attention_rollout(*vit, xv, HeadFusion::kMean, 1.0); }).find("discard_ratio"),
            std::string::npos);
  EXPECT_NE(message([&] { explain(*vit, xv, 12); }).find("out of range"), std::string::npos);
  for (auto& b : vit->encoder->blocks) EXPECT_FALSE(b->on_attention_probs);  // unset even after errors
}

TEST(GradCam, LeavesModesGradientsAndHooksAsTheyWere) {
  manual_seed(0);
  auto model = create("resnet18", {.num_classes = 10});
  Tensor x = ark::randn({1, 3, 32, 32});
  // A mixed state, as fine-tuning leaves it: training, with layer1's BatchNorms frozen in eval.
  model->train();
  model->get_submodule("layer1")->eval();
  // Some gradients exist (as after a backward), others are undefined.
  auto params = model->named_parameters();
  params["fc.weight"].set_grad(ark::full({10, 512}, 0.5));
  params["layer4.1.conv2.weight"].set_grad(ark::ones_like(params["layer4.1.conv2.weight"]));
  const Tensor fc_grad = params["fc.weight"].grad().clone();
  const Tensor bn_mean = model->named_buffers()["layer4.1.bn2.running_mean"].clone();

  CamResult r = grad_cam(*model, x, 3, "layer3");
  EXPECT_EQ(r.target, 3);
  EXPECT_THROW(grad_cam(*model, x, 99, "layer3"), ark::Error);  // fails after the forward

  EXPECT_TRUE(model->is_training());
  EXPECT_TRUE(model->get_submodule("layer2")->is_training());
  EXPECT_FALSE(model->get_submodule("layer1")->is_training());
  EXPECT_FALSE(model->get_submodule("layer1.0.bn1")->is_training());
  EXPECT_TRUE(model->get_submodule("layer4.1.bn2")->is_training());
  EXPECT_TRUE(ark::equal(params["fc.weight"].grad(), fc_grad));
  EXPECT_TRUE(ark::equal(params["layer4.1.conv2.weight"].grad(), ark::ones_like(params["layer4.1.conv2.weight"])));
  for (const auto& p : params) {
    if (p.key() != "fc.weight" && p.key() != "layer4.1.conv2.weight") {
      EXPECT_FALSE(p.value().grad().defined()) << p.key();
    }
  }
  // Eval mode inside: the BN statistics did not move.
  EXPECT_TRUE(ark::equal(model->named_buffers()["layer4.1.bn2.running_mean"], bn_mean));
  // The hook is gone, also after the failed call: with frozen parameters nothing requires grad.
  // (In eval mode, so the BN statistics stay those `r` was computed with.)
  model->eval();
  for (auto& p : model->parameters()) p.requires_grad_(false);
  EXPECT_FALSE(model->forward(x).requires_grad());

  // Works inside a no-grad scope (it enables gradients for itself) and with frozen parameters.
  NoGradGuard no_grad;
  CamResult again = grad_cam(*model, x, 3, "layer3");
  EXPECT_LE(max_abs_diff(again.heatmap, r.heatmap), 1e-6);
}

}  // namespace
