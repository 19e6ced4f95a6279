// max_pool2d's selection rules where random-input tests rarely look: a NaN in the window wins
// (PyTorch propagates it), ties keep the first index in window order, windows hanging over
// the padding only see real pixels, and a window of -inf still reports an index inside it.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ark/ark.h"

using namespace ark;

TEST(MaxPoolEdges, NanTiesPaddingAndMinusInfinity) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // 1 x 1 x 4 x 5, pooled 3x3 stride 2 padding 1 -> 2 x 3 outputs.
  Tensor x = tensor({1.f, 7.f, 7.f, 0.f, -inf,   //
                     2.f, nan, 3.f, 0.f, -inf,   //
                     5.f, 4.f, 9.f, 9.f, -inf,   //
                     -inf, -inf, -inf, 8.f, -inf})
                 .reshape({1, 1, 4, 5});
  auto [y, idx] = max_pool2d_with_indices(x, {3, 3}, {2, 2}, {1, 1});
  ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 1, 2, 3}));
  // (0,0): rows 0-1, cols 0-1 -> NaN at (1,1) wins.
  EXPECT_TRUE(std::isnan(y[0][0][0][0].item<float>()));
  EXPECT_EQ(idx[0][0][0][0].item<int64_t>(), 6);
  // (0,1): rows 0-1, cols 1-3 -> NaN at (1,1) again, even though 7 comes first.
  EXPECT_TRUE(std::isnan(y[0][0][0][1].item<float>()));
  EXPECT_EQ(idx[0][0][0][1].item<int64_t>(), 6);
  // (0,2): rows 0-1, cols 3-4 -> 0 at (0,3) (first of the tied zeros).
  EXPECT_EQ(y[0][0][0][2].item<float>(), 0.f);
  EXPECT_EQ(idx[0][0][0][2].item<int64_t>(), 3);
  // (1,1): rows 1-3, cols 1-3 -> NaN at (1,1).
  EXPECT_EQ(idx[0][0][1][1].item<int64_t>(), 6);
  // (1,2): rows 1-3, cols 3-4 -> 9 at (2,3).
  EXPECT_EQ(y[0][0][1][2].item<float>(), 9.f);
  EXPECT_EQ(idx[0][0][1][2].item<int64_t>(), 13);

  // Ties: the first index in window order (row-major), as PyTorch.
  auto [ty, tidx] = max_pool2d_with_indices(ones({1, 1, 3, 3}), {3, 3}, {1, 1}, {1, 1});
  EXPECT_EQ(tidx[0][0][1][1].item<int64_t>(), 0);
  EXPECT_EQ(tidx[0][0][2][2].item<int64_t>(), 4);

  // All -inf: the value is -inf and the index is the window's first real pixel.
  auto [my, midx] = max_pool2d_with_indices(full({1, 1, 2, 2}, -inf), {3, 3}, {1, 1}, {1, 1});
  EXPECT_EQ(my[0][0][1][1].item<float>(), -inf);
  EXPECT_EQ(midx[0][0][1][1].item<int64_t>(), 0);
  EXPECT_EQ(midx[0][0][0][1].item<int64_t>(), 0);
}
