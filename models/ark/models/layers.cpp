// ref: timm/layers/drop.py (drop_path, DropPath), timm/models/_manipulate.py (adapt_input_conv).
#include "ark/models/layers.h"

#include <cmath>
#include <sstream>

namespace ark::models {

Tensor drop_path(const Tensor& x, double p, bool training) {
  ARK_CHECK(p >= 0 && p < 1, "drop_path: probability must be in [0, 1), got ", p);
  if (!training || p == 0.0 || x.numel() == 0) return x;
  const double keep = 1.0 - p;
  DimVector shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  Tensor mask = ark::empty(shape, x.options());  // (N, 1, ..., 1)
  {
    NoGradGuard no_grad;
    mask.bernoulli_(keep);
    mask.div_(keep);
  }
  return x * mask;
}

Tensor DropPathImpl::forward(const Tensor& x) {
  return with_hooks(x, [&](const Tensor& in) { return drop_path(in, p, is_training()); });
}

std::string DropPathImpl::extra_repr() const {
  std::ostringstream s;
  s << "drop_prob=" << p;
  return s.str();
}

std::vector<double> drop_path_rates(double rate, int64_t num_blocks) {
  std::vector<double> rates(static_cast<size_t>(std::max<int64_t>(num_blocks, 0)), 0.0);
  for (int64_t i = 1; i < num_blocks; ++i)
    rates[static_cast<size_t>(i)] = rate * static_cast<double>(i) / static_cast<double>(num_blocks - 1);
  return rates;
}

Tensor add_residual(Tensor out, const Tensor& residual) {
  if (autograd::needs_grad(out, residual) || !(out.sizes() == residual.sizes())) return out + residual;
  out.add_(residual);
  return out;
}

Tensor adapt_input_conv(int64_t in_chans, const Tensor& weight) {
  ARK_CHECK(weight.dim() == 4, "adapt_input_conv: expected a conv weight (O, I, kH, kW), got ", weight.sizes());
  ARK_CHECK(in_chans > 0, "adapt_input_conv: in_chans must be positive, got ", in_chans);
  NoGradGuard no_grad;
  const int64_t O = weight.size(0), I = weight.size(1), kh = weight.size(2), kw = weight.size(3);
  if (in_chans == I) return weight;
  Tensor w = weight.to(kFloat);
  if (in_chans == 1) {
    if (I > 3) {
      ARK_CHECK(I % 3 == 0, "adapt_input_conv: cannot reduce ", I, " input channels to 1 (not a multiple of 3)");
      w = w.reshape({O, I / 3, 3, kh, kw}).sum({2});
    } else {
      w = w.sum({1}, /*keepdim=*/true);
    }
  } else {
    ARK_CHECK(I == 3, "adapt_input_conv: only RGB (3-channel) weights can be adapted to ", in_chans,
              " channels, got ", I, " channels");
    const int64_t repeat = (in_chans + 2) / 3;
    w = w.repeat({1, repeat, 1, 1}).narrow(1, 0, in_chans) * (3.0 / static_cast<double>(in_chans));
  }
  return w.contiguous().to(weight.dtype());
}

nn::LoadStateDictResult load_adapted_state_dict(nn::Module& model, OrderedDict<std::string, Tensor> state_dict,
                                                bool strict) {
  if (const auto* adapter = dynamic_cast<const StateDictAdapter*>(&model)) adapter->adapt_state_dict(state_dict);
  return model.load_state_dict(state_dict, strict);
}

}  // namespace ark::models
