// Tensor basics: creation, dtypes and conversions (float16/bfloat16 rounding), views sharing
// storage, from_blob, item/data_ptr, random generators and seeding, printing like PyTorch,
// thread settings, and module/tensor save/load.
#include <array>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "ark/ark.h"
#include "support/reference.h"

using namespace ark;

TEST(Tensor, CreationAndDefaults) {
  EXPECT_EQ(zeros({2, 3}).dtype(), kFloat);
  EXPECT_EQ(ones({2}).dtype(), kFloat);
  EXPECT_EQ(full({2}, 1).dtype(), kLong);  // as torch.full with an integer fill value
  EXPECT_EQ(full({2}, 1.5).dtype(), kFloat);
  EXPECT_EQ(arange(5).dtype(), kLong);
  EXPECT_EQ(arange(0.0, 1.0, 0.25).numel(), 4);
  EXPECT_TRUE(equal(arange(2, 11, 3), tensor({2, 5, 8})));
  EXPECT_TRUE(equal(linspace(0, 1, 5), tensor({0.0f, 0.25f, 0.5f, 0.75f, 1.0f})));
  EXPECT_TRUE(equal(eye(2, 3), tensor({{1.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}})));
  EXPECT_EQ(tensor({{1, 2}, {3, 4}}).dtype(), kLong);
  EXPECT_EQ(tensor({1.5, 2.5}).dtype(), kFloat);  // floating literals give the default dtype
  EXPECT_EQ(tensor({true, false}).dtype(), kBool);
  EXPECT_EQ(tensor(3.5).dim(), 0);
  EXPECT_EQ(randn({3}, kDouble).dtype(), kDouble);
  EXPECT_TRUE(zeros({2}, TensorOptions().requires_grad(true)).requires_grad());
  EXPECT_EQ(empty({0, 4}).numel(), 0);
  Tensor p = randperm(10);
  EXPECT_TRUE(equal(std::get<0>(p.sort()), arange(10)));
  Tensor r = randint(3, 7, {1000});
  EXPECT_GE(r.min().item<int64_t>(), 3);
  EXPECT_LE(r.max().item<int64_t>(), 6);
}

TEST(Tensor, ReducedPrecisionRoundsToNearestEven) {
  // float16: 2049 is exactly between 2048 and 2050: ties go to even (2048).
  EXPECT_EQ(tensor({2049.0f}).to(kHalf).to(kFloat).item<float>(), 2048.0f);
  EXPECT_EQ(tensor({65504.0f}).to(kHalf).to(kFloat).item<float>(), 65504.0f);
  EXPECT_TRUE(std::isinf(tensor({70000.0f}).to(kHalf).to(kFloat).item<float>()));
  EXPECT_EQ(tensor({6e-8f}).to(kHalf).to(kFloat).item<float>(), 5.9604644775390625e-8f);  // smallest subnormal
  // bfloat16 keeps float32's range with 8 significant bits.
  EXPECT_EQ(tensor({1.00390625f}).to(kBFloat16).to(kFloat).item<float>(), 1.0f);  // tie to even
  EXPECT_EQ(tensor({3e38f}).to(kBFloat16).to(kFloat).item<float>(), 3.00405527047391e38f);
  EXPECT_TRUE(std::isnan(tensor({NAN}).to(kBFloat16).to(kFloat).item<float>()));
  // Arithmetic on reduced precision computes in float and rounds the result.
  Tensor h = tensor({1.0f, 2.0f}).to(kHalf);
  Tensor s = h + h;
  EXPECT_EQ(s.dtype(), kHalf);
  EXPECT_TRUE(equal(s.to(kFloat), tensor({2.0f, 4.0f})));
  EXPECT_EQ((h + tensor({1.0f}).to(kBFloat16)).dtype(), kFloat);  // half + bfloat16 -> float32
  EXPECT_EQ(matmul(h.view({1, 2}), h.view({2, 1})).to(kFloat).item<float>(), 5.0f);
}

TEST(Tensor, TypePromotion) {
  Tensor i = tensor({1, 2}), f = tensor({1.0f, 2.0f}), d = tensor({1.0, 2.0}, kDouble), b = tensor({true, false});
  EXPECT_EQ((i + f).dtype(), kFloat);
  EXPECT_EQ((f + d).dtype(), kDouble);
  EXPECT_EQ((i + 1.5).dtype(), kFloat);
  EXPECT_EQ((b + 1).dtype(), kLong);
  EXPECT_EQ((f + tensor(1.0, kDouble)).dtype(), kFloat);  // 0-dim tensors don't widen within a category
  EXPECT_EQ((i / i).dtype(), kFloat);                    // true division
  EXPECT_EQ(i.sum().dtype(), kLong);
  EXPECT_EQ(b.sum().item<int64_t>(), 1);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor x = arange(12, kFloat).view({3, 4});
  Tensor v = x.t();
  EXPECT_FALSE(v.is_contiguous());
  EXPECT_TRUE(v.is_alias_of(x));
  v.select(0, 1).fill_(-1);
  EXPECT_EQ(x.index({0, 1}).item<float>(), -1);
  EXPECT_EQ(x.narrow(1, 1, 2).storage_offset(), 1);
  auto parts = x.chunk(2, 1);
  EXPECT_EQ(parts[1].sizes(), IntArrayRef({3, 2}));
  EXPECT_TRUE(parts[1].is_alias_of(x));
  Tensor c = v.contiguous();
  EXPECT_FALSE(c.is_alias_of(x));
  Tensor e = x.select(1, 0).unsqueeze(1).expand({3, 5});
  EXPECT_EQ(e.stride(1), 0);
  EXPECT_TRUE(x.reshape({-1}).is_alias_of(x));  // viewable: no copy
  EXPECT_FALSE(v.reshape({-1}).is_alias_of(x));  // not viewable: a copy
}

TEST(Tensor, FromBlobItemDataPtr) {
  float buf[6] = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(buf, {2, 3});
  t.mul_(2);
  EXPECT_EQ(buf[5], 12.0f);
  EXPECT_EQ(t.index({1, 2}).item<float>(), 12.0f);
  EXPECT_EQ(t.data_ptr<float>(), buf);
  EXPECT_THROW(t.data_ptr<double>(), Error);
  EXPECT_THROW(t.item<float>(), Error);  // more than one element
  bool deleted = false;
  {
    Tensor owned = from_blob(buf, {6}, [&](void*) { deleted = true; });
  }
  EXPECT_TRUE(deleted);
}

TEST(Tensor, SeedingIsReproducible) {
  manual_seed(42);
  Tensor a = randn({5}), b = rand({3});
  manual_seed(42);
  EXPECT_TRUE(equal(a, randn({5})));
  EXPECT_TRUE(equal(b, rand({3})));
  Generator g1(7), g2(7);
  EXPECT_TRUE(equal(randn({4}, &g1), randn({4}, &g2)));
  const std::string state = g1.get_state();
  Tensor next = randn({4}, &g1);
  g1.set_state(state);
  EXPECT_TRUE(equal(randn({4}, &g1), next));
  Tensor u = rand({100000});
  EXPECT_GE(u.min().item<float>(), 0.0f);
  EXPECT_LT(u.max().item<float>(), 1.0f);
  EXPECT_NEAR(randn({100000}).std().item<float>(), 1.0f, 0.02f);
}

TEST(Tensor, PrintsLikePyTorch) {
  // Expected strings are what PyTorch 1.13 prints for the same values (repr(tensor)).
  auto str = [](const Tensor& t) { return t.toString(); };
  EXPECT_EQ(str(tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(str(tensor({1.5f, -2.25f})), "tensor([ 1.5000, -2.2500])");
  EXPECT_EQ(str(tensor({1, 20, 300})), "tensor([  1,  20, 300])");
  EXPECT_EQ(str(tensor({true, false})), "tensor([ True, False])");
  EXPECT_EQ(str(tensor(3.5)), "tensor(3.5000)");
  EXPECT_EQ(str(tensor({1e-5f, 1.0f})), "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(str(tensor({1.0, 2.0}, kDouble)), "tensor([1., 2.], dtype=torch.float64)");
  EXPECT_EQ(str(zeros({0, 3})), "tensor([], size=(0, 3))");
  EXPECT_EQ(str(tensor({NAN, INFINITY, 1.0f})), "tensor([nan, inf, 1.])");
  EXPECT_EQ(str(ones({2}).requires_grad_()), "tensor([1., 1.], requires_grad=True)");
  EXPECT_EQ(str(ones({2}).requires_grad_() * 2), "tensor([2., 2.], grad_fn=<MulBackward1>)");
  const std::string big = str(arange(2000, kFloat));
  EXPECT_EQ(big, "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])");
  EXPECT_EQ(str(tensor({{1e10f, 1.0f}})), "tensor([[1.0000e+10, 1.0000e+00]])");
  EXPECT_EQ(str(tensor({0.001f, 12345.678f})), "tensor([1.0000e-03, 1.2346e+04])");
  std::ostringstream os;
  os << tensor({1, 2});
  EXPECT_EQ(os.str(), "tensor([1, 2])");
}

TEST(Tensor, ThreadSettings) {
  const int before = get_num_threads();
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  Tensor x = randn({1 << 16});
  EXPECT_NEAR(x.sum().item<double>(), x.to(kDouble).sum().item<double>(), 1e-2);
  set_num_threads(before);
  EXPECT_THROW(set_num_threads(0), Error);
}

TEST(Tensor, ThreadCountFromEnvironment) {
  // ARK_NUM_THREADS is read at start-up: check it in a child process.
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  const std::string cmd = "ARK_NUM_THREADS=1 " + self + " --gtest_filter=Tensor.ReportThreads 2>&1 | grep -q 'threads=1'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(Tensor, ReportThreads) { std::cout << "threads=" << get_num_threads() << "\n"; }

TEST(Tensor, SaveAndLoadModulesAndTensors) {
  const std::string dir = std::filesystem::temp_directory_path() / ("ark_save_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  nn::Sequential a(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
  nn::Sequential b(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
  save(a, dir + "/m.safetensors");
  load(b, dir + "/m.safetensors");
  Tensor x = randn({5, 4});
  EXPECT_TRUE(equal(a->forward(x), b->forward(x)));
  nn::Sequential c(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 5));
  try {
    load(c, dir + "/m.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2.weight"), std::string::npos) << e.what();
  }
  Tensor t = randn({2, 3}), u;
  save(t, dir + "/t.safetensors");
  load(u, dir + "/t.safetensors");
  EXPECT_TRUE(equal(t, u));
  std::filesystem::remove_all(dir);
}

TEST(Tensor, DropoutStatistics) {
  manual_seed(3);
  Tensor x = ones({200, 500});
  Tensor y = dropout(x, 0.3, true);
  const double zero_fraction = (y == 0).to(kDouble).mean().item<double>();
  EXPECT_NEAR(zero_fraction, 0.3, 0.01);
  EXPECT_NEAR(y.mean().item<double>(), 1.0, 0.02);                      // scaled by 1 / (1 - p)
  EXPECT_TRUE(allclose(y.masked_select(y != 0), full({1}, 1 / 0.7f)));  // kept values are scaled
  EXPECT_TRUE(equal(dropout(x, 0.3, false), x));                        // eval: identity
  Tensor xr = randn({4, 6}).requires_grad_();
  Tensor yr = dropout(xr, 0.5, true);
  yr.sum().backward();
  EXPECT_TRUE(equal(xr.grad() == 0, yr == 0));  // the gradient flows through the kept units only
  // dropout2d zeroes whole channels.
  Tensor f = ones({64, 32, 5, 5});
  Tensor z = feature_dropout(f, 0.25, true);
  Tensor per_channel = z.sum({2, 3});
  EXPECT_TRUE(((per_channel == 0) | isclose(per_channel, full_like(per_channel, 25 / 0.75))).all().item<bool>());
  EXPECT_NEAR((per_channel == 0).to(kDouble).mean().item<double>(), 0.25, 0.03);
  Tensor bern = bernoulli(full({100000}, 0.2));
  EXPECT_NEAR(bern.mean().item<double>(), 0.2, 0.01);
}

// contiguous() of a transposed view takes the tiled (8x8 in-register) path for 4-byte types; its
// result must equal the generic strided copy (a dtype-changing copy) for every edge shape.
TEST(TensorCopy, TransposedCopyMatchesGenericLoop) {
  for (auto [b, r, c] : std::vector<std::array<int64_t, 3>>{{1, 8, 8}, {2, 64, 64}, {3, 37, 45}, {1, 9, 7}, {2, 1, 33}, {1, 130, 257}}) {
    for (ark::ScalarType dt : {ark::kFloat, ark::kInt32, ark::kDouble, ark::kHalf}) {
      const ark::Tensor x = ark::randint(-1000, 1000, {b, r, c}).to(dt);  // exact in every dtype here
      const ark::Tensor t = x.transpose(1, 2);
      const ark::Tensor fast = t.contiguous();
      const ark::Tensor generic = t.to(dt == ark::kDouble ? ark::kFloat : ark::kDouble).to(dt);
      ASSERT_TRUE(fast.is_contiguous());
      EXPECT_TRUE(ark::equal(fast, generic)) << b << "x" << r << "x" << c << " " << ark::dtype_name(dt);
    }
  }
}

// A binary op with one input transposed against the output (x + y.t()) runs in tiles through a
// row-major buffer. Every edge shape, both operand orders (sub/div are not symmetric), a
// comparison (bool output) and a batched view must equal the same op on contiguous copies.
TEST(TensorBinary, TransposedOperandMatchesContiguous) {
  for (auto [b, r, c] : std::vector<std::array<int64_t, 3>>{{1, 8, 8}, {2, 64, 64}, {3, 37, 45}, {1, 9, 7}, {2, 1, 33}, {1, 130, 257}}) {
    for (ark::ScalarType dt : {ark::kFloat, ark::kInt32, ark::kDouble}) {
      const ark::Tensor x = (ark::randint(1, 1000, {b, r, c})).to(dt);
      const ark::Tensor y = (ark::randint(1, 1000, {b, c, r})).to(dt);
      const ark::Tensor yt = y.transpose(1, 2), ytc = yt.contiguous();
      const std::string what = std::to_string(b) + "x" + std::to_string(r) + "x" + std::to_string(c) + " " +
                               ark::dtype_name(dt);
      EXPECT_TRUE(ark::equal(x - yt, x - ytc)) << what;
      EXPECT_TRUE(ark::equal(yt - x, ytc - x)) << what;
      EXPECT_TRUE(ark::equal(yt * x, ytc * x)) << what;
      EXPECT_TRUE(ark::equal(x / yt, x / ytc)) << what;
      EXPECT_TRUE(ark::equal(yt / x, ytc / x)) << what;
      EXPECT_TRUE(ark::equal(yt < x, ytc < x)) << what;
      ark::Tensor acc = x.clone();
      acc.add_(yt);
      EXPECT_TRUE(ark::equal(acc, x + ytc)) << what;
    }
  }
}
