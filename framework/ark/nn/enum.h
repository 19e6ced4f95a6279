// Tag types for libtorch's enum-like arguments: `ark::kMean`, `ark::kSame`, `ark::kReLU`, ... are
// values of distinct empty structs in ark::enumtype, so an option can be a std::variant of the
// tags it accepts (`reduction_t = std::variant<kNone, kMean, kSum>`) exactly as libtorch does
// with c10::variant; a wrong tag is a compile error, not a runtime one.
// get_enum_name() gives PyTorch's string for a tag ("mean", "same", "relu") for messages and repr.
#pragma once
#include <string>
#include <variant>

namespace ark {
namespace enumtype {

#define ARK_ENUM_DECLARE(name, str)                         \
  struct name {                                             \
    static constexpr const char* value = str;               \
    bool operator==(const name&) const { return true; }     \
  };

ARK_ENUM_DECLARE(kNone, "none")
ARK_ENUM_DECLARE(kMean, "mean")
ARK_ENUM_DECLARE(kSum, "sum")
ARK_ENUM_DECLARE(kSame, "same")
ARK_ENUM_DECLARE(kValid, "valid")
ARK_ENUM_DECLARE(kZeros, "zeros")
ARK_ENUM_DECLARE(kConstant, "constant")
ARK_ENUM_DECLARE(kReflect, "reflect")
ARK_ENUM_DECLARE(kReplicate, "replicate")
ARK_ENUM_DECLARE(kCircular, "circular")
ARK_ENUM_DECLARE(kNearest, "nearest")
ARK_ENUM_DECLARE(kNearestExact, "nearest-exact")
ARK_ENUM_DECLARE(kLinear, "linear")
ARK_ENUM_DECLARE(kBilinear, "bilinear")
ARK_ENUM_DECLARE(kBicubic, "bicubic")
ARK_ENUM_DECLARE(kTrilinear, "trilinear")
ARK_ENUM_DECLARE(kArea, "area")
ARK_ENUM_DECLARE(kConv1D, "conv1d")
ARK_ENUM_DECLARE(kConv2D, "conv2d")
ARK_ENUM_DECLARE(kConv3D, "conv3d")
ARK_ENUM_DECLARE(kConvTranspose1D, "conv_transpose1d")
ARK_ENUM_DECLARE(kConvTranspose2D, "conv_transpose2d")
ARK_ENUM_DECLARE(kConvTranspose3D, "conv_transpose3d")
ARK_ENUM_DECLARE(kSigmoid, "sigmoid")
ARK_ENUM_DECLARE(kTanh, "tanh")
ARK_ENUM_DECLARE(kReLU, "relu")
ARK_ENUM_DECLARE(kGELU, "gelu")
ARK_ENUM_DECLARE(kLeakyReLU, "leaky_relu")
ARK_ENUM_DECLARE(kSELU, "selu")
ARK_ENUM_DECLARE(kFanIn, "fan_in")
ARK_ENUM_DECLARE(kFanOut, "fan_out")

#undef ARK_ENUM_DECLARE

/// PyTorch's string for the tag held by `v` ("mean", "same", ...); "" for a non-tag alternative.
template <class... Tags>
std::string get_enum_name(const std::variant<Tags...>& v) {
  return std::visit(
      [](const auto& tag) -> std::string {
        using T = std::decay_t<decltype(tag)>;
        if constexpr (requires { T::value; }) return T::value;
        else return {};  // a non-tag alternative (a size, a function)
      },
      v);
}
template <class Tag>
std::string get_enum_name(const Tag&) {
  return Tag::value;
}

}  // namespace enumtype

inline constexpr enumtype::kNone kNone{};
inline constexpr enumtype::kMean kMean{};
inline constexpr enumtype::kSum kSum{};
inline constexpr enumtype::kSame kSame{};
inline constexpr enumtype::kValid kValid{};
inline constexpr enumtype::kZeros kZeros{};
inline constexpr enumtype::kConstant kConstant{};
inline constexpr enumtype::kReflect kReflect{};
inline constexpr enumtype::kReplicate kReplicate{};
inline constexpr enumtype::kCircular kCircular{};
inline constexpr enumtype::kNearest kNearest{};
inline constexpr enumtype::kNearestExact kNearestExact{};
inline constexpr enumtype::kLinear kLinear{};
inline constexpr enumtype::kBilinear kBilinear{};
inline constexpr enumtype::kBicubic kBicubic{};
inline constexpr enumtype::kTrilinear kTrilinear{};
inline constexpr enumtype::kArea kArea{};
inline constexpr enumtype::kConv1D kConv1D{};
inline constexpr enumtype::kConv2D kConv2D{};
inline constexpr enumtype::kConv3D kConv3D{};
inline constexpr enumtype::kConvTranspose1D kConvTranspose1D{};
inline constexpr enumtype::kConvTranspose2D kConvTranspose2D{};
inline constexpr enumtype::kConvTranspose3D kConvTranspose3D{};
inline constexpr enumtype::kSigmoid kSigmoid{};
inline constexpr enumtype::kTanh kTanh{};
inline constexpr enumtype::kReLU kReLU{};
inline constexpr enumtype::kGELU kGELU{};
inline constexpr enumtype::kLeakyReLU kLeakyReLU{};
inline constexpr enumtype::kSELU kSELU{};
inline constexpr enumtype::kFanIn kFanIn{};
inline constexpr enumtype::kFanOut kFanOut{};

}  // namespace ark
