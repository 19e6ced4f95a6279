// nn::init and the layers' default initialisation: bounds and standard deviations against
// PyTorch 1.13's formulas (the random streams differ from PyTorch's, the distributions do not).
#include <gtest/gtest.h>

#include <cmath>

#include "ark/ark.h"

namespace nn = ark::nn;
namespace init = ark::nn::init;
using ark::Tensor;

namespace {

// Tolerances scale with the sample size n so the checks fail with probability < 1e-6: the sample
// std is within 5/sqrt(2n) (relative), the mean within 5 std/sqrt(n), and the largest of n
// uniform values exceeds bound * (1 - 14/n).

// A U(-bound, bound) sample: inside the bound, reaching close to it, with std bound/sqrt(3).
void expect_uniform(const Tensor& t, double bound, const std::string& what) {
  const double n = static_cast<double>(t.numel());
  const double mx = t.abs().max().item<double>();
  const double sd = t.to(ark::kDouble).std().item<double>();
  EXPECT_LE(mx, bound * (1 + 1e-6)) << what;
  EXPECT_GE(mx, bound * (1 - 14 / n)) << what;
  EXPECT_NEAR(sd, bound / std::sqrt(3.0), 5 / std::sqrt(2 * n) * bound / std::sqrt(3.0)) << what;
}

void expect_normal(const Tensor& t, double mean, double std, const std::string& what) {
  const double n = static_cast<double>(t.numel());
  Tensor d = t.to(ark::kDouble);
  EXPECT_NEAR(d.mean().item<double>(), mean, 5 * std / std::sqrt(n)) << what;
  EXPECT_NEAR(d.std().item<double>(), std, 5 / std::sqrt(2 * n) * std) << what;
}

}  // namespace

TEST(NnInit, LinearDefault) {
  nn::Linear fc(256, 512);
  expect_uniform(fc->weight, 1.0 / 16, "Linear.weight: U(+-1/sqrt(in_features))");
  expect_uniform(fc->bias, 1.0 / 16, "Linear.bias");
  EXPECT_TRUE(fc->weight.requires_grad());
  EXPECT_TRUE(fc->weight.is_leaf());
}

TEST(NnInit, ConvDefault) {
  nn::Conv2d conv(nn::Conv2dOptions(16, 64, 3));
  expect_uniform(conv->weight, 1.0 / 12, "Conv2d.weight: fan_in = 16*3*3");
  expect_uniform(conv->bias, 1.0 / 12, "Conv2d.bias");
  nn::Conv2d grouped(nn::Conv2dOptions(16, 64, 3).groups(4));
  EXPECT_EQ(grouped->weight.sizes(), (ark::IntArrayRef{64, 4, 3, 3}));
  expect_uniform(grouped->weight, 1.0 / 6, "grouped Conv2d.weight: fan_in = 4*3*3");
  nn::ConvTranspose2d deconv(nn::ConvTranspose2dOptions(32, 16, 3));
  EXPECT_EQ(deconv->weight.sizes(), (ark::IntArrayRef{32, 16, 3, 3}));
  expect_uniform(deconv->weight, 1.0 / std::sqrt(16.0 * 9), "ConvTranspose2d.weight: PyTorch's fan_in = size(1)*k*k");
  nn::Conv1d conv1(nn::Conv1dOptions(8, 128, 4));
  expect_uniform(conv1->weight, 1.0 / std::sqrt(32.0), "Conv1d.weight");
}

TEST(NnInit, EmbeddingAndNormDefaults) {
  nn::Embedding emb(nn::EmbeddingOptions(2000, 64).padding_idx(-1));
  EXPECT_EQ(*emb->options.padding_idx(), 1999);
  expect_normal(emb->weight.narrow(0, 0, 1999), 0, 1, "Embedding.weight ~ N(0, 1)");
  EXPECT_EQ(emb->weight.select(0, 1999).abs().sum().item<float>(), 0.f) << "padding row is zeroed at init";

  nn::BatchNorm2d bn(8);
  EXPECT_TRUE(bn->weight.equal(ark::ones({8}, ark::kFloat)));
  EXPECT_TRUE(bn->bias.equal(ark::zeros({8})));
  EXPECT_TRUE(bn->running_var.equal(ark::ones({8}, ark::kFloat)));
  EXPECT_EQ(bn->num_batches_tracked.dtype(), ark::kLong);
  EXPECT_EQ(bn->num_batches_tracked.dim(), 0);
  nn::LayerNorm ln(nn::LayerNormOptions({4, 5}));
  EXPECT_TRUE(ln->weight.equal(ark::ones({4, 5}, ark::kFloat)));
  nn::RMSNorm rms(nn::RMSNormOptions({6}));
  EXPECT_TRUE(rms->weight.equal(ark::ones({6}, ark::kFloat)));
  EXPECT_EQ(rms->named_parameters().size(), 1u);
}

TEST(NnInit, MultiheadAttentionDefault) {
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(64, 4).add_bias_kv(true));
  const std::vector<std::string> expected = {"in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                                             "out_proj.bias"};
  EXPECT_EQ(mha->state_dict().keys(), expected);
  expect_uniform(mha->in_proj_weight, std::sqrt(6.0 / (64 + 192)), "in_proj_weight: xavier_uniform_ on (3E, E)");
  EXPECT_EQ(mha->in_proj_bias.abs().sum().item<float>(), 0.f);
  EXPECT_EQ(mha->out_proj->bias.abs().sum().item<float>(), 0.f);
  expect_uniform(mha->out_proj->weight, 1.0 / 8, "out_proj.weight keeps Linear's init");
  EXPECT_EQ(mha->bias_k.sizes(), (ark::IntArrayRef{1, 1, 64}));
  nn::MultiheadAttention cross(nn::MultiheadAttentionOptions(32, 2).kdim(16).vdim(8).bias(false));
  EXPECT_EQ(cross->state_dict().keys(),
            (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}));
  expect_uniform(cross->k_proj_weight, std::sqrt(6.0 / (32 + 16)), "k_proj_weight: xavier_uniform_");
  nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions(16, 2).dim_feedforward(32));
  const std::vector<std::string> layer_keys = {
      "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
      "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight",
      "norm2.bias"};
  EXPECT_EQ(layer->state_dict().keys(), layer_keys);
}

TEST(NnInit, Functions) {
  EXPECT_DOUBLE_EQ(init::calculate_gain(ark::kLinear), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(ark::kConv2D), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(ark::kTanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(ark::kReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(ark::kLeakyReLU, 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(init::calculate_gain(ark::kSELU), 0.75);
  auto [fan_in, fan_out] = init::_calculate_fan_in_and_fan_out(ark::empty({32, 16, 3, 3}));
  EXPECT_EQ(fan_in, 144);
  EXPECT_EQ(fan_out, 288);
  EXPECT_THROW(init::_calculate_fan_in_and_fan_out(ark::empty({5})), ark::Error);

  // Leaves that require grad are filled without recording history.
  Tensor w = ark::empty({256, 128}).requires_grad_(true);
  init::kaiming_normal_(w, 0, ark::kFanOut, ark::kReLU);
  EXPECT_TRUE(w.is_leaf());
  expect_normal(w, 0, std::sqrt(2.0 / 256), "kaiming_normal_(fan_out, relu)");
  init::kaiming_uniform_(w, 0, ark::kFanIn, ark::kReLU);
  expect_uniform(w, std::sqrt(3.0) * std::sqrt(2.0 / 128), "kaiming_uniform_(fan_in, relu)");
  init::xavier_normal_(w, 2.0);
  expect_normal(w, 0, 2.0 * std::sqrt(2.0 / 384), "xavier_normal_(gain=2)");
  init::xavier_uniform_(w);
  expect_uniform(w, std::sqrt(6.0 / 384), "xavier_uniform_");
  init::uniform_(w, -3, -1);
  EXPECT_GE(w.min().item<float>(), -3.f);
  EXPECT_LT(w.max().item<float>(), -1.f);
  init::normal_(w, 5, 0.5);
  expect_normal(w, 5, 0.5, "normal_");
  init::constant_(w, 0.25);
  EXPECT_TRUE(w.eq(0.25).all().item<bool>());
  init::zeros_(w);
  EXPECT_EQ(w.abs().sum().item<float>(), 0.f);
  init::ones_(w);
  EXPECT_EQ(w.sum().item<float>(), 256.f * 128);

  // trunc_normal_: every value in [a, b]; mean and std of N(1, 2^2) truncated to [0, 3].
  Tensor t = ark::empty({200000});
  init::trunc_normal_(t, 1.0, 2.0, 0.0, 3.0);
  EXPECT_GE(t.min().item<float>(), 0.f);
  EXPECT_LE(t.max().item<float>(), 3.f);
  {
    auto pdf = [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); };
    auto cdf = [](double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); };
    const double al = -0.5, be = 1.0, z = cdf(be) - cdf(al);
    const double mean = 1.0 + 2.0 * (pdf(al) - pdf(be)) / z;
    const double var = 4.0 * (1 + (al * pdf(al) - be * pdf(be)) / z - std::pow((pdf(al) - pdf(be)) / z, 2));
    expect_normal(t, mean, std::sqrt(var), "trunc_normal_");
  }
  Tensor t2 = ark::empty({100000}, ark::kDouble);
  init::trunc_normal_(t2, 0.0, 0.02, -0.04, 0.04);  // timm's ViT setting
  EXPECT_LE(t2.abs().max().item<double>(), 0.04);

  // orthogonal_: orthonormal rows (wide) or columns (tall), scaled by gain.
  Tensor wide = ark::empty({6, 10}), tall = ark::empty({10, 6}), conv = ark::empty({4, 2, 3, 3});
  init::orthogonal_(wide);
  init::orthogonal_(tall, 2.0);
  init::orthogonal_(conv);
  EXPECT_TRUE(wide.mm(wide.t()).allclose(ark::eye(6), 1e-5, 1e-5));
  EXPECT_TRUE(tall.t().mm(tall).allclose(ark::eye(6) * 4, 1e-5, 1e-5));
  Tensor flat = conv.reshape({4, 18});
  EXPECT_TRUE(flat.mm(flat.t()).allclose(ark::eye(4), 1e-5, 1e-5));

  Tensor e = ark::empty({3, 5});
  init::eye_(e);
  EXPECT_TRUE(e.equal(ark::eye(3, 5)));
  EXPECT_THROW(init::eye_(ark::empty({2, 2, 2})), ark::Error);

  // dirac_: a conv with this weight passes its input through (per group).
  Tensor d = ark::empty({4, 2, 3, 3});
  init::dirac_(d, 2);
  Tensor x = ark::randn({1, 4, 5, 5});
  EXPECT_TRUE(ark::conv2d(x, d, {}, 1, 1, 1, 2).allclose(x));
}
