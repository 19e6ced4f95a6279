// Smoke test over every torchvision architecture of the ResNet and ViT families (timm's
// test_models.py): state_dict keys, order and shapes equal torchvision 0.14's; forward, backward
// (every parameter gets a finite, non-zero gradient), the classifier cfg, reset_classifier,
// num_classes = 0, in_chans = 1, stochastic depth, forward_intermediates vs feature_info.
// Inputs are small (64x64 for CNNs; ViTs are built for a 2x2 patch grid) to keep it to seconds.
// The largest model of each family (resnet152, vit_l_16) is made of the same blocks as a smaller
// one checked in full, only more or wider; it gets the key check and forwards only.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ark/ark.h"
#include "ark/models/layers.h"
#include "ark/models/registry.h"
#include "ark/models/vit.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;

// The architectures this file sweeps (other families have their own tests).
const std::vector<std::string> kTorchvisionModels = {"resnet18",  "resnet34",        "resnet50",
                                                     "resnet101", "resnet152",       "resnext50_32x4d",
                                                     "wide_resnet50_2", "vit_b_16", "vit_b_32", "vit_l_16"};
bool forward_only(const std::string& name) { return name == "resnet152" || name == "vit_l_16"; }

// torchvision's state_dict() per model: (key, shape) in order, from vision_models.py keys.
using KeyList = std::vector<std::pair<std::string, std::vector<int64_t>>>;
const std::map<std::string, KeyList>& torchvision_keys() {
  static const std::map<std::string, KeyList> keys = [] {
    std::map<std::string, KeyList> m;
    std::ifstream in(test::reference_file("vision_models.py", "vision_keys.txt", "keys"));
    std::string model, key, dims;
    while (in >> model >> key >> dims) {
      std::vector<int64_t> shape;
      std::stringstream ss(dims == "-" ? "" : dims);  // "-": a scalar (num_batches_tracked)
      for (std::string d; std::getline(ss, d, ',');) shape.push_back(std::stoll(d));
      m[model].emplace_back(key, shape);
    }
    return m;
  }();
  return keys;
}

// The smallest input each family takes here, and options that make the model accept it.
int64_t input_size(const std::string& name) {
  return arch_info(name).family == "vit" ? 2 * vit_config(name).patch_size : 64;
}
ModelOptions options_for(const std::string& name) {
  ModelOptions o;
  if (arch_info(name).family == "vit") o.image_size = input_size(name);
  return o;
}

bool all_finite(const Tensor& t) { return isfinite(t).all().item<bool>(); }

class FamilySmoke : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilySmoke, Model) {
  const std::string name = GetParam();
  const int64_t S = input_size(name);
  manual_seed(0);
  Tensor x = randn({2, 3, S, S});

  auto m = create(name, options_for(name));
  EXPECT_EQ(arch_info(name).input_size, std::vector<int64_t>({3, 224, 224}));

  {
    SCOPED_TRACE("state_dict keys, order and shapes vs torchvision");
    ASSERT_TRUE(torchvision_keys().count(name));
    const KeyList& want = torchvision_keys().at(name);
    const auto got = m->state_dict();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const auto& [key, shape] = want[i];
      ASSERT_EQ(got[i].key(), key) << "at position " << i;
      if (key == "encoder.pos_embedding") {  // sized for this test's image_size
        const int64_t g = S / vit_config(name).patch_size;
        EXPECT_EQ(got[i].value().sizes(), IntArrayRef({1, 1 + g * g, shape[2]}));
      } else {
        EXPECT_EQ(got[i].value().sizes(), IntArrayRef(shape)) << key;
      }
    }
  }

  const auto params = m->named_parameters();
  {
    SCOPED_TRACE("cfg");
    ASSERT_TRUE(params.contains(m->first_conv() + ".weight"));
    EXPECT_EQ(params[m->first_conv() + ".weight"].size(1), 3);
    ASSERT_TRUE(params.contains(m->classifier() + ".weight"));
    EXPECT_EQ(params[m->classifier() + ".weight"].sizes(), IntArrayRef({1000, m->num_features()}));
    EXPECT_EQ(m->num_classes(), 1000);
  }

  if (forward_only(name)) {
    SCOPED_TRACE("forward only: train and eval, reset_classifier");
    NoGradGuard no_grad;
    m->train();
    Tensor y = m->forward(x);
    ASSERT_EQ(y.sizes(), IntArrayRef({2, 1000}));
    EXPECT_TRUE(all_finite(y));
    m->eval();
    const auto feats = m->forward_intermediates(x);
    EXPECT_EQ(feats.size(), m->feature_info().size());
    m->reset_classifier(5);
    Tensor e = m->forward(x);
    EXPECT_EQ(e.sizes(), IntArrayRef({2, 5}));
    EXPECT_TRUE(all_finite(e));
    return;
  }

  {
    SCOPED_TRACE("train forward + backward");
    NoGradGuard no_grad;  // ViT zero-initialises its head: give it weights so gradients reach the trunk
    Tensor w = params[m->classifier() + ".weight"];
    w.normal_(0, 0.02);
  }
  m->train();
  Tensor y = m->forward(x);
  ASSERT_EQ(y.sizes(), IntArrayRef({2, 1000}));
  EXPECT_TRUE(all_finite(y));
  (y * randn_like(y)).sum().backward();
  for (const auto& p : params) {
    const Tensor& g = p.value().grad();
    ASSERT_TRUE(g.defined()) << "no gradient for " << p.key();
    EXPECT_TRUE(all_finite(g)) << p.key();
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << "zero gradient for " << p.key();
  }

  {
    SCOPED_TRACE("forward_intermediates vs feature_info");
    NoGradGuard no_grad;
    m->eval();
    const auto info = m->feature_info();
    const auto feats = m->forward_intermediates(x);
    ASSERT_EQ(feats.size(), info.size());
    for (size_t i = 0; i < info.size(); ++i) {
      EXPECT_NO_THROW(m->get_submodule(info[i].module)) << info[i].module;
      const int64_t g = S / info[i].reduction;
      if (feats[i].dim() == 4)  // CNN: (N, C, H/r, W/r)
        EXPECT_EQ(feats[i].sizes(), IntArrayRef({2, info[i].channels, g, g})) << info[i].module;
      else  // ViT: (N, 1 + (H/r)(W/r), C) tokens
        EXPECT_EQ(feats[i].sizes(), IntArrayRef({2, 1 + g * g, info[i].channels})) << info[i].module;
    }
    Tensor f = m->forward_features(x);
    if (f.dim() == 4) {
      EXPECT_TRUE(allclose(f, feats.back()));
    }
    EXPECT_TRUE(allclose(m->forward_head(f), m->forward(x), 1e-5, 1e-6));
    EXPECT_EQ(m->forward_head(f, /*pre_logits=*/true).sizes(), IntArrayRef({2, m->num_features()}));
  }

  {
    SCOPED_TRACE("reset_classifier");
    NoGradGuard no_grad;
    m->reset_classifier(5);
    EXPECT_EQ(m->forward(x).sizes(), IntArrayRef({2, 5}));
    EXPECT_EQ(m->num_classes(), 5);
    m->reset_classifier(0);
    EXPECT_EQ(m->forward(x.narrow(0, 0, 1)).sizes(), IntArrayRef({1, m->num_features()}));
    EXPECT_FALSE(m->named_parameters().contains(m->classifier() + ".weight"));
  }

  {
    // One more model exercises three options: in_chans = 1 with m's RGB weights adapted (timm's
    // adapt_input_conv sums the RGB filters, so a grey image gives what its RGB replica gives m),
    // num_classes = 0 (pooled features) and stochastic depth (random in train mode, the identity
    // in eval).
    SCOPED_TRACE("in_chans = 1, num_classes = 0, drop_path_rate = 0.3");
    ModelOptions o = options_for(name);
    o.in_chans = 1;
    o.num_classes = 0;
    o.drop_path_rate = 0.3;
    auto grey = create(name, o);
    EXPECT_EQ(grey->named_parameters()[grey->first_conv() + ".weight"].size(1), 1);
    const auto rgb_state = m->state_dict();  // m has no classifier now: the same keys
    load_adapted_state_dict(*grey, rgb_state);
    NoGradGuard no_grad;
    Tensor xg = x.narrow(1, 0, 1);  // (2, 1, S, S)
    grey->train();
    EXPECT_FALSE(equal(grey->forward(xg), grey->forward(xg)));
    load_adapted_state_dict(*grey, rgb_state);  // undo the BN statistics those steps tracked
    grey->eval();
    Tensor f = grey->forward(xg);
    EXPECT_EQ(f.sizes(), IntArrayRef({2, grey->num_features()}));
    EXPECT_TRUE(all_finite(f));
    Tensor rgb = m->forward(xg.expand({2, 3, S, S}));
    EXPECT_LE((f - rgb).abs().max().item<double>(), 1e-4 * std::max(1.0, rgb.abs().max().item<double>()));
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, FamilySmoke, ::testing::ValuesIn(kTorchvisionModels),
                         [](const auto& info) { return info.param; });

TEST(Registry, ListsTheTorchvisionResNetsAndViTs) {
  // Every torchvision architecture of these families is registered and in the key reference.
  for (const auto& n : kTorchvisionModels) {
    EXPECT_TRUE(is_model(n)) << n;
    EXPECT_TRUE(torchvision_keys().count(n)) << n;
  }
  EXPECT_EQ(list_models("vit_*"), std::vector<std::string>({"vit_b_16", "vit_b_32", "vit_l_16"}));
  EXPECT_THROW(create("resnet51"), Error);
}

}  // namespace
