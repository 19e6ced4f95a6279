// The model-independent half of every tokenizer: added/special tokens in the text, the
// post-processor template, truncation, padding, decoding around added tokens, and BatchEncoding's
// tensors. Semantics follow transformers' PreTrainedTokenizerBase (truncation longest_first
// removes one token at a time from the longer sequence, the second on ties) and tokenizers'
// AddedVocabulary (leftmost-longest match on the raw text; lstrip/rstrip eat the whitespace
// beside the token; single_word needs non-word characters around it). "normalized" added tokens
// are matched on the raw text too.
#include "ark/tokenizers/tokenizer.h"

#include <algorithm>

#include "ark/core/error.h"
#include "ark/ops/ops.h"
#include "ark/tokenizers/unicode.h"

namespace ark::tokenizers {

PostProcessor PostProcessor::bert(int64_t cls, int64_t sep) {
  PostProcessor p;
  p.single = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep}, 0}};
  p.pair = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep}, 0}, {1, {}, 1}, {-1, {sep}, 1}};
  return p;
}

PostProcessor PostProcessor::bos_eos(std::optional<int64_t> bos, std::optional<int64_t> eos) {
  PostProcessor p;
  for (int s = 0; s < 2; ++s) {
    std::vector<TemplatePiece> pieces;
    if (bos) pieces.push_back({-1, {*bos}, s});
    pieces.push_back({s, {}, s});
    if (eos) pieces.push_back({-1, {*eos}, s});
    p.pair.insert(p.pair.end(), pieces.begin(), pieces.end());
    if (s == 0) p.single = pieces;
  }
  return p;
}

int64_t PostProcessor::num_special(bool pair_) const {
  int64_t n = 0;
  for (const auto& piece : pair_ ? pair : single)
    if (piece.sequence < 0) n += static_cast<int64_t>(piece.ids.size());
  return n;
}

void Tokenizer::add_token(AddedToken token) {
  ARK_CHECK(!token.content.empty(), "tokenizer ", source_, ": an added token has empty content (id ", token.id, ")");
  ARK_CHECK(token.id >= 0, "tokenizer ", source_, ": added token '", token.content, "' has negative id ", token.id);
  for (auto& t : added_) {
    if (t.content == token.content) {
      added_index_.erase(t.id);
      t = token;
      added_index_[t.id] = static_cast<size_t>(&t - added_.data());
      return;
    }
  }
  added_index_[token.id] = added_.size();
  added_.push_back(std::move(token));
}

const AddedToken* Tokenizer::added_by_id(int64_t id) const {
  auto it = added_index_.find(id);
  return it == added_index_.end() ? nullptr : &added_[it->second];
}

int64_t Tokenizer::vocab_size() const {
  int64_t n = model_vocab_size();
  for (const auto& t : added_) n = std::max(n, t.id + 1);
  return n;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  if (const AddedToken* t = added_by_id(id)) return t->content;
  ARK_CHECK(id >= 0 && id < model_vocab_size(), "tokenizer ", source_, ": token id ", id, " is out of range [0, ",
            vocab_size(), ")");
  return model_id_to_token(id);
}

std::optional<int64_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& t : added_)
    if (t.content == token) return t.id;
  return model_token_to_id(token);
}

namespace {

bool is_word_char(char32_t c) { return unicode::is_letter(c) || unicode::is_number(c) || c == '_'; }

// The code point ending just before byte `pos` / starting at `pos` (for single_word checks).
char32_t cp_before(std::string_view s, size_t pos) {
  size_t b = pos;
  while (b > 0 && (static_cast<unsigned char>(s[b - 1]) & 0xc0) == 0x80) --b;
  if (b > 0) --b;
  const std::u32string c = unicode::decode_utf8(s.substr(b, pos - b));
  return c.empty() ? U' ' : c.back();
}
char32_t cp_at(std::string_view s, size_t pos) {
  const std::u32string c = unicode::decode_utf8(s.substr(pos, unicode::utf8_len(static_cast<unsigned char>(s[pos]))));
  return c.empty() ? U' ' : c.front();
}
bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::vector<int64_t> Tokenizer::encode_sequence(std::string_view raw) const {
  const std::string text = unicode::sanitize_utf8(raw);
  std::vector<int64_t> out;
  std::vector<const AddedToken*> active;
  for (const auto& t : added_)
    if (!(t.special && split_special_tokens)) active.push_back(&t);
  if (active.empty()) {
    encode_text(text, true, out);
    return out;
  }
  std::string_view s = text;
  bool first_byte[256] = {};
  for (const AddedToken* t : active) first_byte[static_cast<unsigned char>(t->content[0])] = true;
  size_t seg_begin = 0, i = 0;
  while (i < s.size()) {
    if (!first_byte[static_cast<unsigned char>(s[i])]) {
      ++i;
      continue;
    }
    const AddedToken* best = nullptr;
    for (const AddedToken* t : active) {
      if (t->content.size() > s.size() - i || (best && t->content.size() <= best->content.size())) continue;
      if (s.compare(i, t->content.size(), t->content) != 0) continue;
      if (t->single_word) {
        const size_t end = i + t->content.size();
        if ((i > 0 && is_word_char(cp_before(s, i))) || (end < s.size() && is_word_char(cp_at(s, end)))) continue;
      }
      best = t;
    }
    if (!best) {
      i += unicode::utf8_len(static_cast<unsigned char>(s[i]));
      continue;
    }
    size_t seg_end = i, next = i + best->content.size();
    if (best->lstrip)
      while (seg_end > seg_begin && is_space_byte(s[seg_end - 1])) --seg_end;
    if (best->rstrip)
      while (next < s.size() && is_space_byte(s[next])) ++next;
    if (seg_end > seg_begin) encode_text(s.substr(seg_begin, seg_end - seg_begin), seg_begin == 0, out);
    out.push_back(best->id);
    seg_begin = i = next;
  }
  if (seg_begin < s.size()) encode_text(s.substr(seg_begin), seg_begin == 0, out);
  return out;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  EncodeOptions o;
  o.add_special_tokens = add_special_tokens;
  if (!add_special_tokens) return encode_sequence(text);
  return build(encode_sequence(text), std::nullopt, o).ids;
}

std::vector<std::string> Tokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int64_t id : encode_sequence(text)) pieces.push_back(id_to_token(id));
  return pieces;
}

Encoding Tokenizer::build(std::vector<int64_t> a, std::optional<std::vector<int64_t>> b, const EncodeOptions& o) const {
  const bool is_pair = b.has_value();
  if (o.truncation != Truncation::kNone) {
    ARK_CHECK(o.max_length.has_value(), "tokenizer: truncation needs max_length");
    const int64_t specials = o.add_special_tokens ? post_.num_special(is_pair) : 0;
    ARK_CHECK(*o.max_length >= specials, "tokenizer: max_length ", *o.max_length, " is shorter than the ", specials,
              " special tokens the template adds");
    const int64_t la = static_cast<int64_t>(a.size()), lb = is_pair ? static_cast<int64_t>(b->size()) : 0;
    int64_t remove = la + lb + specials - *o.max_length;
    if (remove > 0) {
      int64_t ra = 0, rb = 0;
      if (o.truncation == Truncation::kLongestFirst && is_pair) {
        // One token at a time from the longer sequence, the second on ties.
        const int64_t first = std::min(std::abs(la - lb), remove), rest = remove - first;
        if (la > lb) { ra = first + rest / 2; rb = rest - rest / 2; }
        else { ra = rest / 2; rb = first + rest - rest / 2; }
      } else if (o.truncation == Truncation::kOnlySecond) {
        ARK_CHECK(is_pair, "tokenizer: truncation only_second needs a pair of sequences");
        rb = remove;
      } else {
        ra = remove;
      }
      // transformers refuses to empty a sequence, except longest_first on a pair.
      const bool may_empty = o.truncation == Truncation::kLongestFirst && is_pair;
      ARK_CHECK(may_empty ? (ra <= la && rb <= lb) : ((ra == 0 || ra < la) && (rb == 0 || rb < lb)),
                "tokenizer: cannot truncate to max_length ", *o.max_length, ": ", remove,
                " tokens must go but the sequence", is_pair ? "s have " : " has ", la, is_pair ? " and " : "",
                is_pair ? std::to_string(lb) : "", " tokens");
      auto cut = [&](std::vector<int64_t>& v, int64_t n) {
        if (o.truncate_left) v.erase(v.begin(), v.begin() + n);
        else v.resize(v.size() - static_cast<size_t>(n));
      };
      cut(a, ra);
      if (is_pair) cut(*b, rb);
    }
  }
  Encoding e;
  auto append = [&](const std::vector<int64_t>& ids, int64_t type, int64_t special) {
    e.ids.insert(e.ids.end(), ids.begin(), ids.end());
    e.token_type_ids.insert(e.token_type_ids.end(), ids.size(), type);
    e.special_tokens_mask.insert(e.special_tokens_mask.end(), ids.size(), special);
  };
  if (!o.add_special_tokens) {
    append(a, 0, 0);
    if (is_pair) append(*b, 1, 0);
  } else if ((is_pair ? post_.pair : post_.single).empty()) {  // no template: A, or A B with types 0, 1
    append(a, 0, 0);
    if (is_pair) append(*b, 1, 0);
  } else {
    for (const auto& piece : is_pair ? post_.pair : post_.single) {
      if (piece.sequence < 0) append(piece.ids, piece.type_id, 1);
      else if (piece.sequence == 0) append(a, piece.type_id, 0);
      else if (is_pair) append(*b, piece.type_id, 0);
    }
  }
  e.attention_mask.assign(e.ids.size(), 1);
  return e;
}

void Tokenizer::pad(std::vector<Encoding>& batch, const EncodeOptions& o) const {
  if (o.padding == Padding::kNone) return;
  size_t target = 0;
  if (o.padding == Padding::kMaxLength) {
    ARK_CHECK(o.max_length.has_value() && *o.max_length >= 0, "tokenizer: padding to max_length needs max_length");
    target = static_cast<size_t>(*o.max_length);
  } else {
    for (const auto& e : batch) target = std::max(target, e.size());
  }
  bool needed = false;
  for (const auto& e : batch) needed |= e.size() < target;
  if (!needed) return;
  ARK_CHECK(pad_.has_value(), "tokenizer ", source_, ": padding needs a pad token and this tokenizer has none (set_pad)");
  for (auto& e : batch) {
    if (e.size() >= target) continue;
    const size_t n = target - e.size();
    auto fill = [&](std::vector<int64_t>& v, int64_t value) {
      v.insert(o.pad_left ? v.begin() : v.end(), n, value);
    };
    fill(e.ids, *pad_);
    fill(e.token_type_ids, 0);
    fill(e.attention_mask, 0);
    fill(e.special_tokens_mask, 1);
  }
}

Encoding Tokenizer::encode_plus(std::string_view text, std::optional<std::string_view> pair, const EncodeOptions& o) const {
  std::optional<std::vector<int64_t>> b;
  if (pair) b = encode_sequence(*pair);
  std::vector<Encoding> one{build(encode_sequence(text), std::move(b), o)};
  pad(one, o);
  return std::move(one[0]);
}

BatchEncoding Tokenizer::encode_batch(const std::vector<std::string>& texts, const EncodeOptions& o) const {
  BatchEncoding out;
  for (const auto& t : texts) out.encodings.push_back(build(encode_sequence(t), std::nullopt, o));
  pad(out.encodings, o);
  return out;
}

BatchEncoding Tokenizer::encode_batch_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                      const EncodeOptions& o) const {
  BatchEncoding out;
  for (const auto& [a, b] : pairs) out.encodings.push_back(build(encode_sequence(a), encode_sequence(b), o));
  pad(out.encodings, o);
  return out;
}

namespace {

void clean_up_spaces(std::string& s) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    std::string r;
    r.reserve(s.size());
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
      r.append(s, pos, hit - pos).append(to);
    r.append(s, pos, std::string::npos);
    s = std::move(r);
  }
}

}  // namespace

std::string Tokenizer::decode(std::span<const int64_t> ids, bool skip_special_tokens) const {
  const int64_t n = vocab_size();
  auto named_special = [&](int64_t id) {
    for (const auto& s : {bos_, eos_, pad_, unk_, cls_, sep_, mask_})
      if (s && *s == id) return true;
    return false;
  };
  std::vector<int64_t> kept;
  kept.reserve(ids.size());
  for (int64_t id : ids) {
    ARK_CHECK(id >= 0 && id < n, "tokenizer ", source_, ": cannot decode token id ", id, ": out of range [0, ", n, ")");
    const AddedToken* added = added_by_id(id);
    if (skip_special_tokens && ((added && added->special) || named_special(id))) continue;
    kept.push_back(id);
  }
  std::string out;
  if (decode_added_through_model()) {
    out = decode_ids(kept);
  } else {
    std::vector<int64_t> run;
    for (int64_t id : kept) {
      const AddedToken* added = added_by_id(id);
      if (added || id >= model_vocab_size()) {
        out += decode_ids(run);
        run.clear();
        out += added ? added->content : id_to_token(id);
      } else {
        run.push_back(id);
      }
    }
    out += decode_ids(run);
  }
  if (clean_up_tokenization_spaces) clean_up_spaces(out);
  return out;
}

namespace {

Tensor batch_tensor(const BatchEncoding& b, std::vector<int64_t> Encoding::*field, const char* what) {
  const int64_t rows = static_cast<int64_t>(b.encodings.size());
  const int64_t cols = rows ? static_cast<int64_t>((b.encodings[0].*field).size()) : 0;
  std::vector<int64_t> flat;
  flat.reserve(static_cast<size_t>(rows * cols));
  for (const auto& e : b.encodings) {
    ARK_CHECK(static_cast<int64_t>((e.*field).size()) == cols, "BatchEncoding::", what,
              ": rows have different lengths (", cols, " and ", (e.*field).size(), "); encode with padding");
    flat.insert(flat.end(), (e.*field).begin(), (e.*field).end());
  }
  return from_blob(flat.data(), {rows, cols}, TensorOptions().dtype(kLong)).clone();
}

}  // namespace

Tensor BatchEncoding::input_ids() const { return batch_tensor(*this, &Encoding::ids, "input_ids"); }
Tensor BatchEncoding::attention_mask() const { return batch_tensor(*this, &Encoding::attention_mask, "attention_mask"); }
Tensor BatchEncoding::token_type_ids() const { return batch_tensor(*this, &Encoding::token_type_ids, "token_type_ids"); }

}  // namespace ark::tokenizers
