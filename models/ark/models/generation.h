// Text generation for decoder-only models: the CausalLM interface GPT-2 and the LLaMA family
// implement, the key/value cache they append to, the shared causal attention (with GQA and left
// padding), HF's logits processors and ark::models::generate.
//
// KV cache: one (B, num_kv_heads, max_length, head_dim) key and value buffer per layer, allocated
// once; each forward writes its new positions in place and attends over the valid prefix (a view),
// so decoding never re-concatenates the past.
// Padding: batched prompts are left-padded, with attention_mask (B, past + L) marking real tokens
// (1) and padding (0), and position ids counted over real tokens only (HF's
// prepare_inputs_for_generation), so every row gives what it gives alone.
// Context: a prompt that does not leave room for one new token in the model's context
// (n_positions / max_position_embeddings) is an error (ark::Error), never silently cut; generation
// stops (FinishReason::kContext) when the sequence fills the context.
// Deliberately left out: beam search, speculative decoding, batch rows changing mid-generation.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ark/ark.h"

namespace ark::models {

/// Keys and values of every layer for positions [0, length()), preallocated up to max_length().
class KVCache {
 public:
  KVCache() = default;
  KVCache(int64_t num_layers, int64_t batch_size, int64_t num_kv_heads, int64_t max_length, int64_t head_dim,
          ScalarType dtype = kFloat);
  /// Writes layer `layer`'s new keys and values (B, Hkv, L, D) at positions [length(), length() + L)
  /// and returns views of all valid positions, (B, Hkv, length() + L, D) each.
  std::pair<Tensor, Tensor> update(int64_t layer, const Tensor& key, const Tensor& value);
  /// Marks the L positions written by the last forward as valid (the model calls it once per forward).
  void advance(int64_t n);
  void reset() { length_ = 0; }

  int64_t length() const { return length_; }
  int64_t max_length() const { return max_length_; }
  int64_t batch_size() const { return keys_.empty() ? 0 : keys_[0].size(0); }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  bool defined() const { return !keys_.empty(); }

 private:
  std::vector<Tensor> keys_, values_;
  int64_t length_ = 0, max_length_ = 0;
};

/// A decoder-only language model: GPT2LMHeadModel, LlamaForCausalLM.
class CausalLM : public nn::Module {
 public:
  explicit CausalLM(std::string name) : nn::Module(std::move(name)) {}
  /// input_ids (B, L) int64 -> logits (B, L, vocab_size).
  /// cache: holds the past (its length() positions) and receives this call's keys and values.
  /// attention_mask: (B, past + L), 1 for tokens and 0 for padding; undefined = no padding.
  /// position_ids: (B, L); undefined = past, past + 1, ...
  Tensor forward(const Tensor& input_ids, KVCache* cache = nullptr, const Tensor& attention_mask = {},
                 const Tensor& position_ids = {}) {
    return logits(forward_hidden(input_ids, cache, attention_mask, position_ids));
  }
  /// The same, up to the final norm: (B, L, hidden_size).
  virtual Tensor forward_hidden(const Tensor& input_ids, KVCache* cache = nullptr, const Tensor& attention_mask = {},
                                const Tensor& position_ids = {}) = 0;
  /// The LM head on final hidden states (..., hidden_size) -> (..., vocab_size).
  virtual Tensor logits(const Tensor& hidden) = 0;
  /// An empty cache for `batch_size` rows of up to `max_length` positions, in the weights' dtype.
  virtual KVCache make_cache(int64_t batch_size, int64_t max_length) const = 0;
  /// The longest sequence the position embeddings allow.
  virtual int64_t context_length() const = 0;
  virtual int64_t vocab_size() const = 0;

  /// Special tokens from config.json (-1 / empty: none).
  std::vector<int64_t> eos_token_ids;
  int64_t bos_token_id = -1;
  int64_t pad_token_id = -1;
};

namespace detail {
/// Which keys each query may see, built once per forward: bool (B, 1, L, past + L) where padding
/// or past-L causality needs it, else undefined with is_causal (prefill without padding) or not
/// (one new token without padding).
struct CausalMask {
  Tensor mask;
  bool is_causal = false;
};
/// attention_mask (B, past + L) or undefined. A padding query is allowed its own key, so its row is
/// never fully masked (its output is ignored, but NaN there would leak through 0 * NaN).
CausalMask make_causal_mask(const Tensor& attention_mask, int64_t batch_size, int64_t L, int64_t past);
/// q (B, H, L, D), k and v (B, Hkv, S, D) with H a multiple of Hkv (query head h uses key head
/// h / (H / Hkv), HF's repeat_kv, without copying the keys) -> (B, L, H * D).
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, const CausalMask& mask, double dropout_p,
                        std::optional<double> scale = std::nullopt);
/// position_ids for input_ids (B, L) after `past` positions when the caller gives none.
Tensor default_position_ids(int64_t batch_size, int64_t L, int64_t past);
/// HF's last-non-padding-token pooling for sequence classification: logits (B, T, C) -> (B, C),
/// taking in each row the last position whose token is not pad_token_id (the last position when
/// pad_token_id < 0; then batch_size must be 1, as in HF).
Tensor pool_last_non_pad(const Tensor& logits, const Tensor& input_ids, int64_t pad_token_id);
/// config.json's `key` as one id or a list of ids (eos_token_id may be either); `fallback` when
/// absent, empty when null.
std::vector<int64_t> config_token_ids(const nlohmann::json& config, const std::string& key,
                                      std::vector<int64_t> fallback);
/// num_labels, else the size of id2label, else `fallback` (HF's PretrainedConfig).
int64_t config_num_labels(const nlohmann::json& config, int64_t fallback);
}  // namespace detail

// ---- logits processors (HF's, in generate()'s order: repetition penalty, temperature, top-k, top-p) ----

/// HF's RepetitionPenaltyLogitsProcessor on scores (B, V): every token id present in `ids`
/// (B, T) (where `valid` (B, T), if given, is nonzero: padding is left out) has its score divided
/// by `penalty` when positive, multiplied when negative. Returns a new tensor.
Tensor apply_repetition_penalty(const Tensor& scores, const Tensor& ids, double penalty, const Tensor& valid = {});
/// Keeps the k highest scores per row (ties with the k-th kept), the rest -inf; k <= 0: unchanged.
Tensor apply_top_k(const Tensor& scores, int64_t k);
/// Keeps the smallest set of highest scores whose probability reaches p (at least one), the rest -inf.
Tensor apply_top_p(const Tensor& scores, double p);

enum class FinishReason { kLength, kEos, kStopString, kContext };
const char* to_string(FinishReason reason);

struct GenerationConfig {
  int64_t max_new_tokens = 64;
  double temperature = 0.0;         // 0: greedy (argmax); > 0: sampling from softmax(scores / temperature)
  int64_t top_k = 0;                // sampling only; 0: off
  double top_p = 1.0;               // sampling only; 1: off
  double repetition_penalty = 1.0;  // 1: off (also applies to greedy, as in HF)
  std::optional<uint64_t> seed;     // the sampling stream; unset: ark's default generator
  /// Tokens that end a row (emitted, then the row is finished); unset: the model's eos_token_ids.
  std::optional<std::vector<int64_t>> eos_token_ids;
  /// Text that ends a row once its decoded continuation contains it (needs `decode`).
  std::vector<std::string> stop_strings;
  std::function<std::string(const std::vector<int64_t>&)> decode;
  bool use_cache = true;
  /// What finished rows get in `sequences`; -1: the model's pad, else its first eos, else 0.
  int64_t pad_token_id = -1;
};

struct GenerationResult {
  Tensor sequences;  // (B, prompt + steps): the prompt (with its padding), then tokens; pad after a row ends
  std::vector<std::vector<int64_t>> tokens;  // each row's new tokens (the EOS that ended it included)
  std::vector<FinishReason> finish_reasons;
};

/// Called with (row, token) for each new token of a row still running, as soon as it is chosen.
using TokenCallback = std::function<void(int64_t row, int64_t token)>;

/// Continues input_ids (B, S) (left-padded where attention_mask (B, S) has zeros; undefined: no
/// padding) in eval mode without gradients. Throws ark::Error for bad arguments or a prompt that
/// leaves no room in the model's context.
GenerationResult generate(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask = {},
                          const GenerationConfig& config = {}, const TokenCallback& on_token = {});
/// Prompts of any lengths, left-padded into one batch.
GenerationResult generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationConfig& config = {}, const TokenCallback& on_token = {});

}  // namespace ark::models
