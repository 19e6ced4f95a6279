// MobileNetV2 against torchvision 0.14 (tools/reference/mobilenet_reference.py: seeded random
// weights in torchvision's state_dict, eval logits, train-mode logits, every parameter gradient and
// the BN running statistics after one train step), with the weights loaded by ark::load_weights from
// the files torch.save writes (zip and legacy formats), the Keras-graph variant's TF "same" padding
// on odd/even sizes, and registry smoke tests for mobilenet_v2, mobilenet_v2_keras and resnet50_keras.
// Tolerances: eval/train logits max |ark - torch| <= 1e-4; gradients and running statistics
// ||ark - torch|| / ||torch|| <= 1e-4 per tensor. The biases of the linear projection BNs
// (features.N.conv.3.bias) get a gradient that is zero in exact arithmetic: every path from them
// reaches a train-mode BatchNorm through a 1x1 conv (or an identity shortcut and then one), and a
// train-mode BN removes any per-channel shift. Both frameworks return float32 rounding noise there
// (~1e-6 of the neighbouring weight gradient), so those are compared on the scale of the same
// module's weight gradient instead: ||ark - torch|| <= 1e-4 * ||grad weight||.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <sstream>

#include "ark/ark.h"
#include "ark/models/keras_resnet.h"
#include "ark/models/mobilenet.h"
#include "ark/models/registry.h"
#include "ark/pretrained/load_weights.h"
#include "support/reference.h"

namespace nn = ark::nn;
namespace models = ark::models;
using ark::Tensor;

namespace {

const ark::io::SafetensorsFile& reference() {
  static const ark::io::SafetensorsFile file =
      ark::io::load_safetensors(ark::test::reference_file("mobilenet_reference.py", "mobilenet_reference.safetensors"));
  return file;
}

Tensor ref_tensor(const std::string& key) {
  const Tensor* t = reference().tensors.find(key);
  ARK_CHECK(t != nullptr, "mobilenet reference has no '", key, "'");
  return *t;
}

ark::OrderedDict<std::string, Tensor> torchvision_state() {
  ark::OrderedDict<std::string, Tensor> sd;
  for (const auto& item : reference().tensors)
    if (item.key().rfind("param.", 0) == 0) sd.insert(item.key().substr(6), item.value());
  return sd;
}

models::ModelOptions opts(int64_t num_classes, int64_t in_chans = 3, double drop_path_rate = 0) {
  models::ModelOptions o;
  o.num_classes = num_classes;
  o.in_chans = in_chans;
  o.drop_path_rate = drop_path_rate;
  return o;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return ark::max(ark::abs(a.to(ark::kDouble) - b.to(ark::kDouble))).item<double>();
}

double rel_norm_diff(const Tensor& a, const Tensor& b) {
  const double den = ark::norm(b.to(ark::kDouble)).item<double>();
  return ark::norm(a.to(ark::kDouble) - b.to(ark::kDouble)).item<double>() / std::max(den, 1e-30);
}

/// torch.save's files beside the reference: "zip" or "legacy" (a {'state_dict': ...} checkpoint).
std::string pth_file(const std::string& format) {
  reference();  // generates them
  return std::string(ARK_TEST_DATA) + "/mobilenet_v2_" + format + ".pth";
}

/// torchvision's weights in ark's MobileNetV2, through ark::load_weights (strict) from the torch.save
/// file `format`, or straight from the reference's tensors when `format` is empty.
std::shared_ptr<models::MobileNetV2> torchvision_model(bool keras_graph = false, const std::string& format = "") {
  models::MobileNetV2Config cfg;
  cfg.dropout = 0.0;  // the reference's: train-mode outputs must be deterministic
  if (keras_graph) {
    cfg.tf_same_padding = true;
    cfg.bn_eps = 1e-3;
  }
  auto m = std::make_shared<models::MobileNetV2>(cfg, opts(10));
  if (format.empty())
    m->load_state_dict(torchvision_state());
  else
    ark::load_weights(*m, pth_file(format));
  return m;
}

}  // namespace

TEST(MobileNetV2, StateDictKeysAreTorchvisions) {
  auto m = models::create("mobilenet_v2", opts(10));
  const auto sd = m->state_dict();
  const auto tv = torchvision_state();
  std::vector<std::string> order;  // torchvision's state_dict order
  std::stringstream keys(reference().metadata.at("state_dict_keys"));
  for (std::string k; std::getline(keys, k, ',');) order.push_back(k);
  ASSERT_EQ(sd.size(), order.size());
  ASSERT_EQ(tv.size(), order.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(sd[i].key(), order[i]) << "at " << i;  // same keys, same order
    EXPECT_EQ(sd[i].value().sizes().vec(), tv[order[i]].sizes().vec()) << order[i];
  }
  EXPECT_EQ(m->first_conv(), "features.0.0");
  EXPECT_EQ(m->classifier(), "classifier.1");
  EXPECT_NE(m->get_submodule<nn::Conv2dImpl>("features.0.0"), nullptr);
  EXPECT_NE(m->get_submodule<nn::LinearImpl>("classifier.1"), nullptr);
}

TEST(MobileNetV2, LoadsTorchSaveFilesZipAndLegacy) {
  const auto tv = torchvision_state();
  for (const std::string format : {"zip", "legacy"}) {
    auto m = torchvision_model(false, format);
    const auto sd = m->state_dict();
    ASSERT_EQ(sd.size(), tv.size()) << format;
    for (const auto& item : tv) {
      const Tensor* t = sd.find(item.key());
      ASSERT_NE(t, nullptr) << format << ": " << item.key();
      EXPECT_TRUE(ark::equal(*t, item.value())) << format << ": " << item.key();
    }
    EXPECT_EQ(sd["features.3.conv.1.1.num_batches_tracked"].item<int64_t>(), 3) << format;
  }
  // A checkpoint that does not fit lists every difference at once.
  auto wrong = models::create("mobilenet_v2", opts(1000));
  std::string e;
  try {
    ark::load_weights(*wrong, pth_file("zip"));
  } catch (const ark::Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("mobilenet_v2_zip.pth"), std::string::npos) << e;
  EXPECT_NE(e.find("classifier.1.weight expected [1000, 1280] got [10, 1280]"), std::string::npos) << e;
  EXPECT_NE(e.find("classifier.1.bias expected [1000] got [10]"), std::string::npos) << e;
}

TEST(MobileNetV2, EvalLogitsMatchTorchvision) {
  auto m = torchvision_model(false, "zip");
  m->eval();
  ark::NoGradGuard g;
  const Tensor y = m->forward(ref_tensor("input"));
  const double d = max_abs_diff(y, ref_tensor("eval_logits"));
  std::printf("mobilenet_v2 eval logits: max |ark - torchvision| = %.3g\n", d);
  EXPECT_LE(d, 1e-4);
}

TEST(MobileNetV2, TrainModeOutputsGradientsAndRunningStatsMatchTorchvision) {
  auto m = torchvision_model(false, "legacy");
  m->train();
  const Tensor y = m->forward(ref_tensor("input"));
  const double d = max_abs_diff(y, ref_tensor("train_logits"));
  std::printf("mobilenet_v2 train logits: max |ark - torchvision| = %.3g\n", d);
  EXPECT_LE(d, 1e-4);
  (y * ref_tensor("loss_weight")).sum().backward();
  double worst = 0;
  std::string worst_name;
  int zero_grads = 0;
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    const Tensor want = ref_tensor("grad." + p.key());
    double r = rel_norm_diff(p.value().grad(), want);
    const std::string& k = p.key();
    if ((k.size() > 12 && k.compare(k.size() - 12, 12, ".conv.3.bias") == 0) ||
        k == "features.1.conv.2.bias") {  // zero in exact arithmetic (see the file comment)
      const double scale = ark::norm(ref_tensor("grad." + k.substr(0, k.size() - 4) + "weight")).item<float>();
      EXPECT_LT(ark::norm(want).item<float>(), 1e-3 * scale) << k << ": expected a vanishing gradient";
      r = ark::norm(p.value().grad().to(ark::kDouble) - want.to(ark::kDouble)).item<double>() / scale;
      ++zero_grads;
    }
    EXPECT_LE(r, 1e-4) << p.key();
    if (std::getenv("ARK_DEBUG_GRADS")) std::printf("  %s %.3g\n", p.key().c_str(), r);
    if (r > worst) worst = r, worst_name = p.key();
  }
  std::printf("mobilenet_v2 gradients: worst relative norm diff %.3g (%s); %d vanishing BN-bias gradients\n", worst,
              worst_name.c_str(), zero_grads);
  EXPECT_EQ(zero_grads, 17);
  for (const auto& b : m->named_buffers()) {
    if (b.key().find("running") == std::string::npos) continue;
    EXPECT_LE(rel_norm_diff(b.value(), ref_tensor("train_buffer." + b.key())), 1e-4) << b.key();
  }
}

TEST(MobileNetV2, KerasGraphPadsLikeTensorFlow) {
  // Odd height (97: TF pads 1/1) and even width (100: TF pads 0/1) at the first stride-2 conv.
  auto m = torchvision_model(/*keras_graph=*/true);
  m->eval();
  ark::NoGradGuard g;
  const Tensor y = m->forward(ref_tensor("keras_input"));
  const double d = max_abs_diff(y, ref_tensor("keras_eval_logits"));
  std::printf("mobilenet_v2 (TF same padding, eps 1e-3) eval logits: max |ark - torch| = %.3g\n", d);
  EXPECT_LE(d, 1e-4);
  // And the torchvision graph really differs on these inputs: the test above is not vacuous.
  auto tv = torchvision_model();
  tv->eval();
  EXPECT_GT(max_abs_diff(tv->forward(ref_tensor("keras_input")), ref_tensor("keras_eval_logits")), 1e-2);
}

TEST(MobileNetV2, TfSamePadding) {
  using models::tf_same_padding;
  EXPECT_EQ(tf_same_padding(224, 3, 2), (std::pair<int64_t, int64_t>(0, 1)));  // odd pixel bottom/right
  EXPECT_EQ(tf_same_padding(225, 3, 2), (std::pair<int64_t, int64_t>(1, 1)));
  EXPECT_EQ(tf_same_padding(112, 3, 1), (std::pair<int64_t, int64_t>(1, 1)));
  EXPECT_EQ(tf_same_padding(7, 1, 2), (std::pair<int64_t, int64_t>(0, 0)));
  EXPECT_EQ(tf_same_padding(8, 7, 2), (std::pair<int64_t, int64_t>(2, 3)));
  EXPECT_EQ(models::make_divisible(32 * 0.75, 8), 24);
  EXPECT_EQ(models::make_divisible(1280 * 1.0, 8), 1280);
}

TEST(MobileNetV2, ConfigIsRecordedInTheModules) {
  auto keras = std::dynamic_pointer_cast<models::MobileNetV2>(models::create("mobilenet_v2_keras"));
  ASSERT_NE(keras, nullptr);
  auto bn = keras->get_submodule<nn::BatchNorm2dImpl>("features.2.conv.1.1");
  ASSERT_NE(bn, nullptr);
  EXPECT_DOUBLE_EQ(bn->options.eps(), 1e-3);
  EXPECT_NEAR(*bn->options.momentum(), 0.001, 1e-12);
  auto stem = keras->get_submodule<models::ConvBNReLU6Impl>("features.0");
  ASSERT_NE(stem, nullptr);
  EXPECT_TRUE(stem->tf_same);
  auto tv = models::create("mobilenet_v2");
  EXPECT_FALSE(tv->get_submodule<models::ConvBNReLU6Impl>("features.0")->tf_same);
  EXPECT_DOUBLE_EQ(tv->get_submodule<nn::BatchNorm2dImpl>("features.0.1")->options.eps(), 1e-5);
  EXPECT_DOUBLE_EQ(tv->get_submodule<nn::DropoutImpl>("classifier.0")->options.p(), 0.2);
}

// ---- registry smoke tests over this family's names ----

class KerasFamilySmoke : public ::testing::TestWithParam<const char*> {};

TEST_P(KerasFamilySmoke, ForwardBackwardResetIntermediates) {
  const std::string name = GetParam();
  ASSERT_TRUE(models::is_model(name));
  EXPECT_EQ(models::arch_info(name).input_size, (std::vector<int64_t>{3, 224, 224}));
  ark::manual_seed(0);
  auto m = models::create(name, opts(7));
  EXPECT_EQ(m->num_classes(), 7);
  ASSERT_NE(m->get_submodule(m->first_conv()), nullptr);
  ASSERT_NE(m->get_submodule(m->classifier()), nullptr);

  const Tensor x = ark::randn({2, 3, 64, 64});
  m->train();
  const Tensor y = m->forward(x);
  ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 7}));
  EXPECT_FALSE(ark::isnan(y).any().item<bool>());
  y.square().sum().backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << name << ": no gradient for " << p.key();
    EXPECT_TRUE(ark::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }

  m->eval();
  ark::NoGradGuard g;
  const auto info = m->feature_info();
  const auto feats = m->forward_intermediates(x);
  ASSERT_EQ(info.size(), 5u);
  ASSERT_EQ(feats.size(), 5u);
  const int64_t reductions[] = {2, 4, 8, 16, 32};
  for (size_t i = 0; i < info.size(); ++i) {
    EXPECT_EQ(info[i].reduction, reductions[i]);
    ASSERT_NE(m->get_submodule(info[i].module), nullptr) << info[i].module;
    EXPECT_EQ(feats[i].sizes().vec(), (std::vector<int64_t>{2, info[i].channels, 64 / reductions[i], 64 / reductions[i]}))
        << info[i].module;
  }
  const Tensor f = m->forward_features(x);
  EXPECT_EQ(f.size(1), m->num_features());
  EXPECT_LE(max_abs_diff(f, feats.back()), 0);  // the last stage is forward_features
  EXPECT_EQ(m->forward_head(f, /*pre_logits=*/true).sizes().vec(), (std::vector<int64_t>{2, m->num_features()}));

  // A forward hook on the last stage sees what Grad-CAM needs.
  Tensor seen;
  auto handle = m->get_submodule(info.back().module)->register_forward_hook(
      [&](nn::Module&, const Tensor&, const Tensor& out) { seen = out; });
  m->forward(x);
  handle.remove();
  ASSERT_TRUE(seen.defined());
  EXPECT_EQ(seen.size(1), info.back().channels);

  m->reset_classifier(3);
  EXPECT_EQ(m->forward(x).sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(m->get_submodule<nn::LinearImpl>(m->classifier())->weight.sizes().vec(),
            (std::vector<int64_t>{3, m->num_features()}));
  m->reset_classifier(0);
  EXPECT_EQ(m->forward(x).sizes().vec(), (std::vector<int64_t>{2, m->num_features()}));

  auto gray = models::create(name, opts(2, 1));
  gray->eval();
  EXPECT_EQ(gray->forward(ark::randn({1, 1, 32, 32})).sizes().vec(), (std::vector<int64_t>{1, 2}));
  EXPECT_THROW(models::create(name, opts(1000, 3, 0.1)), ark::Error);
}

INSTANTIATE_TEST_SUITE_P(Names, KerasFamilySmoke, ::testing::Values("mobilenet_v2", "mobilenet_v2_keras", "resnet50_keras"));

TEST(KerasResNet50, GraphDetails) {
  auto m = models::create("resnet50_keras");
  auto b = m->get_submodule<models::KerasBottleneckImpl>("layer2.0");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->conv1->options.stride()[0], 2);  // ResNet v1: the stride is in the first 1x1
  EXPECT_EQ(b->conv2->options.stride()[0], 1);
  EXPECT_TRUE(b->conv1->bias.defined());
  EXPECT_DOUBLE_EQ(b->bn1->options.eps(), 1.001e-5);
  EXPECT_EQ(m->get_submodule<models::KerasBottleneckImpl>("layer1.1")->downsample.is_empty(), true);
  const auto sd = m->state_dict();
  EXPECT_TRUE(sd.contains("conv1.bias"));
  EXPECT_TRUE(sd.contains("layer4.0.downsample.0.bias"));
  EXPECT_TRUE(sd.contains("fc.weight"));
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  EXPECT_EQ(n, 25583592);  // Keras' trainable count: 25,636,712 total less 53,120 BN statistics
}
