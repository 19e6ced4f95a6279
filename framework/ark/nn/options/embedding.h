// Options of Embedding and F::embedding (libtorch's nn/options/embedding.h).
#pragma once
#include <cstdint>
#include <optional>

#include "ark/core/tensor.h"
#include "ark/nn/arg.h"

namespace ark::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  ARK_ARG(int64_t, num_embeddings);
  ARK_ARG(int64_t, embedding_dim);
  /// The row that gets no gradient and starts at zero; negative values count from the end.
  ARK_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  /// Rows looked up with a larger norm are renormalised to max_norm (in place, as PyTorch).
  ARK_ARG(std::optional<double>, max_norm) = std::nullopt;
  ARK_ARG(double, norm_type) = 2.;
  ARK_ARG(bool, scale_grad_by_freq) = false;
  ARK_ARG(bool, sparse) = false;
  /// Initial weights instead of N(0, 1).
  ARK_ARG(Tensor, _weight);
};

struct EmbeddingFromPretrainedOptions {
  ARK_ARG(bool, freeze) = true;
  ARK_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  ARK_ARG(std::optional<double>, max_norm) = std::nullopt;
  ARK_ARG(double, norm_type) = 2.;
  ARK_ARG(bool, scale_grad_by_freq) = false;
  ARK_ARG(bool, sparse) = false;
};

namespace functional {
struct EmbeddingFuncOptions {
  ARK_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  ARK_ARG(std::optional<double>, max_norm) = std::nullopt;
  ARK_ARG(double, norm_type) = 2.;
  ARK_ARG(bool, scale_grad_by_freq) = false;
  ARK_ARG(bool, sparse) = false;
};
}  // namespace functional

}  // namespace ark::nn
