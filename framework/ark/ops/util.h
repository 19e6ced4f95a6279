// Helpers shared by the op files: dim wrapping, size inference, broadcasting and the non-recording
// kernel calls ops compose.
#pragma once
#include <string>

#include "ark/autograd/node.h"
#include "ark/backend/backend.h"
#include "ark/ops/ops.h"

namespace ark::detail {

/// Wraps a possibly negative dim into [0, ndim); ndim 0 accepts -1 and 0 (as PyTorch).
inline int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  ARK_CHECK(dim >= -n && dim < n, op, ": dimension out of range (expected to be in range of [", -n, ", ", n - 1,
            "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}
DimVector wrap_dims(IntArrayRef dims, int64_t ndim, const char* op);
/// Resolves one -1 in `shape` for `numel` elements.
DimVector infer_size(IntArrayRef shape, int64_t numel, const char* op);
DimVector contiguous_strides(IntArrayRef sizes);
/// Strides that let `new_shape` view data with (old_shape, old_stride), or nullopt.
std::optional<DimVector> view_strides(IntArrayRef old_shape, IntArrayRef old_stride, IntArrayRef new_shape);

/// view() whose node is named UnsafeViewBackward0 (PyTorch's name where an op reshapes its own
/// fresh result, as matmul does).
Tensor unsafe_view(const Tensor& self, IntArrayRef size);
/// A view of self's storage (no autograd): records self's base for the in-place rules.
Tensor make_view(const Tensor& self, DimVector sizes, DimVector strides, int64_t offset);
/// Converts without recording autograd (kernels' inputs).
Tensor cast(const Tensor& t, ScalarType dtype);
/// The compute dtype of a kernel for `t`: float for half/bfloat16.
inline ScalarType compute_dtype(ScalarType t) { return is_reduced_float(t) ? kFloat : t; }

/// out = op(a, b) computed in `compute` (inputs cast, broadcast), written in `out_dtype`.
Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b, ScalarType compute, ScalarType out_dtype,
                     const OpParams& p = {});
/// out = op(x) computed in `compute`, written in `out_dtype`.
Tensor unary_kernel(UnaryOp op, const Tensor& x, ScalarType compute, ScalarType out_dtype, const OpParams& p = {});
/// Default float dtype for ops that turn integers into floats (exp(int) -> float32).
inline ScalarType float_result(ScalarType t) { return is_floating_point(t) ? t : kFloat; }

std::string shape_str(IntArrayRef s);

}  // namespace ark::detail
