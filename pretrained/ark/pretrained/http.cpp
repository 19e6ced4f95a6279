#include "ark/pretrained/http.h"

#include <cctype>
#include <charconv>
#include <ctime>

namespace ark::pretrained::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Decimal digits only (no sign, no spaces), no overflow.
std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

void parse_header_line(std::string_view line, Headers& out) {
  line = trim(line);
  const auto colon = line.find(':');
  if (line.empty() || colon == std::string_view::npos || colon == 0) return;
  if (line.substr(0, 5) == "HTTP/") return;
  std::string name(trim(line.substr(0, colon)));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.emplace(std::move(name), std::string(trim(line.substr(colon + 1))));
}

std::optional<ContentRange> parse_content_range(std::string_view value) {
  value = trim(value);
  if (value.substr(0, 6) != "bytes ") return std::nullopt;
  value.remove_prefix(6);
  value = trim(value);
  const auto dash = value.find('-');
  const auto slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return std::nullopt;
  auto first = parse_u64(value.substr(0, dash));
  auto last = parse_u64(value.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *last < *first) return std::nullopt;
  ContentRange r{*first, *last, std::nullopt};
  const std::string_view total = value.substr(slash + 1);
  if (total != "*") {
    auto t = parse_u64(total);
    if (!t || *t <= *last) return std::nullopt;
    r.total = *t;
  }
  return r;
}

std::optional<double> parse_retry_after(std::string_view value, int64_t now_unix) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    auto v = parse_u64(value);
    if (!v) return std::nullopt;
    return static_cast<double>(*v);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string s(value);
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const int64_t when = static_cast<int64_t>(::timegm(&tm));
  return when > now_unix ? static_cast<double>(when - now_unix) : 0.0;
}

bool is_strong_etag(std::string_view etag) {
  etag = trim(etag);
  return etag.size() >= 2 && etag.front() == '"' && etag.back() == '"';
}

std::optional<std::string> linked_sha256(std::string_view v) {
  v = trim(v);
  if (v.substr(0, 2) == "W/") v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.size() != 64 || !is_hex(v)) return std::nullopt;
  std::string out(v);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string redact_url(std::string_view url) {
  std::string u(url);
  const auto q = u.find_first_of("?#");
  if (q != std::string::npos) u.erase(q);
  const auto scheme = u.find("://");
  if (scheme != std::string::npos) {
    const auto host_start = scheme + 3;
    const auto slash = u.find('/', host_start);
    const auto at = u.find('@', host_start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) u.erase(host_start, at + 1 - host_start);
  }
  return u;
}

}  // namespace ark::pretrained::http
