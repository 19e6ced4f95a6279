// Options of the resampling and geometry functions: F::interpolate, F::pad, F::cosine_similarity
// (libtorch's nn/options/upsampling.h, padding.h, distance.h).
#pragma once
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "ark/nn/arg.h"
#include "ark/nn/enum.h"

namespace ark::nn {

struct CosineSimilarityOptions {
  ARK_ARG(int64_t, dim) = 1;
  ARK_ARG(double, eps) = 1e-8;
};

namespace functional {

using CosineSimilarityFuncOptions = CosineSimilarityOptions;

struct InterpolateFuncOptions {
  using mode_t = std::variant<enumtype::kNearest, enumtype::kLinear, enumtype::kBilinear, enumtype::kBicubic,
                              enumtype::kTrilinear, enumtype::kArea, enumtype::kNearestExact>;
  /// Output spatial size (one entry per spatial dim); exclusive with scale_factor.
  ARK_ARG(std::optional<std::vector<int64_t>>, size) = std::nullopt;
  ARK_ARG(std::optional<std::vector<double>>, scale_factor) = std::nullopt;
  /// kNearest, kBilinear and kArea are implemented (4-D input).
  ARK_ARG(mode_t, mode) = enumtype::kNearest{};
  ARK_ARG(std::optional<bool>, align_corners) = std::nullopt;
  ARK_ARG(std::optional<bool>, recompute_scale_factor) = std::nullopt;
  ARK_ARG(bool, antialias) = false;
};

struct PadFuncOptions {
  using mode_t = std::variant<enumtype::kConstant, enumtype::kReflect, enumtype::kReplicate, enumtype::kCircular>;
  /// (left, right) pairs starting from the last dimension, as torch.nn.functional.pad.
  /* implicit */ PadFuncOptions(std::vector<int64_t> pad) : pad_(std::move(pad)) {}  // NOLINT
  ARK_ARG(std::vector<int64_t>, pad);
  ARK_ARG(mode_t, mode) = enumtype::kConstant{};
  ARK_ARG(double, value) = 0;
};

}  // namespace functional
}  // namespace ark::nn
