// oneDNN convolution for float32 on the CPU. Each call returns false when oneDNN is unavailable
// or declines the shape, or (backward-weights) where im2col + GEMM is the faster kernel, and the
// caller falls back to im2col + GEMM (conv.cpp).
#pragma once
#include "ark/backend/backend.h"

namespace ark::cpu::onednn {

bool conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
            const Backend::ConvParams& p);
bool conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_in,
                           const Backend::ConvParams& p);
bool conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_weight,
                            const Tensor& grad_bias, const Backend::ConvParams& p);

}  // namespace ark::cpu::onednn
