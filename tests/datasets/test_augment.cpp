// Seeded training augmentation against tools/reference/augment_ref.py: its independent Python port
// of the SplitMix64 streams re-derives permutations, raw draws, crop boxes and every choice of a
// whole transform, and torchvision 0.14 applies those choices. Also: determinism per (seed, epoch,
// index), the evaluation path, grey images and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "ark/core/error.h"
#include "ark/core/parallel.h"
#include "ark/datasets/augment.h"
#include "ark/io/safetensors.h"
#include "ark/ops/ops.h"
#include "support/reference.h"

namespace ark {
namespace {

using datasets::SplitMix64;
using datasets::TrainTransform;

const io::SafetensorsFile& augment_reference() {
  static const io::SafetensorsFile file =
      io::load_safetensors(test::reference_file("augment_ref.py", "augment_ref.safetensors"));
  return file;
}

const Tensor& aref(const std::string& key) {
  const Tensor* t = augment_reference().tensors.find(key);
  ARK_CHECK(t != nullptr, "augment reference has no tensor ", key);
  return *t;
}

bool has_ref(const std::string& key) { return augment_reference().tensors.find(key) != nullptr; }

std::istringstream meta(const std::string& key) {
  const auto& m = augment_reference().metadata;
  const auto it = m.find(key);
  EXPECT_NE(it, m.end()) << key;
  return std::istringstream(it == m.end() ? std::string() : it->second);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  const Tensor x = a.to(kDouble).contiguous(), y = b.to(kDouble).contiguous();
  double m = 0;
  for (int64_t i = 0; i < x.numel(); ++i) m = std::max(m, std::abs(x.data_ptr<double>()[i] - y.data_ptr<double>()[i]));
  return m;
}

std::vector<int64_t> values(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

const Tensor& image() { return aref("image"); }

TEST(Augment, SplitMix64StreamsMatchReference) {
  for (int k = 0; has_ref("rng." + std::to_string(k)); ++k) {
    uint64_t seed, epoch, index;
    meta("rng." + std::to_string(k)) >> seed >> epoch >> index;
    SplitMix64 g = datasets::sample_rng(seed, epoch, index);
    const std::vector<int64_t> expected = values(aref("rng." + std::to_string(k)));
    for (int64_t v : expected) EXPECT_EQ(g.next(), static_cast<uint64_t>(v)) << "stream " << k;
    const Tensor& u = aref("uniform." + std::to_string(k));
    for (int64_t i = 0; i < u.numel(); ++i) EXPECT_EQ(g.uniform(), u.data_ptr<double>()[i]) << "stream " << k;
  }
}

TEST(Augment, EpochPermutationMatchesReference) {
  int cases = 0;
  for (int k = 0; has_ref("perm." + std::to_string(k)); ++k, ++cases) {
    int64_t n, epoch;
    uint64_t seed;
    meta("perm." + std::to_string(k)) >> n >> seed >> epoch;
    EXPECT_EQ(datasets::epoch_permutation(n, seed, epoch), values(aref("perm." + std::to_string(k))))
        << "n " << n << " seed " << seed << " epoch " << epoch;
  }
  EXPECT_GE(cases, 5);
  EXPECT_TRUE(datasets::epoch_permutation(0, 1, 2).empty());
  EXPECT_NE(datasets::epoch_permutation(50, 1, 0), datasets::epoch_permutation(50, 1, 1));
  EXPECT_NE(datasets::epoch_permutation(50, 1, 0), datasets::epoch_permutation(50, 2, 0));
  EXPECT_THROW(datasets::epoch_permutation(-1, 0, 0), Error);
}

TEST(Augment, RandomResizedCropParamsMatchReference) {
  int cases = 0;
  for (int k = 0; has_ref("crop." + std::to_string(k)); ++k, ++cases) {
    int64_t h, w;
    double s0, s1, r0, r1;
    uint64_t seed, epoch, index;
    meta("crop." + std::to_string(k)) >> h >> w >> s0 >> s1 >> r0 >> r1 >> seed >> epoch >> index;
    SplitMix64 g = datasets::sample_rng(seed, epoch, index);
    const auto p = datasets::random_resized_crop_params(h, w, s0, s1, r0, r1, g);
    EXPECT_EQ(std::vector<int64_t>(p.begin(), p.end()), values(aref("crop." + std::to_string(k)))) << "case " << k;
    EXPECT_TRUE(p[0] >= 0 && p[1] >= 0 && p[2] > 0 && p[3] > 0 && p[0] + p[2] <= h && p[1] + p[3] <= w);
  }
  EXPECT_GE(cases, 18);
}

// The colour operations have no resize: float rounding only.
TEST(Augment, ColorPiecesMatchTorchvision) {
  const Tensor x = image().permute({2, 0, 1}).to(kFloat).contiguous() / 255.0;
  double worst = 0;
  int compared = 0;
  for (const char* op : {"brightness", "contrast", "saturation", "hue"}) {
    for (int k = 0; has_ref(std::string("piece.") + op + "." + std::to_string(k)); ++k, ++compared) {
      const std::string key = std::string("piece.") + op + "." + std::to_string(k);
      double f;
      meta(key) >> f;
      const std::string name = op;
      const Tensor ours = name == "brightness" ? datasets::adjust_brightness(x, f)
                          : name == "contrast" ? datasets::adjust_contrast(x, f)
                          : name == "saturation" ? datasets::adjust_saturation(x, f)
                                                 : datasets::adjust_hue(x, f);
      const double d = max_abs_diff(ours, aref(key));
      EXPECT_LE(d, 1e-5) << key << " factor " << f;
      worst = std::max(worst, d);
    }
  }
  EXPECT_EQ(max_abs_diff(datasets::hflip(x), aref("piece.hflip.0")), 0);
  EXPECT_GE(compared, 13);
  std::printf("[ augment ] %d colour operations, worst max |diff| %.3g\n", compared, worst);
}

struct Case {
  std::string name;
  TrainTransform t;
  uint64_t seed = 0, epoch = 0, index = 0;
};

std::vector<Case> reference_cases() {
  std::vector<Case> cases;
  for (const auto& [key, value] : augment_reference().metadata) {
    if (key.rfind("case.", 0) != 0) continue;
    Case c;
    c.name = key.substr(5);
    std::istringstream in(value);
    std::string interp;
    int aa;
    auto& p = c.t.preprocess;
    in >> p.input_size[1] >> p.input_size[2] >> interp >> aa >> c.t.scale_min >> c.t.scale_max >> c.t.ratio_min >>
        c.t.ratio_max >> c.t.hflip >> c.t.brightness >> c.t.contrast >> c.t.saturation >> c.t.hue >> c.seed >> c.epoch >>
        c.index;
    for (double& m : p.mean) in >> m;
    for (double& s : p.std) in >> s;
    EXPECT_FALSE(in.fail()) << key << " = " << value;
    p.interpolation = datasets::interpolation_mode(interp);
    p.antialias = aa != 0;
    cases.push_back(c);
  }
  return cases;
}

TEST(Augment, TrainTransformMatchesTorchvision) {
  const auto cases = reference_cases();
  ASSERT_GE(cases.size(), 7u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // The draws, exactly.
    SplitMix64 g = datasets::sample_rng(c.seed, c.epoch, c.index);
    const datasets::AugmentDraws d = datasets::draw_augment(image().size(0), image().size(1), c.t, g);
    std::vector<int64_t> draws(d.crop.begin(), d.crop.end());
    draws.push_back(d.flip);
    for (int o : d.order) draws.push_back(o);
    EXPECT_EQ(draws, values(aref("draws." + c.name)));
    const Tensor& factors = aref("factors." + c.name);
    const std::optional<double>* ours[4] = {&d.brightness, &d.contrast, &d.saturation, &d.hue};
    for (int k = 0; k < 4; ++k) {
      const double expected = factors.data_ptr<double>()[k];
      EXPECT_EQ(ours[k]->has_value(), !std::isnan(expected)) << "factor " << k;
      if (ours[k]->has_value() && !std::isnan(expected)) {
        EXPECT_EQ(**ours[k], expected) << "factor " << k;
      }
    }
    // The pixels: resize rounding (2e-3 in normalised units), float rounding alone without a resize.
    SplitMix64 rng = datasets::sample_rng(c.seed, c.epoch, c.index);
    const Tensor out = datasets::train_transform(image(), c.t, rng);
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3, c.t.preprocess.input_size[1], c.t.preprocess.input_size[2]}));
    const double diff = max_abs_diff(out, aref("case." + c.name));
    EXPECT_LE(diff, c.name == "no_resize" ? 1e-5 : 2e-3);
    std::printf("[ augment ] %-20s max |diff| %.3g\n", c.name.c_str(), diff);
  }
}

TEST(Augment, SameStreamSameTensorOtherEpochOtherCrop) {
  TrainTransform t;
  t.preprocess.input_size = {3, 24, 24};
  t.hue = 0.1;
  auto run = [&](uint64_t epoch, uint64_t index) {
    SplitMix64 g = datasets::sample_rng(42, epoch, index);
    return datasets::train_transform(image(), t, g);
  };
  EXPECT_EQ(max_abs_diff(run(3, 5), run(3, 5)), 0);
  EXPECT_GT(max_abs_diff(run(3, 5), run(4, 5)), 0.1);
  EXPECT_GT(max_abs_diff(run(3, 5), run(3, 6)), 0.1);
  // Over a few epochs the crop boxes differ (not one repeated box).
  std::vector<std::array<int64_t, 4>> boxes;
  for (uint64_t e = 0; e < 6; ++e) {
    SplitMix64 g = datasets::sample_rng(42, e, 5);
    boxes.push_back(datasets::draw_augment(40, 48, t, g).crop);
  }
  std::sort(boxes.begin(), boxes.end());
  EXPECT_GE(std::unique(boxes.begin(), boxes.end()) - boxes.begin(), 5);
}

TEST(Augment, NoAugmentIsTheEvalTransform) {
  TrainTransform t;
  t.augment = false;
  t.preprocess.input_size = {3, 32, 32};
  t.preprocess.interpolation = datasets::InterpolationMode::kBicubic;
  SplitMix64 a = datasets::sample_rng(1, 2, 3), b = datasets::sample_rng(9, 9, 9);
  const Tensor x = datasets::train_transform(image(), t, a);
  EXPECT_EQ(max_abs_diff(x, datasets::preprocess(image(), t.preprocess)[0]), 0);
  EXPECT_EQ(max_abs_diff(x, datasets::train_transform(image(), t, b)), 0);
  EXPECT_EQ(max_abs_diff(x, datasets::eval_transform(image(), t.preprocess)), 0);
  EXPECT_EQ(a.next(), datasets::sample_rng(1, 2, 3).next()) << "the evaluation path draws nothing";
}

TEST(Augment, GreyImageIsExpandedToRgb) {
  const Tensor grey = image().select(2, 1).unsqueeze(2).contiguous();
  const Tensor rgb = grey.expand({40, 48, 3}).contiguous();
  TrainTransform t;
  t.preprocess.input_size = {3, 16, 16};
  SplitMix64 a = datasets::sample_rng(5, 0, 0), b = datasets::sample_rng(5, 0, 0);
  EXPECT_EQ(max_abs_diff(datasets::train_transform(grey, t, a), datasets::train_transform(rgb, t, b)), 0);
}

// Not a bound (CI machines vary): the cost of one training sample at ImageNet sizes, on one
// thread as a loader worker runs it.
TEST(Augment, SpeedOfOnePhotoSizedSample) {
  Tensor photo = empty({480, 640, 3}, kUInt8);
  SplitMix64 pixels(3);
  for (int64_t i = 0; i < photo.numel(); ++i) photo.data_ptr<uint8_t>()[i] = static_cast<uint8_t>(pixels.next() >> 56);
  TrainTransform t;
  t.hue = 0.1;
  t.preprocess.interpolation = datasets::InterpolationMode::kBicubic;
  const int threads = get_num_threads();
  set_num_threads(1);
  const auto start = std::chrono::steady_clock::now();
  constexpr int kRuns = 10;
  for (int i = 0; i < kRuns; ++i) {
    SplitMix64 g = datasets::sample_rng(0, 0, static_cast<uint64_t>(i));
    EXPECT_EQ(datasets::train_transform(photo, t, g).sizes(), (std::vector<int64_t>{3, 224, 224}));
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kRuns;
  set_num_threads(threads);
  std::printf("[ augment ] 640 x 480 -> 224 x 224 bicubic with jitter and hue: %.2f ms per sample on one thread\n", ms);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Augment, BadInputThrowsArkError) {
  TrainTransform t;
  SplitMix64 g(0);
  EXPECT_NE(error_of([&] { datasets::train_transform(image().to(kFloat), t, g); }).find("uint8 (H, W, 3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { datasets::train_transform(zeros({0, 5, 3}, kUInt8), t, g); }).find("empty image"),
            std::string::npos);
  TrainTransform bad = t;
  bad.scale_min = 0.9;
  bad.scale_max = 0.1;
  EXPECT_NE(error_of([&] { datasets::train_transform(image(), bad, g); }).find("scale"), std::string::npos);
  bad = t;
  bad.hue = 0.7;
  EXPECT_NE(error_of([&] { datasets::train_transform(image(), bad, g); }).find("hue must be in [0, 0.5]"),
            std::string::npos);
  bad = t;
  bad.hflip = 1.5;
  EXPECT_NE(error_of([&] { datasets::train_transform(image(), bad, g); }).find("hflip"), std::string::npos);
  bad = t;
  bad.preprocess.input_size = {3, 0, 8};
  EXPECT_NE(error_of([&] { datasets::train_transform(image(), bad, g); }).find("input_size"), std::string::npos);
  EXPECT_THROW(datasets::adjust_hue(zeros({3, 4, 4}), 0.6), Error);
  EXPECT_THROW(datasets::adjust_brightness(zeros({4, 4}), 1.0), Error);
  datasets::AugmentDraws outside;
  outside.crop = {30, 0, 20, 10};
  EXPECT_NE(error_of([&] { datasets::apply_augment(image(), t, outside); }).find("outside the 40 x 48 image"),
            std::string::npos);
}

}  // namespace
}  // namespace ark
