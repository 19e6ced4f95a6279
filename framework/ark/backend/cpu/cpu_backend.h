// The CPU backend: OpenMP-parallel strided loops for the elementwise kernels, OpenBLAS for GEMM,
// oneDNN for float32 convolution (im2col + GEMM for other dtypes), and direct loops for the rest.
#pragma once
#include "ark/backend/backend.h"

namespace ark::cpu {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device(kCPU); }
  std::shared_ptr<Storage> allocate(size_t nbytes) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& dst, const Scalar& value) override;
  void unary(UnaryOp op, const Tensor& in, const Tensor& out, const OpParams& p) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, const OpParams& p) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& in, IntArrayRef dims, const Tensor& out, const OpParams& p) override;
  void arg_reduce(bool is_max, const Tensor& in, int64_t dim, const Tensor& values, const Tensor& indices) override;
  void var_mean(const Tensor& in, IntArrayRef dims, int64_t correction, const Tensor& var, const Tensor& mean) override;
  void cumsum(const Tensor& in, int64_t dim, const Tensor& out) override;
  void sort(const Tensor& in, int64_t dim, bool descending, const Tensor& values, const Tensor& indices) override;
  void bmm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta) override;
  void conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
              const ConvParams& p) override;
  void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_in,
                             const ConvParams& p) override;
  void conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_weight,
                              const Tensor& grad_bias, const ConvParams& p) override;
  void max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const PoolParams& p) override;
  void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) override;
  void avg_pool2d(const Tensor& in, const Tensor& out, const PoolParams& p) override;
  void avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in, const PoolParams& p) override;
  void adaptive_avg_pool2d(const Tensor& in, const Tensor& out) override;
  void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in) override;
  void upsample_bilinear2d(const Tensor& in, const Tensor& out, bool align_corners, bool backward) override;
  void upsample_nearest2d(const Tensor& in, const Tensor& out, bool backward) override;
  void softmax(const Tensor& in, const Tensor& out, bool log) override;
  void softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_in, bool log) override;
  void row_moments(const Tensor& in, double eps, const Tensor& mean, const Tensor& rstd) override;
  void channel_moments(const Tensor& in, const Tensor& mean, const Tensor& var) override;
  void channel_affine(const Tensor& in, const Tensor& scale, const Tensor& shift, const Tensor& out) override;
  void channel_grad_sums(const Tensor& grad, const Tensor& in, const Tensor& mean, const Tensor& sum_g,
                         const Tensor& sum_gx) override;
  void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const AdamStep& s) override;
  void index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) override;
  void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) override;
  Tensor nonzero(const Tensor& in) override;
  void uniform(const Tensor& out, double from, double to, Generator& gen) override;
  void normal(const Tensor& out, double mean, double std, Generator& gen) override;
  void bernoulli(const Tensor& out, const Tensor& p, Generator& gen) override;
  void random_int(const Tensor& out, int64_t low, int64_t high, Generator& gen) override;
};

/// Frees the large blocks the CPU allocator keeps for reuse.
void release_cached_memory();

/// Registers the CPU backend (called once at start-up by backend_for).
void register_cpu_backend();

}  // namespace ark::cpu
