// UTF-8 validation for the strings of untrusted files (safetensors headers, pickle strings).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ark::io {

/// True when s[0, n) is well-formed UTF-8: no truncated or overlong sequences, nothing above
/// U+10FFFF. Surrogates (U+D800-DFFF) are refused unless `allow_surrogates`, which Python's
/// "surrogatepass" decoding of pickle strings needs.
inline bool valid_utf8(const unsigned char* s, size_t n, bool allow_surrogates = false) {
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
      return false;  // overlong forms, beyond Unicode
    if (!allow_surrogates && cp >= 0xd800 && cp <= 0xdfff) return false;
    i += len;
  }
  return true;
}

}  // namespace ark::io
