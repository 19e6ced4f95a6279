// Unicode tables and UTF-8 helpers for the tokenizers (see unicode.h).
#include "ark/tokenizers/unicode.h"

#include <algorithm>
#include <iterator>

namespace ark::tokenizers::unicode {
namespace {

struct CodeRange {
  char32_t first, last;
};
struct CaseRun {
  char32_t first, last;
  int32_t stride, delta;
};
struct Decomposition {
  char32_t cp;
  uint32_t offset, length;
};

#include "ark/tokenizers/unicode_tables.inc"

template <size_t N>
bool in(const CodeRange (&table)[N], char32_t c) {
  const CodeRange* end = table + N;
  const CodeRange* it = std::upper_bound(table, end, c, [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != table && c <= std::prev(it)->last;
}

}  // namespace

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) { out.push_back(c); ++i; continue; }
    size_t len;
    char32_t cp;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte (Unicode table 3-7)
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    else { out.push_back(kReplacement); ++i; continue; }
    size_t k = 1;
    for (; k < len && i + k < n; ++k) {
      const unsigned char b = p[i + k];
      if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) break;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (k < len) { out.push_back(kReplacement); i += k; continue; }  // the maximal subpart
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

std::string sanitize_utf8(std::string_view s) {
  // Fast path: all ASCII or already valid.
  const std::u32string cps = decode_utf8(s);
  std::string out = to_utf8(cps);
  return out;
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return in(kLetter, c);
}
bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return in(kNumber, c);
}
bool is_punctuation(char32_t c) { return in(kPunct, c); }
bool is_nonspacing_mark(char32_t c) { return c >= 0x300 && in(kMarkNonSpacing, c); }
bool is_other(char32_t c) { return in(kOther, c); }
bool is_space_separator(char32_t c) { return c == ' ' || (c >= 0x80 && in(kSpaceSep, c)); }
bool is_white_space(char32_t c) {
  return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
         c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void append_lower(std::u32string& out, char32_t c) {
  if (c < 0x80) { out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c); return; }
  if (c == 0x130) { out.push_back('i'); out.push_back(0x307); return; }  // the one 1:2 mapping
  const CaseRun* end = std::end(kLower);
  const CaseRun* it = std::upper_bound(std::begin(kLower), end, c, [](char32_t v, const CaseRun& r) { return v < r.first; });
  if (it != std::begin(kLower)) {
    const CaseRun& r = *std::prev(it);
    if (c <= r.last && (c - r.first) % static_cast<char32_t>(r.stride) == 0) {
      out.push_back(static_cast<char32_t>(static_cast<int64_t>(c) + r.delta));
      return;
    }
  }
  out.push_back(c);
}

void append_stripped(std::u32string& out, char32_t c) {
  if (c < 0xc0) { out.push_back(c); return; }
  if (c >= 0xac00 && c <= 0xd7a3) {  // Hangul syllable: L V (T), Unicode 3.12
    const char32_t s = c - 0xac00;
    out.push_back(0x1100 + s / 588);
    out.push_back(0x1161 + (s % 588) / 28);
    if (s % 28) out.push_back(0x11a7 + s % 28);
    return;
  }
  if (is_nonspacing_mark(c)) return;
  const Decomposition* end = std::end(kStripped);
  const Decomposition* it = std::lower_bound(std::begin(kStripped), end, c, [](const Decomposition& d, char32_t v) { return d.cp < v; });
  if (it != end && it->cp == c) {
    out.append(kStrippedPool + it->offset, it->length);
    return;
  }
  out.push_back(c);
}

}  // namespace ark::tokenizers::unicode
