// Strict readers for user tables: RFC 4180 CSV/TSV and JSON Lines. Every defect is an ark::Error
// "<file>:<line>: <what>", so that a user can jump to the line; nothing is guessed or repaired.
// ref: RFC 4180 (CSV), RFC 3629 section 4 (the UTF-8 byte sequences that are well-formed).
#include "ark/datasets/table.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "ark/core/error.h"

namespace ark::datasets {
namespace {

// The offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629
// table 3-7: no overlong forms, no surrogates D800-DFFF, nothing above U+10FFFF), or npos.
size_t invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte, narrowed for the edge leads
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong below U+0800
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong below U+10000
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;  // a continuation byte, C0/C1 (overlong) or F5-FF
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string::npos;
}

// The 1-based line of byte `offset`, counting CRLF and LF as one line end each, and a lone CR
// too when `lone_cr` (the CSV parser's line ends; JSON Lines end lines at LF only).
int64_t line_at(const std::string& s, size_t offset, bool lone_cr) {
  int64_t line = 1;
  for (size_t i = 0; i < offset && i < s.size(); ++i) {
    if (s[i] == '\n') {
      ++line;
    } else if (lone_cr && s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')) {
      ++line;
    }
  }
  return line;
}

void check_utf8(const std::string& text, const std::string& name, bool lone_cr) {
  const size_t bad = invalid_utf8(text);
  if (bad == std::string::npos) return;
  const size_t line_start = [&] {
    size_t k = bad;
    while (k > 0 && text[k - 1] != '\n' && !(lone_cr && text[k - 1] == '\r')) --k;
    return k;
  }();
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
  ARK_ERROR(name, ":", line_at(text, bad, lone_cr), ": invalid UTF-8 (byte ", hex, " at column ", bad - line_start + 1,
            "); save the file as UTF-8");
}

size_t skip_bom(const std::string& text) { return text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0; }

std::string lower_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ARK_CHECK(f.is_open(), "cannot open table '", path, "': ", std::strerror(errno));
  std::ostringstream os;
  os << f.rdbuf();
  ARK_CHECK(!f.bad(), "cannot read table '", path, "': ", std::strerror(errno));
  return std::move(os).str();
}

void add_header_name(Table& t, std::unordered_set<std::string>& seen, const std::string& name, int64_t line) {
  ARK_CHECK(!name.empty(), t.path, ":", line, ": column ", t.columns.size() + 1, " of the header has an empty name");
  ARK_CHECK(seen.insert(name).second, t.path, ":", line, ": the header names column '", name, "' twice");
  t.columns.push_back(name);
}

std::string describe_delimiter(char d) { return d == '\t' ? "tab" : std::string("'") + d + "'"; }

}  // namespace

size_t invalid_utf8_offset(std::string_view text) { return invalid_utf8(text); }

int64_t Table::column(const std::string& name) const {
  const auto it = std::find(columns.begin(), columns.end(), name);
  return it == columns.end() ? -1 : static_cast<int64_t>(it - columns.begin());
}

int64_t Table::require_column(const std::string& name) const {
  const int64_t i = column(name);
  if (i >= 0) return i;
  std::string have;
  for (const auto& c : columns) have += (have.empty() ? "'" : ", '") + c + "'";
  ARK_ERROR(path, ": no column '", name, "'; the columns are ", have.empty() ? "(none)" : have);
}

Table parse_csv(const std::string& text, char delimiter, const std::string& name) {
  ARK_CHECK(delimiter == ',' || delimiter == '\t' || delimiter == ';' || delimiter == '|', name,
            ": unsupported CSV delimiter (byte ", static_cast<int>(static_cast<unsigned char>(delimiter)),
            "); use ',', tab, ';' or '|'");
  check_utf8(text, name, true);
  Table t;
  t.path = name;
  const size_t n = text.size();
  size_t i = skip_bom(text);
  int64_t line = 1;
  std::unordered_set<std::string> header_names;
  bool have_header = false;

  std::vector<std::string> record;
  std::string field;
  // One record per iteration: fields separated by the delimiter, ended by a line end or EOF.
  while (i < n) {
    const int64_t record_line = line;
    // A blank line (nothing before its line end) holds no record: skipped, as Python's csv and
    // pandas do; a one-column empty value must be written "".
    if (text[i] == '\n' || text[i] == '\r') {
      ARK_CHECK(have_header, name, ":", line, ": the first line (the header) is empty");
      i += (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ? 2 : 1;
      ++line;
      continue;
    }
    record.clear();
    for (;;) {  // one field
      field.clear();
      bool ended_record = false;
      if (i < n && text[i] == '"') {
        const int64_t open_line = line;
        ++i;
        for (;;) {
          ARK_CHECK(i < n, name, ":", open_line, ": unterminated quoted field: the quote opened on line ", open_line,
                    " is never closed");
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {  // "" is one quote
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          // Embedded line ends are kept as written; they still advance the line count.
          if (c == '\n' || (c == '\r' && (i + 1 >= n || text[i + 1] != '\n'))) ++line;
          field += c;
          ++i;
        }
        ARK_CHECK(i >= n || text[i] == delimiter || text[i] == '\n' || text[i] == '\r', name, ":", line,
                  ": bad quoting: text after the closing quote of a quoted field (write a quote inside a quoted "
                  "field as \"\")");
      } else {
        const size_t start = i;
        while (i < n && text[i] != delimiter && text[i] != '\n' && text[i] != '\r') {
          ARK_CHECK(text[i] != '"', name, ":", line,
                    ": bad quoting: a quote inside an unquoted field (quote the whole field and double the quote: "
                    "\"a \"\"b\"\" c\")");
          ++i;
        }
        field.assign(text, start, i - start);
      }
      record.push_back(field);
      if (i >= n) {
        ended_record = true;
      } else if (text[i] == delimiter) {
        ++i;  // a delimiter just before the line end leaves an empty last field: the loop goes on
      } else {  // a line end
        i += (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ? 2 : 1;
        ++line;
        ended_record = true;
      }
      if (ended_record) break;
    }
    if (!have_header) {
      for (const auto& h : record) add_header_name(t, header_names, h, record_line);
      have_header = true;
      continue;
    }
    ARK_CHECK(record.size() == t.columns.size(), name, ":", record_line, ": ", record.size(),
              record.size() == 1 ? " field" : " fields", " but the header has ", t.columns.size(),
              " (fields are separated by ", describe_delimiter(delimiter), ")");
    t.rows.push_back(record);
    t.lines.push_back(record_line);
  }
  ARK_CHECK(have_header, name, ": empty table: no header line");
  return t;
}

Table parse_jsonl(const std::string& text, const std::string& name) {
  check_utf8(text, name, false);
  Table t;
  t.path = name;
  std::unordered_map<std::string, size_t> index;  // column name -> position
  size_t pos = skip_bom(text);
  int64_t line = 0;
  while (pos < text.size()) {
    ++line;
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view view(text.data() + pos, end - pos);
    pos = end + 1;
    if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
    if (view.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank line
    // Keys of the top-level object, to refuse duplicates (nlohmann keeps the last one silently).
    std::unordered_set<std::string> keys;
    std::string duplicate;
    // ordered_json keeps the keys in the file's order (nlohmann::json would sort them).
    nlohmann::ordered_json value;
    try {
      value = nlohmann::ordered_json::parse(
          view.begin(), view.end(),
          [&](int depth, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json& parsed) {
            if (depth == 1 && event == nlohmann::ordered_json::parse_event_t::key && parsed.is_string() &&
                !keys.insert(parsed.get<std::string>()).second && duplicate.empty())
              duplicate = parsed.get<std::string>();
            return true;
          });
    } catch (const nlohmann::ordered_json::exception& e) {
      ARK_ERROR(name, ":", line, ": not valid JSON (", e.what(), ")");
    }
    ARK_CHECK(value.is_object(), name, ":", line, ": each line must be a JSON object ({\"key\": value, ...}), got ",
              value.type_name());
    ARK_CHECK(duplicate.empty(), name, ":", line, ": the key '", duplicate, "' appears twice in one object");
    std::vector<std::string> row(t.columns.size());
    for (const auto& [key, v] : value.items()) {
      ARK_CHECK(!key.empty(), name, ":", line, ": an empty key");
      auto it = index.find(key);
      if (it == index.end()) {
        // A key first seen on a later line becomes a column; earlier rows lack it (empty).
        it = index.emplace(key, t.columns.size()).first;
        t.columns.push_back(key);
        for (auto& r : t.rows) r.emplace_back();
        row.emplace_back();
      }
      std::string& cell = row[it->second];
      if (v.is_string()) {
        cell = v.get<std::string>();
      } else if (!v.is_null()) {
        cell = v.dump();
      }
    }
    t.rows.push_back(std::move(row));
    t.lines.push_back(line);
  }
  ARK_CHECK(!t.rows.empty(), name, ": empty JSON Lines file: no objects");
  return t;
}

Table read_csv(const std::string& path, char delimiter) {
  if (delimiter == 0) {
    const std::string ext = lower_extension(path);
    delimiter = (ext == ".tsv" || ext == ".tab") ? '\t' : ',';
  }
  return parse_csv(read_text_file(path), delimiter, path);
}

Table read_jsonl(const std::string& path) { return parse_jsonl(read_text_file(path), path); }

bool is_table_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".csv" || ext == ".tsv" || ext == ".tab" || ext == ".jsonl" || ext == ".ndjson";
}

Table read_table(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".csv" || ext == ".tsv" || ext == ".tab") return read_csv(path);
  if (ext == ".jsonl" || ext == ".ndjson") return read_jsonl(path);
  ARK_ERROR("'", path, "' is not a table: expected a .csv, .tsv/.tab or .jsonl/.ndjson file");
}

}  // namespace ark::datasets
