// The vectorised float32 math behind exp, log, tanh, sigmoid, erf, gelu and silu: checked against
// float64 over a dense range and at special values (the op tests use small tensors; this covers
// full vector lanes, tails, saturation, NaN and infinities). erf, gelu and gelu_backward are also
// checked directly on both vector paths (AVX-512 where the CPU has it, and AVX2).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "ark/ark.h"
#include "ark/backend/cpu/math.h"
#include "ark/backend/cpu/vec_math.h"

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
  // erf is a piecewise polynomial (vec_math.cpp): about 1 ulp near 1, 9e-8 at worst.
  check("erf", [](const Tensor& t) { return erf(t); }, x, 1e-7, 0);
  check("gelu", [](const Tensor& t) { return gelu(t); }, x, 2e-7, 3e-7);
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

namespace {
namespace vec = ark::cpu::vec;
constexpr float kInf = std::numeric_limits<float>::infinity();

// The vector widths this CPU can run erf/gelu at: 512 (if it has AVX-512F) and 256.
std::vector<int> simd_paths() {
  std::vector<int> p{vec::simd_bits()};
  if (p[0] == 512) p.push_back(256);
  return p;
}
struct SimdCap {
  int prev;
  explicit SimdCap(int bits) : prev(vec::set_max_simd_bits(bits)) {}
  ~SimdCap() { vec::set_max_simd_bits(prev); }
};
}  // namespace

TEST(VecMath, ErfWithinOneTenthMicroOverEveryFloatBelowFourAndAHalf) {
  for (int bits : simd_paths()) {
    SimdCap cap(bits);
    ASSERT_EQ(vec::simd_bits(), bits);
    // Every 5th float in [0, 4.5] (all exponents and mantissa patterns; erf is 1 beyond), and
    // erf(-x) == -erf(x) bit for bit.
    uint32_t end;
    const float top = 4.5f;
    std::memcpy(&end, &top, 4);
    const int kChunk = 1 << 16;
    std::vector<float> x(kChunk), y(kChunk), yn(kChunk);
    double worst = 0, worst_x = 0;
    bool odd = true;
    for (uint64_t b = 0; b < end; b += uint64_t{5} * kChunk) {
      for (int k = 0; k < kChunk; ++k) {
        const uint32_t u = static_cast<uint32_t>(std::min<uint64_t>(b + uint64_t{5} * k, end));
        std::memcpy(&x[k], &u, 4);
      }
      vec::erf(x.data(), y.data(), kChunk);
      for (int k = 0; k < kChunk; ++k) {
        const double e = std::abs(y[k] - std::erf(static_cast<double>(x[k])));
        if (e > worst) worst = e, worst_x = x[k];
        x[k] = -x[k];
      }
      vec::erf(x.data(), yn.data(), kChunk);
      for (int k = 0; k < kChunk && odd; ++k) odd = std::signbit(yn[k]) != std::signbit(y[k]) && yn[k] == -y[k];
    }
    EXPECT_LE(worst, 1e-7) << "simd " << bits << ": worst at x = " << worst_x;
    EXPECT_TRUE(odd) << "simd " << bits << ": erf(-x) != -erf(x)";

    const float in[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f, 3.92f, 4.0f, -4.0f, 10.0f, -1e30f, kInf, -kInf, NAN};
    const int n = sizeof(in) / sizeof(in[0]);
    float out[n];
    vec::erf(in, out, n);
    EXPECT_TRUE(out[0] == 0.0f && !std::signbit(out[0]));
    EXPECT_TRUE(out[1] == 0.0f && std::signbit(out[1]));
    EXPECT_NEAR(out[2], 1.1283791670955126e-30, 2e-7 * 1.1283791670955126e-30);  // full relative accuracy
    EXPECT_NEAR(out[3], -1.1283791670955126e-30, 2e-7 * 1.1283791670955126e-30);
    EXPECT_GT(out[4], 0.0f);
    EXPECT_NEAR(out[5], 1.0, 6e-8);  // erf(3.92) is 1 - 2.8e-8
    for (int k = 6; k < 12; ++k) EXPECT_EQ(out[k], in[k] > 0 ? 1.0f : -1.0f) << "simd " << bits << ", x = " << in[k];
    EXPECT_TRUE(std::isnan(out[12]));
  }
}

TEST(VecMath, GeluAndGeluBackwardMatchFloat64OnEveryPath) {
  const int n = (1 << 21) + 13;  // odd length: exercises the tail
  std::vector<float> x(n), g(n), y(n), dx(n);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> ug(-3, 3);
  for (int i = 0; i < n; ++i) {
    x[i] = -12.0f + 24.0f * static_cast<float>(i) / static_cast<float>(n);
    g[i] = (i % 3 == 0) ? 1.0f : ug(rng);
  }
  const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-40f, 5.0f, -5.0f, 30.0f, -30.0f, 1e30f, -1e30f, kInf, -kInf, NAN};
  std::copy(std::begin(specials), std::end(specials), x.end() - std::size(specials));
  for (int bits : simd_paths()) {
    SimdCap cap(bits);
    vec::gelu(x.data(), y.data(), n);
    vec::gelu_backward(g.data(), x.data(), dx.data(), n);
    double worst = 0, worst_b = 0;
    float at = 0, at_b = 0;
    bool nan_ok = true;
    for (int i = 0; i < n; ++i) {
      // The bound used for the other functions: 2e-7 absolute plus 3e-7 relative.
      const double r = ark::cpu::gelu<double>(x[i]), rb = ark::cpu::gelu_backward<double>(g[i], x[i]);
      nan_ok = nan_ok && std::isnan(r) == std::isnan(y[i]) && std::isnan(rb) == std::isnan(dx[i]);
      if (std::isfinite(r)) {
        const double e = std::abs(y[i] - r) / (2e-7 + 3e-7 * std::abs(r));
        if (e > worst) worst = e, at = x[i];
      } else if (!std::isnan(r)) {
        nan_ok = nan_ok && y[i] == r;
      }
      if (std::isfinite(rb)) {
        const double e = std::abs(dx[i] - rb) / (2e-7 + 3e-7 * std::abs(rb));
        if (e > worst_b) worst_b = e, at_b = x[i];
      }
    }
    EXPECT_LE(worst, 1.0) << "simd " << bits << ": gelu, worst at x = " << at;
    EXPECT_LE(worst_b, 1.0) << "simd " << bits << ": gelu_backward, worst at x = " << at_b;
    EXPECT_TRUE(nan_ok) << "simd " << bits << ": NaN/inf pattern differs from float64";
  }
}

TEST(VecMath, TailsGiveTheSameValuesAndWriteNothingPast) {
  std::vector<float> x(40), g(40), full(40), fullb(40);
  for (int i = 0; i < 40; ++i) {
    x[i] = -6.0f + 0.31f * static_cast<float>(i);
    g[i] = 0.5f + 0.01f * static_cast<float>(i);
  }
  for (int bits : simd_paths()) {
    SimdCap cap(bits);
    for (auto* f : {vec::erf, vec::gelu}) {
      f(x.data(), full.data(), 40);
      for (int n = 1; n <= 40; ++n) {
        std::vector<float> out(n + 1, 123.0f);
        f(x.data(), out.data(), n);
        for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], full[i]) << "simd " << bits << ", n = " << n << ", i = " << i;
        ASSERT_EQ(out[n], 123.0f) << "simd " << bits << ", n = " << n;
      }
    }
    vec::gelu_backward(g.data(), x.data(), fullb.data(), 40);
    for (int n = 1; n <= 40; ++n) {
      std::vector<float> out(n + 1, 123.0f);
      vec::gelu_backward(g.data(), x.data(), out.data(), n);
      for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], fullb[i]) << "simd " << bits << ", n = " << n;
      ASSERT_EQ(out[n], 123.0f) << "simd " << bits << ", n = " << n;
    }
  }
}
