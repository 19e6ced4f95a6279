// BatchNorm1d, BatchNorm2d (torch.nn.BatchNorm*d, PyTorch 1.13 semantics): weight/bias (affine),
// running_mean/running_var/num_batches_tracked buffers (track_running_stats), momentum std::nullopt
// for a cumulative average, batch statistics in training and running ones in eval.
#pragma once
#include <cstdint>

#include "ark/nn/module.h"
#include "ark/nn/options/normalization.h"

namespace ark::nn {

class BatchNormImplBase : public Module {
 public:
  explicit BatchNormImplBase(const BatchNormOptions& options);
  /// running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  /// reset_running_stats(), weight = 1, bias = 0.
  void reset_parameters();
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  BatchNormOptions options;
  Tensor weight, bias;                                    // (C,), when affine
  Tensor running_mean, running_var, num_batches_tracked;  // when track_running_stats

 protected:
  /// Throws unless the input has the rank this layer takes.
  virtual void check_input_dim(const Tensor& input) const = 0;
};

/// (N, C) or (N, C, L).
class BatchNorm1dImpl : public BatchNormImplBase {
 public:
  using BatchNormImplBase::BatchNormImplBase;

 protected:
  void check_input_dim(const Tensor& input) const override;
};
ARK_MODULE(BatchNorm1d);

/// (N, C, H, W).
class BatchNorm2dImpl : public BatchNormImplBase {
 public:
  using BatchNormImplBase::BatchNormImplBase;

 protected:
  void check_input_dim(const Tensor& input) const override;
};
ARK_MODULE(BatchNorm2d);

}  // namespace ark::nn
