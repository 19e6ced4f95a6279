// Tables of user data: CSV (RFC 4180), TSV and JSON Lines, read strictly. Every cell is text;
// readers above this one decide what a column means. Errors are ark::Error naming the file and
// the line: an unterminated or stray quote, a row with the wrong number of fields, invalid UTF-8,
// a JSONL line that is not an object, a duplicated or empty header (JSONL: a key twice in one
// object). A UTF-8 byte-order mark is skipped; CRLF, LF and a lone CR end CSV records (JSONL
// lines end at LF, a CR before it dropped); line ends inside quoted fields are kept as written.
// Blank lines hold no record and are skipped anywhere after the header, as Python's csv.DictReader
// and pandas do (a one-column empty value is written ""); spaces are data, never trimmed. A quote
// is only allowed in a quoted field, doubled (RFC 4180 rule 7); Python's csv module also accepts
// one inside an unquoted field, which we refuse as the likely sign of a broken file.
// JSONL values that are not strings are kept as their JSON text (numbers "3", booleans "true",
// objects and arrays compact); null and a missing key are the empty string.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ark::datasets {

struct Table {
  std::string path;                            // as given, for messages
  std::vector<std::string> columns;            // the header (JSONL: keys in first-seen order)
  std::vector<std::vector<std::string>> rows;  // each rows[i].size() == columns.size()
  std::vector<int64_t> lines;                  // the 1-based line each row starts on

  /// The index of `name`, or -1.
  int64_t column(const std::string& name) const;
  /// The index of `name`; throws ark::Error naming the file and listing the columns it has.
  int64_t require_column(const std::string& name) const;
};

/// CSV with `delimiter` (',' or '\t'; ';' and '|' are accepted too); 0 picks '\t' for a .tsv/.tab
/// file name, else ','.
Table read_csv(const std::string& path, char delimiter = 0);
/// JSON Lines: one object per non-blank line.
Table read_jsonl(const std::string& path);
/// By extension: .csv, .tsv/.tab, .jsonl/.ndjson; anything else is an ark::Error.
Table read_table(const std::string& path);
/// Whether read_table accepts this file name.
bool is_table_file(const std::string& path);

/// Parses CSV text (the file reader's core, exposed for tests and fuzzing); `name` is for messages.
Table parse_csv(const std::string& text, char delimiter, const std::string& name);
Table parse_jsonl(const std::string& text, const std::string& name);

/// The offset of the first byte that is not well-formed UTF-8 (RFC 3629: overlong forms,
/// surrogates and code points above U+10FFFF are ill-formed), or std::string_view::npos.
size_t invalid_utf8_offset(std::string_view text);

}  // namespace ark::datasets
