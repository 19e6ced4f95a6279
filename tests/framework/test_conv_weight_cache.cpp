// Convolution weights reordered for oneDNN are cached on the weight's storage under no-grad:
// an in-place update must invalidate the copy, and a new tensor must not see another's copy.
#include <gtest/gtest.h>

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
