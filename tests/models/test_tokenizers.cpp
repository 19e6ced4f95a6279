// Tokenizers without the big real models: UTF-8 replacement, WordPiece against the reference
// BertTokenizer in tools/reference/wordpiece_ref.py (on real texts with a vocabulary built from
// them, plus accents, CJK, control characters, pairs, truncation and padding), tokenizer.json
// files equivalent to the direct loaders, from_folder's configs, and every malformed input the
// loaders refuse (each error names the file and the problem).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ark/tokenizers/tokenizer.h"
#include "ark/tokenizers/unicode.h"
#include "support/reference.h"
#include "test_tokenizers_common.h"

namespace fs = std::filesystem;
namespace tk = ark::tokenizers;
using ark::test::scratch_dir;
using ark::test::slurp;
using ark::test::write_file;
using nlohmann::json;

namespace {

std::string b64decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const size_t p = chars.find(c);
    if (p == std::string::npos) break;
    val = (val << 6) | static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

// The error an expression throws, or "" when it does not.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ark::Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(expr, ...)                                               \
  do {                                                                            \
    const std::string msg_ = error_of([&] { (void)(expr); });                     \
    ASSERT_FALSE(msg_.empty()) << #expr << " did not throw";                      \
    for (const std::string part_ : {__VA_ARGS__})                                 \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << msg_; \
  } while (0)

std::string wordpiece_reference() {
  return ark::test::reference_file("wordpiece_ref.py", "wordpiece", ark::test::assets_dir());
}

tk::WordPieceOptions options_of(const json& o) {
  tk::WordPieceOptions w;
  w.do_lower_case = o.value("do_lower_case", true);
  if (o.contains("strip_accents")) w.strip_accents = o["strip_accents"].get<bool>();
  w.tokenize_chinese_chars = o.value("tokenize_chinese_chars", true);
  return w;
}

std::string case_text(const json& c) {
  return c.contains("text_b64") ? b64decode(c["text_b64"].get<std::string>()) : c["text"].get<std::string>();
}

}  // namespace

TEST(TokenizerUnicode, ReplacementFollowsMaximalSubparts) {
  namespace u = tk::unicode;
  // Python: bytes.decode("utf-8", "replace") of each input.
  EXPECT_EQ(u::decode_utf8("a\xe2\x82" "b"), std::u32string(U"a\ufffdb"));
  EXPECT_EQ(u::decode_utf8("\xff\xfe"), std::u32string(U"\ufffd\ufffd"));
  EXPECT_EQ(u::decode_utf8("\xed\xa0\x80"), std::u32string(U"\ufffd\ufffd\ufffd"));  // a surrogate
  EXPECT_EQ(u::decode_utf8("\xf0\x80\x80\x80"), std::u32string(U"\ufffd\ufffd\ufffd\ufffd"));  // overlong
  EXPECT_EQ(u::decode_utf8("\xc0\xaf"), std::u32string(U"\ufffd\ufffd"));
  EXPECT_EQ(u::decode_utf8("\xf4\x90\x80\x80"), std::u32string(U"\ufffd\ufffd\ufffd\ufffd"));  // > U+10FFFF
  EXPECT_EQ(u::decode_utf8("\xf0\x9f\x98"), std::u32string(U"\ufffd"));  // truncated emoji
  EXPECT_EQ(u::decode_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"), std::u32string(U"caf\u00e9 \U0001F600"));
  std::u32string lower;
  for (char32_t c : std::u32string(U"ÀÉÎÕÜ ΣΑΣ İ Ǆ")) u::append_lower(lower, c);
  EXPECT_EQ(u::to_utf8(lower), u::to_utf8(U"àéîõü σασ i\u0307 ǆ"));
  std::u32string stripped;
  for (char32_t c : std::u32string(U"Crème brûlée, Ångström, 한")) u::append_stripped(stripped, c);
  EXPECT_EQ(u::to_utf8(stripped), u::to_utf8(U"Creme brulee, Angstrom, \u1112\u1161\u11ab"));
}

TEST(WordPiece, MatchesReferenceBertTokenizer) {
  const std::string dir = wordpiece_reference();
  const json ref = json::parse(slurp(dir + "/cases.json"));
  std::map<std::string, std::unique_ptr<tk::Tokenizer>> toks;
  size_t n = 0, ids = 0;
  for (const auto& c : ref["cases"]) {
    const std::string config = c["config"];
    if (!toks.count(config)) toks[config] = tk::load_wordpiece(dir + "/vocab.txt", options_of(c["options"]));
    const tk::Tokenizer& t = *toks[config];
    tk::EncodeOptions o;
    if (c.contains("max_length")) {
      o.truncation = tk::Truncation::kLongestFirst;
      o.max_length = c["max_length"].get<int64_t>();
    }
    const std::string text = case_text(c);
    const tk::Encoding e = c.contains("pair") ? t.encode_plus(text, c["pair"].get<std::string>(), o) : t.encode_plus(text, std::nullopt, o);
    const auto want = c["ids"].get<std::vector<int64_t>>();
    ASSERT_EQ(e.ids, want) << config << " case " << n << ": " << text.substr(0, 200);
    EXPECT_EQ(e.token_type_ids, c["token_type_ids"].get<std::vector<int64_t>>()) << "case " << n;
    EXPECT_EQ(e.attention_mask, c["attention_mask"].get<std::vector<int64_t>>()) << "case " << n;
    ++n;
    ids += want.size();
  }
  EXPECT_GT(n, 20u);
  std::cout << "[          ] " << n << " WordPiece cases, " << ids << " ids identical to the reference\n";
}

TEST(WordPiece, PaddedBatchMatchesReference) {
  const std::string dir = wordpiece_reference();
  const json b = json::parse(slurp(dir + "/cases.json"))["batch"];
  auto t = tk::load_wordpiece(dir + "/vocab.txt");
  tk::EncodeOptions o;
  o.padding = tk::Padding::kLongest;
  const tk::BatchEncoding batch = t->encode_batch(b["texts"].get<std::vector<std::string>>(), o);
  const auto want = b["ids"].get<std::vector<std::vector<int64_t>>>();
  ASSERT_EQ(batch.encodings.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(batch.encodings[i].ids, want[i]);
    EXPECT_EQ(batch.encodings[i].attention_mask, b["attention_mask"][i].get<std::vector<int64_t>>());
  }
  const ark::Tensor ids = batch.input_ids(), mask = batch.attention_mask();
  EXPECT_EQ(ids.size(0), static_cast<int64_t>(want.size()));
  EXPECT_EQ(ids.size(1), static_cast<int64_t>(want[0].size()));
  EXPECT_EQ(ids.dtype(), ark::kLong);
  EXPECT_EQ(mask[0][0].item<int64_t>(), 1);
  // Left padding for decoder batches, and max_length padding.
  o.pad_left = true;
  const auto left = t->encode_batch({"a", "hello , world"}, o);
  EXPECT_EQ(left.encodings[0].ids.front(), *t->pad_id());
  EXPECT_EQ(left.encodings[0].attention_mask.front(), 0);
  o = {};
  o.padding = tk::Padding::kMaxLength;
  o.max_length = 16;
  EXPECT_LT(t->encode_plus("hello").ids.size(), 16u);
  EXPECT_EQ(t->encode_plus("hello", std::nullopt, o).ids.size(), 16u);
  EXPECT_EQ(t->encode_plus("hello", std::nullopt, o).attention_mask.back(), 0);
  // Unpadded rows of different lengths do not make a tensor.
  EXPECT_ERROR_HAS(t->encode_batch({"a", "a b c"}).input_ids(), "different lengths");
}

TEST(WordPiece, TruncationStrategiesAndDecode) {
  const std::string dir = wordpiece_reference();
  auto t = tk::load_wordpiece(dir + "/vocab.txt");
  const auto a = t->encode("the whale the whale the whale", false), b = t->encode("ship", false);
  tk::EncodeOptions o;
  o.truncation = tk::Truncation::kOnlySecond;
  o.max_length = static_cast<int64_t>(a.size()) + 3;
  EXPECT_ERROR_HAS(t->encode_plus("the whale the whale the whale", "ship", o), "cannot truncate");
  o.max_length = static_cast<int64_t>(a.size()) + 3 + 1;
  EXPECT_EQ(t->encode_plus("the whale the whale the whale", "ship", o).ids.size(), a.size() + 4);
  o.truncation = tk::Truncation::kOnlyFirst;
  o.max_length = static_cast<int64_t>(b.size()) + 3 + 2;
  const auto e = t->encode_plus("the whale the whale the whale", "ship", o);
  EXPECT_EQ(e.ids.size(), b.size() + 5);
  EXPECT_EQ(std::vector<int64_t>(e.ids.begin() + 1, e.ids.begin() + 3), std::vector<int64_t>(a.begin(), a.begin() + 2));
  o.max_length = static_cast<int64_t>(b.size()) + 3;
  EXPECT_ERROR_HAS(t->encode_plus("the whale the whale the whale", "ship", o), "cannot truncate");
  o.max_length = 2;
  EXPECT_ERROR_HAS(t->encode_plus("x", "y", o), "shorter than the 3 special tokens");
  o.truncate_left = true;
  o.truncation = tk::Truncation::kLongestFirst;
  o.max_length = 4;
  const auto left = t->encode_plus("the whale ship", std::nullopt, o);
  EXPECT_EQ(left.ids[1], t->encode("whale", false)[0]);
  // decode: "##" pieces join, specials skip, clean-up of " ." etc. as BertTokenizer's.
  const auto ids = t->encode("The whale's ship, and the sea.");
  EXPECT_EQ(t->decode(ids, true), "the whale's ship, and the sea.");
  EXPECT_EQ(t->decode(ids).substr(0, 10), "[CLS] the ");
  EXPECT_ERROR_HAS(t->decode(std::vector<int64_t>{0, 999999}), "999999", "out of range");
  EXPECT_EQ(t->tokenize("[MASK] whale"), (std::vector<std::string>{"[MASK]", "whale"}));
  EXPECT_EQ(t->id_to_token(*t->cls_id()), "[CLS]");
  EXPECT_EQ(t->token_to_id("[SEP]"), t->sep_id());
  EXPECT_FALSE(t->token_to_id("no-such-token-here"));
  EXPECT_FALSE(t->bos_id());
}

TEST(WordPiece, EmptyHugeAndInvalidInput) {
  const std::string dir = wordpiece_reference();
  auto t = tk::load_wordpiece(dir + "/vocab.txt");
  EXPECT_EQ(t->encode(""), (std::vector<int64_t>{*t->cls_id(), *t->sep_id()}));
  EXPECT_TRUE(t->encode("", false).empty());
  EXPECT_EQ(t->encode(std::string(1 << 20, 'a'), false), std::vector<int64_t>{*t->unk_id()});  // > 100 chars
  // Invalid UTF-8: U+FFFD is dropped by BERT's cleaning, as the reference does after replacement.
  EXPECT_EQ(t->encode("whale\xff\xfe ship", false), t->encode("whale ship", false));
  EXPECT_EQ(t->encode("wh\xc3" "ale", false), t->encode("wh ale", false).size() == 2 ? t->encode("whale", false) : t->encode("whale", false));
}

// ---- tokenizer.json equivalent to the direct loaders ----

namespace {

json vocab_object(const std::vector<std::string>& tokens) {
  json v = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) v[tokens[i]] = i;
  return v;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream s(slurp(path));
  for (std::string l; std::getline(s, l);) out.push_back(l);
  return out;
}

// The tokenizer.json BertTokenizerFast writes for a vocab.txt.
json bert_tokenizer_json(const std::vector<std::string>& vocab, bool lowercase) {
  auto id = [&](const std::string& t) { return std::find(vocab.begin(), vocab.end(), t) - vocab.begin(); };
  json added = json::array();
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    added.push_back({{"id", id(s)}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  return {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
          {"normalizer", {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                          {"strip_accents", nullptr}, {"lowercase", lowercase}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor", {{"type", "TemplateProcessing"},
                              {"single", {{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                          {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}}},
                              {"pair", {{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                        {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}},
                                        {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 1}}}}}},
                              {"special_tokens", {{"[CLS]", {{"id", "[CLS]"}, {"ids", {id("[CLS]")}}, {"tokens", {"[CLS]"}}}},
                                                  {"[SEP]", {{"id", "[SEP]"}, {"ids", {id("[SEP]")}}, {"tokens", {"[SEP]"}}}}}}}},
          {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
          {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                     {"max_input_chars_per_word", 100}, {"vocab", vocab_object(vocab)}}}};
}

}  // namespace

TEST(TokenizerJson, WordPieceEqualsVocabTxt) {
  const std::string dir = wordpiece_reference();
  const auto vocab = lines_of(dir + "/vocab.txt");
  const std::string path = scratch_dir() + "/bert_tokenizer.json";
  write_file(path, bert_tokenizer_json(vocab, true).dump());
  auto direct = tk::load_wordpiece(dir + "/vocab.txt");
  auto from_json = tk::from_file(path);
  EXPECT_EQ(from_json->kind(), "tokenizer.json/WordPiece");
  const json ref = json::parse(slurp(dir + "/cases.json"));
  size_t n = 0;
  for (const auto& c : ref["cases"]) {
    if (c["config"] != "uncased") continue;
    const std::string text = case_text(c);
    std::optional<std::string> pair;
    if (c.contains("pair")) pair = c["pair"].get<std::string>();
    const auto a = direct->encode_plus(text, pair), b = from_json->encode_plus(text, pair);
    ASSERT_EQ(a.ids, b.ids) << text.substr(0, 200);
    EXPECT_EQ(a.token_type_ids, b.token_type_ids);
    ++n;
  }
  EXPECT_GT(n, 10u);
  EXPECT_EQ(from_json->cls_id(), direct->cls_id());
  EXPECT_EQ(from_json->pad_id(), direct->pad_id());
  EXPECT_EQ(from_json->decode(from_json->encode("the whale, the sea."), true), "the whale, the sea.");
}

TEST(TokenizerJson, Gpt2EqualsVocabAndMerges) {
  ARK_REQUIRE_ASSET(ark::test::gpt2_dir());
  const std::string g = ark::test::gpt2_dir();
  const json enc = json::parse(slurp(g + "/encoder.json"));
  json merges = json::array();
  const auto lines = lines_of(g + "/vocab.bpe");
  for (size_t i = 1; i < lines.size(); ++i)
    if (!lines[i].empty()) merges.push_back(lines[i]);
  const json tj = {{"version", "1.0"},
                   {"added_tokens", {{{"id", 50256}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
                                      {"rstrip", false}, {"normalized", true}, {"special", true}}}},
                   {"normalizer", nullptr},
                   {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
                   {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
                   {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
                   {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                              {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", enc}, {"merges", merges}}}};
  const std::string path = scratch_dir() + "/gpt2_tokenizer.json";
  write_file(path, tj.dump());
  auto direct = tk::from_folder(g);
  auto from_json = tk::load_tokenizer_json(path);
  ASSERT_EQ(from_json->vocab_size(), 50257);
  EXPECT_EQ(from_json->eos_id(), 50256);
  const std::string moby = slurp(ark::test::texts_dir() + "/moby-dick/data/data.txt").substr(0, 200000);
  const auto a = direct->encode(moby), b = from_json->encode(moby);
  EXPECT_EQ(a, b);
  EXPECT_EQ(from_json->decode(b), moby);
  EXPECT_EQ(from_json->encode("Hello<|endoftext|> world"), (std::vector<int64_t>{15496, 50256, 995}));
}

TEST(TokenizerJson, LlamaStyleBpeUnigramAndDecoders) {
  // A tiny LLaMA-style tokenizer.json: Metaspace-like normalizer, byte fallback, fused unknowns.
  const std::vector<std::string> vocab = {"<unk>", "<s>", "</s>", "<0x21>", "<0xC3>", "<0xA9>", "\xe2\x96\x81", "h", "e", "l", "o",
                                          "\xe2\x96\x81h", "ll", "\xe2\x96\x81he", "\xe2\x96\x81hell", "\xe2\x96\x81hello", "w", "r", "d", "\xe2\x96\x81w"};
  const json tj = {
      {"added_tokens", {{{"id", 0}, {"content", "<unk>"}, {"special", true}}, {{"id", 1}, {"content", "<s>"}, {"special", true}},
                        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}},
                                                             {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", {{"type", "TemplateProcessing"},
                          {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                          {"pair", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                    {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
                          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\xe2\x96\x81"}}}, {"content", " "}},
                                                       {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}, {"vocab", vocab_object(vocab)},
                 {"merges", {"\xe2\x96\x81 h", "l l", "\xe2\x96\x81h e", "\xe2\x96\x81he ll", "\xe2\x96\x81hell o", "\xe2\x96\x81 w"}}}}};
  const std::string path = scratch_dir() + "/llama_tokenizer.json";
  write_file(path, tj.dump());
  auto t = tk::load_tokenizer_json(path);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  // "hello world!é": ▁hello ▁w o r l d then '!' and 'é' by bytes; 'x' x 2 -> one fused <unk>.
  const auto ids = t->encode("hello world!\xc3\xa9xx");
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 15, 19, 10, 17, 9, 18, 3, 4, 5, 0}));
  EXPECT_EQ(t->decode(ids), "<s> hello world!\xc3\xa9<unk>");  // Strip acts on the fused text, as in tokenizers
  EXPECT_EQ(t->decode(ids, true), "hello world!\xc3\xa9");
  EXPECT_EQ(t->decode(std::vector<int64_t>{4}), "\xef\xbf\xbd");  // a lone byte: U+FFFD
  EXPECT_EQ(t->encode_plus("hello", "hello").token_type_ids, (std::vector<int64_t>{0, 0, 1, 1}));

  // Unigram (Viterbi) with a Metaspace pre-tokenizer and decoder.
  const json uj = {
      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\xe2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}}},
      {"decoder", {{"type", "Metaspace"}, {"replacement", "\xe2\x96\x81"}, {"prepend_scheme", "always"}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 0},
                 {"vocab", json::array({json::array({"<unk>", 0.0}), json::array({"\xe2\x96\x81", -2.0}),
                                        json::array({"\xe2\x96\x81" "ab", -3.0}), json::array({"a", -2.0}), json::array({"b", -2.0}),
                                        json::array({"\xe2\x96\x81" "a", -1.5}), json::array({"bc", -1.0}), json::array({"c", -3.0})})}}}};
  write_file(scratch_dir() + "/unigram.json", uj.dump());
  auto un = tk::load_tokenizer_json(scratch_dir() + "/unigram.json");
  // "abc": ▁a + bc (-2.5) beats ▁ab + c (-6).
  EXPECT_EQ(un->encode("abc"), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(un->encode("ab zz"), (std::vector<int64_t>{2, 1, 0}));  // unknown "zz" fused into one <unk>
  EXPECT_EQ(un->decode(un->encode("abc ab")), "abc ab");
}

// ---- from_folder and its configs ----

TEST(TokenizerFolder, ConfigsSetOptionsAndSpecials) {
  const std::string dir = wordpiece_reference();
  const std::string folder = scratch_dir() + "/bert_cased";
  fs::create_directories(folder);
  fs::copy_file(dir + "/vocab.txt", folder + "/vocab.txt", fs::copy_options::overwrite_existing);
  write_file(folder + "/tokenizer_config.json", R"({"do_lower_case": false, "model_max_length": 512, "tokenizer_class": "BertTokenizer"})");
  auto cased = tk::from_folder(folder);
  EXPECT_NE(cased->encode("Whale", false), tk::load_wordpiece(dir + "/vocab.txt")->encode("Whale", false));
  write_file(folder + "/tokenizer_config.json", R"({"do_lower_case": "yes"})");
  EXPECT_ERROR_HAS(tk::from_folder(folder), "tokenizer_config.json", "do_lower_case", "true or false");
  write_file(folder + "/tokenizer_config.json", R"({"do_lower_case": true, "pad_token": "<nope>"})");
  EXPECT_ERROR_HAS(tk::from_folder(folder), "tokenizer_config.json", "pad_token '<nope>' is not in the vocabulary");
  write_file(folder + "/tokenizer_config.json", R"({"do_lower_case": tr)");
  EXPECT_ERROR_HAS(tk::from_folder(folder), "tokenizer_config.json", "not valid JSON");
  write_file(folder + "/tokenizer_config.json", R"({"added_tokens_decoder": {"x1": {"content": "[CLS]"}}})");
  EXPECT_ERROR_HAS(tk::from_folder(folder), "tokenizer_config.json", "'x1' is not a token id");
  write_file(folder + "/tokenizer_config.json", R"({"added_tokens_decoder": {"5000": {"content": "<extra>", "special": true}}})");
  auto extra = tk::from_folder(folder);
  EXPECT_EQ(extra->vocab_size(), 5001);
  EXPECT_EQ(extra->encode("a <extra> b", false)[1], 5000);
  fs::remove(folder + "/tokenizer_config.json");
  write_file(folder + "/special_tokens_map.json", R"({"mask_token": {"content": "[MASK]", "lstrip": true}})");
  EXPECT_TRUE(tk::from_folder(folder)->mask_id().has_value());
  EXPECT_ERROR_HAS(tk::from_folder(scratch_dir() + "/no_such_folder"), "no_such_folder", "not a directory");
  fs::create_directories(scratch_dir() + "/empty_model");
  EXPECT_ERROR_HAS(tk::from_folder(scratch_dir() + "/empty_model"), "no tokenizer files");
}

// ---- malformed files ----

class TokenizerBadFiles : public ::testing::Test {
 protected:
  std::string put(const std::string& name, const std::string& bytes) {
    const std::string p = scratch_dir() + "/bad/" + name;
    fs::create_directories(fs::path(p).parent_path());
    write_file(p, bytes);
    return p;
  }
  // A byte-level vocabulary (all 256 stand-ins) plus extra tokens, as vocab.json text.
  static json byte_vocab() {
    json v = json::object();
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      std::string s;
      static int n = 0;
      (void)n;
      tk::unicode::append_utf8(s, printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++));
      v[s] = b;
    }
    v["he"] = 256;
    v["hel"] = 257;
    return v;
  }
};

TEST_F(TokenizerBadFiles, VocabTxt) {
  EXPECT_ERROR_HAS(tk::load_wordpiece(put("empty.txt", "")), "empty.txt", "empty");
  EXPECT_ERROR_HAS(tk::load_wordpiece(put("utf8.txt", "[UNK]\nab\xff\n")), "utf8.txt", "line 2", "not valid UTF-8");
  EXPECT_ERROR_HAS(tk::load_wordpiece(put("dup.txt", "[UNK]\na\nb\na\n")), "dup.txt", "duplicate token 'a'", "ids 1 and 3");
  EXPECT_ERROR_HAS(tk::load_wordpiece(put("nounk.txt", "a\nb\n")), "nounk.txt", "no unknown token '[UNK]'");
  EXPECT_ERROR_HAS(tk::load_wordpiece(put("blank.txt", "[UNK]\n\nb\n")), "blank.txt", "line 2", "empty token");
  EXPECT_ERROR_HAS(tk::load_wordpiece(scratch_dir() + "/bad/missing.txt"), "missing.txt", "cannot open");
  // Windows line ends are fine.
  EXPECT_EQ(tk::load_wordpiece(put("crlf.txt", "[UNK]\r\nhello\r\n"))->encode("hello", false), std::vector<int64_t>{1});
}

TEST_F(TokenizerBadFiles, VocabJsonAndMerges) {
  const std::string merges = put("merges.txt", "#version: 0.2\nh e\nhe l\n");
  const json v = byte_vocab();
  const std::string good = put("vocab.json", v.dump());
  auto ok = tk::load_gpt2_bpe(good, merges);
  EXPECT_EQ(ok->encode("hel", false), std::vector<int64_t>{257});
  EXPECT_EQ(ok->decode(ok->encode("hello wörld\n", false)), "hello wörld\n");

  const std::string text = v.dump();
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("trunc.json", text.substr(0, text.size() / 2)), merges), "trunc.json", "not valid JSON");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("array.json", "[1, 2]"), merges), "array.json", "expected a JSON object");
  json w = v;
  w["he"] = "256";
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("strid.json", w.dump()), merges), "strid.json", "'he'", "not an integer");
  w["he"] = -3;
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("neg.json", w.dump()), merges), "neg.json", "-3", "outside");
  w["he"] = int64_t{1} << 40;
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("huge.json", w.dump()), merges), "huge.json", "outside");
  w["he"] = 257;
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("dupid.json", w.dump()), merges), "dupid.json", "id 257 is given to both");
  std::string dupkey = text;
  dupkey.insert(dupkey.size() - 1, ",\"he\":300");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("dupkey.json", dupkey), merges), "dupkey.json", "duplicate key 'he'");
  std::string badutf = text;
  badutf.insert(badutf.size() - 1, ",\"x\xff\":300");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("utf.json", badutf), merges), "utf.json", "not valid JSON");
  w = v;
  w.erase("a");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(put("nobyte.json", w.dump()), merges), "nobyte.json", "no token for byte 0x61");

  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(good, put("m1.txt", "#version: 0.2\nh e\nhel\n")), "m1.txt", "line 3", "two tokens");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(good, put("m2.txt", "h e l\n")), "m2.txt", "line 1", "two tokens");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(good, put("m3.txt", "h e\nhe zz\n")), "m3.txt", "line 2", "'zz', which is not in the vocabulary");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(good, put("m4.txt", "h e\nhe o\n")), "m4.txt", "line 2", "makes 'heo'");
  EXPECT_ERROR_HAS(tk::load_gpt2_bpe(good, put("m5.txt", "h e\n\xc3(\n")), "m5.txt", "line 2", "not valid UTF-8");
  EXPECT_ERROR_HAS(tk::from_file(put("lonely/vocab.json", v.dump())), "lonely/vocab.json", "no merges.txt");
}

TEST_F(TokenizerBadFiles, TokenizerJson) {
  const std::string dir = wordpiece_reference();
  const json good = bert_tokenizer_json(lines_of(dir + "/vocab.txt"), true);
  const std::string text = good.dump();
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t1.json", text.substr(0, text.size() - 10))), "t1.json", "not valid JSON");
  json j = good;
  j.erase("model");
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t2.json", j.dump())), "t2.json", "missing 'model'");
  j = good;
  j["normalizer"] = {{"type", "NFKC"}};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t3.json", j.dump())), "t3.json", "normalizer NFKC is not supported");
  j = good;
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\d+"}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t4.json", j.dump())), "t4.json", "pre_tokenizer", "regex", "not supported");
  j = good;
  j["model"]["vocab"]["[UNK]"] = 1.5;
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t5.json", j.dump())), "t5.json", "model.vocab", "not an integer");
  j = good;
  j["added_tokens"][0]["id"] = 3;  // [PAD] claiming [SEP]'s id
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t6.json", j.dump())), "t6.json", "added_tokens[0]", "id 3");
  j = good;
  j["post_processor"]["special_tokens"]["[CLS]"]["ids"] = {123456};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t7.json", j.dump())), "t7.json", "post_processor", "123456", "out of range");
  j = good;
  j["decoder"] = {{"type", "CTC"}};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t8.json", j.dump())), "t8.json", "decoder CTC is not supported");
  j = good;
  j["model"] = {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}, {"merges", {"a b"}}};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t9.json", j.dump())), "t9.json", "merges[0]", "makes 'ab'");
  j["model"]["merges"] = {42};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t10.json", j.dump())), "t10.json", "merges[0]", "expected 'A B'");
  j["model"] = {{"type", "Unigram"}, {"vocab", json::array({json::array({"a", "x"})})}};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t11.json", j.dump())), "t11.json", "vocab[0]", "[piece, score]");
  j["model"] = {{"type", "Unigram"}, {"unk_id", 5}, {"vocab", json::array({json::array({"a", -1.0})})}};
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t12.json", j.dump())), "t12.json", "unk_id", "out of range");
  j = good;
  j["model"]["type"] = "WordLevel";
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t13.json", j.dump())), "t13.json", "model WordLevel is not supported");
  EXPECT_ERROR_HAS(tk::load_tokenizer_json(put("t14.json", "[]")), "t14.json", "expected a JSON object");
}

TEST_F(TokenizerBadFiles, SentencePieceModel) {
  EXPECT_ERROR_HAS(tk::load_sentencepiece(put("e.model", "")), "e.model", "empty");
  EXPECT_ERROR_HAS(tk::load_sentencepiece(put("g.model", "this is not a protobuf \xff\xfe\x01\x02")), "g.model", "cannot load");
  EXPECT_ERROR_HAS(tk::from_file(scratch_dir() + "/bad/none.model"), "none.model", "no such file");
  const std::string llama = ark::test::sp_dir() + "/llama.model";
  if (fs::exists(llama)) {
    const std::string bytes = slurp(llama);
    for (size_t cut : {size_t{7}, bytes.size() / 3, bytes.size() - 5})
      EXPECT_ERROR_HAS(tk::load_sentencepiece(put("cut.model", bytes.substr(0, cut))), "cut.model");
  }
}
