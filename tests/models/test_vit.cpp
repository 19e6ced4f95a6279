// VisionTransformer specifics: position-embedding interpolation against torchvision's
// interpolate_embeddings (224 -> 384, and 224 -> 112 end to end), the packed attention against
// nn::MultiheadAttention's own forward, legacy checkpoint keys, in_chans, the head.
// Parity at 224 is in test_registry_parity.cpp, the registry sweep in test_registry.cpp.
#include <gtest/gtest.h>

#include <cstdio>

#include "ark/ark.h"
#include "ark/models/layers.h"
#include "ark/models/registry.h"
#include "ark/models/vit.h"
#include "ark/pretrained/load_weights.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;

double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

ViTConfig tiny_config() {
  ViTConfig c;
  c.patch_size = 8;
  c.num_layers = 2;
  c.num_heads = 4;
  c.hidden_dim = 64;
  c.mlp_dim = 128;
  c.image_size = 32;
  return c;
}

TEST(ViT, InterpolatesPositionEmbeddingsLikeTorchvision) {
  // The vit_b_16 parity checkpoint (224x224, 14x14 patches), as torch.save wrote it.
  const std::string ref_path = test::reference_file("vision_models.py", "vit_b_16.safetensors", "vit_b_16");
  io::SafetensorsFile ref = io::load_safetensors(ref_path);
  const auto& T = ref.tensors;
  const std::string pth = ref_path.substr(0, ref_path.size() - std::string(".safetensors").size()) + ".zip.pth";
  const io::TensorDict state = pretrained::read_weights(pth);

  // Up to 384 (24x24): the usual fine-tuning resolution. The tensor itself, against torchvision.
  const double dp = max_abs_diff(resize_pos_embed(state["encoder.pos_embedding"], 24, 24), T["pos384"]);
  std::printf("[parity] vit_b_16 224->384 pos_embedding: max|diff| = %.3g\n", dp);
  EXPECT_LE(dp, 1e-6);

  // Down to 112 (7x7), end to end: the model built for 112 loads the 224 checkpoint and gives
  // torchvision's logits (cheaper to run than 384; the same code path).
  auto model = create("vit_b_16", {.image_size = 112});
  auto& vit = dynamic_cast<VisionTransformer&>(*model);
  EXPECT_EQ(vit.encoder->pos_embedding.sizes(), IntArrayRef({1, 50, 768}));
  EXPECT_THROW(model->load_state_dict(state), Error);  // 197 positions do not fit without adapting
  load_adapted_state_dict(*model, state);
  model->eval();
  NoGradGuard no_grad;
  Tensor logits = model->forward(T["input112"]);
  const double dl = max_abs_diff(logits, T["eval112.logits"]);
  std::printf("[parity] vit_b_16 at 112 from 224 weights: logits max|diff| = %.3g\n", dl);
  EXPECT_LE(dl, 1e-4);
}

TEST(ViT, ResizePosEmbed) {
  manual_seed(0);
  Tensor pos = randn({1, 1 + 4 * 4, 8});
  EXPECT_TRUE(resize_pos_embed(pos, 4, 4).is_same(pos));
  Tensor r = resize_pos_embed(pos, 7, 5);
  ASSERT_EQ(r.sizes(), IntArrayRef({1, 1 + 7 * 5, 8}));
  EXPECT_TRUE(equal(r.narrow(1, 0, 1), pos.narrow(1, 0, 1)));  // the class token is kept
  // align_corners=True: the corners of the grid are reproduced exactly.
  Tensor g = pos.narrow(1, 1, 16).view({4, 4, 8}), rg = r.narrow(1, 1, 35).view({7, 5, 8});
  EXPECT_LE(max_abs_diff(rg[0][0], g[0][0]), 1e-6);
  EXPECT_LE(max_abs_diff(rg[6][4], g[3][3]), 1e-6);
  EXPECT_LE(max_abs_diff(rg[6][0], g[3][0]), 1e-6);
  // A constant grid stays constant (the cubic weights sum to one).
  Tensor c = resize_pos_embed(full({1, 17, 3}, 2.5), 9, 9);
  EXPECT_LE((c - 2.5).abs().max().item<double>(), 1e-6);
  EXPECT_THROW(resize_pos_embed(randn({1, 1 + 15, 8}), 4, 4), Error);
}

TEST(ViT, PackedAttentionMatchesMultiheadAttention) {
  manual_seed(0);
  ViTConfig c = tiny_config();
  EncoderBlock block(c, 0.0);
  for (auto& p : block->parameters()) {
    NoGradGuard no_grad;
    p.add_(randn(p.sizes()) * 0.05);  // non-trivial biases and norms
  }
  block->eval();
  Tensor x = randn({3, 17, 64});
  // The same block through torchvision's composition: nn::MultiheadAttention's own forward.
  Tensor h = block->ln_1(x);
  Tensor y = x + std::get<0>(block->self_attention(h, h, h, Tensor(), false));
  Tensor expected = y + block->mlp(block->ln_2(y));
  EXPECT_LE(max_abs_diff(block(x), expected), 1e-5);
}

TEST(ViT, NamesOrderAndInit) {
  VisionTransformer m(tiny_config(), {.num_classes = 10});
  const auto keys = m.state_dict().keys();
  EXPECT_EQ(keys.front(), "class_token");
  EXPECT_EQ(keys[1], "conv_proj.weight");
  EXPECT_EQ(keys[3], "encoder.pos_embedding");
  EXPECT_EQ(keys[4], "encoder.layers.encoder_layer_0.ln_1.weight");
  EXPECT_EQ(keys.back(), "heads.head.bias");
  EXPECT_EQ(m.encoder->pos_embedding.sizes(), IntArrayRef({1, 17, 64}));
  EXPECT_TRUE(equal(m.class_token, zeros({1, 1, 64})));
  EXPECT_TRUE(equal(m.head->weight, zeros({10, 64})));  // torchvision zero-initialises the head
  EXPECT_EQ(m.first_conv(), "conv_proj");
  EXPECT_EQ(m.classifier(), "heads.head");
  m.reset_classifier(0);
  EXPECT_FALSE(m.state_dict().contains("heads.head.weight"));
  m.reset_classifier(3);
  EXPECT_EQ(m.state_dict()["heads.head.weight"].sizes(), IntArrayRef({3, 64}));
}

TEST(ViT, LoadsLegacyMlpKeysAndOtherInChans) {
  manual_seed(0);
  VisionTransformer src(tiny_config());
  OrderedDict<std::string, Tensor> legacy;
  for (const auto& item : src.state_dict()) {
    std::string k = item.key();
    if (auto p = k.find(".mlp.0."); p != std::string::npos) k.replace(p, 7, ".mlp.linear_1.");
    if (auto p = k.find(".mlp.3."); p != std::string::npos) k.replace(p, 7, ".mlp.linear_2.");
    legacy.insert(k, item.value());
  }
  ASSERT_TRUE(legacy.contains("encoder.layers.encoder_layer_1.mlp.linear_2.bias"));
  VisionTransformer dst(tiny_config());
  load_adapted_state_dict(dst, legacy);
  EXPECT_TRUE(equal(dst.state_dict()["encoder.layers.encoder_layer_1.mlp.3.weight"],
                    src.state_dict()["encoder.layers.encoder_layer_1.mlp.3.weight"]));

  VisionTransformer grey(tiny_config(), {.in_chans = 1});
  load_adapted_state_dict(grey, src.state_dict());
  EXPECT_TRUE(allclose(grey.conv_proj->weight, src.conv_proj->weight.sum({1}, true)));
}

TEST(ViT, RejectsOtherImageSizes) {
  VisionTransformer m(tiny_config());
  EXPECT_THROW(m.forward(randn({1, 3, 40, 40})), Error);
  ViTConfig bad = tiny_config();
  bad.image_size = 30;
  EXPECT_THROW(VisionTransformer{bad}, Error);
}

}  // namespace
