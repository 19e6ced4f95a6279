// max_pool2d's selection rules where random-input tests rarely look: a NaN in the window wins
// (PyTorch propagates it), ties keep the first index in window order, windows hanging over
// the padding only see real pixels, and a window of -inf still reports an index inside it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

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

// Several NaNs in one window: PyTorch's CPU kernel replaces the best when `v > best || isnan(v)`,
// so the LAST NaN in row-major order is reported. Expected indices from torch 1.13 on this input,
// for the 3x3/s2/p1 path, the 2x2/s2 path and the general loop (3x3/s1/p1; and float64).
TEST(MaxPoolEdges, SeveralNaNsReportTheLastOneAsPyTorch) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = tensor({nan, 1.f, nan, 2.f,  //
                     3.f, nan, 0.f, nan,  //
                     nan, 5.f, 6.f, 7.f})
                 .reshape({1, 1, 3, 4});
  auto idx_of = [](const Tensor& i) {
    Tensor c = i.contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  for (ScalarType dt : {kFloat, kDouble}) {
    auto [y, i] = max_pool2d_with_indices(x.to(dt), {3, 3}, {2, 2}, {1, 1});
    EXPECT_EQ(idx_of(i), (std::vector<int64_t>{5, 7, 8, 7})) << (dt == kFloat ? "float32" : "float64");
    EXPECT_TRUE(isnan(y).all().item<bool>());
  }
  auto [y2, i2] = max_pool2d_with_indices(x.narrow(2, 0, 2).contiguous(), {2, 2}, {2, 2});
  EXPECT_EQ(idx_of(i2), (std::vector<int64_t>{5, 7}));
  auto [y3, i3] = max_pool2d_with_indices(x, {3, 3}, {1, 1}, {1, 1});
  EXPECT_EQ(idx_of(i3), (std::vector<int64_t>{5, 5, 7, 7, 8, 8, 7, 7, 8, 8, 7, 7}));
}

namespace {
// PyTorch's cpu_max_pool loop for 3x3, stride 2, padding 1, over the output size given.
template <class T>
void naive_pool_3x3s2p1(const std::vector<T>& x, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                        std::vector<T>& y, std::vector<int64_t>& ix) {
  y.assign(static_cast<size_t>(planes * Ho * Wo), T(0));
  ix.assign(y.size(), -1);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < Ho; ++oh)
      for (int64_t ow = 0; ow < Wo; ++ow) {
        int64_t ih0 = oh * 2 - 1, iw0 = ow * 2 - 1;
        const int64_t ih1 = std::min<int64_t>(ih0 + 3, H), iw1 = std::min<int64_t>(iw0 + 3, W);
        ih0 = std::max<int64_t>(ih0, 0);
        iw0 = std::max<int64_t>(iw0, 0);
        int64_t at = ih0 * W + iw0;
        T best = -std::numeric_limits<T>::infinity();
        for (int64_t i = ih0; i < ih1; ++i)
          for (int64_t j = iw0; j < iw1; ++j) {
            const T v = x[static_cast<size_t>(pl * H * W + i * W + j)];
            if (v > best || std::isnan(v)) {
              best = v;
              at = i * W + j;
            }
          }
        y[static_cast<size_t>(pl * Ho * Wo + oh * Wo + ow)] = best;
        ix[static_cast<size_t>(pl * Ho * Wo + oh * Wo + ow)] = at;
      }
}

// Bitwise equality, so NaN == NaN and -0 != +0.
template <class T>
bool same_bits(const T* a, const T* b, size_t n) {
  return std::memcmp(a, b, n * sizeof(T)) == 0;
}
}  // namespace

// The resnet stem pool, nn.MaxPool2d(3, 2, 1): float32 takes a vectorised path, float64 the general
// loop. Both must match PyTorch's scan bit for bit, values and indices, on inputs full of ties
// (small integers), NaNs and -inf, for odd and even sizes (borders, rows too narrow for the vector
// loop, the vector loop's shifted last block), with and without ceil_mode.
TEST(MaxPoolEdges, Stem3x3s2p1MatchesNaiveScan) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  struct Shape {
    int64_t n, c, h, w;
  };
  const Shape shapes[] = {{2, 3, 7, 7},   {1, 2, 8, 9},   {2, 2, 1, 1},  {3, 1, 2, 2},   {2, 2, 112, 112},
                          {1, 3, 33, 34}, {2, 2, 19, 40}, {1, 1, 5, 64}, {4, 5, 32, 32}, {1, 2, 9, 18},
                          {1, 1, 40, 17}, {1, 2, 2, 35},  {1, 1, 1, 50}, {2, 1, 50, 1},  {1, 1, 3, 2}};
  std::mt19937 rng(7);
  for (const Shape& s : shapes)
    for (int mode = 0; mode < 5; ++mode)
      for (bool ceil : {false, true}) {
        const int64_t planes = s.n * s.c, numel = planes * s.h * s.w;
        std::vector<float> xs(static_cast<size_t>(numel));
        for (float& v : xs) {
          const int r = static_cast<int>(rng() % 100);
          switch (mode) {
            case 0: v = static_cast<float>(rng() % 3); break;  // many ties
            case 1: v = r < 10 ? nan : r < 20 ? -inf : static_cast<float>(rng() % 4) - 2.f; break;
            case 2: v = -inf; break;
            case 3: v = r < 40 ? nan : static_cast<float>(rng() % 2); break;  // several NaNs a window
            default: v = std::normal_distribution<float>()(rng); break;
          }
        }
        Tensor x = from_blob(xs.data(), {s.n, s.c, s.h, s.w}).clone();
        SCOPED_TRACE(::testing::Message() << "shape " << s.n << "x" << s.c << "x" << s.h << "x" << s.w << " mode "
                                          << mode << " ceil " << ceil);
        for (ScalarType dt : {kFloat, kDouble}) {
          auto [y, i] = max_pool2d_with_indices(x.to(dt), {3, 3}, {2, 2}, {1, 1}, {1, 1}, ceil);
          const int64_t Ho = y.size(2), Wo = y.size(3);
          ASSERT_EQ(Ho, ceil ? s.h / 2 + 1 : (s.h - 1) / 2 + 1);  // ceil((H - 1) / 2) + 1 with ceil_mode
          Tensor yc = y.contiguous(), ic = i.contiguous();
          std::vector<int64_t> want_i;
          if (dt == kFloat) {
            std::vector<float> want;
            naive_pool_3x3s2p1(xs, planes, s.h, s.w, Ho, Wo, want, want_i);
            EXPECT_TRUE(same_bits(yc.data_ptr<float>(), want.data(), want.size())) << "float32 values";
          } else {
            std::vector<double> xd(xs.begin(), xs.end()), want;
            naive_pool_3x3s2p1(xd, planes, s.h, s.w, Ho, Wo, want, want_i);
            EXPECT_TRUE(same_bits(yc.data_ptr<double>(), want.data(), want.size())) << "float64 values";
          }
          EXPECT_EQ(std::vector<int64_t>(ic.data_ptr<int64_t>(), ic.data_ptr<int64_t>() + ic.numel()), want_i) << (dt == kFloat ? "float32" : "float64");
        }
      }
}

// A strided (non-contiguous) input gives the same values and indices as its contiguous copy.
TEST(MaxPoolEdges, Stem3x3s2p1StridedInput) {
  Tensor base = randint(0, 3, {2, 3, 30, 26}, kFloat);
  Tensor x = base.transpose(2, 3);  // 2 x 3 x 26 x 30, not contiguous
  auto [y, i] = max_pool2d_with_indices(x, {3, 3}, {2, 2}, {1, 1});
  auto [yc, ic] = max_pool2d_with_indices(x.contiguous(), {3, 3}, {2, 2}, {1, 1});
  EXPECT_TRUE(equal(y, yc));
  EXPECT_TRUE(equal(i, ic));
}
