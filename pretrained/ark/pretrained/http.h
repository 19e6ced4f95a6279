// Parsers for the HTTP response headers the downloader trusts only after checking: Content-Range,
// Retry-After, ETag, and a case-insensitive header map. Pure functions over strings (fuzzable,
// RELIABILITY F9); the libcurl transfer itself lives in download.cpp.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ark::pretrained::http {

/// Header names lower-cased; a repeated header keeps its first value.
using Headers = std::map<std::string, std::string>;

/// Parses one raw header line ("Name: value\r\n") into `out`; status lines and blank lines are ignored.
void parse_header_line(std::string_view line, Headers& out);

struct ContentRange {
  uint64_t first = 0, last = 0;  // inclusive
  std::optional<uint64_t> total;  // nullopt for "*"
};
/// "bytes 100-199/1000" or "bytes 100-199/*"; nullopt when malformed or last < first.
std::optional<ContentRange> parse_content_range(std::string_view value);

/// Seconds to wait: delta-seconds ("120") or an HTTP-date relative to `now_unix`; nullopt when
/// malformed. Dates in the past give 0.
std::optional<double> parse_retry_after(std::string_view value, int64_t now_unix);

/// Whether an ETag may be sent in If-Range (strong validators only: weak "W/" ones may not).
bool is_strong_etag(std::string_view etag);

/// The sha256 an X-Linked-Etag carries (quotes stripped, lower-cased) when it is 64 hex digits.
std::optional<std::string> linked_sha256(std::string_view x_linked_etag);

/// A URL with user-info and query removed, for messages (tokens can hide in both).
std::string redact_url(std::string_view url);

}  // namespace ark::pretrained::http
