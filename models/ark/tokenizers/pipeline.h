// The Hugging Face tokenizers pipeline (normalizer -> pre-tokenizer -> model -> decoder) behind
// the WordPiece, GPT-2 BPE and tokenizer.json loaders: a direct vocab.txt or vocab.json load
// builds the same pipeline a tokenizer.json describing it would. Internal to the loaders; users
// hold a Tokenizer.
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "ark/tokenizers/tokenizer.h"

namespace ark::tokenizers::detail {

using Normalizer = std::function<void(std::string&)>;
/// Splits every piece further (in place); the flag says whether the text starts the sequence.
using PreTokenizer = std::function<void(std::vector<std::string>&, bool)>;
/// Rewrites the token strings; decode joins what is left.
using Decoder = std::function<void(std::vector<std::string>&)>;

/// Hash of strings that also looks up string_views (no temporary std::string per lookup).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

/// token <-> id, with holes allowed (ids need not be dense).
struct Vocab {
  StringMap<int64_t> ids;
  std::vector<std::string> tokens;
  std::vector<char> used;
  std::optional<int64_t> find(std::string_view t) const {
    auto it = ids.find(t);
    return it == ids.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }
  /// Adds token at id; a duplicate token or id is an error naming `where`.
  void add(const std::string& token, int64_t id, const std::string& where);
};

class Model {
 public:
  virtual ~Model() = default;
  virtual void encode(std::string_view piece, std::vector<int64_t>& out) const = 0;
  const Vocab& vocab() const { return vocab_; }
  Vocab& vocab() { return vocab_; }

 protected:
  Vocab vocab_;
};

class WordPieceModel : public Model {
 public:
  int64_t unk = 0;
  std::string prefix = "##";
  int64_t max_input_chars_per_word = 100;
  void encode(std::string_view piece, std::vector<int64_t>& out) const override;
};

class BpeModel : public Model {
 public:
  std::optional<int64_t> unk;
  bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
  std::string continuing_subword_prefix, end_of_word_suffix;
  /// Registers merge number `rank`; the pair and its result must be in the vocabulary.
  void add_merge(const std::string& a, const std::string& b, int64_t rank, const std::string& where);
  void encode(std::string_view piece, std::vector<int64_t>& out) const override;

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int64_t, 256> byte_ids_{};  // <0xXX> tokens for byte_fallback (-1: absent)
  bool byte_ids_ready_ = false;
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int64_t>> cache_;
  void merge_word(std::vector<int64_t>& symbols) const;
};

class UnigramModel : public Model {
 public:
  std::vector<double> scores;
  int64_t unk = 0;
  bool byte_fallback = false;
  void finish();  // after the vocabulary is complete
  void encode(std::string_view piece, std::vector<int64_t>& out) const override;

 private:
  size_t max_piece_bytes_ = 1;
  double min_score_ = 0;
};

/// The GPT-2 pre-tokenisation pattern, written out by hand:
/// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// Calls emit(begin, end) with byte offsets of each match in order; text is valid UTF-8.
void split_gpt2(std::string_view text, const std::function<void(size_t, size_t)>& emit);
/// GPT-2's bytes_to_unicode: byte -> the UTF-8 of its printable stand-in.
const std::array<std::string, 256>& byte_to_unicode();

struct BasicTokenizerOptions {
  bool clean_text = true, handle_chinese_chars = true, lowercase = true;
  std::optional<bool> strip_accents;
};
Normalizer bert_normalizer(BasicTokenizerOptions o);
/// BertPreTokenizer: split on whitespace, then every punctuation character on its own.
void bert_pre_tokenize(std::vector<std::string>& pieces, bool first = true);
/// ByteLevel pre-tokenizer: (optional prefix space,) GPT-2 pattern, bytes -> stand-ins.
PreTokenizer byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);
void byte_level_decode(std::vector<std::string>& tokens);
Decoder wordpiece_decoder(std::string prefix, bool cleanup);

/// The bytes of a file; a missing or unreadable file is an ark::Error naming it and `what` it is.
std::string read_file(const std::string& path, const char* what);
/// Parses a JSON file; syntax errors, invalid UTF-8 and duplicate object keys are errors naming it.
nlohmann::json parse_json_file(const std::string& path, const char* what);
/// The lines of a text file (\n or \r\n), each checked to be valid UTF-8; the empty piece after a
/// final newline is dropped.
std::vector<std::string> read_lines(const std::string& path, const char* what);

class PipelineTokenizer : public Tokenizer {
 public:
  PipelineTokenizer(std::string kind, std::string source) : Tokenizer(std::move(kind), std::move(source)) {}
  std::vector<Normalizer> normalizers;
  std::vector<PreTokenizer> pre_tokenizers;
  std::unique_ptr<Model> model;
  std::vector<Decoder> decoders;

 protected:
  void encode_text(std::string_view text, bool first, std::vector<int64_t>& out) const override;
  std::string decode_ids(std::span<const int64_t> ids) const override;
  int64_t model_vocab_size() const override { return static_cast<int64_t>(model->vocab().tokens.size()); }
  std::string model_id_to_token(int64_t id) const override { return model->vocab().tokens[static_cast<size_t>(id)]; }
  std::optional<int64_t> model_token_to_id(std::string_view t) const override { return model->vocab().find(t); }
  bool decode_added_through_model() const override { return true; }
};

}  // namespace ark::tokenizers::detail
