// Options of the activation layers and functions (libtorch's nn/options/activation.h). A layer's
// options double as its function's (ELUFuncOptions is ELUOptions), as in libtorch.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "ark/core/dtype.h"
#include "ark/nn/arg.h"

namespace ark::nn {

struct ReLUOptions {
  /* implicit */ ReLUOptions(bool inplace = false) : inplace_(inplace) {}  // NOLINT
  ARK_ARG(bool, inplace);
};
struct ReLU6Options {
  /* implicit */ ReLU6Options(bool inplace = false) : inplace_(inplace) {}  // NOLINT
  ARK_ARG(bool, inplace);
};
struct LeakyReLUOptions {
  ARK_ARG(double, negative_slope) = 1e-2;
  ARK_ARG(bool, inplace) = false;
};
struct ELUOptions {
  ARK_ARG(double, alpha) = 1.0;
  ARK_ARG(bool, inplace) = false;
};
struct GELUOptions {
  /// "none" (exact, erf) or "tanh".
  ARK_ARG(std::string, approximate) = "none";
};
struct SiLUOptions {
  ARK_ARG(bool, inplace) = false;
};
struct HardswishOptions {
  ARK_ARG(bool, inplace) = false;
};
struct HardsigmoidOptions {
  ARK_ARG(bool, inplace) = false;
};
struct SoftplusOptions {
  ARK_ARG(double, beta) = 1.0;
  ARK_ARG(double, threshold) = 20.0;
};
struct SoftmaxOptions {
  /* implicit */ SoftmaxOptions(int64_t dim) : dim_(dim) {}  // NOLINT
  ARK_ARG(int64_t, dim);
};
struct LogSoftmaxOptions {
  /* implicit */ LogSoftmaxOptions(int64_t dim) : dim_(dim) {}  // NOLINT
  ARK_ARG(int64_t, dim);
};

namespace functional {
using ReLUFuncOptions = ReLUOptions;
using ReLU6FuncOptions = ReLU6Options;
using LeakyReLUFuncOptions = LeakyReLUOptions;
using ELUFuncOptions = ELUOptions;
using GELUFuncOptions = GELUOptions;
using SoftplusFuncOptions = SoftplusOptions;

struct SoftmaxFuncOptions {
  /* implicit */ SoftmaxFuncOptions(int64_t dim) : dim_(dim) {}  // NOLINT
  ARK_ARG(int64_t, dim);
  /// Cast the input to this dtype first (against overflow in half precision).
  ARK_ARG(std::optional<ScalarType>, dtype) = std::nullopt;
};
struct LogSoftmaxFuncOptions {
  /* implicit */ LogSoftmaxFuncOptions(int64_t dim) : dim_(dim) {}  // NOLINT
  ARK_ARG(int64_t, dim);
  ARK_ARG(std::optional<ScalarType>, dtype) = std::nullopt;
};
}  // namespace functional

}  // namespace ark::nn
