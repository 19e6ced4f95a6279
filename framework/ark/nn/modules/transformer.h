// TransformerEncoderLayer (torch.nn.TransformerEncoderLayer of PyTorch 1.13): self-attention and
// a feed-forward block with residuals, post-norm by default or pre-norm with norm_first. Children
// carry PyTorch's names: self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2.
// Forward hooks see `src` and the layer output.
#pragma once
#include <cstdint>

#include "ark/nn/module.h"
#include "ark/nn/modules/attention.h"
#include "ark/nn/modules/dropout.h"
#include "ark/nn/modules/linear.h"
#include "ark/nn/modules/normalization.h"
#include "ark/nn/options/transformer.h"

namespace ark::nn {

class TransformerEncoderLayerImpl : public Module {
 public:
  TransformerEncoderLayerImpl(int64_t d_model, int64_t nhead)
      : TransformerEncoderLayerImpl(TransformerEncoderLayerOptions(d_model, nhead)) {}
  explicit TransformerEncoderLayerImpl(const TransformerEncoderLayerOptions& options);
  /// src (S, N, E), (N, S, E) with batch_first, or (S, E); src_mask (S, S) or (N*nhead, S, S);
  /// src_key_padding_mask (N, S), true = padding.
  Tensor forward(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {});

  TransformerEncoderLayerOptions options;
  MultiheadAttention self_attn = nullptr;
  Linear linear1 = nullptr;
  Dropout dropout = nullptr;
  Linear linear2 = nullptr;
  LayerNorm norm1 = nullptr;
  LayerNorm norm2 = nullptr;
  Dropout dropout1 = nullptr;
  Dropout dropout2 = nullptr;

 private:
  Tensor activation(const Tensor& x) const;
  Tensor sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask);
  Tensor ff_block(const Tensor& x);
};
ARK_MODULE(TransformerEncoderLayer);

}  // namespace ark::nn
