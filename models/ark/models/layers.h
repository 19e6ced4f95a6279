// Pieces the model families share (timm's layers/): stochastic depth (drop_path, DropPath and
// the linear per-block rule), the in-place-when-possible residual add, the first-conv
// adaptation for in_chans != 3 (adapt_input_conv) and StateDictAdapter, the hook through which
// a model rewrites a foreign or differently-sized checkpoint before load_state_dict.
// Deliberately left out: anything with parameters (those live in nn/ or in the family files).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ark/ark.h"

namespace ark::models {

/// Stochastic depth (timm's drop_path): in training, zeroes each sample's residual branch with
/// probability p and scales the kept ones by 1/(1-p); the identity in eval or for p == 0.
/// x: (N, ...), one draw per sample.
Tensor drop_path(const Tensor& x, double p, bool training);

/// drop_path as a module (timm's DropPath), for user-built blocks. Holds no state.
class DropPathImpl : public nn::Module {
 public:
  explicit DropPathImpl(double p = 0.0) : p(p) {}
  Tensor forward(const Tensor& x);
  std::string extra_repr() const override;

  double p;
};
ARK_MODULE(DropPath);

/// timm's linear stochastic-depth rule: block i of n gets rate * i / (n - 1), so the first block
/// is never dropped and the last gets `rate`.
std::vector<double> drop_path_rates(double rate, int64_t num_blocks);

/// out + residual, written into `out` when no gradient is recorded (inference reuses the
/// buffer); out of place otherwise, so autograd sees an ordinary add.
Tensor add_residual(Tensor out, const Tensor& residual);

/// timm's adapt_input_conv: a first-conv weight (O, I, kH, kW) trained on RGB adapted to
/// `in_chans` inputs. 1 channel: the sum over the input channels (for I > 3 over each group of
/// 3); other counts: the RGB filters tiled to in_chans and scaled by 3 / in_chans, so a
/// grey image replicated to every channel gives the original activations. dtype is kept.
Tensor adapt_input_conv(int64_t in_chans, const Tensor& weight);

/// A model whose checkpoints may need rewriting before load_state_dict: legacy key names, a
/// position embedding for another image size, a first conv for another in_chans. Loaders call
///     if (auto* a = dynamic_cast<const models::StateDictAdapter*>(&module)) a->adapt_state_dict(sd);
/// before module.load_state_dict(sd). Adapting an already matching state dict changes nothing.
class StateDictAdapter {
 public:
  virtual ~StateDictAdapter() = default;
  virtual void adapt_state_dict(OrderedDict<std::string, Tensor>& state_dict) const = 0;
};

/// Applies `model`'s adapt_state_dict (when it has one) to a copy of `state_dict`, then loads it.
nn::LoadStateDictResult load_adapted_state_dict(nn::Module& model, OrderedDict<std::string, Tensor> state_dict,
                                                bool strict = true);

}  // namespace ark::models
