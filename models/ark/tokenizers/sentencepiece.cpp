// SentencePiece models (.model protobufs: BPE and unigram, byte fallback) through Debian's
// libsentencepiece, kept behind this file (its headers stay out of ark's public ones), and
// training new models with its trainer. BOS/EOS are added by ark's post-processor template,
// like LlamaTokenizer's add_bos_token / add_eos_token; AlbertTokenizer's preprocessing (collapse
// whitespace, `` and '' to ", lower-case, optional accent stripping) is the do_lower_case option.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "ark/core/error.h"
#include "ark/tokenizers/pipeline.h"
#include "ark/tokenizers/unicode.h"

namespace ark::tokenizers {
namespace {

class SentencePieceTokenizer : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::string& path, const SentencePieceOptions& o)
      : Tokenizer("sentencepiece", path), options_(o) {
    const std::string bytes = detail::read_file(path, "SentencePiece model");
    ARK_CHECK(!bytes.empty(), "SentencePiece model ", path, ": the file is empty");
    const auto status = sp_.LoadFromSerializedProto(bytes);
    ARK_CHECK(status.ok(), "SentencePiece model ", path, ": cannot load: ", status.ToString());
    ARK_CHECK(sp_.GetPieceSize() > 0, "SentencePiece model ", path, ": no pieces");
    auto id_of = [&](const char* piece) -> std::optional<int64_t> {
      const int id = sp_.PieceToId(piece);
      return sp_.IdToPiece(id) == piece ? std::optional<int64_t>(id) : std::nullopt;
    };
    auto valid = [&](int id) { return id >= 0 && id < sp_.GetPieceSize() ? std::optional<int64_t>(id) : std::nullopt; };
    set_unk(valid(sp_.unk_id()));
    set_bos(valid(sp_.bos_id()));
    set_eos(valid(sp_.eos_id()));
    set_pad(valid(sp_.pad_id()));
    set_cls(id_of("[CLS]"));
    set_sep(id_of("[SEP]"));
    set_mask(id_of("[MASK]"));
    if (!pad_id()) set_pad(id_of("<pad>"));
    for (const auto& id : {cls_id(), sep_id(), mask_id()})
      if (id) add_token({sp_.IdToPiece(static_cast<int>(*id)), *id, true});
    lower_case_ = o.do_lower_case.value_or(cls_id() && sep_id());
    keep_accents_ = o.keep_accents.value_or(!lower_case_);
    if (cls_id() && sep_id()) {  // ALBERT: [CLS] A [SEP] B [SEP]
      set_post_processor(PostProcessor::bert(*cls_id(), *sep_id()));
    } else {
      const bool add_bos = o.add_bos.value_or(bos_id().has_value());
      set_post_processor(PostProcessor::bos_eos(add_bos ? bos_id() : std::nullopt, o.add_eos ? eos_id() : std::nullopt));
    }
  }

 protected:
  void encode_text(std::string_view text, bool, std::vector<int64_t>& out) const override {
    std::vector<int> ids;
    const auto status = lower_case_ ? sp_.Encode(preprocess(text), &ids) : sp_.Encode(text, &ids);
    ARK_CHECK(status.ok(), "SentencePiece ", source(), ": encode failed: ", status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }
  std::string decode_ids(std::span<const int64_t> ids) const override {
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      std::string piece;
      const auto status = sp_.Decode(run, &piece);
      ARK_CHECK(status.ok(), "SentencePiece ", source(), ": decode failed: ", status.ToString());
      out += piece;
      run.clear();
    };
    for (int64_t id : ids) {
      if (sp_.IsControl(static_cast<int>(id))) {  // <s>, </s>: their text, as transformers shows them
        flush();
        out += sp_.IdToPiece(static_cast<int>(id));
      } else {
        run.push_back(static_cast<int>(id));
      }
    }
    flush();
    return out;
  }
  int64_t model_vocab_size() const override { return sp_.GetPieceSize(); }
  std::string model_id_to_token(int64_t id) const override { return sp_.IdToPiece(static_cast<int>(id)); }
  std::optional<int64_t> model_token_to_id(std::string_view t) const override {
    const int id = sp_.PieceToId(std::string(t));
    return sp_.IdToPiece(id) == t ? std::optional<int64_t>(id) : std::nullopt;
  }

 private:
  // AlbertTokenizer.preprocess_text: " ".join(text.strip().split()), `` and '' -> ", accents
  // (unless keep_accents), lower-case.
  std::string preprocess(std::string_view text) const {
    const std::u32string in = unicode::decode_utf8(text);
    std::u32string a;
    bool space = false;
    for (char32_t c : in) {
      if (unicode::is_white_space(c) || (c >= 0x1c && c <= 0x1f)) {
        space = !a.empty();
        continue;
      }
      if (space) a.push_back(' ');
      space = false;
      a.push_back(c);
    }
    std::u32string b;
    for (size_t i = 0; i < a.size(); ++i) {
      if (i + 1 < a.size() && ((a[i] == '`' && a[i + 1] == '`') || (a[i] == '\'' && a[i + 1] == '\''))) {
        b.push_back('"');
        ++i;
      } else if (!keep_accents_) {
        unicode::append_stripped(b, a[i]);
      } else {
        b.push_back(a[i]);
      }
    }
    std::u32string c;
    for (char32_t ch : b) unicode::append_lower(c, ch);
    return unicode::to_utf8(c);
  }

  sentencepiece::SentencePieceProcessor sp_;
  SentencePieceOptions options_;
  bool lower_case_ = false, keep_accents_ = true;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_path, const SentencePieceOptions& options) {
  return std::make_unique<SentencePieceTokenizer>(model_path, options);
}

void train_sentencepiece(const std::vector<std::string>& input_files, int64_t vocab_size, const std::string& model_type,
                         const std::string& output_prefix, const SentencePieceTrainOptions& options) {
  ARK_CHECK(!input_files.empty(), "train_sentencepiece: no input files");
  ARK_CHECK(vocab_size > 0, "train_sentencepiece: vocab_size must be positive, got ", vocab_size);
  ARK_CHECK(model_type == "unigram" || model_type == "bpe" || model_type == "char" || model_type == "word",
            "train_sentencepiece: model_type must be unigram, bpe, char or word, got '", model_type, "'");
  std::string inputs;
  for (const auto& f : input_files) {
    detail::read_file(f, "training text");  // a clear error for a missing file
    ARK_CHECK(f.find(',') == std::string::npos, "train_sentencepiece: input path '", f, "' contains a comma");
    inputs += (inputs.empty() ? "" : ",") + f;
  }
  std::unordered_map<std::string, std::string> args = {
      {"input", inputs},
      {"model_prefix", output_prefix},
      {"vocab_size", std::to_string(vocab_size)},
      {"model_type", model_type},
      {"num_threads", "1"},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"normalization_rule_name", options.normalization_rule_name},
      {"remove_extra_whitespaces", options.remove_extra_whitespaces ? "true" : "false"},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"minloglevel", "2"},
  };
  std::string symbols;
  for (const auto& u : options.user_defined_symbols) {
    ARK_CHECK(!u.empty() && u.find(',') == std::string::npos, "train_sentencepiece: bad user-defined symbol '", u, "'");
    symbols += (symbols.empty() ? "" : ",") + u;
  }
  if (!symbols.empty()) args["user_defined_symbols"] = symbols;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  ARK_CHECK(status.ok(), "train_sentencepiece: ", status.ToString());
}

}  // namespace ark::tokenizers
