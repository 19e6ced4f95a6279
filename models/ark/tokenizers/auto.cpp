// AutoTokenizer: from_folder picks the tokenizer a Hugging Face model folder holds and applies
// tokenizer_config.json / special_tokens_map.json; from_file recognises a single tokenizer file.
// Config keys read: do_lower_case, strip_accents, tokenize_chinese_chars, keep_accents,
// add_bos_token, add_eos_token, clean_up_tokenization_spaces, {bos,eos,unk,sep,pad,cls,mask}_token
// (a string or an AddedToken object), additional_special_tokens, added_tokens_decoder. A key of
// the wrong type is an error naming the file; other keys are ignored.
#include <filesystem>

#include "ark/core/error.h"
#include "ark/tokenizers/pipeline.h"

namespace fs = std::filesystem;

namespace ark::tokenizers {
namespace {

using json = nlohmann::json;

struct Config {
  json j = json::object();
  std::string path;
  template <class T>
  std::optional<T> get(const char* key) const {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    const json& v = j[key];
    if constexpr (std::is_same_v<T, bool>) {
      ARK_CHECK(v.is_boolean(), path, ": '", key, "' must be true or false, got ", v.dump());
    } else if constexpr (std::is_same_v<T, std::string>) {
      ARK_CHECK(v.is_string(), path, ": '", key, "' must be a string, got ", v.dump());
    }
    return v.get<T>();
  }
  // A special token: "[CLS]" or {"content": "[CLS]", ...}.
  std::optional<std::string> token(const char* key) const {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    const json& v = j[key];
    if (v.is_string()) return v.get<std::string>();
    ARK_CHECK(v.is_object() && v.contains("content") && v["content"].is_string(), path, ": '", key,
              "' must be a string or an object with a string 'content', got ", v.dump());
    return v["content"].get<std::string>();
  }
};

Config read_config(const fs::path& p) {
  Config c;
  c.path = p.string();
  if (!fs::exists(p)) return c;
  c.j = detail::parse_json_file(c.path, "tokenizer config");
  ARK_CHECK(c.j.is_object(), c.path, ": expected a JSON object, got ", c.j.type_name());
  return c;
}

AddedToken added_from_json(const json& v, int64_t id, const std::string& where) {
  ARK_CHECK(v.is_object() && v.contains("content") && v["content"].is_string(), where,
            ": an added token must be an object with a string 'content', got ", v.dump());
  AddedToken t;
  t.content = v["content"].get<std::string>();
  t.id = id;
  auto flag = [&](const char* k, bool dflt) {
    if (!v.contains(k)) return dflt;
    ARK_CHECK(v[k].is_boolean(), where, ": added token '", t.content, "': '", k, "' must be a boolean");
    return v[k].get<bool>();
  };
  t.special = flag("special", false);
  t.lstrip = flag("lstrip", false);
  t.rstrip = flag("rstrip", false);
  t.single_word = flag("single_word", false);
  t.normalized = flag("normalized", !t.special);
  return t;
}

void apply_config(Tokenizer& tok, const Config& cfg) {
  if (cfg.j.contains("added_tokens_decoder")) {
    const json& d = cfg.j["added_tokens_decoder"];
    ARK_CHECK(d.is_object(), cfg.path, ": 'added_tokens_decoder' must be an object of id -> token");
    for (const auto& [key, v] : d.items()) {
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(key, &used);
        if (used != key.size()) id = -1;
      } catch (const std::exception&) {
      }
      ARK_CHECK(id >= 0, cfg.path, ": added_tokens_decoder key '", key, "' is not a token id");
      AddedToken t = added_from_json(v, id, cfg.path);
      // The model's own pieces need no added-token entry unless they are special.
      if (auto existing = tok.token_to_id(t.content); existing && *existing == id && !t.special) continue;
      ARK_CHECK(id < tok.vocab_size() + 100000, cfg.path, ": added token '", t.content, "' has id ", id,
                ", far beyond the vocabulary (", tok.vocab_size(), ")");
      tok.add_token(t);
    }
  }
  auto resolve = [&](const char* key) -> std::optional<int64_t> {
    auto t = cfg.token(key);
    if (!t) return std::nullopt;
    auto id = tok.token_to_id(*t);
    ARK_CHECK(id, cfg.path, ": ", key, " '", *t, "' is not in the vocabulary");
    bool known = false;  // special tokens are matched in the text, as transformers does
    for (const auto& a : tok.added_tokens()) known |= a.content == *t;
    if (!known) tok.add_token({*t, *id, true});
    return id;
  };
  if (auto id = resolve("bos_token")) tok.set_bos(id);
  if (auto id = resolve("eos_token")) tok.set_eos(id);
  if (auto id = resolve("unk_token")) tok.set_unk(id);
  if (auto id = resolve("sep_token")) tok.set_sep(id);
  if (auto id = resolve("pad_token")) tok.set_pad(id);
  if (auto id = resolve("cls_token")) tok.set_cls(id);
  if (auto id = resolve("mask_token")) tok.set_mask(id);
  if (cfg.j.contains("additional_special_tokens")) {
    const json& a = cfg.j["additional_special_tokens"];
    ARK_CHECK(a.is_array(), cfg.path, ": 'additional_special_tokens' must be a list");
    for (const auto& v : a) {
      const std::string t = v.is_string() ? v.get<std::string>() : added_from_json(v, 0, cfg.path).content;
      auto id = tok.token_to_id(t);
      ARK_CHECK(id, cfg.path, ": additional special token '", t, "' is not in the vocabulary");
      tok.add_token({t, *id, true});
    }
  }
  if (auto c = cfg.get<bool>("clean_up_tokenization_spaces")) tok.clean_up_tokenization_spaces = *c;
}

fs::path first_existing(const fs::path& dir, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (fs::is_regular_file(dir / n)) return dir / n;
  return {};
}

}  // namespace

std::unique_ptr<Tokenizer> from_folder(const std::string& path) {
  const fs::path dir(path);
  ARK_CHECK(fs::is_directory(dir), "tokenizer folder ", path, ": not a directory");
  Config cfg = read_config(dir / "tokenizer_config.json");
  const Config smap = read_config(dir / "special_tokens_map.json");
  for (const auto& [k, v] : smap.j.items())
    if (!cfg.j.contains(k)) cfg.j[k] = v;  // tokenizer_config.json wins

  std::unique_ptr<Tokenizer> tok;
  if (fs::is_regular_file(dir / "tokenizer.json")) {
    tok = load_tokenizer_json((dir / "tokenizer.json").string());
  } else if (auto sp = first_existing(dir, {"tokenizer.model", "spiece.model", "sentencepiece.bpe.model"}); !sp.empty()) {
    SentencePieceOptions o;
    o.add_bos = cfg.get<bool>("add_bos_token");
    o.add_eos = cfg.get<bool>("add_eos_token").value_or(false);
    o.do_lower_case = cfg.get<bool>("do_lower_case");
    o.keep_accents = cfg.get<bool>("keep_accents");
    tok = load_sentencepiece(sp.string(), o);
  } else if (fs::is_regular_file(dir / "vocab.json") && fs::is_regular_file(dir / "merges.txt")) {
    tok = load_gpt2_bpe((dir / "vocab.json").string(), (dir / "merges.txt").string());
  } else if (fs::is_regular_file(dir / "encoder.json") && fs::is_regular_file(dir / "vocab.bpe")) {
    tok = load_gpt2_bpe((dir / "encoder.json").string(), (dir / "vocab.bpe").string());
  } else if (fs::is_regular_file(dir / "vocab.txt")) {
    WordPieceOptions o;
    o.do_lower_case = cfg.get<bool>("do_lower_case").value_or(true);
    o.strip_accents = cfg.get<bool>("strip_accents");
    o.tokenize_chinese_chars = cfg.get<bool>("tokenize_chinese_chars").value_or(true);
    for (auto [key, field] : {std::pair{"unk_token", &o.unk_token}, {"cls_token", &o.cls_token},
                              {"sep_token", &o.sep_token}, {"pad_token", &o.pad_token}, {"mask_token", &o.mask_token}})
      if (auto t = cfg.token(key)) *field = *t;
    tok = load_wordpiece((dir / "vocab.txt").string(), o);
  } else {
    ARK_ERROR("tokenizer folder ", path, ": no tokenizer files (looked for tokenizer.json, tokenizer.model, ",
              "spiece.model, vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt)");
  }
  apply_config(*tok, cfg);
  // Decoder-only BPE models that ask for BOS/EOS (add_bos_token) get them from the template.
  if (tok->kind() == "gpt2-bpe") {
    const bool bos = cfg.get<bool>("add_bos_token").value_or(false), eos = cfg.get<bool>("add_eos_token").value_or(false);
    if (bos || eos)
      tok->set_post_processor(PostProcessor::bos_eos(bos ? tok->bos_id() : std::nullopt, eos ? tok->eos_id() : std::nullopt));
  }
  return tok;
}

std::unique_ptr<Tokenizer> from_file(const std::string& path) {
  const fs::path p(path);
  if (fs::is_directory(p)) return from_folder(path);
  ARK_CHECK(fs::exists(p), "tokenizer file ", path, ": no such file");
  const std::string name = p.filename().string();
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (name == "vocab.json" || name == "encoder.json") {
    const auto merges = first_existing(dir, {name == "vocab.json" ? "merges.txt" : "vocab.bpe", "merges.txt", "vocab.bpe"});
    ARK_CHECK(!merges.empty(), "BPE vocabulary ", path, ": no merges.txt or vocab.bpe beside it");
    return load_gpt2_bpe(path, merges.string());
  }
  if (p.extension() == ".model") return load_sentencepiece(path);
  if (p.extension() == ".txt" && name != "merges.txt") return load_wordpiece(path);
  if (p.extension() == ".json") return load_tokenizer_json(path);
  ARK_ERROR("tokenizer file ", path, ": unknown kind (expected tokenizer.json, a SentencePiece .model, vocab.txt, ",
            "vocab.json or encoder.json, or a model folder)");
}

}  // namespace ark::tokenizers
