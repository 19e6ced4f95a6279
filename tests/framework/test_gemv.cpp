// The skinny GEMM path (backend/cpu/gemv.cpp): a few rows times a float32/bfloat16/float16 matrix,
// B in either layout (nn.Linear's weight transposed, or row-major as GPT-2's Conv1D and attention's
// V), checked against float64 GEMM on the same (rounded) values.
#include <gtest/gtest.h>

#include "ark/ark.h"

namespace {

using namespace ark;

// The largest |got - want| relative to the scale of want.
double rel_err(const Tensor& got, const Tensor& want) {
  const double scale = std::max(1.0, want.abs().max().item<double>());
  return (got.to(kDouble) - want).abs().max().item<double>() / scale;
}

struct Shape {
  int64_t m, n, k;
};

TEST(SkinnyGemm, MatchesDoubleForEveryDtypeAndLayout) {
  manual_seed(7);
  for (Shape s : {Shape{1, 768, 768}, Shape{1, 2304, 768}, Shape{3, 67, 77}, Shape{8, 130, 13}, Shape{2, 9, 8},
                  Shape{5, 1000, 3072}}) {
    for (ScalarType dt : {kFloat, kBFloat16, kHalf}) {
      Tensor a = randn({s.m, s.k}).to(dt);
      Tensor w = randn({s.n, s.k}).to(dt);  // nn.Linear weight (out, in)
      Tensor want = a.to(kDouble).mm(w.to(kDouble).t());
      const double tol = dt == kFloat ? 1e-5 : 1e-2;
      EXPECT_LT(rel_err(a.mm(w.t()), want), tol) << s.m << "x" << s.n << "x" << s.k << " " << dtype_name(dt);
      Tensor wc = w.t().contiguous();  // row-major (in, out)
      EXPECT_LT(rel_err(a.mm(wc), want), tol) << s.m << "x" << s.n << "x" << s.k << " row-major " << dtype_name(dt);
    }
  }
}

TEST(SkinnyGemm, AlphaBetaBatchesAndStridedRows) {
  manual_seed(8);
  // addmm: beta * bias + alpha * a @ w^T (bias broadcast into C first).
  Tensor a = randn({4, 96}), w = randn({40, 96}), bias = randn({40});
  Tensor want = bias.to(kDouble) * 0.5 + a.to(kDouble).mm(w.to(kDouble).t()) * 2.0;
  EXPECT_LT(rel_err(addmm(bias, a, w.t(), 0.5, 2.0), want), 1e-5);
  // Batched attention over a cache: q (B, 1, d) @ K^T (B, d, L), then p (B, 1, L) @ V (B, L, d);
  // K and V are views into a larger preallocated cache (leading dim > L).
  Tensor cache_k = randn({6, 50, 16}), cache_v = randn({6, 50, 16});
  Tensor k = cache_k.narrow(1, 0, 33), v = cache_v.narrow(1, 0, 33);
  Tensor q = randn({6, 1, 16});
  Tensor scores = q.bmm(k.transpose(1, 2));
  EXPECT_LT(rel_err(scores, q.to(kDouble).bmm(k.to(kDouble).transpose(1, 2))), 1e-5);
  Tensor p = scores.softmax(-1);
  EXPECT_LT(rel_err(p.bmm(v), p.to(kDouble).bmm(v.to(kDouble))), 1e-5);
  // A row taken from a wider matrix (lda > k).
  Tensor wide = randn({2, 200});
  Tensor rows = wide.narrow(1, 10, 96);
  EXPECT_LT(rel_err(rows.mm(w.t()), rows.to(kDouble).mm(w.to(kDouble).t())), 1e-5);
}

TEST(SkinnyGemm, NonFiniteValuesPropagate) {
  Tensor a = ones({1, 16}), w = ones({12, 16});
  w.data_ptr<float>()[3 * 16 + 5] = std::numeric_limits<float>::quiet_NaN();
  w.data_ptr<float>()[7 * 16 + 0] = std::numeric_limits<float>::infinity();
  Tensor y = a.mm(w.t());
  EXPECT_TRUE(std::isnan(y.index({0, 3}).item<float>()));
  EXPECT_TRUE(std::isinf(y.index({0, 7}).item<float>()));
  EXPECT_FLOAT_EQ(y.index({0, 0}).item<float>(), 16.f);
}

TEST(SkinnyGemm, LinearGradientsOnTheSkinnyPath) {
  manual_seed(9);
  Tensor x = randn({2, 24}, TensorOptions().requires_grad(true));
  Tensor w = randn({30, 24}, TensorOptions().requires_grad(true));
  Tensor b = randn({30}, TensorOptions().requires_grad(true));
  nn::functional::linear(x, w, b).pow(2).sum().backward();
  Tensor xd = x.detach().to(kDouble), wd = w.detach().to(kDouble);
  Tensor y = xd.mm(wd.t()) + b.detach().to(kDouble);
  EXPECT_LT(rel_err(x.grad(), (2 * y).mm(wd)), 1e-5);
  EXPECT_LT(rel_err(w.grad(), (2 * y).t().mm(xd)), 1e-5);
}

}  // namespace

namespace {

// Larger bfloat16/float16 products (oneDNN's bfloat16 kernels, or float32 after widening): the
// result is the float32-accumulated product rounded once to the output dtype, as PyTorch's.
TEST(ReducedPrecisionGemm, ManyRowsAccumulateInFloat) {
  ark::manual_seed(10);
  for (ark::ScalarType dt : {ark::kBFloat16, ark::kHalf}) {
    ark::Tensor a = ark::randn({40, 300}).to(dt), w = ark::randn({70, 300}).to(dt);
    ark::Tensor want = a.to(ark::kDouble).mm(w.to(ark::kDouble).t());
    ark::Tensor got = a.mm(w.t());
    EXPECT_EQ(got.dtype(), dt);
    // one rounding of a value of size ~sqrt(300): bfloat16 keeps 8 bits, float16 11
    EXPECT_LT(rel_err(got, want), dt == ark::kBFloat16 ? 8e-3 : 1e-3) << ark::dtype_name(dt);
    ark::Tensor q = ark::randn({2, 3, 20, 16}).to(dt), k = ark::randn({2, 3, 24, 16}).to(dt);
    ark::Tensor s = ark::matmul(q, k.transpose(-2, -1));
    EXPECT_LT(rel_err(s, ark::matmul(q.to(ark::kDouble), k.to(ark::kDouble).transpose(-2, -1))),
              dt == ark::kBFloat16 ? 8e-3 : 1e-3);
  }
}

}  // namespace
