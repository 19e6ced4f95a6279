// The table readers (table.h): RFC 4180 CSV/TSV and JSON Lines, strictly: every rule of the
// format, every defect as an ark::Error naming the file and line; a tricky file compared with
// Python's csv module.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ark/core/error.h"
#include "ark/datasets/table.h"

namespace ark {
namespace {

namespace fs = std::filesystem;
using datasets::parse_csv;
using datasets::parse_jsonl;
using datasets::Table;
using Rows = std::vector<std::vector<std::string>>;

// The message of the ark::Error that `f` throws ("" if it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.msg();
  }
  return "";
}

#define EXPECT_ERROR_HAS(stmt, ...)                                                 \
  do {                                                                              \
    const std::string msg_ = error_of([&] { (void)(stmt); });                       \
    ASSERT_FALSE(msg_.empty()) << #stmt " did not throw";                           \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})          \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << msg_; \
  } while (0)

// A per-process folder for test files, removed at exit.
fs::path scratch() {
  struct Dir {
    fs::path path = fs::path(ARK_TEST_DATA) / ("table_tests_" + std::to_string(::getpid()));
    Dir() { fs::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

std::string write(const std::string& name, const std::string& bytes) {
  const fs::path p = scratch() / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

TEST(TableCsv, HeaderRowsAndLines) {
  const Table t = parse_csv("path,label\na.jpg,cat\nb.jpg,dog\n", ',', "m.csv");
  EXPECT_EQ(t.path, "m.csv");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"path", "label"}));
  EXPECT_EQ(t.rows, (Rows{{"a.jpg", "cat"}, {"b.jpg", "dog"}}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.column("label"), 1);
  EXPECT_EQ(t.column("nope"), -1);
  EXPECT_EQ(t.require_column("path"), 0);
  EXPECT_ERROR_HAS(t.require_column("text"), "m.csv", "no column 'text'", "'path', 'label'");
}

TEST(TableCsv, QuotedFields) {
  // Escaped quotes, embedded delimiters and line ends (kept as written, CRLF included), empty
  // quoted fields; a multi-line field moves the line numbers of the rows after it.
  const std::string text =
      "text,label\n"
      "\"say \"\"hi\"\", then go\",1\n"
      "\"two\nlines\",2\n"
      "\"crlf\r\ninside\",3\n"
      "\"\",4\n"
      "plain,\"5\"\n";
  const Table t = parse_csv(text, ',', "q.csv");
  EXPECT_EQ(t.rows, (Rows{{"say \"hi\", then go", "1"}, {"two\nlines", "2"}, {"crlf\r\ninside", "3"}, {"", "4"},
                          {"plain", "5"}}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 3, 5, 7, 8}));
}

TEST(TableCsv, LineEndsBomBlankLinesAndEmptyFields) {
  // BOM skipped; CRLF, LF and a lone CR end records; no final line end; blank lines skipped (as
  // Python's csv.DictReader does); a delimiter before the line end leaves an empty last field.
  const Table t = parse_csv("\xEF\xBB\xBF" "a,b,c\r\n1,2,3\r\n\r\n4,,\n7,8,9\r10,11,12", ',', "e.csv");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(t.rows, (Rows{{"1", "2", "3"}, {"4", "", ""}, {"7", "8", "9"}, {"10", "11", "12"}}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 4, 5, 6}));
  // Trailing blank lines are fine; a header alone is an empty table.
  EXPECT_EQ(parse_csv("a,b\n1,2\n\n\n\r\n", ',', "x").rows.size(), 1u);
  EXPECT_TRUE(parse_csv("a,b\n", ',', "x").rows.empty());
  // Spaces are data (RFC 4180), not trimmed.
  EXPECT_EQ(parse_csv("a,b\n 1 , 2\n", ',', "x").rows, (Rows{{" 1 ", " 2"}}));
}

TEST(TableCsv, TabSeparated) {
  const Table t = parse_csv("text\tlabel\n\"a\tb\"\tx\nc,d\ty\n", '\t', "t.tsv");
  EXPECT_EQ(t.rows, (Rows{{"a\tb", "x"}, {"c,d", "y"}}));
  // read_csv picks the tab for .tsv/.tab and the comma otherwise.
  const std::string tsv = write("pick.tsv", "a\tb\n1\t2\n");
  EXPECT_EQ(datasets::read_csv(tsv).rows, (Rows{{"1", "2"}}));
  EXPECT_EQ(datasets::read_table(write("pick.TAB", "a\tb\n1\t2\n")).rows, (Rows{{"1", "2"}}));
  EXPECT_EQ(datasets::read_csv(write("pick.csv", "a\tb\n1\t2\n")).columns, (std::vector<std::string>{"a\tb"}));
}

TEST(TableCsv, BadQuoting) {
  EXPECT_ERROR_HAS(parse_csv("a,b\n1,\"open\n2,3\n", ',', "u.csv"), "u.csv:2:", "unterminated quoted field");
  EXPECT_ERROR_HAS(parse_csv("a,b\n1,2\n3,\"x\"\"", ',', "u.csv"), "u.csv:3:", "unterminated");
  EXPECT_ERROR_HAS(parse_csv("a,b\n1,2\n3,ab\"c\n", ',', "s.csv"), "s.csv:3:", "bad quoting",
                   "quote inside an unquoted field");
  EXPECT_ERROR_HAS(parse_csv("a,b\n\"x\"y,2\n", ',', "t.csv"), "t.csv:2:", "bad quoting", "after the closing quote");
  EXPECT_ERROR_HAS(parse_csv("a,b\n\"x\" ,2\n", ',', "t.csv"), "t.csv:2:", "after the closing quote");
  // The line of a defect after a multi-line field is the physical line.
  EXPECT_ERROR_HAS(parse_csv("a,b\n\"1\n2\n3\",x\n4,5\"\n", ',', "m.csv"), "m.csv:5:");
}

TEST(TableCsv, FieldCountsAndHeaders) {
  EXPECT_ERROR_HAS(parse_csv("a,b,c\n1,2,3\n4,5\n", ',', "f.csv"), "f.csv:3:", "2 fields", "header has 3");
  EXPECT_ERROR_HAS(parse_csv("a,b\n1,2,3\n", ',', "f.csv"), "f.csv:2:", "3 fields");
  EXPECT_ERROR_HAS(parse_csv("a\tb\n1,2\n", '\t', "f.tsv"), "f.tsv:2:", "1 field ", "tab");
  EXPECT_ERROR_HAS(parse_csv("a,,c\n1,2,3\n", ',', "h.csv"), "h.csv:1:", "column 2", "empty name");
  EXPECT_ERROR_HAS(parse_csv("a,b,a\n1,2,3\n", ',', "h.csv"), "h.csv:1:", "'a' twice");
  EXPECT_ERROR_HAS(parse_csv("", ',', "e.csv"), "e.csv", "no header");
  EXPECT_ERROR_HAS(parse_csv("\xEF\xBB\xBF", ',', "e.csv"), "e.csv", "no header");
  EXPECT_ERROR_HAS(parse_csv("\na,b\n", ',', "e.csv"), "e.csv:1:", "header", "empty");
  EXPECT_ERROR_HAS(parse_csv("a\n", 'x', "d.csv"), "d.csv", "delimiter");
}

TEST(TableCsv, StrictUtf8) {
  // Well-formed: 2-, 3- and 4-byte sequences up to U+10FFFF, U+FFFF, a NUL.
  const std::string good = "t\n\xC3\xA9\n\xE2\x82\xAC\n\xF0\x9F\x98\x80\n\xF4\x8F\xBF\xBF\n\xEF\xBF\xBF\n";
  EXPECT_EQ(parse_csv(good, ',', "g.csv").rows.size(), 5u);
  EXPECT_EQ(parse_csv(std::string("t\na\0b\n", 6), ',', "z.csv").rows[0][0], std::string("a\0b", 3));
  struct Bad {
    const char* bytes;
    const char* why;
  };
  const Bad bad[] = {
      {"\xC0\x80", "overlong NUL"},          {"\xC1\xBF", "overlong 2-byte"},
      {"\xE0\x80\xAF", "overlong 3-byte"},   {"\xF0\x80\x80\xAF", "overlong 4-byte"},
      {"\xED\xA0\x80", "high surrogate"},    {"\xED\xBF\xBF", "low surrogate"},
      {"\xF4\x90\x80\x80", "above U+10FFFF"}, {"\xF5\x80\x80\x80", "lead F5"},
      {"\xFF", "byte FF"},                   {"\x80", "lone continuation"},
      {"\xE2\x82", "truncated at the end"},  {"\xE2\x28\xA1", "bad continuation"},
      {"\xC3", "truncated 2-byte"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.why);
    EXPECT_ERROR_HAS(parse_csv(std::string("t\nok\nx") + b.bytes, ',', "bad.csv"), "bad.csv:3:", "invalid UTF-8");
  }
  EXPECT_ERROR_HAS(parse_csv("t\n\"multi\nline \xC0\xAF\"\n", ',', "ml.csv"), "ml.csv:3:", "column 6");
}

TEST(TableJsonl, ObjectsColumnsAndValues) {
  // Keys in first-seen order; a key first seen later is a new column (empty in earlier rows);
  // values that are not strings keep their JSON text; null is empty; blank lines and CRLF pass.
  const std::string text =
      "\xEF\xBB\xBF{\"text\": \"good film\", \"label\": \"pos\"}\r\n"
      "\n"
      "  \t\n"
      "{\"label\": 3, \"text\": \"caf\\u00e9\", \"score\": 0.5}\n"
      "{\"text\": null, \"label\": true, \"meta\": {\"a\": [1, 2]}}\n"
      "\n";
  const Table t = parse_jsonl(text, "d.jsonl");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"text", "label", "score", "meta"}));
  EXPECT_EQ(t.rows, (Rows{{"good film", "pos", "", ""}, {"caf\xC3\xA9", "3", "0.5", ""}, {"", "true", "", "{\"a\":[1,2]}"}}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{1, 4, 5}));
  for (const auto& r : t.rows) EXPECT_EQ(r.size(), t.columns.size());
}

TEST(TableJsonl, Errors) {
  EXPECT_ERROR_HAS(parse_jsonl("{\"a\": 1}\n[1, 2]\n", "j.jsonl"), "j.jsonl:2:", "JSON object", "array");
  EXPECT_ERROR_HAS(parse_jsonl("{\"a\": 1}\n\"str\"\n", "j.jsonl"), "j.jsonl:2:", "string");
  EXPECT_ERROR_HAS(parse_jsonl("{\"a\": 1}\n\n{\"a\": 2,}\n", "j.jsonl"), "j.jsonl:3:", "not valid JSON");
  EXPECT_ERROR_HAS(parse_jsonl("{\"a\": 1} {\"a\": 2}\n", "j.jsonl"), "j.jsonl:1:", "not valid JSON");
  EXPECT_ERROR_HAS(parse_jsonl("{\"a\": 1, \"b\": 2, \"a\": 3}\n", "j.jsonl"), "j.jsonl:1:", "'a' appears twice");
  EXPECT_ERROR_HAS(parse_jsonl("{\"\": 1}\n", "j.jsonl"), "j.jsonl:1:", "empty key");
  EXPECT_ERROR_HAS(parse_jsonl("{\"a\": \"x\"}\n{\"a\": \"\xED\xA0\x80\"}\n", "j.jsonl"), "j.jsonl:2:", "invalid UTF-8");
  EXPECT_ERROR_HAS(parse_jsonl("\n \n", "j.jsonl"), "j.jsonl", "no objects");
  // A lone CR is JSON whitespace, not a line end: the error is on line 2.
  EXPECT_ERROR_HAS(parse_jsonl("{\"a\":\r 1}\n{\"a\": \"\xFF\"}\n", "j.jsonl"), "j.jsonl:2:", "invalid UTF-8");
  EXPECT_EQ(parse_jsonl("{\"a\":\r 1}\n", "j").rows, (Rows{{"1"}}));
  // A nested duplicate is the object's own business, not a column clash.
  EXPECT_EQ(parse_jsonl("{\"a\": {\"k\": 1, \"b\": 2}, \"b\": 3}\n", "j").columns, (std::vector<std::string>{"a", "b"}));
}

TEST(TableFiles, ByExtensionAndMissingFiles) {
  EXPECT_TRUE(datasets::is_table_file("x/data.CSV"));
  EXPECT_TRUE(datasets::is_table_file("d.ndjson"));
  EXPECT_TRUE(datasets::is_table_file("d.jsonl"));
  EXPECT_FALSE(datasets::is_table_file("d.json"));
  EXPECT_FALSE(datasets::is_table_file("csv"));
  EXPECT_FALSE(datasets::is_table_file("dir.csv/file"));
  const std::string jl = write("rows.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n");
  EXPECT_EQ(datasets::read_table(jl).rows, (Rows{{"a", "x"}}));
  EXPECT_EQ(datasets::read_table(jl).path, jl);
  EXPECT_ERROR_HAS(datasets::read_table(write("rows.txt", "a,b\n")), "rows.txt", "not a table");
  EXPECT_ERROR_HAS(datasets::read_table((scratch() / "missing.csv").string()), "missing.csv", "cannot open");
  const std::string bad = write("bad.csv", "a,b\n1,2\n3\n");
  EXPECT_ERROR_HAS(datasets::read_table(bad), bad + ":3:");
}

// A file with every tricky case, parsed by Python's csv module (strict) and by us.
TEST(TableCsv, MatchesPythonCsvModule) {
  if (::access(ARK_PYTHON, X_OK) != 0) GTEST_SKIP() << "no " << ARK_PYTHON;
  std::string text = "\xEF\xBB\xBF" "id,text,label\r\n";
  const char* cells[] = {"plain", "\"quoted, comma\"", "\"\"\"\"", "\"multi\r\nline\"", "\"\"", "caf\xC3\xA9",
                         "\"a \"\"b\"\" c\"", " spaced ", "\"\n\"", "\xF0\x9F\x98\x80"};
  int id = 0;
  for (const char* a : cells)
    for (const char* b : {"x", "\"y,z\"", ""}) {
      text += std::to_string(id) + "," + a + "," + b + (id % 3 ? "\r\n" : "\n");  // both line ends
      ++id;
    }
  const std::string csv = write("py.csv", text);
  const std::string json = (scratch() / "py.json").string();
  const std::string cmd = std::string(ARK_PYTHON) +
                          " -c \"import csv, json, sys; r = list(csv.reader(open(sys.argv[1], newline='', "
                          "encoding='utf-8-sig'), strict=True)); json.dump(r, open(sys.argv[2], 'w'))\" " +
                          csv + " " + json;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = nlohmann::json::parse(std::ifstream(json));
  const Table t = datasets::read_csv(csv);
  ASSERT_EQ(ref.size(), t.rows.size() + 1);
  EXPECT_EQ(ref[0].get<std::vector<std::string>>(), t.columns);
  for (size_t i = 0; i < t.rows.size(); ++i) EXPECT_EQ(ref[i + 1].get<std::vector<std::string>>(), t.rows[i]) << i;
}

}  // namespace
}  // namespace ark
