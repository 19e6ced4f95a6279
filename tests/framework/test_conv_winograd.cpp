// Convolutions that oneDNN runs by another algorithm than the direct one (backend/cpu/
// conv_onednn.cpp): Winograd F(4x4, 3x3) for the 3x3 stride-1 convolutions with enough output
// tiles, whose forward and both gradients must match float64 within a stated tolerance while
// every other convolution is untouched by the setting; and strided 1x1 convolutions, run as
// stride-1 ones on a subsampled input; deep layers whose weight gradient is one GEMM over the batch
// (backend/cpu/conv.cpp), in chunks of images where the column matrix would be too big; and wide-map
// forwards run a few images per oneDNN call; batch-1 pointwise forwards run as one GEMM. Winograd's
// scratchpad bound differs by pass (middle and deep layers take it for the forward and backward-data
// only).
// Inference keeps a weight's blocked copy; training drops it.
#include <gtest/gtest.h>

#include <cmath>

#include "ark/ark.h"
#include "ark/backend/backend.h"

using namespace ark;

namespace {

// Restores the process-wide setting whatever a test does.
struct WinogradSetting {
  bool saved = conv_winograd();
  ~WinogradSetting() { set_conv_winograd(saved); }
};

struct Results {
  Tensor y, gx, gw, gb;
};

// conv2d forward and backward (through a fixed random projection r) on fresh leaves.
Results run(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& r, int64_t stride, int64_t pad,
            int64_t groups = 1) {
  Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  Tensor b = b0.clone().requires_grad_(true);
  Tensor y = conv2d(x, w, b, IntArrayRef{stride}, IntArrayRef{pad}, IntArrayRef{1}, groups);
  (y * r.to(y.dtype())).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

// Largest error relative to the reference's largest magnitude (the "relative to scale" measure).
double scaled_error(const Tensor& got, const Tensor& want) {
  return (got.to(kDouble) - want).abs().max().item<double>() / want.abs().max().item<double>();
}

// Output and all three gradients within `tol` of the reference's scale.
void expect_matches(const Results& got, const Results& want, double tol) {
  EXPECT_LT(scaled_error(got.y, want.y), tol) << "output";
  EXPECT_LT(scaled_error(got.gx, want.gx), tol) << "grad input";
  EXPECT_LT(scaled_error(got.gw, want.gw), tol) << "grad weight";
  EXPECT_LT(scaled_error(got.gb, want.gb), tol) << "grad bias";
}

}  // namespace

// The transforms round differently from a direct dot product: a few 1e-6 of the output's scale
// at these sizes (and at ResNet sizes, checked when the rule was set). 2e-5 leaves room and is
// still five times inside the 1e-4 float32 tolerance ark holds against PyTorch.
TEST(ConvWinograd, MatchesFloat64ForwardAndBothGradients) {
  WinogradSetting restore;
  manual_seed(0);
  for (int64_t pad : {1, 0}) {
    SCOPED_TRACE("padding " + std::to_string(pad));
    // ResNet's first stage at batch 4: 784 output tiles of 4x4, and a scratchpad within the
    // rule's bound (about 1.5x the input plus output).
    const Tensor x = randn({4, 64, 56, 56}), w = randn({64, 64, 3, 3}) * std::sqrt(2.0 / (64 * 9));
    const Tensor b = randn({64});
    const int64_t out = 56 + 2 * pad - 2;
    const Tensor r = randn({4, 64, out, out});
    set_conv_winograd(true);
    const Results wino = run(x, w, b, r, 1, pad);
    set_conv_winograd(false);
    const Results direct = run(x, w, b, r, 1, pad);
    const Results ref = run(x.to(kDouble), w.to(kDouble), b.to(kDouble), r, 1, pad);
    const std::pair<const char*, Tensor Results::*> parts[] = {
        {"output", &Results::y}, {"grad input", &Results::gx}, {"grad weight", &Results::gw}, {"grad bias", &Results::gb}};
    for (const auto& [name, part] : parts) {
      EXPECT_LT(scaled_error(wino.*part, ref.*part), 2e-5) << name;
      EXPECT_LT(scaled_error(direct.*part, ref.*part), 2e-5) << name;
    }
    // Winograd really ran: its rounding is not the direct kernel's.
    EXPECT_FALSE(equal(wino.y, direct.y));
    EXPECT_FALSE(equal(wino.gx, direct.gx));
    EXPECT_FALSE(equal(wino.gw, direct.gw));
  }
}

// Layers whose forward and backward-data take Winograd (scratchpad within 6x the layer's input,
// output and weights at 2 threads) but not backward-weights (over its 3.5x bound): the forward's
// blocked input goes to the direct weight-gradient kernel, whose result is then bit for bit the
// all-direct one. A middle layer, 128 channels at 8x8 x 64 (3.8x; backward-weights 5.2x), and a deep
// one, 256 channels at 4x4 x 64 (4.6x, weights larger than the activations; backward-weights 9.3x).
TEST(ConvWinograd, LayersTakeItForForwardAndBackwardDataOnly) {
  WinogradSetting restore;
  struct Threads {
    int saved = get_num_threads();
    ~Threads() { set_num_threads(saved); }
  } threads;
  set_num_threads(2);  // the scratchpad holds per-thread parts: the bound's outcome depends on it
  manual_seed(5);
  struct Case {
    const char* what;
    int64_t n, c, hw;
  };
  for (const Case& c : {Case{"middle layer", 64, 128, 8}, Case{"deep layer", 64, 256, 4}}) {
    SCOPED_TRACE(c.what);
    const Tensor x = randn({c.n, c.c, c.hw, c.hw}), w = randn({c.c, c.c, 3, 3}) * std::sqrt(2.0 / (c.c * 9));
    const Tensor b = randn({c.c}), r = randn({c.n, c.c, c.hw, c.hw});
    set_conv_winograd(true);
    const Results wino = run(x, w, b, r, 1, 1);
    set_conv_winograd(false);
    const Results direct = run(x, w, b, r, 1, 1);
    const Results ref = run(x.to(kDouble), w.to(kDouble), b.to(kDouble), r, 1, 1);
    EXPECT_LT(scaled_error(wino.y, ref.y), 2e-5);
    EXPECT_LT(scaled_error(wino.gx, ref.gx), 2e-5);
    EXPECT_LT(scaled_error(wino.gw, ref.gw), 2e-5);
    EXPECT_FALSE(equal(wino.y, direct.y));
    EXPECT_FALSE(equal(wino.gx, direct.gx));
    EXPECT_TRUE(equal(wino.gw, direct.gw));
  }
}

// Shapes outside the rule run the direct algorithm whatever the setting: bit for bit the same.
TEST(ConvWinograd, OtherConvolutionsAreUntouched) {
  WinogradSetting restore;
  manual_seed(1);
  struct Case {
    const char* what;
    int64_t n, cin, cout, hw, k, stride;
  };
  for (const Case& c : {Case{"stride 2", 4, 32, 48, 32, 3, 2}, Case{"too few tiles", 1, 32, 48, 16, 3, 1},
                        Case{"channels not a multiple of 16", 4, 24, 48, 16, 3, 1},
                        Case{"1x1 kernel", 4, 32, 48, 16, 1, 1},
                        Case{"narrow layer, few tiles: scratchpad over the bound", 4, 64, 64, 16, 3, 1}}) {
    SCOPED_TRACE(c.what);
    const int64_t pad = c.k / 2, out = (c.hw + 2 * pad - c.k) / c.stride + 1;
    const Tensor x = randn({c.n, c.cin, c.hw, c.hw}), w = randn({c.cout, c.cin, c.k, c.k}) * 0.1;
    const Tensor b = randn({c.cout}), r = randn({c.n, c.cout, out, out});
    set_conv_winograd(true);
    const Results on = run(x, w, b, r, c.stride, pad);
    set_conv_winograd(false);
    const Results off = run(x, w, b, r, c.stride, pad);
    EXPECT_TRUE(equal(on.y, off.y));
    EXPECT_TRUE(equal(on.gx, off.gx));
    EXPECT_TRUE(equal(on.gw, off.gw));
  }
}

// A strided 1x1 convolution without padding runs as a stride-1 one on the subsampled input (the
// subsampling done by the reorder into oneDNN's layout; backward-data scatters into a zeroed
// gradient). Sizes that the stride does not divide, unequal strides, groups, training (the
// blocked input handed from forward to backward-weights) and inference must all match float64.
TEST(ConvSubsampled, StridedPointwiseMatchesFloat64) {
  manual_seed(2);
  struct Case {
    const char* what;
    int64_t n, cin, cout, h, w, groups;
    std::vector<int64_t> stride;
  };
  for (const Case& c : {Case{"stride 2, odd size", 2, 32, 48, 9, 9, 1, {2, 2}}, Case{"stride 2x3", 3, 16, 32, 10, 11, 1, {2, 3}},
                        Case{"grouped", 2, 32, 64, 8, 7, 2, {2, 2}}, Case{"channels not a multiple of 16", 2, 3, 8, 7, 7, 1, {3, 3}}}) {
    SCOPED_TRACE(c.what);
    const Tensor x = randn({c.n, c.cin, c.h, c.w}), w = randn({c.cout, c.cin / c.groups, 1, 1}), b = randn({c.cout});
    auto conv = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb) {
      return conv2d(xx, ww, bb, c.stride, IntArrayRef{0}, IntArrayRef{1}, c.groups);
    };
    const Tensor expected = conv(x.to(kDouble), w.to(kDouble), b.to(kDouble));
    const Tensor r = randn(expected.sizes());
    {
      NoGradGuard no_grad;
      EXPECT_LT(scaled_error(conv(x, w, b), expected), 1e-5) << "inference";
    }
    std::vector<Tensor> got, want;
    for (ScalarType t : {kFloat, kDouble}) {
      Tensor xl = x.to(t).detach().requires_grad_(true), wl = w.to(t).detach().requires_grad_(true);
      Tensor bl = b.to(t).detach().requires_grad_(true);
      Tensor y = conv(xl, wl, bl);
      (y * r.to(t)).sum().backward();
      (t == kFloat ? got : want) = {y.detach(), xl.grad(), wl.grad(), bl.grad()};
    }
    const char* names[] = {"output", "grad input", "grad weight", "grad bias"};
    for (int i = 0; i < 4; ++i) EXPECT_LT(scaled_error(got[i], want[i]), 1e-5) << names[i];
  }
}

// Deep layers with small maps take the weight gradient from one GEMM over the whole batch instead
// of oneDNN's direct kernel (512 channels at 7x7; 256 and up at batch 1 with 14x14 or less). The
// three gradients, with bias, in training, must match float64.
TEST(ConvWeightGradGemm, DeepLayersMatchFloat64) {
  manual_seed(3);
  struct Case {
    const char* what;
    int64_t n, cin, cout, hw, stride;
  };
  for (const Case& c : {Case{"512 channels at 7x7", 2, 512, 512, 7, 1}, Case{"stride 2 to 7x7", 1, 512, 512, 14, 2},
                        Case{"batch 1, 256 channels at 14x14", 1, 256, 256, 14, 1}}) {
    SCOPED_TRACE(c.what);
    const Tensor x = randn({c.n, c.cin, c.hw, c.hw}), w = randn({c.cout, c.cin, 3, 3}) * 0.02, b = randn({c.cout});
    const Tensor r = randn({c.n, c.cout, c.hw / c.stride, c.hw / c.stride});
    const Results got = run(x, w, b, r, c.stride, 1);
    const Results want = run(x.to(kDouble), w.to(kDouble), b.to(kDouble), r, c.stride, 1);
    expect_matches(got, want, 1e-5);
  }
}

// Batch-1 pointwise convolutions on wide maps run as one GEMM on the plain tensors (forward),
// then oneDNN's backward kernels without a blocked input handed over from the forward. Grouped ones
// stay on oneDNN; in float64 every pointwise convolution takes the GEMM path, groups included.
TEST(ConvPointwiseGemm, BatchOneMatchesFloat64) {
  manual_seed(6);
  struct Case {
    const char* what;
    int64_t cin, cout, hw, groups;
  };
  for (const Case& c : {Case{"56x56", 64, 96, 56, 1}, Case{"28x28, 512 channels", 512, 128, 28, 1},
                        Case{"14x14, 256 channels", 256, 64, 14, 1},
                        Case{"14x14, 1024 channels (oneDNN)", 1024, 64, 14, 1}, Case{"grouped", 64, 96, 28, 4}}) {
    SCOPED_TRACE(c.what);
    const Tensor x = randn({1, c.cin, c.hw, c.hw}), w = randn({c.cout, c.cin / c.groups, 1, 1}) * 0.05;
    const Tensor b = randn({c.cout}), r = randn({1, c.cout, c.hw, c.hw});
    const Results got = run(x, w, b, r, 1, 0, c.groups);
    const Results want = run(x.to(kDouble), w.to(kDouble), b.to(kDouble), r, 1, 0, c.groups);
    expect_matches(got, want, 1e-5);
    {
      InferenceMode guard;  // the same product without autograd
      const Tensor y = conv2d(x, w, b, IntArrayRef{1}, IntArrayRef{0}, IntArrayRef{1}, c.groups);
      EXPECT_LT(scaled_error(y, want.y), 1e-5) << "inference output";
    }
  }
}

// The batch-wide column matrix is kept within a budget (64 MB) by taking the images in chunks whose
// products accumulate into the weight gradient: 5 images of 18.9 MB of columns each go as 3 + 2,
// and the result must be the sum of the images' own gradients.
TEST(ConvWeightGradGemm, ChunksOfImagesAccumulate) {
  manual_seed(4);
  const Tensor x = randn({5, 64, 64, 64}, kDouble), w = randn({8, 64, 3, 3}, kDouble);
  const Tensor r = randn({5, 8, 64, 64}, kDouble);
  auto weight_grad = [&](const Tensor& xs, const Tensor& rs) {
    Tensor wl = w.clone().requires_grad_(true);
    (conv2d(xs, wl, {}, 1, 1) * rs).sum().backward();
    return wl.grad();
  };
  Tensor sum = zeros_like(w);
  for (int64_t i = 0; i < 5; ++i) sum = sum + weight_grad(x.narrow(0, i, 1), r.narrow(0, i, 1));
  EXPECT_LT(scaled_error(weight_grad(x, r), sum), 1e-12);
}

// Wide-map layers run their forward a few images per oneDNN call (reorder in, convolve, reorder out,
// chunk after chunk), the whole batch's blocked input still handed to backward-weights in training.
// Chunks of 4, 3 and 2 images, a subsampled strided 1x1, a 7x7 stem and bias must all match float64,
// in inference and in training.
TEST(ConvChunkedForward, MatchesFloat64InInferenceAndTraining) {
  manual_seed(5);
  struct Case {
    const char* what;
    int64_t n, cin, cout, hw, k, stride, pad;
  };
  for (const Case& c : {Case{"3x3 stride 2, chunks of 4", 8, 16, 32, 56, 3, 2, 1},
                        Case{"1x1, chunks of 3", 6, 32, 16, 28, 1, 1, 0},
                        Case{"strided 1x1, chunks of 2", 4, 16, 32, 56, 1, 2, 0},
                        Case{"7x7 stem", 4, 3, 16, 56, 7, 2, 3}}) {
    SCOPED_TRACE(c.what);
    const Tensor x = randn({c.n, c.cin, c.hw, c.hw}), w = randn({c.cout, c.cin, c.k, c.k}) * 0.1, b = randn({c.cout});
    const int64_t ho = (c.hw + 2 * c.pad - c.k) / c.stride + 1;
    const Tensor r = randn({c.n, c.cout, ho, ho});
    const Results got = run(x, w, b, r, c.stride, c.pad);
    const Results want = run(x.to(kDouble), w.to(kDouble), b.to(kDouble), r, c.stride, c.pad);
    {
      NoGradGuard no_grad;
      EXPECT_LT(scaled_error(conv2d(x, w, b, c.stride, IntArrayRef{c.pad}), want.y), 1e-5) << "inference";
    }
    expect_matches(got, want, 1e-5);
  }
}

// Under no-grad a convolution keeps its weight's blocked copy on the weight's storage for the next
// call; a training call drops it, since the next optimizer step makes it stale (a validation pass
// between epochs would otherwise leave every conv weight's copy alive for the rest of the run).
TEST(ConvWeightCopy, KeptForInferenceDroppedByTraining) {
  manual_seed(7);
  const Tensor x = randn({2, 32, 16, 16});
  Tensor w = (randn({64, 32, 3, 3}) * 0.1).requires_grad_(true);
  Tensor inferred;
  {
    NoGradGuard guard;
    inferred = conv2d(x, w, {}, 1, 1);
  }
  EXPECT_NE(w.storage()->backend_cache(), nullptr);
  const Tensor trained = conv2d(x, w, {}, 1, 1);
  EXPECT_EQ(w.storage()->backend_cache(), nullptr);
  EXPECT_TRUE(equal(trained.detach(), inferred));
}
