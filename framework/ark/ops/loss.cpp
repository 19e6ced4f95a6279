// Losses: cross_entropy (class indices or probabilities, label smoothing, ignore_index, class
// weights), nll_loss, mse, l1, smooth_l1, binary cross-entropy (with logits). Composites of
// differentiable ops, except nll_loss whose gather/scatter pair is explicit.
#include <cmath>

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::variable_list;

namespace {
Tensor reduce(const Tensor& loss, int64_t reduction) {
  switch (reduction) {
    case Reduction::None: return loss;
    case Reduction::Mean: return loss.mean();
    case Reduction::Sum: return loss.sum();
    default: ARK_ERROR("invalid reduction ", reduction, ": expected None (0), Mean (1) or Sum (2)");
  }
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  ARK_CHECK(a.sizes() == b.sizes(), op, ": target size ", b.sizes(), " must be the same as input size ", a.sizes());
}

// (N, C, d1...) -> class dim last and flattened: (M, C), with M = N * d1 * ...
Tensor classes_last(const Tensor& x) {
  if (x.dim() <= 2) return x.dim() == 1 ? x.unsqueeze(0) : x;
  return x.movedim(1, -1).reshape({-1, x.size(1)});
}
}  // namespace

Tensor nll_loss(const Tensor& self, const Tensor& target, const Tensor& weight, int64_t reduction, int64_t ignore_index) {
  ARK_CHECK(self.dim() >= 1, "nll_loss: input must have at least 1 dim, got ", self.sizes());
  ARK_CHECK(self.is_floating_point(), "nll_loss: expected floating point input, got ", dtype_name(self.dtype()));
  ARK_CHECK(target.dtype() == kLong, "nll_loss: expected target of dtype int64 (class indices), got ",
            dtype_name(target.dtype()));
  ARK_CHECK(reduction >= Reduction::None && reduction <= Reduction::Sum, "invalid reduction ", reduction);
  const int64_t C = self.dim() == 1 ? self.size(0) : self.size(1);
  if (self.dim() == 1) {
    ARK_CHECK(target.dim() == 0, "nll_loss: 1-D input (C) expects a 0-D target, got ", target.sizes());
  } else {
    DimVector expect = self.sizes().vec();
    expect.erase(expect.begin() + 1);
    ARK_CHECK(target.sizes() == IntArrayRef(expect), "nll_loss: expected target of size ", IntArrayRef(expect),
              " for input of size ", self.sizes(), ", got ", target.sizes());
  }
  if (weight.defined())
    ARK_CHECK(weight.dim() == 1 && weight.size(0) == C, "nll_loss: weight tensor should be defined either for all ", C,
              " classes or no classes but got weight tensor of shape: ", weight.sizes());
  // One node (as PyTorch's NllLossBackward0): loss_i = -w[t_i] * x[i, t_i], 0 where t_i is ignored.
  Tensor picked_w, safe_t, total_weight, out;
  {
    NoGradGuard ng;
    Tensor t = target.reshape({-1});
    Tensor valid = t != ignore_index;
    safe_t = t.masked_fill(valid.logical_not(), 0);
    if (t.numel() > 0) {
      Tensor bad = valid & ((safe_t < 0) | (safe_t >= C));
      if (bad.any().item<bool>()) {
        const int64_t v = t.masked_select(bad)[0].item<int64_t>();
        ARK_ERROR("nll_loss: target ", v, " is out of bounds for ", C, " classes");
      }
    }
    picked_w = weight.defined() ? weight.to(self.dtype()).index_select(0, safe_t) : ones({t.numel()}, self.options());
    picked_w = picked_w * valid.to(self.dtype());
    Tensor x = classes_last(self);  // (M, C)
    Tensor loss = -(x.gather(1, safe_t.unsqueeze(1)).squeeze(1) * picked_w);
    total_weight = picked_w.sum();
    if (reduction == Reduction::None) out = self.dim() == 1 ? loss.squeeze(0) : loss.view(target.sizes());
    else if (reduction == Reduction::Sum) out = loss.sum();
    else out = loss.sum() / total_weight;
  }
  if (needs_grad(self)) {
    const DimVector in_sizes = self.sizes().vec();
    const bool four_d = self.dim() == 4;
    record(four_d ? "NllLoss2DBackward0" : "NllLossBackward0", {self}, out,
           [=](const variable_list& g) -> variable_list {
             // d loss_i / d x[i, t_i] = -w[t_i] (divided by the total weight for the mean).
             Tensor coef = -picked_w;
             if (reduction == Reduction::Mean) coef = coef * g[0] / total_weight;
             else if (reduction == Reduction::Sum) coef = coef * g[0];
             else coef = coef * g[0].reshape({-1});
             const int64_t classes = in_sizes.size() == 1 ? in_sizes[0] : in_sizes[1];
             Tensor grad = zeros({safe_t.numel(), classes}, g[0].options()).scatter(1, safe_t.unsqueeze(1), coef.unsqueeze(1));
             if (in_sizes.size() == 1) return {grad.squeeze(0)};
             if (in_sizes.size() == 2) return {grad};
             // (M, C) back to (N, d1.., C) then classes to dim 1.
             DimVector moved = {in_sizes[0]};
             for (size_t d = 2; d < in_sizes.size(); ++d) moved.push_back(in_sizes[d]);
             moved.push_back(classes);
             return {grad.view(moved).movedim(-1, 1)};
           });
  }
  return out;
}

Tensor cross_entropy_loss(const Tensor& self, const Tensor& target, const Tensor& weight, int64_t reduction,
                          int64_t ignore_index, double label_smoothing) {
  ARK_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy: label_smoothing must be between 0.0 and 1.0, "
            "got ", label_smoothing);
  ARK_CHECK(self.is_floating_point(), "cross_entropy: expected floating point input, got ", dtype_name(self.dtype()));
  const int64_t class_dim = self.dim() == 1 ? 0 : 1;
  const int64_t C = self.size(class_dim);
  Tensor logp = log_softmax(self, class_dim);
  if (target.is_floating_point()) {
    // Class probabilities.
    check_same_shape(self, target, "cross_entropy");
    ARK_CHECK(ignore_index < 0, "cross_entropy: ignore_index is not supported for floating point target");
    Tensor t = label_smoothing > 0 ? target * (1 - label_smoothing) + label_smoothing / static_cast<double>(C) : target;
    Tensor prod = logp * t;
    if (weight.defined()) {
      DimVector bshape(static_cast<size_t>(self.dim()), 1);
      bshape[static_cast<size_t>(class_dim)] = C;
      prod = prod * weight.view(bshape);
    }
    Tensor loss = -prod.sum({class_dim});
    if (reduction == Reduction::Mean) return self.dim() == 1 ? loss : loss.sum() / static_cast<double>(loss.numel());
    return reduce(loss, reduction);
  }
  Tensor nll = nll_loss(logp, target, weight, reduction, ignore_index);
  if (label_smoothing == 0) return nll;
  // Smoothing term: the mean over classes of -log p, weighted and masked like the nll term.
  Tensor t = target.reshape({-1});
  Tensor valid = (t != ignore_index).to(self.dtype());
  Tensor lp = classes_last(logp);  // (M, C)
  Tensor smooth = weight.defined() ? -(lp * weight.to(self.dtype())).sum({1}) : -lp.sum({1});
  smooth = smooth * valid;
  Tensor smooth_loss;
  if (reduction == Reduction::None) smooth_loss = self.dim() == 1 ? smooth.squeeze(0) : smooth.view(target.sizes());
  else if (reduction == Reduction::Sum) smooth_loss = smooth.sum();
  else {
    Tensor denom = weight.defined()
                       ? (weight.to(self.dtype()).index_select(0, t.masked_fill(t == ignore_index, 0)) * valid).sum()
                       : valid.sum();
    smooth_loss = smooth.sum() / denom;
  }
  return nll * (1 - label_smoothing) + smooth_loss * (label_smoothing / static_cast<double>(C));
}

Tensor mse_loss(const Tensor& self, const Tensor& target, int64_t reduction) {
  check_same_shape(self, target, "mse_loss");
  Tensor out;
  {
    NoGradGuard ng;
    out = reduce((self - target).pow(2), reduction);
  }
  if (needs_grad(self, target)) {
    auto sx = autograd::save(self), st = autograd::save(target);
    const double n = static_cast<double>(std::max<int64_t>(self.numel(), 1));
    record("MseLossBackward0", {self, target}, out, [sx, st, reduction, n](const variable_list& g) -> variable_list {
      Tensor d = (sx.get() - st.get()) * 2;
      Tensor gx = reduction == Reduction::Mean ? d * g[0] / n : d * g[0];
      return {gx, -gx};
    });
  }
  return out;
}

Tensor l1_loss(const Tensor& self, const Tensor& target, int64_t reduction) {
  check_same_shape(self, target, "l1_loss");
  return reduce((self - target).abs(), reduction);
}

Tensor smooth_l1_loss(const Tensor& self, const Tensor& target, int64_t reduction, double beta) {
  check_same_shape(self, target, "smooth_l1_loss");
  ARK_CHECK(beta >= 0, "smooth_l1_loss does not support negative values for beta, got ", beta);
  Tensor d = (self - target).abs();
  if (beta == 0) return reduce(d, reduction);
  return reduce(where(d < beta, d.pow(2) * (0.5 / beta), d - 0.5 * beta), reduction);
}

Tensor binary_cross_entropy(const Tensor& self, const Tensor& target, const Tensor& weight, int64_t reduction) {
  check_same_shape(self, target, "binary_cross_entropy");
  {
    NoGradGuard ng;
    if (self.numel() > 0)
      ARK_CHECK(((self >= 0) & (self <= 1)).all().item<bool>(),
                "binary_cross_entropy: all elements of input should be between 0 and 1");
  }
  // PyTorch clamps the log terms at -100 so that 0 * log(0) stays finite.
  Tensor loss = -(target * self.log().clamp_min(-100) + (1 - target) * (1 - self).log().clamp_min(-100));
  if (weight.defined()) loss = loss * weight;
  return reduce(loss, reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& self, const Tensor& target, const Tensor& weight,
                                        const Tensor& pos_weight, int64_t reduction) {
  check_same_shape(self, target, "binary_cross_entropy_with_logits");
  // log(sigmoid(x)) = -softplus(-x), computed stably.
  Tensor log_sig = -softplus(-self);
  Tensor log_one_minus = -softplus(self);
  Tensor loss = pos_weight.defined() ? -(pos_weight * target * log_sig + (1 - target) * log_one_minus)
                                     : -(target * log_sig + (1 - target) * log_one_minus);
  if (weight.defined()) loss = loss * weight;
  return reduce(loss, reduction);
}

}  // namespace ark
