// KV cache, causal attention for decoders, logits processors and generate().
// ref: transformers generation/utils.py (greedy_search / sample loops, unfinished_sequences and
// pad_token_id for finished rows), generation/logits_process.py (RepetitionPenalty, Temperature,
// TopK, TopP), models/llama/modeling_llama.py (repeat_kv), GPT-2/LLaMA prepare_inputs_for_generation
// (position ids from the attention mask).
#include "ark/models/generation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "ark/models/hf.h"

namespace ark::models {

// ---- KV cache ----

KVCache::KVCache(int64_t num_layers, int64_t batch_size, int64_t num_kv_heads, int64_t max_length, int64_t head_dim,
                 ScalarType dtype)
    : max_length_(max_length) {
  ARK_CHECK(num_layers > 0 && batch_size > 0 && num_kv_heads > 0 && max_length > 0 && head_dim > 0,
            "KVCache: sizes must be positive, got layers ", num_layers, ", batch ", batch_size, ", kv heads ",
            num_kv_heads, ", max_length ", max_length, ", head_dim ", head_dim);
  for (int64_t l = 0; l < num_layers; ++l) {
    keys_.push_back(empty({batch_size, num_kv_heads, max_length, head_dim}, TensorOptions().dtype(dtype)));
    values_.push_back(empty({batch_size, num_kv_heads, max_length, head_dim}, TensorOptions().dtype(dtype)));
  }
}

std::pair<Tensor, Tensor> KVCache::update(int64_t layer, const Tensor& key, const Tensor& value) {
  ARK_CHECK(layer >= 0 && layer < num_layers(), "KVCache::update: layer ", layer, " out of range [0, ", num_layers(),
            ")");
  Tensor& K = keys_[static_cast<size_t>(layer)];
  Tensor& V = values_[static_cast<size_t>(layer)];
  ARK_CHECK(key.dim() == 4 && key.size(0) == K.size(0) && key.size(1) == K.size(1) && key.size(3) == K.size(3) &&
                key.sizes() == value.sizes(),
            "KVCache::update: expected keys and values (", K.size(0), ", ", K.size(1), ", L, ", K.size(3), "), got ",
            key.sizes(), " and ", value.sizes());
  const int64_t L = key.size(2);
  ARK_CHECK(length_ + L <= max_length_, "KVCache::update: ", length_, " cached + ", L, " new positions exceed the ",
            "cache's max_length ", max_length_);
  {
    NoGradGuard no_grad;  // the cache is for inference: a write, not an op of the graph
    Tensor k_dst = K.narrow(2, length_, L), v_dst = V.narrow(2, length_, L);
    k_dst.copy_(key);
    v_dst.copy_(value);
  }
  return {K.narrow(2, 0, length_ + L), V.narrow(2, 0, length_ + L)};
}

void KVCache::advance(int64_t n) {
  ARK_CHECK(n >= 0 && length_ + n <= max_length_, "KVCache::advance: ", length_, " + ", n, " exceeds max_length ",
            max_length_);
  length_ += n;
}

// ---- attention ----

namespace detail {

CausalMask make_causal_mask(const Tensor& attention_mask, int64_t B, int64_t L, int64_t past) {
  const int64_t S = past + L;
  bool padded = false;
  if (attention_mask.defined()) {
    ARK_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == B && attention_mask.size(1) == S,
              "attention_mask: expected (batch_size, past + length) = (", B, ", ", S, "), got ", attention_mask.sizes());
    padded = !(attention_mask != 0).all().item<bool>();
  }
  if (!padded) {
    if (L == 1) return {};
    if (past == 0) return {Tensor(), true};
  }
  const auto opts = TensorOptions().dtype(kBool);
  Tensor keep = ones({L, S}, opts).tril(past);  // key j visible from query i when j <= past + i
  if (!padded) return {keep.view({1, 1, L, S}), false};
  Tensor self_key = keep.logical_xor(ones({L, S}, opts).tril(past - 1));  // j == past + i
  Tensor valid = (attention_mask != 0).view({B, 1, 1, S});
  return {keep.view({1, 1, L, S}).logical_and(valid).logical_or(self_key.view({1, 1, L, S})), false};
}

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, const CausalMask& m, double dropout_p,
                        std::optional<double> scale) {
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2);
  ARK_CHECK(Hkv > 0 && H % Hkv == 0, "causal_attention: ", H, " query heads are not a multiple of ", Hkv,
            " key/value heads");
  const int64_t n_rep = H / Hkv;
  Tensor out;
  if (n_rep == 1) {
    out = scaled_dot_product_attention(q, k, v, m.mask, dropout_p, m.is_causal, scale);  // (B, H, L, D)
  } else {
    // Grouped queries: the n_rep query heads of one key head become n_rep * L rows against it.
    Tensor qg = q.reshape({B, Hkv, n_rep * L, D});
    Tensor mask = m.mask;
    if (m.is_causal) mask = ones({L, S}, TensorOptions().dtype(kBool)).tril(S - L).view({1, 1, L, S});
    if (mask.defined())
      mask = mask.unsqueeze(2).expand({mask.size(0), 1, n_rep, L, S}).reshape({mask.size(0), 1, n_rep * L, S});
    out = scaled_dot_product_attention(qg, k, v, mask, dropout_p, false, scale).view({B, H, L, D});
  }
  return out.transpose(1, 2).reshape({B, L, H * D});
}

Tensor default_position_ids(int64_t B, int64_t L, int64_t past) {
  return arange(past, past + L, TensorOptions().dtype(kLong)).unsqueeze(0).expand({B, L});
}

Tensor pool_last_non_pad(const Tensor& logits, const Tensor& input_ids, int64_t pad_token_id) {
  ARK_CHECK(logits.dim() == 3 && input_ids.dim() == 2 && logits.size(0) == input_ids.size(0) &&
                logits.size(1) == input_ids.size(1),
            "sequence classification: logits ", logits.sizes(), " do not fit input_ids ", input_ids.sizes());
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  Tensor index;
  if (pad_token_id < 0) {
    ARK_CHECK(B == 1, "sequence classification: batches of more than one sequence need a pad_token_id in the "
              "config, to find each row's last token");
    index = full({B}, T - 1, TensorOptions().dtype(kLong));
  } else {
    Tensor non_pad = (input_ids != pad_token_id).to(kLong);
    index = (arange(T, TensorOptions().dtype(kLong)) * non_pad).argmax(-1);  // the last non-pad position
  }
  // (B, 1, C) rows gathered along T: differentiable with respect to logits.
  Tensor idx = index.view({B, 1, 1}).expand({B, 1, logits.size(2)});
  return logits.gather(1, idx).squeeze(1);
}

std::vector<int64_t> config_token_ids(const nlohmann::json& config, const std::string& key,
                                      std::vector<int64_t> fallback) {
  ARK_CHECK(config.is_object(), "config: expected a JSON object");
  auto it = config.find(key);
  if (it == config.end()) return fallback;
  if (it->is_null()) return {};
  if (it->is_array()) {
    std::vector<int64_t> ids;
    for (const auto& v : *it) {
      ARK_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, "config: \"", key,
                "\" must be a token id or a list of token ids, got ", it->dump());
      ids.push_back(v.get<int64_t>());
    }
    return ids;
  }
  return {hf::config_int(config, key, std::nullopt, 0)};
}

int64_t config_num_labels(const nlohmann::json& config, int64_t fallback) {
  int64_t n = fallback;
  if (auto it = config.find("id2label"); it != config.end() && it->is_object() && !it->empty())
    n = static_cast<int64_t>(it->size());
  return hf::config_int(config, "num_labels", n, 1);
}

}  // namespace detail

// ---- logits processors ----

Tensor apply_repetition_penalty(const Tensor& scores, const Tensor& ids, double penalty, const Tensor& valid) {
  ARK_CHECK(penalty > 0, "repetition_penalty must be > 0, got ", penalty);
  ARK_CHECK(scores.dim() == 2 && ids.dim() == 2 && ids.size(0) == scores.size(0),
            "apply_repetition_penalty: expected scores (B, V) and ids (B, T), got ", scores.sizes(), " and ",
            ids.sizes());
  Tensor out = scores.to(kFloat).contiguous().clone();
  if (penalty == 1.0) return out;
  Tensor id = ids.to(kLong).contiguous();
  Tensor ok = valid.defined() ? (valid != 0).contiguous() : Tensor();
  const int64_t B = out.size(0), V = out.size(1), T = id.size(1);
  float* s = out.data_ptr<float>();
  const float* orig = scores.to(kFloat).contiguous().data_ptr<float>();
  const int64_t* t = id.data_ptr<int64_t>();
  const bool* m = ok.defined() ? ok.data_ptr<bool>() : nullptr;
  const auto p = static_cast<float>(penalty);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < T; ++j) {
      if (m && !m[b * T + j]) continue;
      const int64_t tok = t[b * T + j];
      ARK_CHECK(tok >= 0 && tok < V, "apply_repetition_penalty: token id ", tok, " out of range [0, ", V, ")");
      const float x = orig[b * V + tok];  // the original score: a repeated id is penalised once
      s[b * V + tok] = x < 0 ? x * p : x / p;
    }
  return out;
}

Tensor apply_top_k(const Tensor& scores, int64_t k) {
  if (k <= 0 || k >= scores.size(-1)) return scores;
  Tensor kth = std::get<0>(scores.topk(k, -1)).narrow(-1, k - 1, 1);  // (B, 1)
  return scores.masked_fill(scores < kth, -INFINITY);
}

Tensor apply_top_p(const Tensor& scores, double p) {
  ARK_CHECK(p >= 0 && p <= 1, "top_p must be in [0, 1], got ", p);
  if (p >= 1.0) return scores;
  auto [sorted, indices] = scores.sort(-1, /*descending=*/false);
  Tensor cum = softmax(sorted, -1).cumsum(-1);
  Tensor remove_sorted = cum <= (1.0 - p);
  const int64_t V = scores.size(-1);
  remove_sorted.narrow(-1, V - 1, 1).fill_(false);  // always keep the most likely token
  Tensor remove = remove_sorted.scatter(-1, indices, remove_sorted);
  return scores.masked_fill(remove, -INFINITY);
}

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
    case FinishReason::kStopString: return "stop";
    case FinishReason::kContext: return "context";
  }
  return "?";
}

// ---- generate ----

GenerationResult generate(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask,
                          const GenerationConfig& cfg, const TokenCallback& on_token) {
  ARK_CHECK(input_ids.dim() == 2 && input_ids.size(0) > 0 && input_ids.size(1) > 0,
            "generate: expected input_ids (batch_size, prompt_length) with a non-empty prompt, got ",
            input_ids.sizes());
  ARK_CHECK(input_ids.dtype() == kLong || input_ids.dtype() == kInt, "generate: input_ids must be integers, got ",
            input_ids.dtype());
  ARK_CHECK(cfg.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0, got ", cfg.max_new_tokens);
  ARK_CHECK(cfg.temperature >= 0 && std::isfinite(cfg.temperature), "generate: temperature must be >= 0, got ",
            cfg.temperature);
  ARK_CHECK(cfg.top_k >= 0, "generate: top_k must be >= 0, got ", cfg.top_k);
  ARK_CHECK(cfg.top_p > 0 && cfg.top_p <= 1, "generate: top_p must be in (0, 1], got ", cfg.top_p);
  ARK_CHECK(cfg.repetition_penalty > 0 && std::isfinite(cfg.repetition_penalty),
            "generate: repetition_penalty must be > 0, got ", cfg.repetition_penalty);
  ARK_CHECK(cfg.stop_strings.empty() || cfg.decode, "generate: stop_strings need a decode function");
  const int64_t B = input_ids.size(0), S = input_ids.size(1), V = model.vocab_size();
  const int64_t context = model.context_length();
  ARK_CHECK(S < context, "generate: the prompt has ", S, " tokens (padding included) but the model's context is ",
            context, " tokens, which leaves no room for a new token; shorten the prompt");
  Tensor ids = input_ids.to(kLong).contiguous();
  ARK_CHECK(ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < V, "generate: token ids must be in [0, ", V,
            ")");
  const std::vector<int64_t> eos = cfg.eos_token_ids.value_or(model.eos_token_ids);
  int64_t pad = cfg.pad_token_id >= 0 ? cfg.pad_token_id
                : model.pad_token_id >= 0 ? model.pad_token_id
                : !eos.empty() ? eos[0] : 0;

  const int64_t total = std::min(S + cfg.max_new_tokens, context);
  // Token ids and the padding mask of the whole run, filled as tokens come.
  Tensor seq = full({B, total}, pad, TensorOptions().dtype(kLong));
  Tensor mask = ones({B, total}, TensorOptions().dtype(kLong));
  seq.narrow(1, 0, S).copy_(ids);
  bool padded = false;
  if (attention_mask.defined()) {
    ARK_CHECK(attention_mask.sizes() == ids.sizes(), "generate: attention_mask ", attention_mask.sizes(),
              " does not match input_ids ", ids.sizes());
    mask.narrow(1, 0, S).copy_((attention_mask != 0).to(kLong));
    padded = !(attention_mask != 0).all().item<bool>();
    ARK_CHECK((mask.narrow(1, 0, S).sum(-1) > 0).all().item<bool>(), "generate: a row of attention_mask is all padding");
  }
  // Positions count real tokens only (HF: cumsum(mask) - 1, 1 on padding); the columns of new
  // tokens are real, so their positions are known now.
  Tensor positions = (mask.cumsum(1) - 1).masked_fill(mask == 0, 1);

  Generator gen(cfg.seed.value_or(0));
  Generator* rng = cfg.seed ? &gen : nullptr;
  // Eval mode without gradients for the run; the caller's mode comes back however it ends.
  struct ModeGuard {
    nn::Module& m;
    bool training;
    ~ModeGuard() { m.train(training); }
  } mode_guard{model, model.is_training()};
  model.eval();
  NoGradGuard no_grad;

  GenerationResult result;
  result.tokens.assign(static_cast<size_t>(B), {});
  result.finish_reasons.assign(static_cast<size_t>(B), FinishReason::kLength);
  std::vector<bool> finished(static_cast<size_t>(B), false);
  KVCache cache;
  if (cfg.use_cache) cache = model.make_cache(B, total);

  int64_t len = S;  // positions of seq filled so far
  for (int64_t step = 0; step < cfg.max_new_tokens && len < total; ++step) {
    Tensor hidden;
    const Tensor step_mask = padded ? mask.narrow(1, 0, len) : Tensor();
    if (cfg.use_cache) {
      const int64_t past = cache.length();
      hidden = model.forward_hidden(seq.narrow(1, past, len - past), &cache, step_mask,
                                    positions.narrow(1, past, len - past));
    } else {
      hidden = model.forward_hidden(seq.narrow(1, 0, len), nullptr, step_mask, positions.narrow(1, 0, len));
    }
    Tensor scores = model.logits(hidden.select(1, hidden.size(1) - 1)).to(kFloat);  // (B, V)
    if (cfg.repetition_penalty != 1.0)
      scores = apply_repetition_penalty(scores, seq.narrow(1, 0, len), cfg.repetition_penalty, mask.narrow(1, 0, len));
    Tensor next;
    if (cfg.temperature == 0) {
      next = scores.argmax(-1);
    } else {
      scores = apply_top_p(apply_top_k(scores / cfg.temperature, cfg.top_k), cfg.top_p);
      next = multinomial(softmax(scores, -1), 1, false, rng).squeeze(1);
    }
    next = next.contiguous();
    const int64_t* nt = next.data_ptr<int64_t>();
    int64_t* sp = seq.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      const auto ub = static_cast<size_t>(b);
      if (finished[ub]) continue;  // keeps the pad already in seq
      const int64_t tok = nt[b];
      sp[b * total + len] = tok;
      result.tokens[ub].push_back(tok);
      if (on_token) on_token(b, tok);
      if (std::find(eos.begin(), eos.end(), tok) != eos.end()) {
        finished[ub] = true;
        result.finish_reasons[ub] = FinishReason::kEos;
      } else if (!cfg.stop_strings.empty()) {
        const std::string text = cfg.decode(result.tokens[ub]);
        for (const auto& stop : cfg.stop_strings)
          if (!stop.empty() && text.find(stop) != std::string::npos) {
            finished[ub] = true;
            result.finish_reasons[ub] = FinishReason::kStopString;
            break;
          }
      }
    }
    ++len;
    if (std::all_of(finished.begin(), finished.end(), [](bool f) { return f; })) break;
  }
  if (len == total && total < S + cfg.max_new_tokens)
    for (size_t b = 0; b < finished.size(); ++b)
      if (!finished[b]) result.finish_reasons[b] = FinishReason::kContext;
  result.sequences = seq.narrow(1, 0, len).contiguous();
  return result;
}

GenerationResult generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationConfig& config, const TokenCallback& on_token) {
  ARK_CHECK(!prompts.empty(), "generate: no prompts");
  size_t S = 0;
  for (const auto& p : prompts) {
    ARK_CHECK(!p.empty(), "generate: an empty prompt (start it with the BOS token)");
    S = std::max(S, p.size());
  }
  const auto B = static_cast<int64_t>(prompts.size());
  const int64_t pad = config.pad_token_id >= 0 ? config.pad_token_id
                      : model.pad_token_id >= 0 ? model.pad_token_id
                      : !model.eos_token_ids.empty() ? model.eos_token_ids[0] : 0;
  Tensor ids = full({B, static_cast<int64_t>(S)}, pad, TensorOptions().dtype(kLong));
  Tensor mask = zeros({B, static_cast<int64_t>(S)}, TensorOptions().dtype(kLong));
  int64_t* ip = ids.data_ptr<int64_t>();
  int64_t* mp = mask.data_ptr<int64_t>();
  for (size_t b = 0; b < prompts.size(); ++b) {
    const size_t off = S - prompts[b].size();  // left padding
    for (size_t j = 0; j < prompts[b].size(); ++j) {
      ip[b * S + off + j] = prompts[b][j];
      mp[b * S + off + j] = 1;
    }
  }
  return generate(model, ids, mask, config, on_token);
}

}  // namespace ark::models
