// The direct loaders: BERT's vocab.txt (WordPiece) and GPT-2's vocab.json + merges.txt (or the
// original encoder.json + vocab.bpe), each built as the tokenizers pipeline its Hugging Face
// tokenizer.json would describe; and the file helpers every loader shares.
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "ark/core/error.h"
#include "ark/io/utf8.h"
#include "ark/tokenizers/pipeline.h"

namespace ark::tokenizers {
namespace detail {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  ARK_CHECK(f.good(), "cannot open ", what, " ", path, ": no such file or not readable");
  std::ostringstream s;
  s << f.rdbuf();
  ARK_CHECK(!f.bad(), "cannot read ", what, " ", path);
  return s.str();
}

nlohmann::json parse_json_file(const std::string& path, const char* what) {
  const std::string text = read_file(path, what);
  std::vector<std::unordered_set<std::string>> keys;  // keys seen in each open object
  std::string duplicate;
  auto cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) {
      keys.emplace_back();
    } else if (ev == E::object_end && !keys.empty()) {
      keys.pop_back();
    } else if (ev == E::key && !keys.empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, cb);
  } catch (const nlohmann::json::exception& e) {
    ARK_ERROR(what, " ", path, ": not valid JSON: ", e.what());
  }
  ARK_CHECK(duplicate.empty(), what, " ", path, ": duplicate key '", duplicate, "'");
  return j;
}

std::vector<std::string> read_lines(const std::string& path, const char* what) {
  const std::string text = read_file(path, what);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ARK_CHECK(io::valid_utf8(reinterpret_cast<const unsigned char*>(line.data()), line.size()), what, " ", path,
              " line ", lines.size() + 1, ": not valid UTF-8");
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

}  // namespace detail

using detail::PipelineTokenizer;

std::unique_ptr<Tokenizer> load_wordpiece(const std::string& vocab_txt, const WordPieceOptions& o) {
  auto model = std::make_unique<detail::WordPieceModel>();
  const auto lines = detail::read_lines(vocab_txt, "WordPiece vocabulary");
  ARK_CHECK(!lines.empty(), "WordPiece vocabulary ", vocab_txt, ": the file is empty");
  for (size_t i = 0; i < lines.size(); ++i) {
    ARK_CHECK(!lines[i].empty(), "WordPiece vocabulary ", vocab_txt, " line ", i + 1, ": empty token");
    model->vocab().add(lines[i], static_cast<int64_t>(i), "WordPiece vocabulary " + vocab_txt + " line " + std::to_string(i + 1));
  }
  auto unk = model->vocab().find(o.unk_token);
  ARK_CHECK(unk, "WordPiece vocabulary ", vocab_txt, ": no unknown token '", o.unk_token, "'");
  model->unk = *unk;
  model->prefix = o.continuing_subword_prefix;
  model->max_input_chars_per_word = o.max_input_chars_per_word;

  auto tok = std::make_unique<PipelineTokenizer>("wordpiece", vocab_txt);
  detail::BasicTokenizerOptions bo;
  bo.handle_chinese_chars = o.tokenize_chinese_chars;
  bo.lowercase = o.do_lower_case;
  bo.strip_accents = o.strip_accents;
  tok->normalizers.push_back(detail::bert_normalizer(bo));
  tok->pre_tokenizers.push_back(detail::bert_pre_tokenize);
  tok->decoders.push_back(detail::wordpiece_decoder(o.continuing_subword_prefix, false));
  tok->clean_up_tokenization_spaces = true;  // BertTokenizer's default
  const detail::Vocab& v = model->vocab();
  tok->model = std::move(model);
  auto special = [&](const std::string& t) {
    auto id = v.find(t);
    if (id) tok->add_token({t, *id, true});
    return id;
  };
  tok->set_unk(special(o.unk_token));
  tok->set_cls(special(o.cls_token));
  tok->set_sep(special(o.sep_token));
  tok->set_pad(special(o.pad_token));
  tok->set_mask(special(o.mask_token));
  if (tok->cls_id() && tok->sep_id()) tok->set_post_processor(PostProcessor::bert(*tok->cls_id(), *tok->sep_id()));
  return tok;
}

namespace detail {

void read_json_vocab(const std::string& path, Vocab& vocab) {
  const nlohmann::json j = parse_json_file(path, "BPE vocabulary");
  ARK_CHECK(j.is_object(), "BPE vocabulary ", path, ": expected a JSON object of token -> id, got ", j.type_name());
  ARK_CHECK(!j.empty(), "BPE vocabulary ", path, ": the vocabulary is empty");
  for (const auto& [token, id] : j.items()) {
    ARK_CHECK(id.is_number_integer(), "BPE vocabulary ", path, ": the id of '", token, "' is a ", id.type_name(),
              ", not an integer");
    vocab.add(token, id.get<int64_t>(), "BPE vocabulary " + path);
  }
}

void read_merges(const std::string& path, BpeModel& model) {
  const auto lines = read_lines(path, "BPE merges");
  int64_t rank = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty() || (i == 0 && line.rfind("#version", 0) == 0)) continue;
    const size_t sp = line.find(' ');
    ARK_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos,
              "BPE merges ", path, " line ", i + 1, ": expected two tokens separated by one space, got '", line, "'");
    model.add_merge(line.substr(0, sp), line.substr(sp + 1), rank++, "BPE merges " + path + " line " + std::to_string(i + 1));
  }
}

void check_byte_level(const Vocab& v, const std::string& path) {
  const auto& map = byte_to_unicode();
  for (int b = 0; b < 256; ++b)
    ARK_CHECK(v.find(map[b]), "BPE vocabulary ", path, ": no token for byte 0x", std::hex, b, " ('", map[b],
              "'); a byte-level vocabulary needs all 256");
}

}  // namespace detail

std::unique_ptr<Tokenizer> load_gpt2_bpe(const std::string& vocab_json, const std::string& merges_txt) {
  auto model = std::make_unique<detail::BpeModel>();
  detail::read_json_vocab(vocab_json, model->vocab());
  detail::check_byte_level(model->vocab(), vocab_json);
  detail::read_merges(merges_txt, *model);
  auto tok = std::make_unique<PipelineTokenizer>("gpt2-bpe", vocab_json);
  tok->pre_tokenizers.push_back(detail::byte_level_pre_tokenizer(false, true));
  tok->decoders.push_back(detail::byte_level_decode);
  const auto eot = model->vocab().find("<|endoftext|>");
  tok->model = std::move(model);
  if (eot) {  // GPT2Tokenizer: bos = eos = unk = <|endoftext|>
    tok->add_token({"<|endoftext|>", *eot, true});
    tok->set_bos(eot);
    tok->set_eos(eot);
    tok->set_unk(eot);
  }
  return tok;
}

}  // namespace ark::tokenizers
