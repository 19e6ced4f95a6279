// Options of Dropout/Dropout2d and F::dropout/dropout2d (libtorch's nn/options/dropout.h).
#pragma once
#include "ark/nn/arg.h"

namespace ark::nn {

struct DropoutOptions {
  /* implicit */ DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT
  ARK_ARG(double, p);
  ARK_ARG(bool, inplace) = false;
};
using Dropout2dOptions = DropoutOptions;

namespace functional {
struct DropoutFuncOptions {
  ARK_ARG(double, p) = 0.5;
  ARK_ARG(bool, training) = true;
  ARK_ARG(bool, inplace) = false;
};
using Dropout2dFuncOptions = DropoutFuncOptions;
}  // namespace functional

}  // namespace ark::nn
