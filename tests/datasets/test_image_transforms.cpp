// Preprocessing against torchvision 0.14 on real photos: ToTensor -> Resize(antialias) ->
// CenterCrop -> Normalize for every case of tools/reference/image_reference.py, end to end (our
// decoder) and on PIL's pixels (the transforms alone); the unfused functions; batches; speed.
#include <chrono>
#include <cstdio>

#include "datasets/test_image_common.h"

namespace ark {
namespace {

using datasets::PreprocessConfig;

struct Case {
  std::string name;
  PreprocessConfig cfg;
  std::vector<std::string> photos;
};

// The cases as the reference script defines them (its metadata is the single source).
std::vector<Case> reference_cases() {
  std::vector<Case> cases;
  for (const auto& [key, value] : test::image_reference().metadata) {
    if (key.rfind("case.", 0) != 0) continue;
    Case c;
    c.name = key.substr(5);
    std::istringstream in(value);
    std::string interp;
    int aa = 1;
    in >> c.cfg.input_size[0] >> c.cfg.input_size[1] >> c.cfg.input_size[2] >> c.cfg.crop_pct >> interp >> aa;
    for (double& m : c.cfg.mean) in >> m;
    for (double& s : c.cfg.std) in >> s;
    EXPECT_FALSE(in.fail()) << key << " = " << value;
    c.cfg.interpolation = datasets::interpolation_mode(interp);
    c.cfg.antialias = aa != 0;
    c.photos = test::split(test::image_meta("case_photos." + c.name), ',');
    cases.push_back(c);
  }
  return cases;
}

// The bound, in normalised-input units.
constexpr double kMeanTol = 2e-3, kMaxTol = 3e-2;

TEST(ImageTransforms, MatchTorchvisionOnRealPhotos) {
  const auto cases = reference_cases();
  ASSERT_GE(cases.size(), 15u);
  int compared = 0;
  double worst_mean = 0, worst_max = 0, worst_pre_max = 0;
  std::printf("[ match ] %-34s %-10s %12s %12s %12s %12s\n", "case", "photo", "mean(e2e)", "max(e2e)",
              "mean(pixels)", "max(pixels)");
  for (const Case& c : cases)
    for (const std::string& photo : c.photos) {
      SCOPED_TRACE(c.name + " / " + photo);
      const std::string path = test::image_meta("photo." + photo);
      const Tensor& ref = test::image_ref("photo." + photo + "." + c.name);
      // End to end: our decoder + our preprocessing vs PIL + torchvision.
      const Tensor ours = datasets::preprocess(datasets::load_image(path), c.cfg);
      ASSERT_EQ(ours.sizes(), (std::vector<int64_t>{1, 3, c.cfg.input_size[1], c.cfg.input_size[2]}));
      const test::AbsDiff e2e = test::abs_diff(ours[0], ref);
      // The transforms alone, on PIL's decoded pixels.
      test::AbsDiff pre;
      if (test::has_image_ref("photo." + photo + ".rgb")) {
        pre = test::abs_diff(datasets::preprocess(test::image_ref("photo." + photo + ".rgb"), c.cfg)[0], ref);
        EXPECT_LE(pre.max, 1e-5);  // float32 rounding only
        worst_pre_max = std::max(worst_pre_max, pre.max);
      }
      std::printf("[ match ] %-34s %-10s %12.3g %12.3g %12.3g %12.3g\n", c.name.c_str(), photo.c_str(), e2e.mean,
                  e2e.max, pre.mean, pre.max);
      EXPECT_LE(e2e.mean, kMeanTol);
      EXPECT_LE(e2e.max, kMaxTol);
      worst_mean = std::max(worst_mean, e2e.mean);
      worst_max = std::max(worst_max, e2e.max);
      ++compared;
    }
  std::printf("[ match ] %d comparisons; worst end-to-end mean %.3g, max %.3g; worst transforms-only max %.3g\n",
              compared, worst_mean, worst_max, worst_pre_max);
  if (compared == 0) GTEST_SKIP() << "no sample photos: scripts/setup.sh installs darknet and python3-skimage";
}

TEST(ImageTransforms, UnfusedFunctionsEqualPreprocess) {
  const auto cases = reference_cases();
  int compared = 0;
  for (const Case& c : cases)
    for (const std::string& photo : c.photos) {
      if (!test::has_image_ref("photo." + photo + ".rgb")) continue;
      SCOPED_TRACE(c.name + " / " + photo);
      const Tensor& rgb = test::image_ref("photo." + photo + ".rgb");
      Tensor x = datasets::to_tensor(rgb);
      x = datasets::resize(x, datasets::resize_size(c.cfg), c.cfg.interpolation, std::nullopt, c.cfg.antialias);
      x = datasets::center_crop(x, {c.cfg.input_size[1], c.cfg.input_size[2]});
      x = datasets::normalize(x, c.cfg.mean, c.cfg.std);
      const Tensor& ref = test::image_ref("photo." + photo + "." + c.name);
      EXPECT_LE(test::abs_diff(x, ref).max, 1e-5);
      EXPECT_EQ(test::abs_diff(x, datasets::preprocess(rgb, c.cfg)[0]).max, 0) << "fused and unfused must agree exactly";
      ++compared;
    }
  if (compared == 0) GTEST_SKIP() << "no sample photos";
}

TEST(ImageTransforms, BatchEqualsSingles) {
  std::vector<Tensor> images;
  for (const char* photo : {"dog", "scream", "astronaut"})
    if (test::has_image_ref(std::string("photo.") + photo + ".rgb")) images.push_back(test::image_ref(std::string("photo.") + photo + ".rgb"));
  if (images.empty()) GTEST_SKIP() << "no sample photos";
  PreprocessConfig cfg;
  cfg.interpolation = datasets::InterpolationMode::kBicubic;
  const Tensor batch = datasets::preprocess(images, cfg);
  ASSERT_EQ(batch.sizes(), (std::vector<int64_t>{static_cast<int64_t>(images.size()), 3, 224, 224}));
  for (size_t i = 0; i < images.size(); ++i)
    EXPECT_EQ(test::abs_diff(batch[static_cast<int64_t>(i)], datasets::preprocess(images[i], cfg)[0]).max, 0);
}

TEST(ImageTransforms, ResizeOutputSizeFollowsTorchvision) {
  using datasets::resized_output_size;
  EXPECT_EQ(resized_output_size(576, 768, std::vector<int64_t>{256}), (std::array<int64_t, 2>{256, 341}));
  EXPECT_EQ(resized_output_size(448, 352, std::vector<int64_t>{256}), (std::array<int64_t, 2>{325, 256}));
  EXPECT_EQ(resized_output_size(300, 300, std::vector<int64_t>{7}), (std::array<int64_t, 2>{7, 7}));
  EXPECT_EQ(resized_output_size(100, 200, std::vector<int64_t>{50, 60}), (std::array<int64_t, 2>{50, 60}));
  EXPECT_EQ(resized_output_size(100, 400, std::vector<int64_t>{100}, 200), (std::array<int64_t, 2>{50, 200}));
  EXPECT_THROW(resized_output_size(100, 400, std::vector<int64_t>{100}, 100), Error);
  EXPECT_THROW(resized_output_size(1, 4000, std::vector<int64_t>{1}, 2), Error);  // int(2 * 1 / 4000) = 0
  PreprocessConfig cfg;
  EXPECT_EQ(datasets::resize_size(cfg), (std::vector<int64_t>{256}));
  cfg.crop_pct = 0.9;
  EXPECT_EQ(datasets::resize_size(cfg), (std::vector<int64_t>{248}));
  cfg.input_size = {3, 256, 192};
  cfg.crop_pct = 0.95;
  EXPECT_EQ(datasets::resize_size(cfg), (std::vector<int64_t>{269, 202}));
}

TEST(ImageTransforms, CenterCropRoundsHalfToEvenAndPads) {
  // 1 x 1 x 7 values 0..6 cropped to 4: (7 - 4) / 2 = 1.5 -> round() = 2 (Python rounds halves to even).
  Tensor x = arange(7, kFloat).reshape({1, 1, 7});
  Tensor c = datasets::center_crop(x, {1, 4});
  EXPECT_EQ(c.reshape({-1})[0].item<float>(), 2.0f);
  // (9 - 4) / 2 = 2.5 -> 2.
  c = datasets::center_crop(arange(9, kFloat).reshape({1, 1, 9}), {1, 4});
  EXPECT_EQ(c.reshape({-1})[0].item<float>(), 2.0f);
  // Larger than the image: zero padding, left (6 - 3) // 2 = 1, right 2.
  c = datasets::center_crop(ones({1, 1, 3}), {1, 6});
  EXPECT_TRUE(equal(c.reshape({-1}), tensor({0.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f})));
}

TEST(ImageTransforms, BadArguments) {
  const Tensor img = zeros({10, 10, 3}, kUInt8);
  PreprocessConfig cfg;
  cfg.input_size = {1, 224, 224};
  EXPECT_THROW(datasets::preprocess(img, cfg), Error);
  cfg = {};
  cfg.crop_pct = 0;
  EXPECT_THROW(datasets::preprocess(img, cfg), Error);
  cfg.crop_pct = 1e-300;  // would resize to 2e302 pixels
  EXPECT_THROW(datasets::preprocess(img, cfg), Error);
  cfg = {};
  cfg.input_size = {3, 224, int64_t{1} << 40};
  EXPECT_THROW(datasets::preprocess(img, cfg), Error);
  cfg = {};
  EXPECT_THROW(datasets::preprocess(zeros({10, 10, 3}), cfg), Error);  // float, not a decoded image
  EXPECT_THROW(datasets::preprocess(zeros({10, 10, 4}, kUInt8), cfg), Error);
  EXPECT_THROW(datasets::resize(zeros({3, 4, 4}, kUInt8), std::vector<int64_t>{2}), Error);
  EXPECT_THROW(datasets::interpolation_mode("lanczos"), Error);
  // A 1 x 1 image still gives a full input (every output pixel is that pixel).
  const Tensor one = full({1, 1, 3}, 128, kUInt8);
  const Tensor out = datasets::preprocess(one, PreprocessConfig{});
  EXPECT_NEAR(out[0][0][100][100].item<float>(), (128.0f / 255.0f - 0.485f) / 0.229f, 1e-6);
}

// The speed target: decode + resize + crop + normalise a 12-MP JPEG at 224.
TEST(ImageTransforms, SpeedOf12MegapixelJpeg) {
  const std::string path = test::image_meta("photo.kite12mp");
  if (path.empty()) GTEST_SKIP() << "no 12-MP test JPEG (needs darknet's kite.jpg)";
  PreprocessConfig cfg;
  auto ms_since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  double best_decode = 1e30, best_pre = 1e30, best_pre_bicubic = 1e30;
  Tensor img;
  for (int i = 0; i < 3; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    img = datasets::load_image(path);
    best_decode = std::min(best_decode, ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    const Tensor x = datasets::preprocess(img, cfg);
    best_pre = std::min(best_pre, ms_since(t0));
    PreprocessConfig bicubic = cfg;
    bicubic.interpolation = datasets::InterpolationMode::kBicubic;
    t0 = std::chrono::steady_clock::now();
    const Tensor y = datasets::preprocess(img, bicubic);
    best_pre_bicubic = std::min(best_pre_bicubic, ms_since(t0));
  }
  std::printf("[ speed ] %ld x %ld JPEG on %d threads: decode %.1f ms, preprocess to 224 bilinear %.1f ms, "
              "bicubic %.1f ms\n", static_cast<long>(img.size(1)), static_cast<long>(img.size(0)), get_num_threads(),
              best_decode, best_pre, best_pre_bicubic);
  EXPECT_LT(best_pre, 1000);  // a loose ceiling: catches an accidental full-resolution float copy loop
}

}  // namespace
}  // namespace ark
