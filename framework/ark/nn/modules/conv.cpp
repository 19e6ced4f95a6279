// Conv1d, Conv2d, ConvTranspose2d. ref: torch/nn/modules/conv.py (PyTorch 1.13).
#include "ark/nn/modules/conv.h"

#include <cmath>

#include "ark/nn/functional.h"
#include "ark/nn/init.h"
#include "ark/ops/ops.h"

namespace ark::nn {

namespace {

template <size_t D>
const char* conv_name() {
  return D == 1 ? "Conv1d" : "Conv2d";
}

void check_groups(const char* name, int64_t in_channels, int64_t out_channels, int64_t groups) {
  ARK_CHECK(groups > 0, name, ": groups must be a positive integer, got ", groups);
  ARK_CHECK(in_channels % groups == 0, name, ": in_channels (", in_channels, ") must be divisible by groups (", groups, ")");
  ARK_CHECK(out_channels % groups == 0, name, ": out_channels (", out_channels, ") must be divisible by groups (", groups,
            ")");
}

// _ConvNd.reset_parameters: kaiming_uniform_(a=sqrt(5)) and a bias bound of 1/sqrt(fan_in).
void reset_conv(Tensor& weight, Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    auto [fan_in, fan_out] = init::_calculate_fan_in_and_fan_out(weight);
    if (fan_in != 0) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      init::uniform_(bias, -bound, bound);
    }
  }
}

// Checks (N, C, *spatial) or unbatched (C, *spatial) input of a conv layer.
void check_conv_input(const char* name, const Tensor& x, int64_t spatial, int64_t channels) {
  ARK_CHECK(x.dim() == spatial + 1 || x.dim() == spatial + 2, name, ": expected ", spatial + 1, "-D (unbatched) or ",
            spatial + 2, "-D (batched) input, got ", x.dim(), "-D input of shape ", x.sizes());
  const int64_t c = x.size(-spatial - 1);
  ARK_CHECK(c == channels, name, ": expected input with ", channels, " channels (in_channels), got ", c,
            " channels (input shape ", x.sizes(), ")");
}

}  // namespace

template <size_t D>
ConvNdImpl<D>::ConvNdImpl(const ConvOptions<D>& options_) : options(options_) {
  const char* name = conv_name<D>();
  check_groups(name, options.in_channels(), options.out_channels(), options.groups());
  if (std::holds_alternative<enumtype::kSame>(options.padding()))
    for (int64_t s : *options.stride())
      ARK_CHECK(s == 1, name, ": padding='same' is not supported for strided convolutions");
  DimVector shape = {options.out_channels(), options.in_channels() / options.groups()};
  for (int64_t k : *options.kernel_size()) shape.push_back(k);
  weight = register_parameter("weight", ark::empty(shape));
  bias = register_parameter("bias", options.bias() ? ark::empty({options.out_channels()}) : Tensor(), options.bias());
  reset_parameters();
}

template <size_t D>
void ConvNdImpl<D>::reset_parameters() {
  reset_conv(weight, bias);
}

template <size_t D>
Tensor ConvNdImpl<D>::conv_forward(const Tensor& x) {
  check_conv_input(conv_name<D>(), x, D, options.in_channels());
  if (std::holds_alternative<enumtype::kZeros>(options.padding_mode())) {
    if constexpr (D == 1)
      return F::conv1d(x, weight, F::Conv1dFuncOptions().bias(bias).stride(options.stride()).padding(options.padding())
                                      .dilation(options.dilation()).groups(options.groups()));
    else
      return F::conv2d(x, weight, F::Conv2dFuncOptions().bias(bias).stride(options.stride()).padding(options.padding())
                                      .dilation(options.dilation()).groups(options.groups()));
  }
  // Other padding modes pad explicitly, then convolve unpadded (PyTorch's
  // _reversed_padding_repeated_twice: (left, right) pairs from the last dim).
  std::vector<int64_t> pads;
  for (size_t i = D; i-- > 0;) {
    int64_t left = 0, right = 0;
    if (const auto* p = std::get_if<ExpandingArray<D>>(&options.padding())) {
      left = right = (**p)[i];
    } else if (std::holds_alternative<enumtype::kSame>(options.padding())) {
      const int64_t total = options.dilation()[i] * (options.kernel_size()[i] - 1);
      left = total / 2;
      right = total - left;
    }
    pads.push_back(left);
    pads.push_back(right);
  }
  F::PadFuncOptions::mode_t mode = enumtype::kReflect{};
  if (std::holds_alternative<enumtype::kReplicate>(options.padding_mode())) mode = enumtype::kReplicate{};
  if (std::holds_alternative<enumtype::kCircular>(options.padding_mode())) mode = enumtype::kCircular{};
  Tensor padded = F::pad(x, F::PadFuncOptions(pads).mode(mode));
  if constexpr (D == 1)
    return F::conv1d(padded, weight, F::Conv1dFuncOptions().bias(bias).stride(options.stride()).dilation(options.dilation())
                                         .groups(options.groups()));
  else
    return F::conv2d(padded, weight, F::Conv2dFuncOptions().bias(bias).stride(options.stride()).dilation(options.dilation())
                                         .groups(options.groups()));
}

template <size_t D>
std::string ConvNdImpl<D>::extra_repr() const {
  // torch.nn.modules.conv._ConvNd.extra_repr: non-default settings only.
  std::string s = ark::detail::str_cat(options.in_channels(), ", ", options.out_channels(),
                                       ", kernel_size=", detail::repr_tuple(options.kernel_size()),
                                       ", stride=", detail::repr_tuple(options.stride()));
  if (const auto* p = std::get_if<ExpandingArray<D>>(&options.padding())) {
    if (!p->all_equal(0)) s += ", padding=" + detail::repr_tuple(*p);
  } else {
    s += ", padding='" + enumtype::get_enum_name(options.padding()) + "'";
  }
  if (!options.dilation().all_equal(1)) s += ", dilation=" + detail::repr_tuple(options.dilation());
  if (options.groups() != 1) s += ", groups=" + std::to_string(options.groups());
  if (!bias.defined()) s += ", bias=False";
  if (!std::holds_alternative<enumtype::kZeros>(options.padding_mode()))
    s += ", padding_mode=" + enumtype::get_enum_name(options.padding_mode());
  return s;
}

template class ConvNdImpl<1>;
template class ConvNdImpl<2>;

Tensor Conv1dImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return conv_forward(x); });
}

Tensor Conv2dImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return conv_forward(x); });
}

// ---- ConvTranspose2d ----
ConvTranspose2dImpl::ConvTranspose2dImpl(const ConvTranspose2dOptions& options_) : options(options_) {
  check_groups("ConvTranspose2d", options.in_channels(), options.out_channels(), options.groups());
  ARK_CHECK(std::holds_alternative<enumtype::kZeros>(options.padding_mode()),
            "ConvTranspose2d: only padding_mode zeros is supported (as in PyTorch), got ",
            enumtype::get_enum_name(options.padding_mode()));
  weight = register_parameter("weight", ark::empty({options.in_channels(), options.out_channels() / options.groups(),
                                               options.kernel_size()[0], options.kernel_size()[1]}));
  bias = register_parameter("bias", options.bias() ? ark::empty({options.out_channels()}) : Tensor(), options.bias());
  reset_parameters();
}

void ConvTranspose2dImpl::reset_parameters() { reset_conv(weight, bias); }

Tensor ConvTranspose2dImpl::forward(const Tensor& input, const std::optional<IntArrayRef>& output_size) {
  return with_hooks(input, [&](const Tensor& x) {
    check_conv_input("ConvTranspose2d", x, 2, options.in_channels());
    DimVector output_padding = options.output_padding().vec();
    if (output_size) {
      // ConvTranspose2d._output_padding: the extra rows/cols that reach the requested size.
      const IntArrayRef size = *output_size;
      ARK_CHECK(size.size() == 2 || size.size() == static_cast<size_t>(x.dim()), "ConvTranspose2d: output_size must have 2 "
                "or ", x.dim(), " elements, got ", size);
      for (size_t d = 0; d < 2; ++d) {
        const int64_t in = x.size(x.dim() - 2 + static_cast<int64_t>(d));
        const int64_t want = size[size.size() - 2 + d];
        const int64_t min_size = (in - 1) * options.stride()[d] - 2 * options.padding()[d] +
                                 options.dilation()[d] * (options.kernel_size()[d] - 1) + 1;
        const int64_t max_size = min_size + options.stride()[d] - 1;
        ARK_CHECK(want >= min_size && want <= max_size, "ConvTranspose2d: requested an output size of ", size,
                  ", but valid sizes range from ", min_size, " to ", max_size, " (for an input of ", x.sizes(), ")");
        output_padding[d] = want - min_size;
      }
    }
    return F::conv_transpose2d(x, weight, F::ConvTranspose2dFuncOptions().bias(bias).stride(options.stride())
                                              .padding(options.padding()).output_padding(output_padding)
                                              .groups(options.groups()).dilation(options.dilation()));
  });
}

std::string ConvTranspose2dImpl::extra_repr() const {
  std::string s = ark::detail::str_cat(options.in_channels(), ", ", options.out_channels(),
                                       ", kernel_size=", detail::repr_tuple(options.kernel_size()),
                                       ", stride=", detail::repr_tuple(options.stride()));
  if (!options.padding().all_equal(0)) s += ", padding=" + detail::repr_tuple(options.padding());
  if (!options.dilation().all_equal(1)) s += ", dilation=" + detail::repr_tuple(options.dilation());
  if (!options.output_padding().all_equal(0)) s += ", output_padding=" + detail::repr_tuple(options.output_padding());
  if (options.groups() != 1) s += ", groups=" + std::to_string(options.groups());
  if (!bias.defined()) s += ", bias=False";
  return s;
}

}  // namespace ark::nn
