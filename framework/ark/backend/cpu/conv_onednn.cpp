// oneDNN convolution (float32): stub until the tuned path lands; returning false selects im2col.
#include "ark/backend/cpu/conv.h"

namespace ark::cpu::onednn {

bool conv2d(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Backend::ConvParams&) { return false; }
bool conv2d_backward_input(const Tensor&, const Tensor&, const Tensor&, const Backend::ConvParams&) { return false; }
bool conv2d_backward_weight(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Backend::ConvParams&) {
  return false;
}

}  // namespace ark::cpu::onednn
