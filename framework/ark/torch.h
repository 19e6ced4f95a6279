// libtorch compatibility: `#include <ark/torch.h>` instead of `<torch/torch.h>` makes `torch::`
// (and `at::`) name ark, and defines the macros libtorch programs commonly use, so a libtorch
// program that uses only what ark implements compiles with nothing but its include line changed.
#pragma once
#include "ark/ark.h"
#include "ark/backend/backend.h"

namespace ark {
namespace cuda {
/// True when ark was built with its CUDA backend and a device is present.
inline bool is_available() { return has_backend(kCUDA); }
inline int64_t device_count() { return is_available() ? 1 : 0; }
}  // namespace cuda
namespace nn {
/// libtorch's old name for Dropout2d (zeroes whole feature maps).
using FeatureDropout = Dropout2d;
using FeatureDropoutImpl = Dropout2dImpl;
using FeatureDropoutOptions = Dropout2dOptions;
}  // namespace nn
}  // namespace ark

namespace torch = ark;
namespace at = ark;
// libtorch programs say `Reduction::Sum` unqualified (at::Reduction is visible there).
namespace Reduction = ark::Reduction;

#define TORCH_MODULE(Name) ARK_MODULE(Name)
#define TORCH_MODULE_IMPL(Name, Impl) ARK_MODULE_IMPL(Name, Impl)
#define TORCH_CHECK(cond, ...) ARK_CHECK(cond, ##__VA_ARGS__)
#define TORCH_INTERNAL_ASSERT(cond, ...) ARK_ASSERT(cond)
#define AT_ASSERT(cond) ARK_ASSERT(cond)
#define AT_ERROR(...) ARK_ERROR(__VA_ARGS__)
