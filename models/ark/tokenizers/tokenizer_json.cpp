// Hugging Face tokenizers' tokenizer.json: builds the pipeline it describes from the supported
// components (listed in tokenizer.h). An unsupported component, a field of the wrong type, a
// merge of tokens outside the vocabulary or an id out of range is an ark::Error naming the file
// and the JSON path.
#include <algorithm>

#include "ark/core/error.h"
#include "ark/tokenizers/pipeline.h"
#include "ark/tokenizers/unicode.h"

namespace ark::tokenizers {
namespace {

using json = nlohmann::json;
using namespace detail;
namespace u = unicode;

class Parser {
 public:
  explicit Parser(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    ARK_ERROR("tokenizer.json ", path_, ": ", where, ": ", what);
  }
  const json& field(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object() || !obj.contains(key)) fail(where, std::string("missing '") + key + "'");
    return obj[key];
  }
  std::string str(const json& obj, const char* key, const std::string& where, std::optional<std::string> dflt = {}) const {
    if (obj.is_object() && (!obj.contains(key) || obj[key].is_null()) && dflt) return *dflt;
    const json& v = field(obj, key, where);
    if (!v.is_string()) fail(where + "." + key, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }
  bool flag(const json& obj, const char* key, const std::string& where, bool dflt) const {
    if (!obj.contains(key) || obj[key].is_null()) return dflt;
    if (!obj[key].is_boolean()) fail(where + "." + key, "expected true or false, got " + obj[key].dump());
    return obj[key].get<bool>();
  }
  int64_t integer(const json& obj, const char* key, const std::string& where, std::optional<int64_t> dflt = {}) const {
    if (obj.is_object() && (!obj.contains(key) || obj[key].is_null()) && dflt) return *dflt;
    const json& v = field(obj, key, where);
    if (!v.is_number_integer()) fail(where + "." + key, "expected an integer, got " + v.dump());
    return v.get<int64_t>();
  }
  std::string type(const json& obj, const std::string& where) const {
    if (!obj.is_object()) fail(where, "expected an object, got " + obj.dump().substr(0, 80));
    return str(obj, "type", where);
  }
  // {"String": "x"} patterns only (a "Regex" is supported where it is GPT-2's).
  std::string string_pattern(const json& obj, const std::string& where) const {
    const json& p = field(obj, "pattern", where);
    if (p.is_object() && p.contains("String") && p["String"].is_string()) return p["String"].get<std::string>();
    fail(where + ".pattern", "only {\"String\": ...} patterns are supported, got " + p.dump());
  }

  void normalizer(const json& n, const std::string& where, std::vector<Normalizer>& out, bool nfd_before = false) const {
    if (n.is_null()) return;
    const std::string t = type(n, where);
    if (t == "Sequence") {
      const json& list = field(n, "normalizers", where);
      if (!list.is_array()) fail(where + ".normalizers", "expected a list");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string w = where + ".normalizers[" + std::to_string(i) + "]";
        if (list[i].is_object() && list[i].value("type", "") == "NFD") {
          // NFD is supported only as the first half of accent stripping (NFD, ..., StripAccents).
          bool strips = false;
          for (size_t k = i + 1; k < list.size(); ++k) strips |= list[k].is_object() && list[k].value("type", "") == "StripAccents";
          if (!strips) fail(w, "normalizer NFD without StripAccents is not supported");
          nfd_before = true;
          continue;
        }
        normalizer(list[i], w, out, nfd_before);
      }
    } else if (t == "BertNormalizer") {
      BasicTokenizerOptions o;
      o.clean_text = flag(n, "clean_text", where, true);
      o.handle_chinese_chars = flag(n, "handle_chinese_chars", where, true);
      o.lowercase = flag(n, "lowercase", where, true);
      if (n.contains("strip_accents") && !n["strip_accents"].is_null()) o.strip_accents = flag(n, "strip_accents", where, true);
      out.push_back(bert_normalizer(o));
    } else if (t == "Lowercase") {
      out.push_back([](std::string& s) {
        std::u32string r;
        for (char32_t c : u::decode_utf8(s)) u::append_lower(r, c);
        s = u::to_utf8(r);
      });
    } else if (t == "StripAccents") {
      out.push_back([nfd_before](std::string& s) {
        std::u32string r;
        for (char32_t c : u::decode_utf8(s)) {
          if (nfd_before) u::append_stripped(r, c);
          else if (!u::is_nonspacing_mark(c)) r.push_back(c);
        }
        s = u::to_utf8(r);
      });
    } else if (t == "Strip") {
      const bool left = flag(n, "strip_left", where, true), right = flag(n, "strip_right", where, true);
      out.push_back([left, right](std::string& s) {
        std::u32string r = u::decode_utf8(s);
        size_t b = 0, e = r.size();
        if (left) while (b < e && u::is_white_space(r[b])) ++b;
        if (right) while (e > b && u::is_white_space(r[e - 1])) --e;
        s = u::to_utf8(std::u32string_view(r).substr(b, e - b));
      });
    } else if (t == "Prepend") {
      const std::string p = str(n, "prepend", where);
      out.push_back([p](std::string& s) { if (!s.empty()) s.insert(0, p); });
    } else if (t == "Replace") {
      const std::string from = string_pattern(n, where), to = str(n, "content", where);
      if (from.empty()) fail(where, "Replace with an empty pattern");
      out.push_back([from, to](std::string& s) { replace_all(s, from, to); });
    } else {
      fail(where, "normalizer " + t + " is not supported");
    }
  }

  static void replace_all(std::string& s, const std::string& from, const std::string& to) {
    std::string r;
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) r.append(s, pos, hit - pos).append(to);
    r.append(s, pos, std::string::npos);
    s = std::move(r);
  }

  // Splits each piece by a predicate on code points: kind 0 = keep in the current run, 1 = drop
  // (whitespace), 2 = isolate.
  template <class F>
  static PreTokenizer splitter(F classify) {
    return [classify](std::vector<std::string>& pieces, bool) {
      std::vector<std::string> out;
      for (const auto& p : pieces) {
        const std::u32string cps = u::decode_utf8(p);
        std::u32string cur;
        int cur_group = -1;
        auto flush = [&] { if (!cur.empty()) out.push_back(u::to_utf8(cur)); cur.clear(); };
        for (char32_t c : cps) {
          const auto [action, group] = classify(c);
          if (action == 1) { flush(); cur_group = -1; continue; }
          if (action == 2) { flush(); out.push_back(u::to_utf8(std::u32string(1, c))); cur_group = -1; continue; }
          if (group != cur_group) flush();
          cur_group = group;
          cur.push_back(c);
        }
        flush();
      }
      pieces = std::move(out);
    };
  }

  void pre_tokenizer(const json& n, const std::string& where, std::vector<PreTokenizer>& out) const {
    if (n.is_null()) return;
    const std::string t = type(n, where);
    static const std::string kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    if (t == "Sequence") {
      const json& list = field(n, "pretokenizers", where);
      if (!list.is_array()) fail(where + ".pretokenizers", "expected a list");
      for (size_t i = 0; i < list.size(); ++i) pre_tokenizer(list[i], where + ".pretokenizers[" + std::to_string(i) + "]", out);
    } else if (t == "ByteLevel") {
      out.push_back(byte_level_pre_tokenizer(flag(n, "add_prefix_space", where, true), flag(n, "use_regex", where, true)));
    } else if (t == "BertPreTokenizer") {
      out.push_back(bert_pre_tokenize);
    } else if (t == "WhitespaceSplit") {
      out.push_back(splitter([](char32_t c) { return std::pair{u::is_white_space(c) ? 1 : 0, 0}; }));
    } else if (t == "Whitespace") {  // \w+|[^\w\s]+
      out.push_back(splitter([](char32_t c) {
        if (u::is_white_space(c)) return std::pair{1, 0};
        const bool word = u::is_letter(c) || u::is_number(c) || u::is_nonspacing_mark(c) || c == '_';
        return std::pair{0, word ? 1 : 2};
      }));
    } else if (t == "Punctuation") {
      const std::string behavior = str(n, "behavior", where, "Isolated");
      if (behavior != "Isolated") fail(where, "Punctuation behavior " + behavior + " is not supported (only Isolated)");
      out.push_back(splitter([](char32_t c) {
        const bool p = (c < 0x80 && std::ispunct(static_cast<int>(c))) || u::is_punctuation(c);
        return std::pair{p ? 2 : 0, 0};
      }));
    } else if (t == "Digits") {
      const bool individual = flag(n, "individual_digits", where, false);
      out.push_back(splitter([individual](char32_t c) {
        const bool d = u::is_number(c) && c < 0x80 ? true : u::is_number(c);
        return std::pair{d && individual ? 2 : 0, d ? 1 : 0};
      }));
    } else if (t == "Metaspace") {
      const std::string rep = str(n, "replacement", where, "\xe2\x96\x81");
      std::string scheme = "always";
      if (n.contains("prepend_scheme") && !n["prepend_scheme"].is_null()) scheme = str(n, "prepend_scheme", where);
      else if (!flag(n, "add_prefix_space", where, true)) scheme = "never";
      if (scheme != "always" && scheme != "first" && scheme != "never") fail(where, "unknown prepend_scheme " + scheme);
      const bool split = flag(n, "split", where, true);
      out.push_back([rep, scheme, split](std::vector<std::string>& pieces, bool first) {
        std::vector<std::string> res;
        for (auto& p : pieces) {
          replace_all(p, " ", rep);
          if ((scheme == "always" || (scheme == "first" && first)) && p.rfind(rep, 0) != 0) p.insert(0, rep);
          if (!split) { res.push_back(p); continue; }
          size_t start = 0, pos = p.rfind(rep, 0) == 0 ? rep.size() : 0;  // each piece starts at a replacement
          for (size_t hit; (hit = p.find(rep, pos)) != std::string::npos; pos = hit + rep.size()) {
            if (hit > start) res.push_back(p.substr(start, hit - start));
            start = hit;
          }
          if (start < p.size()) res.push_back(p.substr(start));
        }
        pieces = std::move(res);
      });
    } else if (t == "Split") {
      const json& pat = field(n, "pattern", where);
      const std::string behavior = str(n, "behavior", where);
      if (flag(n, "invert", where, false)) fail(where, "Split with invert is not supported");
      if (pat.is_object() && pat.contains("Regex")) {
        if (pat["Regex"] != kGpt2Pattern || behavior != "Isolated")
          fail(where, "Split with regex " + pat["Regex"].dump() + " (" + behavior + ") is not supported (only GPT-2's, Isolated)");
        out.push_back([](std::vector<std::string>& pieces, bool) {
          std::vector<std::string> res;
          for (const auto& p : pieces) split_gpt2(p, [&](size_t b, size_t e) { res.push_back(p.substr(b, e - b)); });
          pieces = std::move(res);
        });
        return;
      }
      const std::string s = string_pattern(n, where);
      if (s.empty() || (behavior != "Isolated" && behavior != "Removed"))
        fail(where, "Split on a string with behavior " + behavior + " is not supported (only Isolated, Removed)");
      const bool keep = behavior == "Isolated";
      out.push_back([s, keep](std::vector<std::string>& pieces, bool) {
        std::vector<std::string> res;
        for (const auto& p : pieces) {
          size_t pos = 0;
          for (size_t hit; (hit = p.find(s, pos)) != std::string::npos; pos = hit + s.size()) {
            if (hit > pos) res.push_back(p.substr(pos, hit - pos));
            if (keep) res.push_back(s);
          }
          if (pos < p.size()) res.push_back(p.substr(pos));
        }
        pieces = std::move(res);
      });
    } else {
      fail(where, "pre_tokenizer " + t + " is not supported");
    }
  }

  std::unique_ptr<Model> model(const json& m, const std::string& where) const {
    if (!m.is_object()) fail(where, "expected an object");
    std::string t = m.contains("type") ? str(m, "type", where) : (m.contains("merges") ? "BPE" : m.contains("unk_id") ? "Unigram" : "WordPiece");
    const json& vocab = field(m, "vocab", where);
    if (t == "BPE" || t == "WordPiece") {
      if (!vocab.is_object()) fail(where + ".vocab", "expected an object of token -> id, got " + std::string(vocab.type_name()));
      std::unique_ptr<Model> out;
      if (t == "WordPiece") out = std::make_unique<WordPieceModel>();
      else out = std::make_unique<BpeModel>();
      for (const auto& [tok, id] : vocab.items()) {
        if (!id.is_number_integer()) fail(where + ".vocab", "the id of '" + tok + "' is " + id.dump() + ", not an integer");
        out->vocab().add(tok, id.get<int64_t>(), "tokenizer.json " + path_ + ": " + where + ".vocab");
      }
      if (t == "WordPiece") {
        auto* wp = static_cast<WordPieceModel*>(out.get());
        const std::string unk = str(m, "unk_token", where, "[UNK]");
        auto id = wp->vocab().find(unk);
        if (!id) fail(where, "unk_token '" + unk + "' is not in the vocabulary");
        wp->unk = *id;
        wp->prefix = str(m, "continuing_subword_prefix", where, "##");
        wp->max_input_chars_per_word = integer(m, "max_input_chars_per_word", where, 100);
        return out;
      }
      auto* bpe = static_cast<BpeModel*>(out.get());
      if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"] != 0.0) fail(where, "BPE dropout is not supported");
      bpe->continuing_subword_prefix = str(m, "continuing_subword_prefix", where, "");
      bpe->end_of_word_suffix = str(m, "end_of_word_suffix", where, "");
      bpe->byte_fallback = flag(m, "byte_fallback", where, false);
      bpe->fuse_unk = flag(m, "fuse_unk", where, false);
      bpe->ignore_merges = flag(m, "ignore_merges", where, false);
      if (m.contains("unk_token") && !m["unk_token"].is_null()) {
        const std::string unk = str(m, "unk_token", where);
        auto id = bpe->vocab().find(unk);
        if (!id) fail(where, "unk_token '" + unk + "' is not in the vocabulary");
        bpe->unk = id;
      }
      const json& merges = field(m, "merges", where);
      if (!merges.is_array()) fail(where + ".merges", "expected a list");
      for (size_t i = 0; i < merges.size(); ++i) {
        const json& e = merges[i];
        const std::string w = "tokenizer.json " + path_ + ": " + where + ".merges[" + std::to_string(i) + "]";
        std::string a, b;
        if (e.is_string()) {
          const std::string s = e.get<std::string>();
          const size_t sp = s.find(' ');
          if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() || s.find(' ', sp + 1) != std::string::npos)
            fail(where + ".merges[" + std::to_string(i) + "]", "expected 'A B', got " + e.dump());
          a = s.substr(0, sp);
          b = s.substr(sp + 1);
        } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
          a = e[0].get<std::string>();
          b = e[1].get<std::string>();
        } else {
          fail(where + ".merges[" + std::to_string(i) + "]", "expected 'A B' or [A, B], got " + e.dump());
        }
        bpe->add_merge(a, b, static_cast<int64_t>(i), w);
      }
      return out;
    }
    if (t == "Unigram") {
      if (!vocab.is_array()) fail(where + ".vocab", "expected a list of [piece, score]");
      auto uni = std::make_unique<UnigramModel>();
      for (size_t i = 0; i < vocab.size(); ++i) {
        const json& e = vocab[i];
        if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
          fail(where + ".vocab[" + std::to_string(i) + "]", "expected [piece, score], got " + e.dump().substr(0, 80));
        uni->vocab().add(e[0].get<std::string>(), static_cast<int64_t>(i), "tokenizer.json " + path_ + ": " + where + ".vocab");
        uni->scores.push_back(e[1].get<double>());
      }
      if (vocab.empty()) fail(where + ".vocab", "the vocabulary is empty");
      uni->unk = integer(m, "unk_id", where, 0);
      if (uni->unk < 0 || uni->unk >= static_cast<int64_t>(vocab.size()))
        fail(where + ".unk_id", "id " + std::to_string(uni->unk) + " is out of range");
      uni->byte_fallback = flag(m, "byte_fallback", where, false);
      uni->finish();
      return uni;
    }
    fail(where, "model " + t + " is not supported");
  }

  // ["[CLS]", 101] of BertProcessing / RobertaProcessing.
  int64_t token_pair(const json& n, const char* key, const std::string& where) const {
    const json& v = field(n, key, where);
    if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer()) fail(where + "." + key, "expected [token, id], got " + v.dump());
    return v[1].get<int64_t>();
  }

  std::optional<PostProcessor> post_processor(const json& n, const std::string& where) const {
    if (n.is_null()) return std::nullopt;
    const std::string t = type(n, where);
    if (t == "ByteLevel") return std::nullopt;
    if (t == "Sequence") {
      std::optional<PostProcessor> last;
      const json& list = field(n, "processors", where);
      if (!list.is_array()) fail(where + ".processors", "expected a list");
      for (size_t i = 0; i < list.size(); ++i)
        if (auto p = post_processor(list[i], where + ".processors[" + std::to_string(i) + "]")) last = p;
      return last;
    }
    if (t == "BertProcessing") return PostProcessor::bert(token_pair(n, "cls", where), token_pair(n, "sep", where));
    if (t == "RobertaProcessing") {
      const int64_t cls = token_pair(n, "cls", where), sep = token_pair(n, "sep", where);
      PostProcessor p;
      p.single = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep}, 0}};
      p.pair = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep, sep}, 0}, {1, {}, 0}, {-1, {sep}, 0}};
      return p;
    }
    if (t == "TemplateProcessing") {
      const json& specials = field(n, "special_tokens", where);
      PostProcessor p;
      for (int k = 0; k < 2; ++k) {
        const char* key = k ? "pair" : "single";
        const json& list = field(n, key, where);
        if (!list.is_array()) fail(where + "." + key, "expected a list");
        for (size_t i = 0; i < list.size(); ++i) {
          const std::string w = where + "." + key + "[" + std::to_string(i) + "]";
          const json& e = list[i];
          TemplatePiece piece;
          if (e.is_object() && e.contains("Sequence")) {
            const std::string id = str(e["Sequence"], "id", w);
            if (id != "A" && id != "B") fail(w, "sequence id must be A or B, got " + id);
            piece.sequence = id == "A" ? 0 : 1;
            piece.type_id = integer(e["Sequence"], "type_id", w, 0);
          } else if (e.is_object() && e.contains("SpecialToken")) {
            const std::string id = str(e["SpecialToken"], "id", w);
            piece.type_id = integer(e["SpecialToken"], "type_id", w, 0);
            if (!specials.is_object() || !specials.contains(id)) fail(w, "special token '" + id + "' is not in special_tokens");
            const json& ids = field(specials[id], "ids", where + ".special_tokens." + id);
            if (!ids.is_array()) fail(where + ".special_tokens." + id, "ids must be a list");
            for (const auto& x : ids) {
              if (!x.is_number_integer()) fail(where + ".special_tokens." + id, "ids must be integers, got " + x.dump());
              piece.ids.push_back(x.get<int64_t>());
            }
          } else {
            fail(w, "expected {Sequence: ...} or {SpecialToken: ...}, got " + e.dump());
          }
          (k ? p.pair : p.single).push_back(std::move(piece));
        }
      }
      return p;
    }
    fail(where, "post_processor " + t + " is not supported");
  }

  void decoder(const json& n, const std::string& where, std::vector<Decoder>& out) const {
    if (n.is_null()) return;
    const std::string t = type(n, where);
    if (t == "Sequence") {
      const json& list = field(n, "decoders", where);
      if (!list.is_array()) fail(where + ".decoders", "expected a list");
      for (size_t i = 0; i < list.size(); ++i) decoder(list[i], where + ".decoders[" + std::to_string(i) + "]", out);
    } else if (t == "ByteLevel") {
      out.push_back(byte_level_decode);
    } else if (t == "WordPiece") {
      out.push_back(wordpiece_decoder(str(n, "prefix", where, "##"), flag(n, "cleanup", where, true)));
    } else if (t == "Metaspace") {
      const std::string rep = str(n, "replacement", where, "\xe2\x96\x81");
      std::string scheme = "always";
      if (n.contains("prepend_scheme") && !n["prepend_scheme"].is_null()) scheme = str(n, "prepend_scheme", where);
      else if (!flag(n, "add_prefix_space", where, true)) scheme = "never";
      const bool strip_first = scheme != "never";
      out.push_back([rep, strip_first](std::vector<std::string>& tokens) {
        for (size_t i = 0; i < tokens.size(); ++i) {
          replace_all(tokens[i], rep, " ");
          if (i == 0 && strip_first && !tokens[i].empty() && tokens[i][0] == ' ') tokens[i].erase(0, 1);
        }
      });
    } else if (t == "BPEDecoder") {
      const std::string suffix = str(n, "suffix", where, "</w>");
      out.push_back([suffix](std::vector<std::string>& tokens) {
        for (size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix, i + 1 == tokens.size() ? "" : " ");
      });
    } else if (t == "Replace") {
      const std::string from = string_pattern(n, where), to = str(n, "content", where);
      if (from.empty()) fail(where, "Replace with an empty pattern");
      out.push_back([from, to](std::vector<std::string>& tokens) { for (auto& tk : tokens) replace_all(tk, from, to); });
    } else if (t == "ByteFallback") {
      out.push_back([](std::vector<std::string>& tokens) {
        std::vector<std::string> res;
        std::string bytes;
        size_t nbytes = 0;
        auto flush = [&] {
          if (!nbytes) return;
          const std::u32string d = u::decode_utf8(bytes);
          if (u::to_utf8(d) == bytes) res.push_back(bytes);
          else for (size_t i = 0; i < nbytes; ++i) res.push_back("\xef\xbf\xbd");  // one U+FFFD per byte, as tokenizers
          bytes.clear();
          nbytes = 0;
        };
        for (auto& tk : tokens) {
          unsigned v = 0;
          if (tk.size() == 6 && tk.rfind("<0x", 0) == 0 && tk[5] == '>' && std::sscanf(tk.c_str() + 3, "%2X", &v) == 1 &&
              std::isxdigit(static_cast<unsigned char>(tk[3])) && std::isxdigit(static_cast<unsigned char>(tk[4]))) {
            bytes.push_back(static_cast<char>(v));
            ++nbytes;
            continue;
          }
          flush();
          res.push_back(std::move(tk));
        }
        flush();
        tokens = std::move(res);
      });
    } else if (t == "Fuse") {
      out.push_back([](std::vector<std::string>& tokens) {
        std::string all;
        for (const auto& tk : tokens) all += tk;
        tokens.assign(1, std::move(all));
      });
    } else if (t == "Strip") {
      const std::string content = str(n, "content", where, " ");
      const int64_t start = integer(n, "start", where, 0), stop = integer(n, "stop", where, 0);
      out.push_back([content, start, stop](std::vector<std::string>& tokens) {
        for (auto& tk : tokens) {
          for (int64_t i = 0; i < start && tk.rfind(content, 0) == 0 && !content.empty(); ++i) tk.erase(0, content.size());
          for (int64_t i = 0; i < stop && !content.empty() && tk.size() >= content.size() &&
                              tk.compare(tk.size() - content.size(), content.size(), content) == 0; ++i)
            tk.resize(tk.size() - content.size());
        }
      });
    } else {
      fail(where, "decoder " + t + " is not supported");
    }
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  const json j = parse_json_file(path, "tokenizer.json");
  Parser p(path);
  if (!j.is_object()) p.fail("top level", std::string("expected a JSON object, got ") + j.type_name());
  auto model = p.model(p.field(j, "model", "top level"), "model");
  std::string kind = "tokenizer.json/" + p.type(j["model"].contains("type") ? j["model"] : json{{"type", "BPE"}}, "model");
  auto tok = std::make_unique<PipelineTokenizer>(kind, path);
  if (j.contains("normalizer")) p.normalizer(j["normalizer"], "normalizer", tok->normalizers);
  if (j.contains("pre_tokenizer")) p.pre_tokenizer(j["pre_tokenizer"], "pre_tokenizer", tok->pre_tokenizers);
  if (j.contains("decoder")) p.decoder(j["decoder"], "decoder", tok->decoders);
  std::optional<PostProcessor> post;
  if (j.contains("post_processor")) post = p.post_processor(j["post_processor"], "post_processor");
  const int64_t model_size = static_cast<int64_t>(model->vocab().tokens.size());
  std::optional<int64_t> unk;
  if (auto* wp = dynamic_cast<WordPieceModel*>(model.get())) unk = wp->unk;
  if (auto* bpe = dynamic_cast<BpeModel*>(model.get())) unk = bpe->unk;
  if (auto* uni = dynamic_cast<UnigramModel*>(model.get())) unk = uni->unk;
  tok->model = std::move(model);
  tok->set_unk(unk);
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    const json& list = j["added_tokens"];
    if (!list.is_array()) p.fail("added_tokens", "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string w = "added_tokens[" + std::to_string(i) + "]";
      const json& e = list[i];
      AddedToken t;
      t.content = p.str(e, "content", w);
      t.id = p.integer(e, "id", w);
      if (t.id < 0 || t.id >= model_size + 1000000) p.fail(w, "id " + std::to_string(t.id) + " is out of range");
      if (t.id < model_size && tok->model->vocab().tokens[static_cast<size_t>(t.id)] != t.content &&
          tok->model->vocab().used[static_cast<size_t>(t.id)])
        p.fail(w, "id " + std::to_string(t.id) + " is '" + tok->model->vocab().tokens[static_cast<size_t>(t.id)] +
                      "' in the model vocabulary, not '" + t.content + "'");
      t.special = p.flag(e, "special", w, false);
      t.lstrip = p.flag(e, "lstrip", w, false);
      t.rstrip = p.flag(e, "rstrip", w, false);
      t.single_word = p.flag(e, "single_word", w, false);
      t.normalized = p.flag(e, "normalized", w, !t.special);
      tok->add_token(t);
    }
  }
  if (post) {
    const int64_t n = tok->vocab_size();
    for (const auto* list : {&post->single, &post->pair})
      for (const auto& piece : *list)
        for (int64_t id : piece.ids)
          if (id < 0 || id >= n) p.fail("post_processor", "special token id " + std::to_string(id) + " is out of range [0, " + std::to_string(n) + ")");
    tok->set_post_processor(*post);
  }
  // Special tokens by their usual names (from_folder's tokenizer_config.json overrides these).
  for (const auto& t : tok->added_tokens()) {
    if (!t.special) continue;
    const std::string& c = t.content;
    if (c == "[CLS]") tok->set_cls(t.id);
    else if (c == "[SEP]") tok->set_sep(t.id);
    else if (c == "[PAD]" || c == "<pad>") tok->set_pad(t.id);
    else if (c == "[MASK]" || c == "<mask>") tok->set_mask(t.id);
    else if (c == "[UNK]" || c == "<unk>") tok->set_unk(t.id);
    else if (c == "<s>" || c == "<|begin_of_text|>") tok->set_bos(t.id);
    else if (c == "</s>" || c == "<|end_of_text|>") tok->set_eos(t.id);
    else if (c == "<|endoftext|>") { tok->set_bos(t.id); tok->set_eos(t.id); }
  }
  return tok;
}

}  // namespace ark::tokenizers
