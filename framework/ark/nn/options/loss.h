// Options of the loss functions (libtorch's nn/options/loss.h). reduction takes ark::kNone,
// ark::kMean or ark::kSum, and each options type converts from a bare tag, so
// F::mse_loss(x, y, ark::kSum) works as in libtorch.
#pragma once
#include <cstdint>
#include <variant>

#include "ark/core/tensor.h"
#include "ark/nn/arg.h"
#include "ark/nn/enum.h"

namespace ark::nn {

using reduction_t = std::variant<enumtype::kNone, enumtype::kMean, enumtype::kSum>;

namespace detail {
/// ark::Reduction's value (what the ops take) for a reduction tag.
inline int64_t reduction_value(const reduction_t& r) {
  if (std::holds_alternative<enumtype::kNone>(r)) return 0;
  if (std::holds_alternative<enumtype::kMean>(r)) return 1;
  return 2;
}
}  // namespace detail

#define ARK_REDUCTION_CTORS(Options)                               \
  Options() = default;                                             \
  /* implicit */ Options(enumtype::kNone r) : reduction_(r) {}     \
  /* implicit */ Options(enumtype::kMean r) : reduction_(r) {}     \
  /* implicit */ Options(enumtype::kSum r) : reduction_(r) {}

struct CrossEntropyLossOptions {
  ARK_REDUCTION_CTORS(CrossEntropyLossOptions)
  /// Per-class weights (C,).
  ARK_ARG(Tensor, weight);
  ARK_ARG(int64_t, ignore_index) = -100;
  ARK_ARG(reduction_t, reduction) = enumtype::kMean{};
  ARK_ARG(double, label_smoothing) = 0.0;
};

struct NLLLossOptions {
  ARK_REDUCTION_CTORS(NLLLossOptions)
  ARK_ARG(Tensor, weight);
  ARK_ARG(int64_t, ignore_index) = -100;
  ARK_ARG(reduction_t, reduction) = enumtype::kMean{};
};

struct MSELossOptions {
  ARK_REDUCTION_CTORS(MSELossOptions)
  ARK_ARG(reduction_t, reduction) = enumtype::kMean{};
};

struct L1LossOptions {
  ARK_REDUCTION_CTORS(L1LossOptions)
  ARK_ARG(reduction_t, reduction) = enumtype::kMean{};
};

struct SmoothL1LossOptions {
  ARK_REDUCTION_CTORS(SmoothL1LossOptions)
  ARK_ARG(reduction_t, reduction) = enumtype::kMean{};
  ARK_ARG(double, beta) = 1.0;
};

struct BCELossOptions {
  ARK_REDUCTION_CTORS(BCELossOptions)
  ARK_ARG(Tensor, weight);
  ARK_ARG(reduction_t, reduction) = enumtype::kMean{};
};

struct BCEWithLogitsLossOptions {
  ARK_REDUCTION_CTORS(BCEWithLogitsLossOptions)
  ARK_ARG(Tensor, weight);
  ARK_ARG(reduction_t, reduction) = enumtype::kMean{};
  /// Weight of the positive examples per class (C,).
  ARK_ARG(Tensor, pos_weight);
};

#undef ARK_REDUCTION_CTORS

namespace functional {
using CrossEntropyFuncOptions = CrossEntropyLossOptions;
using NLLLossFuncOptions = NLLLossOptions;
using MSELossFuncOptions = MSELossOptions;
using L1LossFuncOptions = L1LossOptions;
using SmoothL1LossFuncOptions = SmoothL1LossOptions;
using BinaryCrossEntropyFuncOptions = BCELossOptions;
using BinaryCrossEntropyWithLogitsFuncOptions = BCEWithLogitsLossOptions;
}  // namespace functional

}  // namespace ark::nn
