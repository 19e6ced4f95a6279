// ark::tokenizers: the text side of the language models. One interface (Tokenizer) over
// WordPiece (BERT's vocab.txt), GPT-2 byte-level BPE (vocab.json + merges.txt or encoder.json +
// vocab.bpe), SentencePiece (.model, through libsentencepiece) and Hugging Face tokenizer.json;
// from_folder() is AutoTokenizer for a Hugging Face model folder.
//
// Encoding follows the Hugging Face tokenizers: special/added tokens in the text are matched
// first (unless split_special_tokens), the rest goes through the model, then the post-processor
// template adds [CLS]/[SEP], BOS/EOS; pairs get token type ids; truncation (longest_first,
// only_first, only_second) and padding (longest, max_length; right or left) as in
// PreTrainedTokenizerBase. Text that is not valid UTF-8 is decoded with replacement (each
// maximal ill-formed subsequence becomes U+FFFD) before anything else: it never throws.
// Every file problem is an ark::Error naming the file.
//
// Left out: offsets mappings; BPE dropout; NFC/NFKC/NFKD and SentencePiece "Precompiled"
// normalizers in tokenizer.json (T5/ALBERT fast tokenizers: load their .model instead); Split
// regexes other than GPT-2's (Llama-3/GPT-4 patterns); "normalized" added tokens are matched on the
// raw text; lower-casing is per code point (no final sigma); BertTokenizer's NFC step of
// transformers >= 4.37 (BertTokenizerFast has none); GPT2Tokenizer's add_prefix_space.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ark/core/tensor.h"

namespace ark::tokenizers {

/// One encoded sequence (or pair), as BatchEncoding's rows in transformers.
struct Encoding {
  std::vector<int64_t> ids;
  std::vector<int64_t> token_type_ids;
  std::vector<int64_t> attention_mask;
  std::vector<int64_t> special_tokens_mask;  // 1 where the post-processor or padding added the token
  size_t size() const { return ids.size(); }
};

/// Encodings of a batch; padded batches convert to (B, T) int64 tensors.
struct BatchEncoding {
  std::vector<Encoding> encodings;
  Tensor input_ids() const;
  Tensor attention_mask() const;
  Tensor token_type_ids() const;
};

enum class Padding { kNone, kLongest, kMaxLength };
enum class Truncation { kNone, kLongestFirst, kOnlyFirst, kOnlySecond };

struct EncodeOptions {
  bool add_special_tokens = true;
  Truncation truncation = Truncation::kNone;
  Padding padding = Padding::kNone;
  std::optional<int64_t> max_length;  // for truncation and Padding::kMaxLength
  bool pad_left = false;              // padding_side="left" (batched decoder prompts)
  bool truncate_left = false;         // truncation_side="left"
};

/// A post-processor template (TemplateProcessing): special tokens and the sequences A/B, each
/// with its token type. BERT: single [CLS]:0 A:0 [SEP]:0, pair ... B:1 [SEP]:1.
struct TemplatePiece {
  int sequence = -1;            // 0 = A, 1 = B, -1 = the special tokens in `ids`
  std::vector<int64_t> ids;
  int64_t type_id = 0;
};
struct PostProcessor {
  std::vector<TemplatePiece> single, pair;
  /// [CLS] A [SEP] (B [SEP]).
  static PostProcessor bert(int64_t cls, int64_t sep);
  /// BOS A EOS (BOS B EOS), each optional (LlamaTokenizer's add_bos_token / add_eos_token).
  static PostProcessor bos_eos(std::optional<int64_t> bos, std::optional<int64_t> eos);
  int64_t num_special(bool pair) const;
};

/// A token matched in the text before the model sees it (HF AddedToken).
struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = true;
  bool lstrip = false, rstrip = false, single_word = false;
  bool normalized = false;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// Token ids of `text`; with add_special_tokens the post-processor's BOS/CLS/SEP/EOS.
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const;
  /// One sequence or a pair, truncated and padded per `options`.
  Encoding encode_plus(std::string_view text, std::optional<std::string_view> pair = std::nullopt,
                       const EncodeOptions& options = {}) const;
  BatchEncoding encode_batch(const std::vector<std::string>& texts, const EncodeOptions& options = {}) const;
  BatchEncoding encode_batch_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                             const EncodeOptions& options = {}) const;
  /// The token strings of `text` (without special tokens added by the post-processor).
  std::vector<std::string> tokenize(std::string_view text) const;

  /// Text of `ids`; ids outside the vocabulary are an ark::Error.
  std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = false) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const {
    return decode(std::span<const int64_t>(ids), skip_special_tokens);
  }

  /// The vocabulary's string for `id` (e.g. "Ġworld", "##ing", "▁Hello", "<0x0A>").
  std::string id_to_token(int64_t id) const;
  std::optional<int64_t> token_to_id(std::string_view token) const;
  int64_t vocab_size() const;

  std::optional<int64_t> bos_id() const { return bos_; }
  std::optional<int64_t> eos_id() const { return eos_; }
  std::optional<int64_t> pad_id() const { return pad_; }
  std::optional<int64_t> unk_id() const { return unk_; }
  std::optional<int64_t> cls_id() const { return cls_; }
  std::optional<int64_t> sep_id() const { return sep_; }
  std::optional<int64_t> mask_id() const { return mask_; }

  /// "wordpiece", "gpt2-bpe", "sentencepiece-bpe", "tokenizer.json/BPE", ...
  const std::string& kind() const { return kind_; }
  /// Where it was loaded from.
  const std::string& source() const { return source_; }

  // Configuration, set by the loaders from tokenizer_config.json / special_tokens_map.json.
  void set_bos(std::optional<int64_t> id) { bos_ = id; }
  void set_eos(std::optional<int64_t> id) { eos_ = id; }
  void set_pad(std::optional<int64_t> id) { pad_ = id; }
  void set_unk(std::optional<int64_t> id) { unk_ = id; }
  void set_cls(std::optional<int64_t> id) { cls_ = id; }
  void set_sep(std::optional<int64_t> id) { sep_ = id; }
  void set_mask(std::optional<int64_t> id) { mask_ = id; }
  void set_post_processor(PostProcessor p) { post_ = std::move(p); }
  const PostProcessor& post_processor() const { return post_; }
  /// Registers a token matched in the text before the model (ids beyond the model's vocabulary
  /// extend it). A token already present with the same content is updated.
  void add_token(AddedToken token);
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  /// Treat special tokens in the text as plain text (transformers' split_special_tokens).
  bool split_special_tokens = false;
  /// transformers' clean_up_tokenization_spaces (" ." -> "." etc.) in decode.
  bool clean_up_tokenization_spaces = false;

 protected:
  Tokenizer(std::string kind, std::string source) : kind_(std::move(kind)), source_(std::move(source)) {}

  /// The model's ids for a piece of valid UTF-8 text free of added tokens (normalizer,
  /// pre-tokenizer and model); `first`: the piece starts the sequence (no added token before it).
  virtual void encode_text(std::string_view text, bool first, std::vector<int64_t>& out) const = 0;
  /// Text of model ids (added tokens are handled by the caller, see decode_tokens).
  virtual std::string decode_ids(std::span<const int64_t> ids) const = 0;
  virtual int64_t model_vocab_size() const = 0;
  virtual std::string model_id_to_token(int64_t id) const = 0;
  virtual std::optional<int64_t> model_token_to_id(std::string_view token) const = 0;
  /// Whether decode passes added tokens through decode_ids as well (tokenizer.json decoders that
  /// see every token) or joins their content as is.
  virtual bool decode_added_through_model() const { return false; }

 private:
  std::vector<int64_t> encode_sequence(std::string_view text) const;
  Encoding build(std::vector<int64_t> a, std::optional<std::vector<int64_t>> b, const EncodeOptions& o) const;
  void pad(std::vector<Encoding>& batch, const EncodeOptions& o) const;
  const AddedToken* added_by_id(int64_t id) const;

  std::string kind_, source_;
  std::optional<int64_t> bos_, eos_, pad_, unk_, cls_, sep_, mask_;
  PostProcessor post_;
  std::vector<AddedToken> added_;
  std::unordered_map<int64_t, size_t> added_index_;
};

/// AutoTokenizer: the tokenizer of a Hugging Face model folder, by what it holds, in this order:
/// tokenizer.json; tokenizer.model / spiece.model / sentencepiece.bpe.model (SentencePiece);
/// vocab.json + merges.txt or encoder.json + vocab.bpe (GPT-2 BPE); vocab.txt (WordPiece).
/// tokenizer_config.json and special_tokens_map.json set do_lower_case, the special tokens,
/// add_bos_token / add_eos_token, added tokens and clean_up_tokenization_spaces.
std::unique_ptr<Tokenizer> from_folder(const std::string& path);
/// One file: tokenizer.json, a SentencePiece .model, vocab.txt (WordPiece, lower-cased as
/// bert-base-uncased), vocab.json / encoder.json (with merges.txt / vocab.bpe beside it).
/// A folder is passed to from_folder.
std::unique_ptr<Tokenizer> from_file(const std::string& path);

}  // namespace ark::tokenizers

namespace ark::tokenizers {

/// BertTokenizer's options (transformers' names); strip_accents unset follows do_lower_case.
struct WordPieceOptions {
  bool do_lower_case = true;
  std::optional<bool> strip_accents;
  bool tokenize_chinese_chars = true;
  std::string unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]", pad_token = "[PAD]",
              mask_token = "[MASK]";
  std::string continuing_subword_prefix = "##";
  int64_t max_input_chars_per_word = 100;
};
/// BERT's vocab.txt: one token per line, the line number is the id. Duplicate tokens, invalid
/// UTF-8 and a missing unk token are errors naming the file and line.
std::unique_ptr<Tokenizer> load_wordpiece(const std::string& vocab_txt, const WordPieceOptions& options = {});

/// GPT-2 byte-level BPE: vocab.json / encoder.json (token -> id) and merges.txt / vocab.bpe
/// ("#version" line, then one "a b" merge per line, rank = order). `<|endoftext|>` (when in the
/// vocabulary) is BOS, EOS and a special added token, as GPT2Tokenizer has it.
std::unique_ptr<Tokenizer> load_gpt2_bpe(const std::string& vocab_json, const std::string& merges_txt);

/// Hugging Face tokenizers' tokenizer.json. Supported (anything else is an error naming it):
///   models: BPE (byte_fallback, fuse_unk, ignore_merges, continuing_subword_prefix,
///     end_of_word_suffix; no dropout), WordPiece, Unigram (Viterbi, byte_fallback);
///   normalizers: BertNormalizer, Lowercase, NFD followed by StripAccents, Strip, Prepend,
///     Replace (string patterns), Sequence;
///   pre_tokenizers: ByteLevel (GPT-2 pattern), BertPreTokenizer, Whitespace, WhitespaceSplit,
///     Metaspace, Punctuation, Digits, Split (string patterns), Sequence;
///   post_processors: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence;
///   decoders: ByteLevel, WordPiece, Metaspace, BPEDecoder, Replace, ByteFallback, Fuse, Strip,
///     Sequence; added_tokens.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path);

/// SentencePiece options (LlamaTokenizer / AlbertTokenizer).
struct SentencePieceOptions {
  std::optional<bool> add_bos;  // unset: true when the model defines BOS and no [CLS] (LLaMA)
  bool add_eos = false;
  /// AlbertTokenizer's preprocessing: collapse whitespace, `` '' -> ", lower-case; unset: on
  /// for BERT-style models (with [CLS] and [SEP] pieces, as ALBERT's), off otherwise.
  std::optional<bool> do_lower_case;
  std::optional<bool> keep_accents;  // unset: strip accents exactly when lower-casing
};
std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_path, const SentencePieceOptions& options = {});

/// Trainer settings beyond the common four (spm_train's names).
struct SentencePieceTrainOptions {
  bool byte_fallback = false;                       // unknown characters as <0xXX> pieces
  std::string normalization_rule_name = "nmt_nfkc";  // "identity" keeps the text as is
  bool remove_extra_whitespaces = true;             // false (with identity): exact round trips
  double character_coverage = 0.9995;
  std::vector<std::string> user_defined_symbols;
};
/// Trains a SentencePiece model on text files (one sentence per line) and writes
/// `output_prefix`.model and .vocab. model_type: "unigram", "bpe", "char" or "word". Training is
/// deterministic for given inputs (one thread, every sentence, no shuffling).
void train_sentencepiece(const std::vector<std::string>& input_files, int64_t vocab_size, const std::string& model_type,
                         const std::string& output_prefix, const SentencePieceTrainOptions& options = {});

}  // namespace ark::tokenizers
