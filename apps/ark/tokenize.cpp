// `ark tokenize MODEL_OR_TOKENIZER (TEXT | --file F) [--json] [--no-special-tokens]` prints the token
// ids and pieces a model's tokenizer gives; `--decode ID...` prints the text of ids instead.
// MODEL_OR_TOKENIZER is a Hugging Face model folder or one tokenizer file (tokenizer.json, a
// SentencePiece .model, vocab.txt, vocab.json / encoder.json). --json prints one JSON object
// on stdout and nothing else. Invalid UTF-8 in the text is read with replacement (U+FFFD).
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ark/tokenizers/tokenizer.h"
#include "cli.h"

namespace ark::cli {
namespace {

struct TokenizeArgs {
  std::string tokenizer, text, file;
  std::vector<int64_t> decode;
  bool json = false, no_special = false, skip_special = false;
};

std::string json_quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void run_tokenize(const TokenizeArgs& a, bool has_text, bool has_file, bool has_decode) {
  if (has_decode == (has_text || has_file) || (has_text && has_file))
    throw CommandError(kUsage, "tokenize: give exactly one of TEXT, --file F or --decode ID...");
  struct stat st {};
  if (::stat(a.tokenizer.c_str(), &st) != 0)
    throw CommandError(kIo, "tokenize: cannot open " + a.tokenizer + ": no such file or directory");
  const auto tok = tokenizers::from_file(a.tokenizer);
  nlohmann::json j;
  j["tokenizer"] = tok->kind();
  j["vocab_size"] = tok->vocab_size();
  if (has_decode) {
    const std::string text = tok->decode(a.decode, a.skip_special);
    if (a.json) {
      j["ids"] = a.decode;
      j["text"] = text;
      std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << text << "\n";
    }
    return;
  }
  std::string text = a.text;
  if (has_file) {
    std::ifstream f(a.file, std::ios::binary);
    if (!f) throw CommandError(kIo, "tokenize: cannot open " + a.file + ": no such file or not readable");
    std::ostringstream s;
    s << f.rdbuf();
    if (f.bad()) throw CommandError(kIo, "tokenize: cannot read " + a.file);
    text = s.str();
  }
  const auto ids = tok->encode(text, !a.no_special);
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (int64_t id : ids) pieces.push_back(tok->id_to_token(id));
  if (a.json) {
    j["ids"] = ids;
    j["tokens"] = pieces;
    j["count"] = ids.size();
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::printf("%s (%s), vocabulary %lld: %zu tokens\n", a.tokenizer.c_str(), tok->kind().c_str(),
              static_cast<long long>(tok->vocab_size()), ids.size());
  std::string list = "[";
  for (size_t i = 0; i < ids.size(); ++i) list += (i ? ", " : "") + std::to_string(ids[i]);
  std::printf("ids: %s]\n", list.c_str());
  for (size_t i = 0; i < ids.size(); ++i) std::printf("%8lld  %s\n", static_cast<long long>(ids[i]), json_quoted(pieces[i]).c_str());
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Show the token ids and pieces of a text (or decode ids) with a model's tokenizer");
  auto a = std::make_shared<TokenizeArgs>();
  cmd->add_option("tokenizer", a->tokenizer, "model folder or tokenizer file (tokenizer.json, .model, vocab.txt, vocab.json)")
      ->required();
  auto* text = cmd->add_option("text", a->text, "the text to tokenize");
  auto* file = cmd->add_option("--file,-f", a->file, "read the text from a file (as is, newlines included)");
  auto* decode = cmd->add_option("--decode", a->decode, "decode these ids instead")->expected(1, -1);
  cmd->add_flag("--json", a->json, "machine-readable JSON on stdout");
  cmd->add_flag("--no-special-tokens", a->no_special, "do not add BOS/EOS/[CLS]/[SEP]");
  cmd->add_flag("--skip-special-tokens", a->skip_special, "with --decode: leave special tokens out");
  cmd->callback([a, text, file, decode] { run_tokenize(*a, text->count() > 0, file->count() > 0, decode->count() > 0); });
}

}  // namespace ark::cli
