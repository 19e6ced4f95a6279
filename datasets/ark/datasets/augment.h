// Training-time randomness that does not depend on threads: every random choice of sample i in
// epoch e comes from its own stream, sample_rng(seed, e, i), and the epoch's order from
// epoch_permutation(n, seed, e). So a run is the same for any number of loader workers, and a
// resumed run needs only (seed, epoch, position) to continue exactly.
//
// The streams are SplitMix64 (Steele et al. 2014), chosen because a reference in any language is
// five lines (tools/reference/augment_ref.py has one):
//   next(): state += 0x9E3779B97F4A7C15; z = state;
//           z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
//           return z ^ (z >> 31)                                   (all arithmetic mod 2^64)
//   stream(seed, a, b): k1 = SplitMix64{seed}.next();
//                       k2 = SplitMix64{k1 ^ (a * 0xD1B54A32D192ED03)}.next();
//                       return SplitMix64{k2 ^ (b * 0xABC98388FB8FAC03)}
//   epoch_permutation(n, seed, e): g = stream(seed, e, 2^64 - 1); p = [0, n);
//                       for i = n-1 down to 1: j = g.next() % (i + 1); swap(p[i], p[j])
//   sample_rng(seed, e, i) = stream(seed, e, i)
//   uniform() = (next() >> 11) * 2^-53
//
// The transforms follow torchvision 0.14 (RandomResizedCrop, RandomHorizontalFlip, ColorJitter),
// drawing their numbers from the sample's stream instead of torch's generator, in this order
// (draw_augment; randint(n) below is next() % n):
//   1. RandomResizedCrop.get_params, up to 10 attempts of
//        target_area = H * W * uniform(scale_min, scale_max)
//        aspect = exp(uniform(log(ratio_min), log(ratio_max)))
//        w = round(sqrt(target_area * aspect)), h = round(sqrt(target_area / aspect))  (halves to even)
//      and on the first attempt with 0 < w <= W and 0 < h <= H: top = randint(H - h + 1), then
//      left = randint(W - w + 1). After 10 misses, no more draws: torchvision's centre fallback.
//   2. flip = uniform() < hflip (drawn whatever hflip is).
//   3. Only when some jitter strength is non-zero: the order of the four colour operations
//      (0 brightness, 1 contrast, 2 saturation, 3 hue) as a Fisher-Yates shuffle of [0, 1, 2, 3]
//      (for i = 3 down to 1: j = randint(i + 1); swap), then one factor per non-zero strength, in
//      the order brightness, contrast, saturation (each uniform(max(0, 1 - s), 1 + s)), hue
//      (uniform(-hue, hue)).
// The image is then cropped, converted to float in [0, 1] (ToTensor), resized to input_size
// (transforms.h resize, with preprocess.interpolation and preprocess.antialias), flipped, jittered
// in the drawn order with torchvision's tensor formulas, and normalised. (torchvision 0.14's
// RandomResizedCrop on tensors defaults to antialias=False; timm trains on PIL images, which always
// antialias, so preprocess.antialias = true, the default, is the faithful choice.)
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ark/core/tensor.h"
#include "ark/datasets/transforms.h"

namespace ark::datasets {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  /// lo + (hi - lo) * uniform(), rounded twice as any reference computes it: the volatile stops
  /// the compiler fusing it into one FMA (-march with FMA would), which changes the last bit.
  double uniform(double lo, double hi) {
    volatile double scaled = (hi - lo) * uniform();
    return lo + scaled;
  }

 private:
  uint64_t state_;
};

SplitMix64 sample_rng(uint64_t seed, uint64_t epoch, uint64_t index);
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

/// The training transform (timm's create_transform(is_training=True) without auto-augment):
/// RandomResizedCrop(input_size, scale, ratio, interpolation) -> RandomHorizontalFlip(hflip)
/// -> ColorJitter(b, c, s, hue) -> to float -> Normalize(mean, std). augment = false gives the
/// evaluation transform (resize, centre crop, normalise: transforms.h preprocess).
struct TrainTransform {
  PreprocessConfig preprocess;   // input size, interpolation, mean, std (crop_pct for augment = false)
  bool augment = true;
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  double hflip = 0.5;
  double brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.0;
};

/// uint8 (H, W, 3) (or (H, W, 1): grey) image -> float32 (3, H, W) model input.
Tensor train_transform(const Tensor& image, const TrainTransform& t, SplitMix64& rng);
/// uint8 (H, W, 3) image -> float32 (3, H, W): resize, centre crop, normalise (no randomness).
Tensor eval_transform(const Tensor& image, const PreprocessConfig& cfg);

// The pieces, on uint8 (H, W, 3), exposed for tests:
/// torchvision RandomResizedCrop.get_params: (top, left, height, width) of the crop.
std::array<int64_t, 4> random_resized_crop_params(int64_t height, int64_t width, double scale_min, double scale_max,
                                                  double ratio_min, double ratio_max, SplitMix64& rng);

/// Every random choice train_transform makes for one sample (see the order above).
struct AugmentDraws {
  std::array<int64_t, 4> crop{};            // top, left, height, width
  bool flip = false;
  std::array<int, 4> order{0, 1, 2, 3};     // colour operations in the order applied
  std::optional<double> brightness, contrast, saturation, hue;  // unset: not applied
};
/// Draws the sample's choices from rng for an image of height x width.
AugmentDraws draw_augment(int64_t height, int64_t width, const TrainTransform& t, SplitMix64& rng);
/// Applies given choices: train_transform(image, t, rng) = apply_augment(image, t, draw_augment(H, W, t, rng)).
Tensor apply_augment(const Tensor& image, const TrainTransform& t, const AugmentDraws& draws);

/// torchvision.transforms.functional on a float32 (3, H, W) image in [0, 1]: new tensors.
Tensor hflip(const Tensor& image);
Tensor adjust_brightness(const Tensor& image, double factor);
Tensor adjust_contrast(const Tensor& image, double factor);    // blends with the grey mean
Tensor adjust_saturation(const Tensor& image, double factor);
Tensor adjust_hue(const Tensor& image, double factor);         // factor in [-0.5, 0.5]

}  // namespace ark::datasets
