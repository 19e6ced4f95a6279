// VisionTransformer. ref: torchvision/models/vision_transformer.py (0.14); drop_path as in
// timm/models/vision_transformer.py; bicubic weights as ATen's upsample_bicubic2d (A = -0.75).
#include "ark/models/vit.h"

#include <cmath>
#include <map>

#include "ark/models/registry.h"

namespace ark::models {

// ---- blocks ----

EncoderBlockImpl::EncoderBlockImpl(const ViTConfig& c, double drop_path_rate)
    : nn::Module("EncoderBlock"),
      dropout_(c.dropout),
      attention_dropout_(c.attention_dropout),
      drop_path_rate_(drop_path_rate) {
  const int64_t D = c.hidden_dim;
  ln_1 = register_module("ln_1", nn::LayerNorm(nn::LayerNormOptions({D}).eps(c.layer_norm_eps)));
  const auto attention_options =
      nn::MultiheadAttentionOptions(D, c.num_heads).dropout(c.attention_dropout).batch_first(true);
  self_attention = register_module("self_attention", nn::MultiheadAttention(attention_options));
  ln_2 = register_module("ln_2", nn::LayerNorm(nn::LayerNormOptions({D}).eps(c.layer_norm_eps)));
  fc1_ = nn::Linear(D, c.mlp_dim);
  fc2_ = nn::Linear(c.mlp_dim, D);
  // torchvision's MLPBlock init: xavier_uniform_ weights, N(0, 1e-6) biases.
  for (auto* fc : {&fc1_, &fc2_}) {
    nn::init::xavier_uniform_((*fc)->weight);
    nn::init::normal_((*fc)->bias, 0.0, 1e-6);
  }
  mlp = register_module("mlp", nn::Sequential(fc1_, nn::GELU(), nn::Dropout(c.dropout), fc2_, nn::Dropout(c.dropout)));
}

// Self-attention on self_attention's parameters: one (N*L, D) x (D, 3D) GEMM, heads as a view.
Tensor EncoderBlockImpl::attention(const Tensor& x) {
  const int64_t N = x.size(0), L = x.size(1), D = x.size(2), H = self_attention->options.num_heads();
  Tensor qkv = ark::linear(x, self_attention->in_proj_weight, self_attention->in_proj_bias)  // (N, L, 3D)
                   .view({N, L, 3, H, D / H})
                   .permute({2, 0, 3, 1, 4});  // (3, N, H, L, hd)
  const double p = is_training() ? attention_dropout_ : 0.0;
  Tensor o;  // (N, H, L, hd)
  if (on_attention_probs) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(D / H));
    Tensor probs = ark::softmax(ark::matmul(qkv[0], qkv[1].transpose(-2, -1)) * scale, -1);  // (N, H, L, L)
    on_attention_probs(probs);
    o = ark::matmul(ark::dropout(probs, p, is_training()), qkv[2]);
  } else {
    o = ark::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], {}, p);
  }
  o = o.transpose(1, 2).reshape({N, L, D});
  return ark::linear(o, self_attention->out_proj->weight, self_attention->out_proj->bias);
}

Tensor EncoderBlockImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    ARK_CHECK(x.dim() == 3, "EncoderBlock: expected (batch_size, seq_length, hidden_dim), got ", x.sizes());
    const bool train = is_training();
    Tensor h = ark::dropout(attention(ln_1(x)), dropout_, train);
    Tensor y = x + drop_path(h, drop_path_rate_, train);
    h = ark::gelu(fc1_(ln_2(y)));
    h = ark::dropout(fc2_(ark::dropout(h, dropout_, train)), dropout_, train);
    return y + drop_path(h, drop_path_rate_, train);
  });
}

EncoderImpl::EncoderImpl(const ViTConfig& c, int64_t seq_length, const std::vector<double>& dpr)
    : nn::Module("Encoder"), dropout_(c.dropout) {
  pos_embedding = register_parameter("pos_embedding", ark::empty({1, seq_length, c.hidden_dim}));
  nn::init::normal_(pos_embedding, 0.0, 0.02);  // from BERT
  layers = register_module("layers", nn::Sequential());
  for (int64_t i = 0; i < c.num_layers; ++i) {
    blocks.emplace_back(c, dpr[static_cast<size_t>(i)]);
    layers->push_back("encoder_layer_" + std::to_string(i), blocks.back());
  }
  ln = register_module("ln", nn::LayerNorm(nn::LayerNormOptions({c.hidden_dim}).eps(c.layer_norm_eps)));
}

Tensor EncoderImpl::embed(const Tensor& x) {
  ARK_CHECK(x.dim() == 3 && x.size(1) == pos_embedding.size(1) && x.size(2) == pos_embedding.size(2),
            "Encoder: expected tokens (N, ", pos_embedding.size(1), ", ", pos_embedding.size(2), "), got ", x.sizes());
  return ark::dropout(x + pos_embedding, dropout_, is_training());
}

Tensor EncoderImpl::forward(const Tensor& x) {
  return with_hooks(x, [&](const Tensor& in) { return ln(layers(embed(in))); });
}

// ---- model ----

VisionTransformer::VisionTransformer(const ViTConfig& cfg, const ModelOptions& options)
    : VisionModel("VisionTransformer"), config(cfg), in_chans_(options.in_chans), drop_rate_(options.drop_rate) {
  if (options.image_size) config.image_size = *options.image_size;
  const int64_t P = config.patch_size, D = config.hidden_dim;
  ARK_CHECK(config.image_size > 0 && config.image_size % P == 0, "VisionTransformer: image_size (", config.image_size,
            ") must be a positive multiple of the patch size (", P, ")");
  ARK_CHECK(D % config.num_heads == 0, "VisionTransformer: hidden_dim (", D, ") must be divisible by num_heads (",
            config.num_heads, ")");
  // Registration order gives torchvision's key order: class_token, conv_proj, encoder, heads.
  class_token = register_parameter("class_token", ark::zeros({1, 1, D}));
  conv_proj = register_module("conv_proj", nn::Conv2d(nn::Conv2dOptions(in_chans_, D, P).stride(P)));
  // torchvision: trunc_normal_(std = sqrt(1 / fan_in)) with fan_in = in_channels * P * P, zero bias.
  nn::init::trunc_normal_(conv_proj->weight, 0.0, std::sqrt(1.0 / static_cast<double>(in_chans_ * P * P)));
  nn::init::zeros_(conv_proj->bias);
  const int64_t seq_length = grid_size() * grid_size() + 1;
  encoder = register_module(
      "encoder", Encoder(config, seq_length, drop_path_rates(options.drop_path_rate, config.num_layers)));
  heads = register_module("heads", nn::Sequential());
  num_features_ = D;
  first_conv_ = "conv_proj";
  classifier_ = "heads.head";
  reset_classifier(options.num_classes);
}

Tensor VisionTransformer::tokens(const Tensor& x) {
  ARK_CHECK(x.dim() == 4 && x.size(1) == in_chans_ && x.size(2) == config.image_size && x.size(3) == config.image_size,
            "VisionTransformer: expected input (N, ", in_chans_, ", ", config.image_size, ", ", config.image_size,
            "), got ", x.sizes(), " (the position embeddings are sized for image_size; create the model with "
            "{.image_size = ...} for other sizes)");
  const int64_t N = x.size(0);
  Tensor p = conv_proj(x).flatten(2).transpose(1, 2);  // (N, D, G, G) -> (N, G*G, D), a view
  return ark::cat({class_token.expand({N, -1, -1}), p}, 1);  // (N, 1 + G*G, D)
}

Tensor VisionTransformer::forward_features(const Tensor& x) {
  return encoder(tokens(x));
}

Tensor VisionTransformer::forward_head(const Tensor& features, bool pre_logits) {
  Tensor x = features.select(1, 0);  // the class token, (N, D)
  if (drop_rate_ > 0) x = ark::dropout(x, drop_rate_, is_training());
  if (pre_logits || !head) return x;
  return head(x);
}

void VisionTransformer::reset_classifier(int64_t num_classes) {
  ARK_CHECK(num_classes >= 0, "VisionTransformer::reset_classifier: num_classes must be >= 0, got ", num_classes);
  num_classes_ = num_classes;
  nn::Sequential fresh;
  head = nullptr;
  if (num_classes > 0) {
    head = nn::Linear(config.hidden_dim, num_classes);
    nn::init::zeros_(head->weight);  // torchvision zero-initialises the head
    nn::init::zeros_(head->bias);
    fresh->push_back("head", head);
  }
  heads = replace_module("heads", fresh);
}

std::vector<Tensor> VisionTransformer::forward_intermediates(const Tensor& x) {
  std::vector<Tensor> out;
  Tensor y = encoder->embed(tokens(x));
  for (auto& block : encoder->blocks) out.push_back(y = block(y));
  return out;
}

std::vector<FeatureInfo> VisionTransformer::feature_info() const {
  std::vector<FeatureInfo> info;
  for (int64_t i = 0; i < config.num_layers; ++i)
    info.push_back({"encoder.layers.encoder_layer_" + std::to_string(i), config.hidden_dim, config.patch_size});
  return info;
}

void VisionTransformer::adapt_state_dict(OrderedDict<std::string, Tensor>& state_dict) const {
  // torchvision < 0.13 checkpoints (still what its download URLs serve) name the MLP linears
  // linear_1/linear_2; MLPBlock._load_from_state_dict renames them to 0/3.
  bool legacy = false;
  for (const auto& item : state_dict) legacy = legacy || item.key().find(".mlp.linear_") != std::string::npos;
  if (legacy) {
    OrderedDict<std::string, Tensor> renamed;
    for (const auto& item : state_dict) {
      std::string key = item.key();
      for (auto [from, to] : {std::pair{".mlp.linear_1.", ".mlp.0."}, std::pair{".mlp.linear_2.", ".mlp.3."}})
        if (auto pos = key.find(from); pos != std::string::npos) key.replace(pos, std::string(from).size(), to);
      renamed.insert(key, item.value());
    }
    state_dict = std::move(renamed);
  }
  if (Tensor* pos = state_dict.find("encoder.pos_embedding");
      pos && pos->dim() == 3 && pos->size(1) != encoder->pos_embedding.size(1))
    *pos = resize_pos_embed(*pos, grid_size(), grid_size());
  if (Tensor* w = state_dict.find("conv_proj.weight"); w && w->dim() == 4 && w->size(1) != in_chans_)
    *w = adapt_input_conv(in_chans_, *w);
}

// ---- position-embedding interpolation ----

namespace {
// (out, in) matrix of 1-D bicubic interpolation with align_corners=True: ATen's
// upsample_bicubic2d weights (cubic convolution, A = -0.75) with border-clamped taps.
Tensor bicubic_matrix(int64_t out, int64_t in) {
  constexpr double A = -0.75;
  auto cc1 = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };             // |x| <= 1
  auto cc2 = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };       // 1 < |x| < 2
  Tensor m = ark::zeros({out, in}, TensorOptions().dtype(kDouble));
  double* w = m.data_ptr<double>();
  const double scale = out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0;
  for (int64_t o = 0; o < out; ++o) {
    const double src = scale * static_cast<double>(o);
    const int64_t x0 = static_cast<int64_t>(std::floor(src));
    const double t = src - static_cast<double>(x0);
    const double coeff[4] = {cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)};
    for (int64_t k = 0; k < 4; ++k) {
      const int64_t i = std::clamp<int64_t>(x0 - 1 + k, 0, in - 1);
      w[o * in + i] += coeff[k];
    }
  }
  return m;
}
}  // namespace

Tensor resize_pos_embed(const Tensor& pos_embed, int64_t new_h, int64_t new_w, int64_t num_prefix_tokens) {
  ARK_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1, "resize_pos_embed: expected (1, seq_length, dim), got ",
            pos_embed.sizes());
  ARK_CHECK(new_h > 0 && new_w > 0, "resize_pos_embed: the new grid must be positive, got ", new_h, "x", new_w);
  const int64_t n = pos_embed.size(1) - num_prefix_tokens, D = pos_embed.size(2);
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(n, 0)))));
  ARK_CHECK(n > 0 && g * g == n, "resize_pos_embed: ", n, " grid tokens (after ", num_prefix_tokens,
            " prefix tokens) are not a square grid");
  if (g == new_h && g == new_w) return pos_embed;
  Tensor prefix = pos_embed.narrow(1, 0, num_prefix_tokens);
  Tensor grid = pos_embed.narrow(1, num_prefix_tokens, n).reshape({g, g * D});  // rows h, then (w, D)
  const Tensor mh = bicubic_matrix(new_h, g).to(pos_embed.dtype());
  const Tensor mw = bicubic_matrix(new_w, g).to(pos_embed.dtype());
  Tensor t = ark::matmul(mh, grid).view({new_h, g, D});     // interpolate along h: (new_h, g, D)
  Tensor r = ark::matmul(mw, t).reshape({1, new_h * new_w, D});  // then along w: (new_h, new_w, D)
  return ark::cat({prefix, r}, 1);
}

// ---- registration ----

ViTConfig vit_config(const std::string& name) {
  static const std::map<std::string, ViTConfig> configs = {
      //              patch layers heads  dim   mlp
      {"vit_b_16", {16, 12, 12, 768, 3072}},
      {"vit_b_32", {32, 12, 12, 768, 3072}},
      {"vit_l_16", {16, 24, 16, 1024, 4096}},
  };
  auto it = configs.find(name);
  ARK_CHECK(it != configs.end(), "vit_config: unknown ViT '", name, "'");
  return it->second;
}

void register_vit_models() {
  for (const char* name : {"vit_b_16", "vit_b_32", "vit_l_16"}) {
    const ViTConfig cfg = vit_config(name);
    register_model({name, "vit", {3, 224, 224}, [cfg](const ModelOptions& o) -> std::shared_ptr<VisionModel> {
                      return std::make_shared<VisionTransformer>(cfg, o);
                    }});
  }
}

}  // namespace ark::models
