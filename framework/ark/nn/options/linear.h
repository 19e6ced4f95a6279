// Options of Linear, Flatten and Unflatten (libtorch's nn/options/linear.h).
#pragma once
#include <cstdint>
#include <vector>

#include "ark/nn/arg.h"

namespace ark::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  ARK_ARG(int64_t, in_features);
  ARK_ARG(int64_t, out_features);
  ARK_ARG(bool, bias) = true;
};

struct FlattenOptions {
  ARK_ARG(int64_t, start_dim) = 1;
  ARK_ARG(int64_t, end_dim) = -1;
};

struct UnflattenOptions {
  UnflattenOptions(int64_t dim, std::vector<int64_t> sizes) : dim_(dim), sizes_(std::move(sizes)) {}
  ARK_ARG(int64_t, dim);
  ARK_ARG(std::vector<int64_t>, sizes);
};

}  // namespace ark::nn
