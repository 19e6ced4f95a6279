// The pipeline components (see pipeline.h). References for the semantics (read, not copied):
// transformers' BasicTokenizer / WordpieceTokenizer / GPT2Tokenizer, OpenAI's gpt-2 encoder.py,
// and the tokenizers crate's BertNormalizer, ByteLevel, BPE (merge queue), Unigram (Viterbi
// lattice with unk penalty 10) and decoders.
#include "ark/tokenizers/pipeline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>

#include "ark/core/error.h"
#include "ark/tokenizers/unicode.h"

namespace ark::tokenizers::detail {

namespace u = unicode;

namespace {

// The code point at s[i] (s is valid UTF-8); len gets its byte length.
inline char32_t cp_at(std::string_view s, size_t i, size_t& len) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { len = 1; return c; }
  len = std::min(u::utf8_len(c), s.size() - i);
  char32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return cp;
}

bool bert_punct(char32_t c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) ||
         (c >= 0x80 && u::is_punctuation(c));
}
// Python's str.split() separators that survive BERT's cleaning (White_Space, and 0x1c-0x1f).
bool py_space(char32_t c) { return u::is_white_space(c) || (c >= 0x1c && c <= 0x1f); }

}  // namespace

void Vocab::add(const std::string& token, int64_t id, const std::string& where) {
  constexpr int64_t kMaxId = int64_t{1} << 24;  // far above any real vocabulary; bounds the tables
  ARK_CHECK(id >= 0 && id < kMaxId, where, ": token '", token, "' has id ", id, ", outside [0, ", kMaxId, ")");
  const auto i = static_cast<size_t>(id);
  if (i >= tokens.size()) {
    tokens.resize(i + 1);
    used.resize(i + 1, 0);
  }
  ARK_CHECK(!used[i], where, ": id ", id, " is given to both '", tokens[i], "' and '", token, "'");
  auto [it, inserted] = ids.emplace(token, id);
  ARK_CHECK(inserted, where, ": duplicate token '", token, "' (ids ", it->second, " and ", id, ")");
  tokens[i] = token;
  used[i] = 1;
}

// ---- WordPiece ----

void WordPieceModel::encode(std::string_view piece, std::vector<int64_t>& out) const {
  std::vector<size_t> bounds;  // byte offsets of the code points, and the end
  for (size_t i = 0, len; i < piece.size(); i += len) {
    cp_at(piece, i, len);
    bounds.push_back(i);
  }
  const size_t nchars = bounds.size();
  bounds.push_back(piece.size());
  if (static_cast<int64_t>(nchars) > max_input_chars_per_word) {
    out.push_back(unk);
    return;
  }
  const size_t mark = out.size();
  std::string key;
  for (size_t start = 0; start < nchars;) {
    size_t end = nchars;
    std::optional<int64_t> found;
    for (; end > start; --end) {
      key.assign(start > 0 ? prefix : "");
      key.append(piece.substr(bounds[start], bounds[end] - bounds[start]));
      if ((found = vocab_.find(key))) break;
    }
    if (!found) {  // no piece fits: the whole word is unknown
      out.resize(mark);
      out.push_back(unk);
      return;
    }
    out.push_back(*found);
    start = end;
  }
}

// ---- BPE ----

void BpeModel::add_merge(const std::string& a, const std::string& b, int64_t rank, const std::string& where) {
  const auto ia = vocab_.find(a), ib = vocab_.find(b);
  ARK_CHECK(ia && ib, where, ": merge '", a, " ", b, "' uses '", ia ? b : a, "', which is not in the vocabulary");
  std::string merged = a;
  merged += !continuing_subword_prefix.empty() && b.rfind(continuing_subword_prefix, 0) == 0
                ? b.substr(continuing_subword_prefix.size()) : b;
  const auto im = vocab_.find(merged);
  ARK_CHECK(im, where, ": merge '", a, " ", b, "' makes '", merged, "', which is not in the vocabulary");
  const uint64_t key = (static_cast<uint64_t>(*ia) << 32) | static_cast<uint64_t>(*ib);
  merges_.emplace(key, Merge{static_cast<int32_t>(rank), static_cast<int32_t>(*im)});  // the first rank wins
}

void BpeModel::merge_word(std::vector<int64_t>& ids) const {
  if (ids.size() < 2) return;
  struct Sym {
    int64_t id;
    int prev, next;
  };
  std::vector<Sym> sym(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    sym[i] = {ids[i], static_cast<int>(i) - 1, i + 1 < ids.size() ? static_cast<int>(i) + 1 : -1};
  struct Cand {
    int32_t rank;
    int left, right;
    int64_t left_id, right_id, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
  auto push = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    auto it = merges_.find((static_cast<uint64_t>(sym[l].id) << 32) | static_cast<uint64_t>(sym[r].id));
    if (it != merges_.end()) heap.push({it->second.rank, l, r, sym[l].id, sym[r].id, it->second.id});
  };
  for (size_t i = 0; i + 1 < ids.size(); ++i) push(static_cast<int>(i), static_cast<int>(i) + 1);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& l = sym[c.left];
    if (l.id != c.left_id || l.next != c.right || sym[c.right].id != c.right_id) continue;  // stale
    const int r = c.right;
    l.id = c.merged;
    l.next = sym[r].next;
    if (l.next >= 0) sym[l.next].prev = c.left;
    sym[r].id = -1;
    push(l.prev, c.left);
    push(c.left, l.next);
  }
  ids.clear();
  for (int i = 0; i >= 0; i = sym[i].next) ids.push_back(sym[i].id);
}

void BpeModel::encode(std::string_view piece, std::vector<int64_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges) {
    if (auto id = vocab_.find(piece)) { out.push_back(*id); return; }
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int64_t> ids;
  bool last_unk = false;
  std::string tok;
  for (size_t i = 0, len; i < piece.size(); i += len) {
    cp_at(piece, i, len);
    tok.assign(i > 0 ? continuing_subword_prefix : "");
    tok.append(piece.substr(i, len));
    if (i + len == piece.size()) tok += end_of_word_suffix;
    if (auto id = vocab_.find(tok)) {
      ids.push_back(*id);
      last_unk = false;
      continue;
    }
    if (byte_fallback) {
      bool all = true;
      std::vector<int64_t> bytes;
      for (size_t k = 0; k < len && all; ++k) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(piece[i + k]));
        auto id = vocab_.find(name);
        all = id.has_value();
        if (all) bytes.push_back(*id);
      }
      if (all) {
        ids.insert(ids.end(), bytes.begin(), bytes.end());
        last_unk = false;
        continue;
      }
    }
    if (unk && !(fuse_unk && last_unk)) ids.push_back(*unk);
    last_unk = unk.has_value();
  }
  merge_word(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (piece.size() > 256) return;  // whole texts (LLaMA-style BPE has no pre-tokenizer) are not cached
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() > 500000) cache_.clear();
  cache_.emplace(std::string(piece), std::move(ids));
}

// ---- Unigram ----

void UnigramModel::finish() {
  ARK_CHECK(scores.size() == vocab_.tokens.size(), "unigram: ", scores.size(), " scores for ", vocab_.tokens.size(),
            " pieces");
  min_score_ = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    min_score_ = std::min(min_score_, scores[i]);
    max_piece_bytes_ = std::max(max_piece_bytes_, vocab_.tokens[i].size());
  }
}

void UnigramModel::encode(std::string_view piece, std::vector<int64_t>& out) const {
  constexpr double kUnkPenalty = 10.0;
  const size_t n = piece.size();
  std::vector<size_t> next(n + 1, n);  // byte offset of the next code point
  std::vector<char> boundary(n + 1, 0);
  for (size_t i = 0, len; i < n; i += len) {
    cp_at(piece, i, len);
    boundary[i] = 1;
    next[i] = i + len;
  }
  boundary[n] = 1;
  const double kNone = -std::numeric_limits<double>::infinity();
  std::vector<double> best(n + 1, kNone);
  std::vector<size_t> from(n + 1, 0);
  std::vector<int64_t> via(n + 1, -1);  // -1: unknown character
  best[0] = 0;
  std::string key;
  for (size_t i = 0; i < n; ++i) {
    if (!boundary[i] || best[i] == kNone) continue;
    bool single = false;
    for (size_t j = next[i]; j <= n && j - i <= max_piece_bytes_; j = j < n ? next[j] : n + 1) {
      key.assign(piece.substr(i, j - i));
      if (auto id = vocab_.find(key)) {
        if (j == next[i]) single = true;
        const double s = best[i] + scores[static_cast<size_t>(*id)];
        if (s > best[j]) { best[j] = s; from[j] = i; via[j] = *id; }
      }
      if (j == n) break;
    }
    if (!single) {
      const size_t j = next[i];
      const double s = best[i] + min_score_ - kUnkPenalty;
      if (s > best[j]) { best[j] = s; from[j] = i; via[j] = -1; }
    }
  }
  std::vector<std::pair<size_t, int64_t>> path;  // (start, id or -1)
  for (size_t j = n; j > 0; j = from[j]) path.emplace_back(from[j], via[j]);
  std::reverse(path.begin(), path.end());
  bool last_unk = false;
  for (size_t k = 0; k < path.size(); ++k) {
    const auto [start, id] = path[k];
    if (id >= 0) { out.push_back(id); last_unk = false; continue; }
    if (byte_fallback) {
      const size_t end = k + 1 < path.size() ? path[k + 1].first : n;
      bool all = true;
      std::vector<int64_t> bytes;
      for (size_t b = start; b < end && all; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(piece[b]));
        auto bid = vocab_.find(name);
        all = bid.has_value();
        if (all) bytes.push_back(*bid);
      }
      if (all) { out.insert(out.end(), bytes.begin(), bytes.end()); last_unk = false; continue; }
    }
    if (!last_unk) out.push_back(unk);  // consecutive unknowns fuse, as tokenizers' Unigram does
    last_unk = true;
  }
}

// ---- GPT-2 pre-tokenisation ----

void split_gpt2(std::string_view s, const std::function<void(size_t, size_t)>& emit) {
  const size_t n = s.size();
  auto cls = [](char32_t x) { return u::is_letter(x) ? 1 : u::is_number(x) ? 2 : u::is_white_space(x) ? 3 : 0; };
  for (size_t i = 0; i < n;) {
    size_t len;
    const char32_t c = cp_at(s, i, len);
    if (c == '\'' && i + 1 < n) {  // 's|'t|'re|'ve|'m|'ll|'d
      const char a = s[i + 1], b = i + 2 < n ? s[i + 2] : '\0';
      if (a == 's' || a == 't' || a == 'm' || a == 'd') { emit(i, i + 2); i += 2; continue; }
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) { emit(i, i + 3); i += 3; continue; }
    }
    size_t j = i, dlen = len;
    char32_t d = c;
    if (c == ' ' && i + 1 < n) { j = i + 1; d = cp_at(s, j, dlen); }
    const int k = cls(d);
    if (k != 3) {  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
      size_t e = j + dlen, l2;
      while (e < n && cls(cp_at(s, e, l2)) == k) e += l2;
      emit(i, e);
      i = e;
      continue;
    }
    // A whitespace run: '\s+(?!\S)' keeps its last character for the next token when a
    // non-space follows; '\s+' takes a single one.
    size_t e = i, last = i, l2;
    while (e < n && cls(cp_at(s, e, l2)) == 3) { last = e; e += l2; }
    const size_t end = (e < n && last > i) ? last : e;
    emit(i, end);
    i = end;
  }
}

const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      u::append_utf8(t[b], printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++));
    }
    return t;
  }();
  return table;
}

PreTokenizer byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return [add_prefix_space, use_regex](std::vector<std::string>& pieces, bool) {
    const auto& map = byte_to_unicode();
    std::vector<std::string> out;
    auto add = [&](std::string_view w) {
      std::string m;
      m.reserve(w.size() * 2);
      for (char ch : w) m += map[static_cast<unsigned char>(ch)];
      out.push_back(std::move(m));
    };
    for (auto& p : pieces) {
      if (add_prefix_space && (p.empty() || p[0] != ' ')) p.insert(p.begin(), ' ');
      if (use_regex) split_gpt2(p, [&](size_t b, size_t e) { add(std::string_view(p).substr(b, e - b)); });
      else add(p);
    }
    pieces = std::move(out);
  };
}

void byte_level_decode(std::vector<std::string>& tokens) {
  static const std::unordered_map<char32_t, unsigned char> inverse = [] {
    std::unordered_map<char32_t, unsigned char> m;
    const auto& map = byte_to_unicode();
    for (int b = 0; b < 256; ++b) m[u::decode_utf8(map[b])[0]] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string bytes;
  for (const auto& t : tokens) {
    for (size_t i = 0, len; i < t.size(); i += len) {
      const char32_t c = cp_at(t, i, len);
      auto it = inverse.find(c);
      if (it != inverse.end()) bytes.push_back(static_cast<char>(it->second));
      else bytes.append(t, i, len);  // not a byte stand-in (an added token's text): as is
    }
  }
  tokens.assign(1, u::sanitize_utf8(bytes));  // errors="replace"
}

Decoder wordpiece_decoder(std::string prefix, bool cleanup) {
  return [prefix, cleanup](std::vector<std::string>& tokens) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i > 0) {
        if (!prefix.empty() && t.rfind(prefix, 0) == 0) t.erase(0, prefix.size());
        else t.insert(t.begin(), ' ');
      }
      if (cleanup) {
        static const std::pair<std::string_view, std::string_view> kRules[] = {
            {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
            {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
        for (const auto& [from, to] : kRules)
          for (size_t pos; (pos = t.find(from)) != std::string::npos;) t.replace(pos, from.size(), to);
      }
    }
  };
}

// ---- BERT ----

Normalizer bert_normalizer(BasicTokenizerOptions o) {
  return [o](std::string& text) {
    const std::u32string in = u::decode_utf8(text);
    std::u32string a;
    a.reserve(in.size());
    for (char32_t c : in) {
      if (o.clean_text) {
        if (c == 0 || c == 0xfffd || (c != '\t' && c != '\n' && c != '\r' && u::is_other(c))) continue;
        if (c == '\t' || c == '\n' || c == '\r' || u::is_space_separator(c)) { a.push_back(' '); continue; }
      }
      if (o.handle_chinese_chars && u::is_cjk(c)) {
        a.push_back(' ');
        a.push_back(c);
        a.push_back(' ');
        continue;
      }
      a.push_back(c);
    }
    if (o.lowercase) {
      std::u32string b;
      b.reserve(a.size());
      for (char32_t c : a) u::append_lower(b, c);
      a = std::move(b);
    }
    if (o.strip_accents.value_or(o.lowercase)) {
      std::u32string b;
      b.reserve(a.size());
      for (char32_t c : a) u::append_stripped(b, c);
      a = std::move(b);
    }
    text = u::to_utf8(a);
  };
}

void bert_pre_tokenize(std::vector<std::string>& pieces, bool) {
  std::vector<std::string> out;
  for (const auto& p : pieces) {
    size_t start = 0;
    auto flush = [&](size_t end) {
      if (end > start) out.emplace_back(p, start, end - start);
    };
    for (size_t i = 0, len; i < p.size(); i += len) {
      const char32_t c = cp_at(p, i, len);
      if (py_space(c)) {
        flush(i);
        start = i + len;
      } else if (bert_punct(c)) {
        flush(i);
        out.emplace_back(p, i, len);
        start = i + len;
      }
    }
    flush(p.size());
  }
  pieces = std::move(out);
}

// ---- the pipeline ----

void PipelineTokenizer::encode_text(std::string_view text, bool first, std::vector<int64_t>& out) const {
  std::vector<std::string> pieces(1, std::string(text));
  for (const auto& n : normalizers) n(pieces[0]);
  for (const auto& p : pre_tokenizers) p(pieces, first);
  for (const auto& p : pieces)
    if (!p.empty()) model->encode(p, out);
}

std::string PipelineTokenizer::decode_ids(std::span<const int64_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) tokens.push_back(id_to_token(id));
  for (const auto& d : decoders) d(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace ark::tokenizers::detail
