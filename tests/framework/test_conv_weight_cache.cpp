// Convolution weights reordered for oneDNN are cached on the weight's storage under no-grad:
// an in-place update must invalidate the copy, and a new tensor must not see another's copy.
#include <gtest/gtest.h>

#include <cstring>

#include "ark/ark.h"

using namespace ark;

TEST(ConvWeightCache, InPlaceUpdatesInvalidateTheReorderedCopy) {
  manual_seed(0);
  Tensor x = randn({2, 16, 12, 12}), w = randn({32, 16, 3, 3});
  NoGradGuard no_grad;
  Tensor a = conv2d(x, w, {}, 1, IntArrayRef{1});
  EXPECT_TRUE(equal(conv2d(x, w, {}, 1, IntArrayRef{1}), a));  // served from the cache
  w.mul_(2);
  EXPECT_TRUE(allclose(conv2d(x, w, {}, 1, IntArrayRef{1}), a * 2, 1e-4, 1e-4));
  w.copy_(randn({32, 16, 3, 3}));
  Tensor fresh = conv2d(x, w.clone(), {}, 1, IntArrayRef{1});  // another storage, no cache
  EXPECT_TRUE(allclose(conv2d(x, w, {}, 1, IntArrayRef{1}), fresh, 1e-5, 1e-5));
  // A view of the same storage at another offset is a different weight.
  Tensor big = randn({2, 32, 16, 3, 3});
  Tensor y0 = conv2d(x, big[0], {}, 1, IntArrayRef{1}), y1 = conv2d(x, big[1], {}, 1, IntArrayRef{1});
  EXPECT_TRUE(allclose(y1, conv2d(x, big[1].clone(), {}, 1, IntArrayRef{1}), 1e-5, 1e-5));
  EXPECT_FALSE(allclose(y0, y1));
}

// In training the forward keeps its input in oneDNN's blocked layout, and backward-data its
// grad_out, for backward-weights to take. Gradients must be exactly those of convolutions that
// share nothing: one input feeding two convolutions (a ResNet block and its downsample branch),
// a second backward through a retained graph (the copies were taken by the first), and an input
// whose storage is later reused are the cases where a stale or shared copy would show.
TEST(ConvWeightCache, TrainingHandOffGivesTheGradientsOfIndependentConvolutions) {
  manual_seed(1);
  const Tensor x0 = randn({4, 32, 14, 14});
  const Tensor w1_0 = randn({64, 32, 3, 3}) * 0.1, w2_0 = randn({64, 32, 1, 1}) * 0.1;
  const Tensor r = randn({4, 64, 7, 7});
  auto grads = [&](bool shared) {
    Tensor x = x0.clone().requires_grad_(true);
    Tensor w1 = w1_0.clone().requires_grad_(true), w2 = w2_0.clone().requires_grad_(true);
    Tensor x2 = shared ? x : x.clone();  // a clone is another storage: nothing handed between the two
    Tensor y = conv2d(x, w1, {}, 2, IntArrayRef{1}) + conv2d(x2, w2, {}, 2, IntArrayRef{0});
    (y * r).sum().backward({}, /*retain_graph=*/true);
    std::vector<Tensor> first = {x.grad().clone(), w1.grad().clone(), w2.grad().clone()};
    for (Tensor* t : {&x, &w1, &w2}) t->mutable_grad() = Tensor();
    (y * r).sum().backward();
    return std::pair{first, std::vector<Tensor>{x.grad(), w1.grad(), w2.grad()}};
  };
  auto [shared_first, shared_second] = grads(true);
  auto [apart_first, apart_second] = grads(false);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(equal(shared_first[i], apart_first[i])) << i;
    EXPECT_TRUE(equal(shared_second[i], shared_first[i])) << i;
    EXPECT_TRUE(equal(apart_second[i], apart_first[i])) << i;
  }
  // Against float64 (no oneDNN, no hand-off): the gradients are right, not just consistent.
  Tensor xd = x0.to(kDouble).requires_grad_(true), w1d = w1_0.to(kDouble).requires_grad_(true);
  Tensor w2d = w2_0.to(kDouble).requires_grad_(true);
  ((conv2d(xd, w1d, {}, 2, IntArrayRef{1}) + conv2d(xd, w2d, {}, 2, IntArrayRef{0})) * r.to(kDouble)).sum().backward();
  EXPECT_TRUE(allclose(shared_first[0], xd.grad().to(kFloat), 1e-4, 1e-4));
  EXPECT_TRUE(allclose(shared_first[1], w1d.grad().to(kFloat), 1e-4, 1e-4));
  EXPECT_TRUE(allclose(shared_first[2], w2d.grad().to(kFloat), 1e-4, 1e-4));
}

// nn::optimize_for_inference lets the backend rewrite convolution weights in place into oneDNN's
// layout instead of keeping a second copy. Every reader must still see the plain values, an
// in-place update must reach the next forward, and outputs must not change.
TEST(ConvWeightCache, OptimizeForInferencePacksWeightsInPlaceAndReadsStayPlain) {
  manual_seed(2);
  nn::Conv2d conv(nn::Conv2dOptions(16, 32, 3).padding(1));
  nn::Sequential net(conv, nn::ReLU(), nn::Conv2d(nn::Conv2dOptions(32, 32, 1)));
  Tensor x = randn({2, 16, 10, 10});
  NoGradGuard no_grad;
  net->eval();
  const Tensor expected = net->forward(x);
  Tensor w = conv->weight;
  const Tensor w_plain = w.clone();
  Storage& storage = *w.storage();

  nn::optimize_for_inference(*net);
  EXPECT_TRUE(equal(net->forward(x), expected));
  ASSERT_NE(storage.packed_layout(), nullptr) << "the 3x3 weight was not packed";
  EXPECT_EQ(storage.backend_cache(), nullptr) << "a side copy stayed beside the packed weight";
  EXPECT_NE(std::memcmp(storage.raw_data(), w_plain.data_ptr(), storage.nbytes()), 0)
      << "packed bytes should be in oneDNN's blocked layout";

  // Reading the weight sees plain data and unpacks it; the next forward packs again.
  EXPECT_TRUE(equal(w, w_plain));
  EXPECT_EQ(storage.packed_layout(), nullptr);
  EXPECT_TRUE(equal(net->forward(x), expected));
  EXPECT_NE(storage.packed_layout(), nullptr);
  EXPECT_TRUE(equal(net->state_dict()["0.weight"], w_plain));

  // An in-place update (it reads the data first: unpack, then write) reaches the next forward.
  w.mul_(0.5);
  Tensor halved = conv2d(x, w_plain * 0.5, conv->bias, 1, IntArrayRef{1});
  EXPECT_TRUE(allclose(conv->forward(x), halved, 1e-5, 1e-5));
  EXPECT_TRUE(equal(w, w_plain * 0.5));
}

// Packing goes one slab of output-channel blocks at a time (a 256x256x3x3 weight is 2.4 MB: four
// slabs), and a depthwise weight (groups outermost) the same way: both ways must be exact.
TEST(ConvWeightCache, PackingInSlabsRoundTripsExactly) {
  manual_seed(3);
  nn::Conv2d dense(nn::Conv2dOptions(256, 256, 3).padding(1).bias(false));
  nn::Conv2d depthwise(nn::Conv2dOptions(256, 256, 3).padding(1).groups(256).bias(false));
  nn::Sequential net(dense, depthwise);
  Tensor x = randn({1, 256, 9, 9});
  NoGradGuard no_grad;
  net->eval();
  const Tensor expected = net->forward(x);
  const Tensor dense_plain = dense->weight.clone(), depthwise_plain = depthwise->weight.clone();
  nn::optimize_for_inference(*net);
  EXPECT_TRUE(equal(net->forward(x), expected));
  Storage& storage = *dense->weight.storage();
  ASSERT_NE(storage.packed_layout(), nullptr) << "the 3x3 weight was not packed";
  EXPECT_NE(std::memcmp(storage.raw_data(), dense_plain.data_ptr(), storage.nbytes()), 0);
  EXPECT_TRUE(equal(dense->weight, dense_plain));  // unpacks
  EXPECT_TRUE(equal(depthwise->weight, depthwise_plain));
  EXPECT_TRUE(equal(net->forward(x), expected));  // packs again
}
