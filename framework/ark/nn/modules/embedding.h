// Embedding (torch.nn.Embedding): a lookup table (num_embeddings, embedding_dim) initialised
// N(0, 1), with PyTorch's padding_idx (negative values wrap; that row starts at zero and gets no
// gradient) and max_norm renormalisation.
#pragma once
#include <cstdint>

#include "ark/nn/module.h"
#include "ark/nn/options/embedding.h"

namespace ark::nn {

class EmbeddingImpl : public Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim)
      : EmbeddingImpl(EmbeddingOptions(num_embeddings, embedding_dim)) {}
  explicit EmbeddingImpl(EmbeddingOptions options);
  /// weight ~ N(0, 1), padding row zeroed.
  void reset_parameters();
  /// Integer indices of any shape -> (*indices.shape, embedding_dim).
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  /// padding_idx here is already wrapped to [0, num_embeddings).
  EmbeddingOptions options;
  Tensor weight;
};

/// Holder with libtorch's Embedding::from_pretrained.
class Embedding : public ModuleHolder<EmbeddingImpl> {
 public:
  using ModuleHolder<EmbeddingImpl>::ModuleHolder;
  using Impl = EmbeddingImpl;
  /// An Embedding whose weight is `embeddings` (2-D); frozen (requires_grad=false) by default.
  static Embedding from_pretrained(const Tensor& embeddings, const EmbeddingFromPretrainedOptions& options = {});
};

}  // namespace ark::nn
