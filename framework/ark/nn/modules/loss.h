// Loss modules (torch.nn.CrossEntropyLoss & co.): the functional losses with their options held
// in a module, so `nn::CrossEntropyLoss criterion; criterion(logits, target)` reads as in
// libtorch. Forward hooks see the input and the loss.
#pragma once
#include "ark/nn/module.h"
#include "ark/nn/options/loss.h"

namespace ark::nn {

#define ARK_LOSS_MODULE(Name)                                                   \
  class Name##Impl : public Module {                                            \
   public:                                                                      \
    explicit Name##Impl(const Name##Options& options = {});                     \
    Tensor forward(const Tensor& input, const Tensor& target);                  \
    Name##Options options;                                                      \
  };                                                                            \
  ARK_MODULE(Name)

/// Logits (N, C) or (N, C, *) and class indices (N) / (N, *) or class probabilities like input.
ARK_LOSS_MODULE(CrossEntropyLoss);
/// Log-probabilities (N, C) and class indices (N).
ARK_LOSS_MODULE(NLLLoss);
ARK_LOSS_MODULE(MSELoss);
ARK_LOSS_MODULE(L1Loss);
ARK_LOSS_MODULE(SmoothL1Loss);
/// Probabilities in [0, 1] and targets of the same shape.
ARK_LOSS_MODULE(BCELoss);
/// Logits and targets of the same shape (numerically stable sigmoid + BCE).
ARK_LOSS_MODULE(BCEWithLogitsLoss);

#undef ARK_LOSS_MODULE

}  // namespace ark::nn
