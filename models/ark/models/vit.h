// torchvision's VisionTransformer (vit_b_16, vit_b_32, vit_l_16) with torchvision 0.14's
// state_dict() names, so its checkpoints load unchanged:
//   class_token, conv_proj, encoder.pos_embedding,
//   encoder.layers.encoder_layer_N.{ln_1, self_attention.{in_proj_weight, in_proj_bias, out_proj},
//                                   ln_2, mlp.0, mlp.3},  encoder.ln, heads.head
// The attention runs on self_attention's parameters through one packed QKV projection and
// scaled_dot_product_attention (no (L, N, E) round trip), and the MLP calls its two Linears
// directly, so the forwards (and forward hooks) of self_attention and mlp are not used; the
// blocks' own hooks are. Additions from timm, none with a state_dict key: drop_path_rate (on both
// residual branches), drop_rate as dropout before the head (torchvision's own `dropout` and
// `attention_dropout` stay in ViTConfig), num_classes = 0, in_chans.
// Position embeddings are sized for image_size; a checkpoint made for another size is adapted
// by adapt_state_dict (bicubic, align_corners=True: torchvision's interpolate_embeddings).
// Deliberately left out: the conv-stem variant, representation_size (pre_logits layer).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ark/models/layers.h"
#include "ark/models/model.h"

namespace ark::models {

struct ViTConfig {
  int64_t patch_size = 16;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t hidden_dim = 768;
  int64_t mlp_dim = 3072;
  int64_t image_size = 224;          // ModelOptions::image_size overrides it
  double dropout = 0.0;              // torchvision's: after the position embedding, attention and MLP layers
  double attention_dropout = 0.0;    // on the attention weights
  double layer_norm_eps = 1e-6;
};

/// Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
class EncoderBlockImpl : public nn::Module {
 public:
  EncoderBlockImpl(const ViTConfig& config, double drop_path_rate);
  /// (N, L, D) -> (N, L, D).
  Tensor forward(const Tensor& x);

  nn::LayerNorm ln_1 = nullptr;
  nn::MultiheadAttention self_attention = nullptr;
  nn::LayerNorm ln_2 = nullptr;
  nn::Sequential mlp = nullptr;  // torchvision's MLPBlock: 0 Linear, 1 GELU, 2 Dropout, 3 Linear, 4 Dropout

  /// Opt-in capture of the attention probabilities (attention rollout, models/cam.h): when set,
  /// the attention is computed explicitly as softmax(q k^T / sqrt(head_dim)) v and this receives
  /// the (N, heads, L, L) probabilities, before attention dropout. Unset (the default), the fused
  /// scaled_dot_product_attention runs, which never materialises them.
  std::function<void(const Tensor& probs)> on_attention_probs;

 private:
  Tensor attention(const Tensor& x);

  nn::Linear fc1_ = nullptr, fc2_ = nullptr;  // mlp[0], mlp[3]
  double dropout_, attention_dropout_, drop_path_rate_;
};
ARK_MODULE(EncoderBlock);

/// pos_embedding (1, seq_length, D), the blocks as encoder_layer_0.., the final LayerNorm.
class EncoderImpl : public nn::Module {
 public:
  EncoderImpl(const ViTConfig& config, int64_t seq_length, const std::vector<double>& drop_path_rates);
  /// (N, seq_length, D) tokens -> normalised tokens after every block.
  Tensor forward(const Tensor& x);
  /// Adds the position embedding and applies the embedding dropout.
  Tensor embed(const Tensor& x);

  Tensor pos_embedding;
  nn::Sequential layers = nullptr;
  nn::LayerNorm ln = nullptr;
  std::vector<EncoderBlock> blocks;  // the children of `layers`, typed

 private:
  double dropout_;
};
ARK_MODULE(Encoder);

/// (N, in_chans, image_size, image_size) -> logits; features are the (N, 1 + (S/P)^2, D) tokens
/// after encoder.ln, class token first.
class VisionTransformer : public VisionModel, public StateDictAdapter {
 public:
  explicit VisionTransformer(const ViTConfig& config, const ModelOptions& options = {});

  Tensor forward_features(const Tensor& x) override;
  /// The class token (N, D) -> dropout -> heads.head.
  Tensor forward_head(const Tensor& features, bool pre_logits = false) override;
  /// Replaces heads.head, zero-initialised as torchvision's; 0 leaves `heads` empty.
  void reset_classifier(int64_t num_classes) override;
  /// The (N, L, D) output of every encoder block (before encoder.ln).
  std::vector<Tensor> forward_intermediates(const Tensor& x) override;
  std::vector<FeatureInfo> feature_info() const override;
  /// Renames torchvision's legacy MLP keys (mlp.linear_1/2 -> mlp.0/3), resizes a position
  /// embedding made for another image size (resize_pos_embed) and adapts conv_proj to in_chans.
  void adapt_state_dict(OrderedDict<std::string, Tensor>& state_dict) const override;

  int64_t image_size() const { return config.image_size; }
  int64_t grid_size() const { return config.image_size / config.patch_size; }

  ViTConfig config;
  Tensor class_token;  // (1, 1, D)
  nn::Conv2d conv_proj = nullptr;
  Encoder encoder = nullptr;
  nn::Sequential heads = nullptr;
  nn::Linear head = nullptr;  // heads->head; empty when num_classes == 0

 private:
  /// Patchify and prepend the class token: (N, 1 + G*G, D).
  Tensor tokens(const Tensor& x);

  int64_t in_chans_;
  double drop_rate_;
};

/// Resizes a (1, num_prefix_tokens + G*G, D) position embedding on a square G x G grid to a
/// new_h x new_w grid: bicubic (A = -0.75) with align_corners=True, as torchvision's
/// interpolate_embeddings (F.interpolate(mode="bicubic", align_corners=True)); prefix tokens
/// are kept as they are. Computed as two small matmuls, so it is differentiable.
Tensor resize_pos_embed(const Tensor& pos_embed, int64_t new_h, int64_t new_w, int64_t num_prefix_tokens = 1);

/// The torchvision configuration of a registered name ("vit_b_16", ...).
ViTConfig vit_config(const std::string& name);

}  // namespace ark::models
