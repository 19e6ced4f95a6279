// `ark generate MODEL --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
//  [--repetition-penalty R] [--seed S] [--stop STR]... [--no-cache] [--verbose]`
// MODEL is a Hugging Face folder (config.json, weights, tokenizer files) of a causal LM
// (GPT2LMHeadModel, LlamaForCausalLM). The continuation is printed as it comes, flushed per
// token: text is decoded from all new tokens so far and printed up to what is final, holding
// back an incomplete UTF-8 character (or its U+FFFD) and any tail that could still become a stop
// string; a stop string ends generation and is not printed. Sampling defaults are Hugging Face's
// do_sample ones (temperature 1, top-k 50); --temperature 0 is greedy. Without --seed the seed
// is random (printed with --verbose). A prompt that leaves no room in the model's context is a
// usage error (exit 2), as are bad sampling arguments. Statistics go to stderr with --verbose.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>

#include "ark/models/generation.h"
#include "ark/models/hf.h"
#include "ark/tokenizers/tokenizer.h"
#include "cli.h"

namespace ark::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt;
  int64_t max_tokens = 50;
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;
  double repetition_penalty = 1.0;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool no_cache = false, verbose = false;
};

// Bytes of `text` that are final: without a trailing incomplete UTF-8 sequence and without a
// trailing U+FFFD (a decoder's stand-in for bytes the next token may complete).
size_t stable_length(const std::string& text) {
  size_t n = text.size();
  // An incomplete multi-byte sequence at the end: a lead byte whose continuation bytes are missing.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > back) n -= back;
    break;
  }
  static const std::string kReplacement = "\xEF\xBF\xBD";
  if (n >= 3 && text.compare(n - 3, 3, kReplacement) == 0) n -= 3;
  return n;
}

// Streams decoded text to stdout, holding back what may still change or form a stop string.
class Printer {
 public:
  Printer(const tokenizers::Tokenizer& tok, std::vector<std::string> stops) : tok_(tok), stops_(std::move(stops)) {}

  void add(int64_t token) {
    ids_.push_back(token);
    flush_up_to(printable(tok_.decode(ids_, true), false));
  }
  /// Prints the rest (cut at a stop string) and a newline.
  void finish() {
    flush_up_to(printable(tok_.decode(ids_, true), true));
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  size_t tokens() const { return ids_.size(); }

 private:
  std::pair<std::string, size_t> printable(std::string text, bool final) const {
    size_t limit = final ? text.size() : stable_length(text);
    for (const auto& s : stops_) {
      if (s.empty()) continue;
      if (size_t at = text.find(s); at != std::string::npos) limit = std::min(limit, at);
    }
    if (!final)
      for (const auto& s : stops_)  // a tail that is the start of a stop string may complete it
        for (size_t k = std::min(s.size() - 1, limit); k > 0; --k)
          if (text.compare(limit - k, k, s, 0, k) == 0) {
            limit -= k;
            break;
          }
    return {std::move(text), limit};
  }
  void flush_up_to(const std::pair<std::string, size_t>& p) {
    const auto& [text, limit] = p;
    if (limit > printed_) {
      std::fwrite(text.data() + printed_, 1, limit - printed_, stdout);
      std::fflush(stdout);
      printed_ = limit;
    }
  }

  const tokenizers::Tokenizer& tok_;
  std::vector<std::string> stops_;
  std::vector<int64_t> ids_;
  size_t printed_ = 0;
};

void run_generate(const GenerateArgs& a) {
  struct stat st {};
  if (::stat(a.model.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw CommandError(kIo, "generate: " + a.model + " is not a folder (expected a Hugging Face model folder)");
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<nn::Module> module = models::hf::from_pretrained(a.model);
  auto model = std::dynamic_pointer_cast<models::CausalLM>(module);
  if (!model)
    throw CommandError(kUsage, "generate: " + a.model + " holds a " + module->name() +
                                   ", not a causal language model (GPT2LMHeadModel, LlamaForCausalLM)");
  const auto tok = tokenizers::from_folder(a.model);
  const std::vector<int64_t> prompt = tok->encode(a.prompt, true);
  if (prompt.empty()) throw CommandError(kUsage, "generate: the prompt is empty (and the tokenizer adds no BOS)");
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt >= model->context_length())
    throw CommandError(kUsage, "generate: the prompt has " + std::to_string(n_prompt) +
                                   " tokens but the model's context is " + std::to_string(model->context_length()) +
                                   " tokens; shorten the prompt");
  for (int64_t id : prompt)
    if (id >= model->vocab_size())
      throw CommandError(kBadFile, "generate: the tokenizer gave id " + std::to_string(id) +
                                       " but the model's vocabulary has " + std::to_string(model->vocab_size()) +
                                       " tokens: the tokenizer files do not belong to this model");

  models::GenerationConfig g;
  g.max_new_tokens = a.max_tokens;
  g.temperature = a.temperature;
  g.top_k = a.top_k;
  g.top_p = a.top_p;
  g.repetition_penalty = a.repetition_penalty;
  g.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
  g.use_cache = !a.no_cache;
  std::vector<int64_t> eos = model->eos_token_ids;
  if (tok->eos_id() && std::find(eos.begin(), eos.end(), *tok->eos_id()) == eos.end()) eos.push_back(*tok->eos_id());
  g.eos_token_ids = eos;
  g.stop_strings = a.stop;
  if (!a.stop.empty()) g.decode = [&tok](const std::vector<int64_t>& ids) { return tok->decode(ids, true); };

  Printer printer(*tok, a.stop);
  const auto t1 = std::chrono::steady_clock::now();
  const auto result = models::generate(*model, std::vector<std::vector<int64_t>>{prompt}, g,
                                       [&printer](int64_t, int64_t token) { printer.add(token); });
  const auto t2 = std::chrono::steady_clock::now();
  printer.finish();
  if (a.verbose) {
    const double load_s = std::chrono::duration<double>(t1 - t0).count();
    const double gen_s = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr, "[%s: loaded in %.2f s; prompt %lld tokens; %zu new tokens in %.2f s (%.1f tok/s); seed %llu; "
                 "stopped: %s]\n", model->name().c_str(), load_s, static_cast<long long>(n_prompt), printer.tokens(),
                 gen_s, gen_s > 0 ? static_cast<double>(printer.tokens()) / gen_s : 0.0,
                 static_cast<unsigned long long>(*g.seed), models::to_string(result.finish_reasons[0]));
  }
}

}  // namespace

void add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a causal language model (Hugging Face folder)");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("model", a->model, "Hugging Face model folder (config.json, weights, tokenizer)")->required();
  cmd->add_option("--prompt,-p", a->prompt, "the text to continue")->required();
  cmd->add_option("--max-tokens,-n", a->max_tokens, "new tokens at most")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature,-t", a->temperature, "sampling temperature; 0 = greedy")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", a->top_k, "sample from the k most likely tokens; 0 = all")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a->top_p, "nucleus sampling: the smallest set of tokens with this probability, in (0, 1]")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0) & CLI::Validator(
          [](const std::string& s) { return std::stod(s) > 0 ? std::string() : std::string("top-p must be > 0"); },
          "(0, 1]"));
  cmd->add_option("--repetition-penalty", a->repetition_penalty, "> 1 discourages repeating tokens; 1 = off")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a->seed, "sampling seed (default: random)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--stop", a->stop, "stop when the continuation contains this text (repeatable; not printed)");
  cmd->add_flag("--no-cache", a->no_cache, "recompute the whole sequence every token (slow; for checking)");
  cmd->add_flag("--verbose,-v", a->verbose, "timings and the seed on stderr");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace ark::cli
