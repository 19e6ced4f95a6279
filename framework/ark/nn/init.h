// nn::init: PyTorch's torch.nn.init (and libtorch's torch::nn::init). Every function fills the
// tensor in place without recording a gradient and returns it. Fans are computed as PyTorch's
// _calculate_fan_in_and_fan_out: fan_in = size(1) * receptive field, fan_out = size(0) * receptive
// field, so a ConvTranspose weight (in, out/groups, k...) gets PyTorch's (surprising) fans too.
#pragma once
#include <cstdint>
#include <tuple>
#include <variant>

#include "ark/core/tensor.h"
#include "ark/nn/enum.h"

namespace ark::nn::init {

using NonlinearityType =
    std::variant<enumtype::kLinear, enumtype::kConv1D, enumtype::kConv2D, enumtype::kConv3D, enumtype::kConvTranspose1D,
                 enumtype::kConvTranspose2D, enumtype::kConvTranspose3D, enumtype::kSigmoid, enumtype::kTanh,
                 enumtype::kReLU, enumtype::kLeakyReLU, enumtype::kSELU>;
using FanModeType = std::variant<enumtype::kFanIn, enumtype::kFanOut>;

/// The recommended gain for a nonlinearity; `param` is leaky_relu's negative slope.
double calculate_gain(NonlinearityType nonlinearity, double param = 0.01);
/// (fan_in, fan_out) of a weight with at least 2 dims.
std::tuple<int64_t, int64_t> _calculate_fan_in_and_fan_out(const Tensor& tensor);

Tensor uniform_(Tensor tensor, double low = 0, double high = 1);
Tensor normal_(Tensor tensor, double mean = 0, double std = 1);
Tensor constant_(Tensor tensor, Scalar value);
Tensor ones_(Tensor tensor);
Tensor zeros_(Tensor tensor);
/// 2-D identity (rectangular allowed).
Tensor eye_(Tensor matrix);
/// Dirac delta for {3, 4, 5}-D conv weights: the conv passes its input through (per group).
Tensor dirac_(Tensor tensor, int64_t groups = 1);
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0);
Tensor xavier_normal_(Tensor tensor, double gain = 1.0);
Tensor kaiming_uniform_(Tensor tensor, double a = 0, FanModeType mode = enumtype::kFanIn{},
                        NonlinearityType nonlinearity = enumtype::kLeakyReLU{});
Tensor kaiming_normal_(Tensor tensor, double a = 0, FanModeType mode = enumtype::kFanIn{},
                       NonlinearityType nonlinearity = enumtype::kLeakyReLU{});
/// N(mean, std^2) truncated to [a, b], by inverse-CDF sampling as PyTorch.
Tensor trunc_normal_(Tensor tensor, double mean = 0., double std = 1., double a = -2., double b = 2.);
/// A (semi-)orthogonal matrix from the QR decomposition of a normal matrix, scaled by gain.
Tensor orthogonal_(Tensor tensor, double gain = 1.0);

}  // namespace ark::nn::init
