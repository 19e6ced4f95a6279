// The Unicode pieces the tokenizers need, written compactly instead of pulling in ICU: UTF-8
// decoding with replacement, general-category classes (letters, numbers, punctuation, marks,
// controls, spaces), lower-casing and BERT's accent stripping. Tables are generated from one
// Unicode version (tools/unicode/gen_tables.js; see unicode_tables.inc for which).
// Left out: normalization forms beyond "NFD then drop Mn" (no NFC/NFKC composition), case folding
// with context (final sigma), grapheme clusters.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace ark::tokenizers::unicode {

constexpr char32_t kReplacement = 0xfffd;

/// Decodes UTF-8; each maximal ill-formed subsequence becomes one U+FFFD (the WHATWG / Python
/// errors="replace" policy), so invalid input never throws.
std::u32string decode_utf8(std::string_view s);
/// Same policy, but to UTF-8 again (valid input comes back unchanged).
std::string sanitize_utf8(std::string_view s);
void append_utf8(std::string& out, char32_t cp);
std::string to_utf8(std::u32string_view s);
/// Length in bytes of the UTF-8 sequence starting with lead byte c (1 for invalid leads).
inline size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1; }

bool is_letter(char32_t c);        // \p{L}
bool is_number(char32_t c);        // \p{N}
bool is_punctuation(char32_t c);   // \p{P}
bool is_nonspacing_mark(char32_t c);  // \p{Mn}
bool is_other(char32_t c);         // \p{C}: Cc Cf Cs Co Cn
bool is_space_separator(char32_t c);  // \p{Zs}
/// Unicode White_Space (what Python's `regex` and Oniguruma's \s match).
bool is_white_space(char32_t c);
bool is_cjk(char32_t c);  // BERT's _is_chinese_char blocks

/// Appends the lower-case form of c (String.toLowerCase / str.lower of one code point).
void append_lower(std::u32string& out, char32_t c);
/// Appends NFD(c) without its non-spacing marks (BERT's _run_strip_accents of one code point).
void append_stripped(std::u32string& out, char32_t c);

}  // namespace ark::tokenizers::unicode
