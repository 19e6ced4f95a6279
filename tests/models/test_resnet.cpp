// ResNet family specifics (torchvision names, v1.5 strides, in_chans adaptation, stochastic
// depth). Parity with torchvision is in test_registry_parity.cpp, the registry sweep in
// test_registry.cpp.
#include <gtest/gtest.h>

#include "ark/ark.h"
#include "ark/models/layers.h"
#include "ark/models/registry.h"
#include "ark/models/resnet.h"

namespace {

using namespace ark;
using namespace ark::models;

TEST(ResNet, DownsampleOnlyWhereTheShapeChanges) {
  auto r18 = create("resnet18");
  const auto sd = r18->state_dict();
  EXPECT_FALSE(sd.contains("layer1.0.downsample.0.weight"));  // 64 -> 64, stride 1
  EXPECT_TRUE(sd.contains("layer2.0.downsample.0.weight"));
  EXPECT_TRUE(sd.contains("layer2.0.downsample.1.running_var"));
  EXPECT_FALSE(sd.contains("layer2.1.downsample.0.weight"));

  auto r50 = create("resnet50");
  EXPECT_TRUE(r50->state_dict().contains("layer1.0.downsample.0.weight"));  // 64 -> 256
  // v1.5: the stride is in the 3x3 conv of the Bottleneck, not in the first 1x1.
  auto& block = r50->get_submodule<BottleneckImpl>("layer2.0")->conv2;
  EXPECT_EQ(block->options.stride()->at(0), 2);
  EXPECT_EQ(r50->get_submodule<BottleneckImpl>("layer2.0")->conv1->options.stride()->at(0), 1);
}

TEST(ResNet, GroupedAndWideWidths) {
  // resnext50_32x4d: width = 128 * 4/64 * 32 = 256 at layer2, conv2 grouped 32 ways.
  auto rx = create("resnext50_32x4d");
  auto b = rx->get_submodule<BottleneckImpl>("layer2.0");
  EXPECT_EQ(b->conv2->options.groups(), 32);
  EXPECT_EQ(b->conv2->weight.sizes(), IntArrayRef({256, 8, 3, 3}));
  auto wide = create("wide_resnet50_2");
  EXPECT_EQ(wide->get_submodule<BottleneckImpl>("layer1.0")->conv1->weight.size(0), 128);
  EXPECT_EQ(wide->get_submodule<BottleneckImpl>("layer4.2")->conv3->weight.size(0), 2048);
}

TEST(ResNet, TorchvisionInit) {
  manual_seed(0);
  auto m = create("resnet50");
  // kaiming_normal_(mode=fan_out, relu): std = sqrt(2 / (out * kH * kW)).
  const Tensor w = m->named_parameters()["layer3.0.conv2.weight"];  // (256, 256, 3, 3)
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / (256 * 9)), 0.002);
  EXPECT_TRUE(equal(m->named_parameters()["layer3.0.bn2.weight"], ones({256})));
  EXPECT_TRUE(equal(m->named_parameters()["layer3.0.bn2.bias"], zeros({256})));
  EXPECT_EQ(m->first_conv(), "conv1");
  EXPECT_EQ(m->classifier(), "fc");
  EXPECT_EQ(m->num_features(), 2048);
}

TEST(ResNet, AdaptsACheckpointsFirstConvToInChans) {
  manual_seed(0);
  auto rgb = create("resnet18");
  auto grey = create("resnet18", {.in_chans = 1});
  auto five = create("resnet18", {.in_chans = 5});
  EXPECT_EQ(grey->named_parameters()["conv1.weight"].size(1), 1);
  load_adapted_state_dict(*grey, rgb->state_dict());
  load_adapted_state_dict(*five, rgb->state_dict());
  const Tensor w = rgb->named_parameters()["conv1.weight"];
  EXPECT_TRUE(allclose(grey->named_parameters()["conv1.weight"], w.sum({1}, true)));
  const Tensor w5 = five->named_parameters()["conv1.weight"];
  EXPECT_TRUE(allclose(w5.narrow(1, 0, 3), w * 0.6));
  EXPECT_TRUE(allclose(w5.narrow(1, 3, 2), w.narrow(1, 0, 2) * 0.6));

  // A grey image fed to the 1-channel model equals the image replicated into RGB.
  rgb->eval();
  grey->eval();
  NoGradGuard no_grad;
  Tensor x = randn({1, 1, 64, 64});
  EXPECT_LE((grey->forward(x) - rgb->forward(x.expand({1, 3, 64, 64}))).abs().max().item<double>(), 1e-4);
}

TEST(ResNet, StochasticDepthFollowsTimmsLinearRule) {
  auto m = create("resnet18", {.drop_path_rate = 0.3});
  EXPECT_DOUBLE_EQ(m->get_submodule<BasicBlockImpl>("layer1.0")->drop_path_rate, 0.0);
  EXPECT_DOUBLE_EQ(m->get_submodule<BasicBlockImpl>("layer2.1")->drop_path_rate, 0.3 * 3 / 7);
  EXPECT_DOUBLE_EQ(m->get_submodule<BasicBlockImpl>("layer4.1")->drop_path_rate, 0.3);
}

TEST(ResNet, ClassifierLifecycle) {
  auto m = create("resnet34", {.num_classes = 0});
  EXPECT_FALSE(m->state_dict().contains("fc.weight"));
  m->reset_classifier(7);
  auto sd = m->state_dict();
  EXPECT_EQ(sd["fc.weight"].sizes(), IntArrayRef({7, 512}));
  EXPECT_EQ(sd.keys().back(), "fc.bias");  // torchvision's order: fc last
  m->reset_classifier(0);
  EXPECT_FALSE(m->state_dict().contains("fc.weight"));
}

TEST(ResNet, DropPathOp) {
  manual_seed(0);
  Tensor x = ones({1000, 3});
  EXPECT_TRUE(drop_path(x, 0.25, false).is_same(x));
  Tensor y = drop_path(x, 0.25, true);
  // Whole samples are dropped; survivors are scaled by 1 / keep.
  Tensor row_max = std::get<0>(y.max(1)), row_min = std::get<0>(y.min(1));
  EXPECT_TRUE(equal(row_max, row_min));
  const double kept = (row_max > 0).to(kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.75, 0.05);
  EXPECT_NEAR(row_max.max().item<double>(), 1 / 0.75, 1e-6);
  EXPECT_EQ(drop_path_rates(0.1, 1), std::vector<double>({0.0}));
}

}  // namespace
