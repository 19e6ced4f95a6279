// Image preprocessing exactly as torchvision 0.14's tensor transforms compute it, and timm's eval
// transform built from a pretrained cfg:
//   to_tensor -> Resize(scale_size, interpolation, antialias=True) -> CenterCrop(input_size)
//   -> Normalize(mean, std)
// Resize follows PyTorch's interpolate: the antialiased bilinear/bicubic path is ATen's separable
// "_upsample_{bilinear,bicubic}2d_aa" filter (Pillow's filters: triangle, and Keys cubic with
// a = -0.5, support scaled by the downsampling factor, weights normalised per output pixel, float32
// weights and sums, width pass then height pass). OpenCV's INTER_AREA/INTER_LINEAR/INTER_CUBIC
// are different filters (no support scaling, a = -0.75), which is why we do not use cv::resize.
// Without antialias: upsample_{bilinear,bicubic}2d with align_corners=False; nearest is PyTorch's
// legacy "nearest" (floor(dst * in/out)).
//
// preprocess() fuses the four steps: it resamples only the pixels the crop keeps, straight from
// the decoded uint8 image, and writes normalised float32 (N, C, H, W). The unfused functions
// (to_tensor, resize, center_crop, normalize) mirror torchvision one to one and give the same
// values; tests check both against torchvision.
// Left out: random augmentations (training transforms), timm's crop_mode "squash"/"border",
// uint8 outputs of Resize (torchvision rounds them; we always produce float).
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "ark/core/array_ref.h"
#include "ark/core/tensor.h"

namespace ark::datasets {

/// torchvision.transforms.InterpolationMode (the three a tensor Resize supports).
enum class InterpolationMode { kNearest, kBilinear, kBicubic };
/// "nearest", "bilinear", "bicubic" (timm cfg strings); throws for others.
InterpolationMode interpolation_mode(const std::string& name);
const char* interpolation_name(InterpolationMode mode);

using ChannelValues = std::array<double, 3>;
using InputSize = std::array<int64_t, 3>;
constexpr ChannelValues kImagenetMean{0.485, 0.456, 0.406};
constexpr ChannelValues kImagenetStd{0.229, 0.224, 0.225};
constexpr ChannelValues kInceptionMean{0.5, 0.5, 0.5};
constexpr ChannelValues kInceptionStd{0.5, 0.5, 0.5};

/// timm's pretrained-cfg preprocessing fields.
struct PreprocessConfig {
  InputSize input_size{3, 224, 224};  // (C, H, W); C must be 3
  double crop_pct = 0.875;            // resize to floor(H / crop_pct), then center-crop (H, W)
  InterpolationMode interpolation = InterpolationMode::kBilinear;
  ChannelValues mean = kImagenetMean;
  ChannelValues std = kImagenetStd;
  bool antialias = true;  // torchvision Resize(antialias=True); PIL resizing always antialiases
};

/// torchvision.transforms.functional.to_tensor: uint8 (H, W, C) -> float32 (C, H, W) / 255.
Tensor to_tensor(const Tensor& image);

/// torchvision's _compute_resized_output_size: size = {s} resizes the shorter side to s (the other
/// to int(s * long / short)), capped by max_size; size = {h, w} is exact. Returns {h, w}.
std::array<int64_t, 2> resized_output_size(int64_t height, int64_t width, IntArrayRef size,
                                           std::optional<int64_t> max_size = std::nullopt);

/// torchvision.transforms.functional.resize on a float32 (C, H, W) or (N, C, H, W) tensor.
/// antialias applies to bilinear and bicubic only (torchvision refuses it for nearest).
Tensor resize(const Tensor& image, IntArrayRef size, InterpolationMode interpolation = InterpolationMode::kBilinear,
              std::optional<int64_t> max_size = std::nullopt, bool antialias = true);

/// torchvision.transforms.functional.center_crop: zero-pads when the crop is larger than the
/// image, and rounds the offsets with Python's round() (halves to even). size = {s} or {h, w}.
Tensor center_crop(const Tensor& image, IntArrayRef size);

/// torchvision.transforms.functional.normalize: (x - mean[c]) / std[c] in float32.
Tensor normalize(const Tensor& image, ArrayRef<double> mean, ArrayRef<double> std);

/// The Resize size timm's eval transform uses: {floor(H / crop_pct)} for a square input (shorter
/// side), else {int(H / crop_pct), int(W / crop_pct)}.
std::vector<int64_t> resize_size(const PreprocessConfig& cfg);

/// One decoded image, uint8 (H, W, 3) (or (H, W, 1), expanded to RGB), to the model's input:
/// float32 (1, 3, H, W), resized, cropped and normalised as torchvision does.
Tensor preprocess(const Tensor& image, const PreprocessConfig& cfg = {});
/// A batch of images of any sizes -> float32 (N, 3, H, W).
Tensor preprocess(const std::vector<Tensor>& images, const PreprocessConfig& cfg = {});

}  // namespace ark::datasets
