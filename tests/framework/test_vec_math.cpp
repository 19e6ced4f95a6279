// The vectorised float32 math behind exp, log, tanh, sigmoid, erf, gelu and silu: checked against
// float64 over a dense range and at special values (the op tests use small tensors; this covers
// full vector lanes, tails, saturation, NaN and infinities).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "ark/ark.h"

using namespace ark;

namespace {
void check(const char* name, const std::function<Tensor(const Tensor&)>& op, const Tensor& x, double abs_tol,
           double rel_tol) {
  Tensor got = op(x).to(kDouble);
  // The C library in double precision, rounded to float (the best float32 answer).
  Tensor want = op(x.to(kDouble)).to(kFloat).to(kDouble);
  Tensor err = (got - want).abs();
  Tensor bound = want.abs() * rel_tol + abs_tol;
  Tensor finite = isfinite(want);
  Tensor bad = (err > bound) & finite;
  EXPECT_FALSE(bad.any().item<bool>()) << name << ": worst error " << err.masked_fill(~finite, 0).max().item<double>();
  // Non-finite results must match exactly (inf, -inf, NaN).
  Tensor nf = ~finite;
  EXPECT_TRUE(equal(isnan(got) & nf, isnan(want) & nf)) << name << ": NaN pattern differs";
  EXPECT_TRUE(equal(got.masked_fill(~(isinf(want)), 0), want.masked_fill(~isinf(want), 0))) << name << ": infinities";
}
}  // namespace

TEST(VecMath, MatchesFloat64OverDenseRanges) {
  Tensor x = linspace(-95, 95, 1 << 20 | 13);  // odd length: exercises the tail
  Tensor specials = tensor({0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f, 88.7f, -88.7f, 89.0f, -104.0f, 200.0f, -200.0f,
                            std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN()});
  x = cat({x, specials});
  check("exp", [](const Tensor& t) { return exp(t); }, x, 1e-44, 3e-7);
  check("log", [](const Tensor& t) { return log(t); }, cat({x.abs(), tensor({1e-38f, 1e-42f, 0.0f, -1.0f})}), 1e-44, 3e-7);
  check("tanh", [](const Tensor& t) { return tanh(t); }, x, 2e-7, 3e-7);
  check("sigmoid", [](const Tensor& t) { return sigmoid(t); }, x, 2e-7, 3e-7);
  // erf (and gelu through it) uses Abramowitz & Stegun 7.1.26, as PyTorch's vectorised erf does.
  check("erf", [](const Tensor& t) { return erf(t); }, x, 5e-7, 0);
  check("gelu", [](const Tensor& t) { return gelu(t); }, x, 5e-7, 3e-7);
  check("gelu_tanh", [](const Tensor& t) { return gelu(t, "tanh"); }, x, 2e-7, 3e-7);
  check("silu", [](const Tensor& t) { return silu(t); }, x, 2e-7, 3e-7);
}

TEST(VecMath, NonContiguousGivesTheSameValues) {
  Tensor x = randn({300, 40}) * 4;
  EXPECT_TRUE(equal(exp(x.t()).t(), exp(x)));
  EXPECT_TRUE(equal(gelu(x.t()).t(), gelu(x)));
}

TEST(VecMath, SumAndMaxOfLargeVectors) {
  Tensor x = randn({(1 << 20) + 7});
  const double exact = x.to(kDouble).sum().item<double>();
  EXPECT_NEAR(x.sum().item<float>(), exact, 1e-6 * std::max(1.0, std::abs(exact)) + 1e-3);
  EXPECT_EQ(x.max().item<float>(), x.to(kDouble).max().item<double>());
  Tensor y = x.clone();
  y[12345].fill_(NAN);
  EXPECT_TRUE(std::isnan(y.max().item<float>()));
  EXPECT_TRUE(std::isnan(y.min().item<float>()));
}
