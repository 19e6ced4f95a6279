// nn::functional's options API over the ops, and the layers' input checks (wrong rank or channel
// count raises ark::Error naming what was expected and what was got).
#include <gtest/gtest.h>

#include <cmath>

#include "ark/ark.h"

namespace nn = ark::nn;
namespace F = ark::nn::functional;
using ark::Tensor;

namespace {

// Runs `fn`, expects an ark::Error whose message contains every one of `parts`.
template <class Fn>
void expect_error(Fn&& fn, std::initializer_list<const char*> parts) {
  try {
    fn();
    ADD_FAILURE() << "no ark::Error thrown; expected one mentioning " << *parts.begin();
  } catch (const ark::Error& e) {
    const std::string msg = e.what();
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

}  // namespace

TEST(NnFunctional, LossesWithReductionTags) {
  Tensor x = ark::randn({6, 4}), y = ark::tensor({0, 3, 1, 1, 2, 0}).to(ark::kLong);
  Tensor none = F::cross_entropy(x, y, F::CrossEntropyFuncOptions().reduction(ark::kNone));
  EXPECT_EQ(none.sizes(), (ark::IntArrayRef{6}));
  EXPECT_TRUE(F::cross_entropy(x, y, F::CrossEntropyFuncOptions().reduction(ark::kSum)).allclose(none.sum()));
  EXPECT_TRUE(F::cross_entropy(x, y).allclose(none.mean()));
  EXPECT_TRUE(F::cross_entropy(x, y, ark::kSum).allclose(none.sum()));  // options from a bare tag
  EXPECT_TRUE(F::nll_loss(F::log_softmax(x, 1), y).allclose(none.mean()));
  Tensor smoothed = F::cross_entropy(x, y, F::CrossEntropyFuncOptions().label_smoothing(0.1).ignore_index(3));
  EXPECT_TRUE(std::isfinite(smoothed.item<float>()));

  Tensor a = ark::randn({3, 5}), b = ark::randn({3, 5});
  EXPECT_TRUE(F::mse_loss(a, b, ark::kSum).allclose((a - b).square().sum()));
  EXPECT_TRUE(F::l1_loss(a, b).allclose((a - b).abs().mean()));
  EXPECT_EQ(F::smooth_l1_loss(a, b, F::SmoothL1LossFuncOptions().reduction(ark::kNone).beta(0.5)).sizes(), a.sizes());
  Tensor p = ark::sigmoid(a), t = ark::rand({3, 5});
  EXPECT_TRUE(F::binary_cross_entropy(p, t).allclose(F::binary_cross_entropy_with_logits(a, t), 1e-4, 1e-6));
  EXPECT_EQ(ark::enumtype::get_enum_name(F::MSELossFuncOptions(ark::kSum).reduction()), "sum");
}

TEST(NnFunctional, ActivationsAndDropout) {
  Tensor x = ark::randn({4, 5});
  EXPECT_TRUE(F::relu(x).equal(x.clamp_min(0)));
  EXPECT_TRUE(F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.2)).allclose(ark::where(x > 0, x, x * 0.2)));
  EXPECT_TRUE(F::gelu(x, F::GELUFuncOptions().approximate("tanh")).allclose(ark::gelu(x, "tanh")));
  EXPECT_TRUE(F::softmax(x, F::SoftmaxFuncOptions(1)).sum({1}).allclose(ark::ones({4}, ark::kFloat)));
  EXPECT_TRUE(F::log_softmax(x, 1).exp().allclose(F::softmax(x, 1)));
  EXPECT_TRUE(F::silu(x).allclose(x * ark::sigmoid(x)));
  EXPECT_TRUE(F::elu(x, F::ELUFuncOptions().alpha(2)).allclose(ark::elu(x, 2)));
  EXPECT_TRUE(F::softplus(x, F::SoftplusFuncOptions().beta(2)).allclose(ark::softplus(x, 2)));
  EXPECT_TRUE(F::hardswish(x).allclose(ark::hardswish(x)));
  EXPECT_TRUE(F::hardsigmoid(x).allclose(ark::hardsigmoid(x)));
  Tensor y = x.clone();
  Tensor r = F::relu(y, F::ReLUFuncOptions().inplace(true));
  EXPECT_TRUE(r.is_same(y));
  EXPECT_GE(y.min().item<float>(), 0.f);
  EXPECT_TRUE(F::dropout(x, F::DropoutFuncOptions().p(0.5).training(false)).equal(x));
  Tensor d = F::dropout2d(ark::ones({2, 50, 3, 3}, ark::kFloat), F::Dropout2dFuncOptions().p(0.5));
  // Whole channels are kept (scaled by 2) or zeroed.
  Tensor per_channel = d.amax({2, 3}) - d.amin({2, 3});
  EXPECT_EQ(per_channel.abs().sum().item<float>(), 0.f);
}

TEST(NnFunctional, ConvPoolNormEmbedding) {
  Tensor x = ark::randn({2, 3, 8, 8}), w = ark::randn({4, 3, 3, 3}), b = ark::randn({4});
  EXPECT_EQ(F::conv2d(x, w, F::Conv2dFuncOptions().padding(ark::kSame)).sizes(), (ark::IntArrayRef{2, 4, 8, 8}));
  EXPECT_TRUE(F::conv2d(x, w, F::Conv2dFuncOptions().bias(b).stride(2).padding(1))
                  .allclose(ark::conv2d(x, w, b, 2, 1)));
  EXPECT_EQ(F::conv2d(x, w, F::Conv2dFuncOptions().padding({1, 0})).sizes(), (ark::IntArrayRef{2, 4, 8, 6}));
  EXPECT_EQ(F::conv1d(ark::randn({1, 3, 10}), ark::randn({2, 3, 5}), F::Conv1dFuncOptions().padding(ark::kValid)).size(2), 6);
  EXPECT_EQ(F::conv_transpose2d(x, ark::randn({3, 2, 2, 2}), F::ConvTranspose2dFuncOptions().stride(2)).sizes(),
            (ark::IntArrayRef{2, 2, 16, 16}));
  EXPECT_EQ(F::max_pool2d(x, F::MaxPool2dFuncOptions(2)).sizes(), (ark::IntArrayRef{2, 3, 4, 4}));
  EXPECT_EQ(F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(2).padding(1)).sizes(), (ark::IntArrayRef{2, 3, 4, 4}));
  EXPECT_EQ(F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({2, std::nullopt})).sizes(),
            (ark::IntArrayRef{2, 3, 2, 8}));

  Tensor rm = ark::zeros({3}), rv = ark::ones({3}, ark::kFloat);
  F::batch_norm(x, rm, rv, F::BatchNormFuncOptions().training(true).momentum(0.5));
  EXPECT_TRUE(rm.allclose(x.mean({0, 2, 3}) * 0.5, 1e-4, 1e-5));
  Tensor ln = F::layer_norm(x, F::LayerNormFuncOptions({8}).eps(1e-5));
  EXPECT_TRUE(ln.mean({-1}).abs().max().item<float>() < 1e-5);
  EXPECT_EQ(F::group_norm(x, F::GroupNormFuncOptions(3)).sizes(), x.sizes());
  EXPECT_EQ(F::rms_norm(x, F::RMSNormFuncOptions({8})).sizes(), x.sizes());

  Tensor table = ark::randn({10, 3}) * 5;
  Tensor idx = ark::tensor({1, 4, 4}).to(ark::kLong);
  Tensor e = F::embedding(idx, table, F::EmbeddingFuncOptions().max_norm(1.0));
  EXPECT_LE(e.norm(2, {1}).max().item<float>(), 1.f + 1e-5f);
  EXPECT_LE(table.select(0, 4).norm().item<float>(), 1.f + 1e-5f) << "max_norm renormalises the table in place";
  EXPECT_TRUE(F::one_hot(idx, 5).equal(ark::tensor({{0, 1, 0, 0, 0}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}}).to(ark::kLong)));
}

TEST(NnFunctional, ResamplingAndGeometry) {
  Tensor x = ark::arange(4, ark::kFloat).reshape({1, 1, 2, 2});
  Tensor up = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2}).mode(ark::kNearest));
  EXPECT_TRUE(up.equal(ark::tensor({{0.f, 0.f, 1.f, 1.f}, {0.f, 0.f, 1.f, 1.f}, {2.f, 2.f, 3.f, 3.f}, {2.f, 2.f, 3.f, 3.f}})
                           .reshape({1, 1, 4, 4})));
  Tensor bl = F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{3, 3}).mode(ark::kBilinear)
                                    .align_corners(true));
  EXPECT_NEAR(bl.index({0, 0, 1, 1}).item<float>(), 1.5f, 1e-6);
  EXPECT_EQ(F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{1, 1}).mode(ark::kArea)).item<float>(),
            1.5f);
  EXPECT_THROW(F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{4, 4}).align_corners(true)),
               ark::Error);
  EXPECT_THROW(F::interpolate(x, F::InterpolateFuncOptions()), ark::Error);

  Tensor p = F::pad(x, F::PadFuncOptions({1, 1}).mode(ark::kReflect));
  EXPECT_TRUE(p.index({0, 0, 0}).equal(ark::tensor({1.f, 0.f, 1.f, 0.f})));
  EXPECT_EQ(F::pad(x, F::PadFuncOptions({0, 1, 2, 0}).value(7)).index({0, 0, 0, 0}).item<float>(), 7.f);

  Tensor v = ark::randn({4, 6});
  EXPECT_TRUE(F::normalize(v, F::NormalizeFuncOptions().dim(1)).norm(2, {1}).allclose(ark::ones({4}, ark::kFloat)));
  Tensor u = ark::randn({4, 6});
  Tensor cos = F::cosine_similarity(u, v, F::CosineSimilarityFuncOptions().dim(1));
  EXPECT_TRUE(cos.allclose((u * v).sum({1}) / (u.norm(2, {1}) * v.norm(2, {1})), 1e-5, 1e-6));
  EXPECT_EQ(F::cosine_similarity(u, v.select(0, 0).unsqueeze(0)).sizes(), (ark::IntArrayRef{4}));  // broadcasts
}

TEST(NnBadInput, LayersNameExpectedAndGot) {
  expect_error([] { nn::Linear(4, 2)(ark::randn({2, 3})); },
               {"Linear", "expected input with last dimension 4", "got input of shape [2, 3]"});
  expect_error([] { nn::Conv2d(3, 8, 3)(ark::randn({1, 5, 8, 8})); },
               {"Conv2d", "expected input with 3 channels", "got 5 channels", "[1, 5, 8, 8]"});
  expect_error([] { nn::Conv2d(3, 8, 3)(ark::randn({1, 1, 3, 8, 8})); }, {"Conv2d", "expected 3-D", "4-D", "got 5-D"});
  expect_error([] { nn::Conv1d(3, 8, 3)(ark::randn({3, 8, 8, 2})); }, {"Conv1d", "got 4-D"});
  expect_error([] { nn::ConvTranspose2d(4, 2, 3)(ark::randn({1, 2, 5, 5})); }, {"ConvTranspose2d", "4 channels", "got 2"});
  expect_error([] { nn::BatchNorm2d(4)(ark::randn({2, 4, 5})); }, {"BatchNorm2d", "expected 4D input", "got 3D"});
  expect_error([] { nn::BatchNorm1d(4)(ark::randn({2, 3})); }, {"BatchNorm1d", "4 channels", "got 3 channels"});
  expect_error([] { nn::LayerNorm(nn::LayerNormOptions({8}))(ark::randn({2, 7})); },
               {"LayerNorm", "trailing dimensions [8]", "got input of shape [2, 7]"});
  expect_error([] { nn::GroupNorm(2, 8)(ark::randn({2, 6, 3})); }, {"GroupNorm", "8 channels", "got 6"});
  expect_error([] { nn::MaxPool2d(2)(ark::randn({4, 4})); }, {"MaxPool2d", "expected 3-D", "got 2-D"});
  expect_error([] { nn::MultiheadAttention(8, 2)->forward(ark::randn({5, 2, 6}), ark::randn({5, 2, 6}), ark::randn({5, 2, 6})); },
               {"embedding dimension of 8", "got 6"});
  expect_error([] {
    nn::MultiheadAttention m(8, 2);
    Tensor x = ark::randn({5, 2, 8});
    m->forward(x, x, x, ark::zeros({2, 4}, ark::kBool));
  }, {"key_padding_mask shape of [2, 5]", "got [2, 4]"});
  // Bad options fail at construction.
  expect_error([] { nn::Conv2d(nn::Conv2dOptions(3, 8, 3).padding(ark::kSame).stride(2)); }, {"padding='same'", "strided"});
  expect_error([] { nn::Conv2d(nn::Conv2dOptions(3, 8, 3).groups(2)); }, {"in_channels (3)", "groups (2)"});
  expect_error([] { nn::GroupNorm(3, 8); }, {"num_channels (8)", "num_groups (3)"});
  expect_error([] { nn::Embedding(nn::EmbeddingOptions(5, 2).padding_idx(5)); }, {"padding_idx", "within num_embeddings"});
  expect_error([] { nn::Dropout(1.5); }, {"between 0 and 1", "1.5"});
  expect_error([] { nn::MultiheadAttention(10, 3); }, {"embed_dim (10)", "num_heads (3)"});
}

TEST(NnFunctional, LossModules) {
  Tensor x = ark::randn({6, 4}, ark::requires_grad()), y = ark::tensor({0, 3, 1, 1, 2, 0}).to(ark::kLong);
  nn::CrossEntropyLoss criterion(nn::CrossEntropyLossOptions().label_smoothing(0.1));
  Tensor loss = criterion(x, y);
  EXPECT_TRUE(loss.allclose(F::cross_entropy(x, y, F::CrossEntropyFuncOptions().label_smoothing(0.1))));
  loss.backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_TRUE(nn::MSELoss(ark::kSum)(x, ark::zeros({6, 4})).allclose(x.square().sum()));
  EXPECT_TRUE(nn::NLLLoss()(F::log_softmax(x, 1), y).allclose(F::cross_entropy(x, y)));
  EXPECT_EQ(nn::BCEWithLogitsLoss()(x, ark::rand({6, 4})).dim(), 0);
}
