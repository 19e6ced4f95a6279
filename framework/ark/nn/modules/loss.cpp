// Loss modules over nn::functional.
#include "ark/nn/modules/loss.h"

#include "ark/nn/functional.h"

namespace ark::nn {

#define ARK_LOSS_MODULE_DEFINE(Name, call)                                                  \
  Name##Impl::Name##Impl(const Name##Options& options_) : options(options_) {}              \
  Tensor Name##Impl::forward(const Tensor& input, const Tensor& target) {                   \
    return with_hooks(input, [&](const Tensor& x) { return call(x, target, options); });    \
  }

ARK_LOSS_MODULE_DEFINE(CrossEntropyLoss, F::cross_entropy)
ARK_LOSS_MODULE_DEFINE(NLLLoss, F::nll_loss)
ARK_LOSS_MODULE_DEFINE(MSELoss, F::mse_loss)
ARK_LOSS_MODULE_DEFINE(L1Loss, F::l1_loss)
ARK_LOSS_MODULE_DEFINE(SmoothL1Loss, F::smooth_l1_loss)
ARK_LOSS_MODULE_DEFINE(BCELoss, F::binary_cross_entropy)
ARK_LOSS_MODULE_DEFINE(BCEWithLogitsLoss, F::binary_cross_entropy_with_logits)

#undef ARK_LOSS_MODULE_DEFINE

}  // namespace ark::nn
