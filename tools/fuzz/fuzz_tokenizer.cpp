// libFuzzer target: the tokenizer file parsers (tokenizer.json, vocab.json + merges.txt, vocab.txt,
// tokenizer_config.json) on arbitrary bytes, then encode/decode with whatever loaded. The first
// byte picks the parser; for vocab.json + merges the rest is split at the first NUL. Files go to a
// per-process scratch folder (the loaders take paths). Any input must load or raise ark::Error;
// crashes, hangs and sanitizer reports are bugs.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "ark/core/error.h"
#include "ark/tokenizers/tokenizer.h"

namespace {

std::string scratch(const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("ark_fuzz_tokenizer_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return (dir / name).string();
}

void put(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void exercise(const ark::tokenizers::Tokenizer& t, std::string_view data) {
  const std::string text = "Hello, wörld! [CLS] <s> 123 \xff\xfe";
  auto ids = t.encode(text);
  auto more = t.encode(std::string(data.substr(0, 256)));
  ids.insert(ids.end(), more.begin(), more.end());
  (void)t.decode(ids);
  (void)t.decode(ids, true);
  ark::tokenizers::EncodeOptions o;
  o.truncation = ark::tokenizers::Truncation::kLongestFirst;
  o.max_length = 8;
  try {
    (void)t.encode_plus(text, std::string_view("pair"), o);
  } catch (const ark::Error&) {  // max_length below the template's special tokens
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: {
        put(scratch("tokenizer.json"), in);
        exercise(*ark::tokenizers::load_tokenizer_json(scratch("tokenizer.json")), in);
        break;
      }
      case 1: {
        const size_t nul = in.find('\0');
        put(scratch("vocab.json"), in.substr(0, nul));
        put(scratch("merges.txt"), nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1));
        exercise(*ark::tokenizers::load_gpt2_bpe(scratch("vocab.json"), scratch("merges.txt")), in);
        break;
      }
      case 2: {
        put(scratch("vocab.txt"), in);
        exercise(*ark::tokenizers::load_wordpiece(scratch("vocab.txt")), in);
        break;
      }
      default: {
        const std::string dir = scratch("folder");
        std::filesystem::create_directories(dir);
        put(dir + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n,\n");
        put(dir + "/tokenizer_config.json", in);
        exercise(*ark::tokenizers::from_folder(dir), in);
        break;
      }
    }
  } catch (const ark::Error&) {
  }
  return 0;
}
