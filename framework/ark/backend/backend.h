// The device backend interface. Ops check arguments, allocate outputs and call one of these
// kernels; they never branch on the device themselves. The interface stays small (as ggml's
// backend vtable): strided elementwise maps, reductions, GEMM, convolution, pooling, a few fused
// kernels (softmax, normalisation), indexing and random fills. The CPU backend implements all of
// it; a CUDA backend registers itself for kCUDA when built with ARK_CUDA.
//
// Conventions: tensors passed in are already validated; elementwise inputs are broadcast (by
// strides) to the output's shape and already converted to the compute dtype, which is also the
// output's dtype except for predicates (which write bool).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "ark/core/generator.h"
#include "ark/core/tensor.h"

namespace ark {

enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Log1p, Sqrt, Rsqrt, Abs, Sign, Sin, Cos, Tanh, Sigmoid, Relu, Reciprocal, Square,
  Floor, Ceil, Round, Erf, Gelu, GeluTanh, Silu, Hardswish, Hardsigmoid,
  LeakyRelu,   // a = negative slope
  Elu,         // a = alpha, b = scale, c = input_scale
  Softplus,    // a = beta, b = threshold
  Clamp,       // a = min, b = max (either may be +-inf)
  PowScalar,   // a = exponent
  RPowScalar,  // a = base: a ** x
  AddScalar,   // x + a
  MulScalar,   // x * a
  LogicalNot, BitwiseNot,
  // predicates: bool output
  IsNan, IsInf, IsFinite,
};

enum class BinaryOp : uint8_t {
  Add,  // a + alpha * b (alpha = p.a)
  Sub,  // a - alpha * b
  Mul, Div, DivTrunc, DivFloor, Remainder, Pow, Maximum, Minimum,
  BitwiseAnd, BitwiseOr, BitwiseXor,
  // predicates: bool output
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor,
  // fused backward rules: (grad, saved) -> grad_input
  ReluBackward,        // saved = output
  SigmoidBackward,     // saved = output
  TanhBackward,        // saved = output
  GeluBackward,        // saved = input
  GeluTanhBackward,    // saved = input
  SiluBackward,        // saved = input
  HardswishBackward,   // saved = input
  HardsigmoidBackward, // saved = input
  LeakyReluBackward,   // saved = input, a = slope
  EluBackward,         // saved = input, a, b, c as Elu
  SoftplusBackward,    // saved = input, a = beta, b = threshold
  ClampBackward,       // saved = input, a = min, b = max: passes grad where min <= x <= max
};

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Any, All, NormP, NormInf, LogSumExp };

struct OpParams {
  double a = 0, b = 0, c = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::shared_ptr<Storage> allocate(size_t nbytes) = 0;

  // Elementwise. `copy` converts dtypes; shapes are equal (src may be broadcast by strides).
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  virtual void fill(const Tensor& dst, const Scalar& value) = 0;
  virtual void unary(UnaryOp op, const Tensor& in, const Tensor& out, const OpParams& p) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, const OpParams& p) = 0;
  /// out = cond ? a : b (cond bool; a, b, out the same dtype; all broadcast to out).
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;

  /// Reduces `in` over `dims` into `out` (out has keepdim shape). NormP uses p.a as p.
  virtual void reduce(ReduceOp op, const Tensor& in, IntArrayRef dims, const Tensor& out, const OpParams& p) = 0;
  /// Index of the max/min over one dim (first occurrence; NaN counts as max) and the value.
  virtual void arg_reduce(bool is_max, const Tensor& in, int64_t dim, const Tensor& values, const Tensor& indices) = 0;
  /// Variance and mean over dims (Welford), correction 0 or 1.
  virtual void var_mean(const Tensor& in, IntArrayRef dims, int64_t correction, const Tensor& var, const Tensor& mean) = 0;
  virtual void cumsum(const Tensor& in, int64_t dim, const Tensor& out) = 0;
  virtual void sort(const Tensor& in, int64_t dim, bool descending, const Tensor& values, const Tensor& indices) = 0;

  /// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for 3-D (batch, rows, cols) views with any
  /// strides; C is contiguous in its last dim.
  virtual void bmm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta) = 0;

  // Convolution over NCHW with OIHW weights. 1-D convolution is the H = 1 case.
  struct ConvParams {
    int64_t stride[2], padding[2], dilation[2], groups;
    // The weight gradient of this convolution will be asked for (training): a backend may keep
    // derived copies of the forward's input, and of backward-input's grad_out, for
    // conv2d_backward_weight to reuse (oneDNN: their blocked layouts, saving two reorders).
    bool weight_grad_follows = false;
  };
  virtual void conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
                      const ConvParams& p) = 0;
  virtual void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_in,
                                     const ConvParams& p) = 0;
  virtual void conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_weight,
                                      const Tensor& grad_bias, const ConvParams& p) = 0;

  struct PoolParams {
    int64_t kernel[2], stride[2], padding[2], dilation[2];
    bool ceil_mode, count_include_pad;
    int64_t divisor_override;  // 0 = none
  };
  virtual void max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const PoolParams& p) = 0;
  virtual void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) = 0;
  virtual void avg_pool2d(const Tensor& in, const Tensor& out, const PoolParams& p) = 0;
  virtual void avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in, const PoolParams& p) = 0;
  virtual void adaptive_avg_pool2d(const Tensor& in, const Tensor& out) = 0;
  virtual void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in) = 0;
  virtual void upsample_bilinear2d(const Tensor& in, const Tensor& out, bool align_corners, bool backward) = 0;
  virtual void upsample_nearest2d(const Tensor& in, const Tensor& out, bool backward) = 0;

  // Fused kernels over the last dim of contiguous (rows, n) data.
  virtual void softmax(const Tensor& in, const Tensor& out, bool log) = 0;
  virtual void softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_in, bool log) = 0;
  /// Row statistics for layer/group norm: mean and 1/sqrt(var + eps) per row of (rows, n).
  virtual void row_moments(const Tensor& in, double eps, const Tensor& mean, const Tensor& rstd) = 0;
  /// Batch norm over (N, C, S): per-channel mean and biased var.
  virtual void channel_moments(const Tensor& in, const Tensor& mean, const Tensor& var) = 0;
  /// y = (x - mean[c]) * scale[c] + shift[c] over (N, C, S) with per-channel scale/shift pre-folded.
  virtual void channel_affine(const Tensor& in, const Tensor& scale, const Tensor& shift, const Tensor& out) = 0;
  /// Per-channel sums of g and g * (x - mean[c]) over (N, C, S).
  virtual void channel_grad_sums(const Tensor& grad, const Tensor& in, const Tensor& mean, const Tensor& sum_g,
                                 const Tensor& sum_gx) = 0;

  /// One Adam/AdamW update of contiguous float32 tensors of equal size, in one pass: the float
  /// arithmetic of optim/adam.cpp's tensor-op sequence, bit for bit (see AdamStep).
  struct AdamStep {
    double decay = 1;                 // param *= decay first (AdamW's 1 - lr * wd); 1: skipped
    double beta1 = 0.9, one_minus_beta1 = 0.1, beta2 = 0.999, one_minus_beta2 = 0.001;
    double bias_correction2_sqrt = 1, eps = 1e-8, neg_step_size = 0;
  };
  virtual void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                         const AdamStep& s) = 0;

  // Indexing. Index tensors are int64.
  virtual void index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) = 0;
  virtual void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;
  virtual void gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) = 0;
  /// out[..index..] = src (accumulate: +=); out already holds the base values.
  virtual void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) = 0;
  /// Positions (n, ndim) of the non-zero elements in row-major order.
  virtual Tensor nonzero(const Tensor& in) = 0;

  // Random fills.
  virtual void uniform(const Tensor& out, double from, double to, Generator& gen) = 0;
  virtual void normal(const Tensor& out, double mean, double std, Generator& gen) = 0;
  virtual void bernoulli(const Tensor& out, const Tensor& p, Generator& gen) = 0;
  virtual void random_int(const Tensor& out, int64_t low, int64_t high, Generator& gen) = 0;
};

Backend& backend_for(Device device);
inline Backend& backend_for(const Tensor& t) { return backend_for(t.device()); }
/// Winograd convolution (F(4x4, 3x3)) for the 3x3 stride-1 convolutions where the backend finds
/// it faster than the direct algorithm (on by default; ARK_CONV_WINOGRAD=0 in the environment turns
/// it off at start). It does about 2.25x fewer multiplies; its results differ from the direct
/// algorithm's, and from PyTorch's CPU convolutions, by a few 1e-6 of the output's scale. Off: every
/// convolution runs the direct algorithm, as PyTorch does (like torch.backends.cudnn settings).
void set_conv_winograd(bool enabled);
bool conv_winograd();

void register_backend(DeviceType type, Backend* backend);
bool has_backend(DeviceType type);

}  // namespace ark
