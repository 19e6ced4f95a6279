// `ark eval MODEL --data PATH [--json] [--batch-size B] [--group-by COLUMN] [--confusion OUT.png]
//  [--threads N] [--arch A] [--offline] [--max-samples N]`
// Evaluates a classifier on labelled data (any layout labeled.h reads). The data is read with the
// model's class names fixed, so label i of the data is output i of the model; a label the model
// does not know is an error (exit 5) rather than a silently wrong score. Images go through the
// model's eval transform (resize, centre crop, normalise), texts are tokenised and truncated to
// the model's max_length. Prints the loss, accuracy, top-5 and sklearn's per-class report; with
// --group-by the same per value of that manifest column and the largest gap between groups (a
// fairness audit); --confusion writes the confusion matrix as a PNG; --json prints one object.
// Undecodable images are skipped and counted (the loader's rule: more than 5 % fails the run).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ark/core/error.h"
#include "ark/datasets/augment.h"
#include "ark/datasets/labeled.h"
#include "ark/datasets/loader.h"
#include "ark/datasets/metrics.h"
#include "ark/datasets/plot.h"
#include "ark/models/generation.h"
#include "cli.h"
#include "model_arg.h"

namespace ark::cli {
namespace {

using nlohmann::json;

struct EvalArgs {
  std::string model, data, group_by, confusion, arch;
  bool json = false, offline = false;
  int64_t batch_size = 32;
  int threads = 0;
  int64_t max_samples = 0;
};

std::string fixed(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void run_eval(const EvalArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  ModelArgOptions o;
  o.arch = a.arch;
  o.offline = a.offline;
  o.hash_weights = false;
  o.log = [](const std::string& line) { std::cerr << line << "\n"; };
  ModelArg m = load_model_arg(a.model, o);
  if (m.text && !m.architecture.ends_with("ForSequenceClassification"))
    throw CommandError(kUsage, "eval: " + a.model + " is a " + m.architecture + ", not a classifier");
  if (!m.text && m.vision->num_classes() == 0)
    throw CommandError(kUsage, "eval: " + a.model + " has no classifier head (its weights end at the features)");
  const int64_t num_outputs =
      m.text ? models::detail::config_num_labels(m.hf_config, 2) : m.vision->num_classes();

  std::error_code ec;
  if (!std::filesystem::exists(a.data, ec)) throw CommandError(kIo, "eval: cannot open " + a.data + ": no such file or folder");
  datasets::ReadOptions ro;
  ro.classes = m.labels;
  ro.max_samples = a.max_samples;
  if (!a.group_by.empty()) ro.group_column = a.group_by;
  if (ro.classes.empty())
    std::cerr << "ark eval: " << a.model << " does not name its classes; the data's classes (sorted) are taken as "
              << "outputs 0.." << num_outputs - 1 << "\n";
  datasets::LabeledData data = datasets::read_labeled(a.data, ro);
  const auto num_classes = static_cast<int64_t>(data.classes.size());
  if (num_classes != num_outputs)
    throw CommandError(kUsage, "eval: " + a.data + " has " + std::to_string(num_classes) + " classes but " + a.model +
                                   " has " + std::to_string(num_outputs) + " outputs");
  if ((data.kind == datasets::DataKind::kText) != m.text)
    throw CommandError(kUsage, "eval: " + a.data + " holds " + (m.text ? "images" : "texts") + " but " + a.model +
                                   " is a " + (m.text ? "text" : "vision") + " model");
  if (data.samples.empty()) throw CommandError(kUsage, "eval: " + a.data + " holds no samples");
  bool any_group = false;
  for (const auto& s : data.samples) any_group = any_group || !s.group.empty();
  if (!a.group_by.empty() && !any_group)
    throw CommandError(kUsage, "eval: --group-by " + a.group_by + ": " + a.data +
                                   " has no such column, or it is empty (groups come from a CSV/TSV/JSONL manifest)");

  // The load function runs on loader threads; everything it reads is const after this point.
  tokenizers::EncodeOptions eo;
  eo.truncation = tokenizers::Truncation::kLongestFirst;
  eo.max_length = m.max_length;
  const datasets::LabeledData& d = data;
  const ModelArg& cm = m;
  datasets::LoadFn load = [&d, &cm, eo](int64_t i, int64_t) {
    const datasets::Sample& s = d.samples[static_cast<size_t>(i)];
    datasets::Item item;
    item.label = s.label;
    if (d.kind == datasets::DataKind::kImage) {
      item.image = datasets::eval_transform(d.image(i), cm.preprocess);
    } else {
      const auto enc = s.text_pair.empty() ? cm.tokenizer->encode_plus(s.text, std::nullopt, eo)
                                           : cm.tokenizer->encode_plus(s.text, std::string_view(s.text_pair), eo);
      item.input_ids = enc.ids;
      item.token_type_ids = enc.token_type_ids;
    }
    return item;
  };
  datasets::LoaderOptions lo;
  lo.batch_size = a.batch_size;
  lo.shuffle = false;
  lo.num_workers = 2;
  lo.pad_id = m.pad_id;
  lo.on_skip = [](const std::string& msg) { std::cerr << "ark eval: skipped: " << msg << "\n"; };
  datasets::Loader loader(static_cast<int64_t>(data.samples.size()), load, lo);

  datasets::MetricAccumulator acc(data.classes);
  if (m.text) m.text_model->eval();
  else nn::optimize_for_inference(*m.vision);  // convolution weights packed in place: one copy
  {
    InferenceMode guard;
    loader.start_epoch(0);
    while (auto batch = loader.next()) {
      const Tensor logits = m.text ? text_logits(m, batch->input_ids, batch->attention_mask, batch->token_type_ids)
                                   : m.vision->forward(batch->inputs);
      const Tensor losses = nn::functional::cross_entropy(
          logits, batch->labels, nn::functional::CrossEntropyFuncOptions().reduction(ark::kNone));
      std::vector<std::string> groups;
      if (any_group)
        for (int64_t i : batch->samples) groups.push_back(data.samples[static_cast<size_t>(i)].group);
      acc.add(logits, batch->labels, losses, groups);
    }
  }
  const datasets::ClassificationReport report = acc.report();
  const int64_t skipped = loader.num_skipped();
  if (!a.confusion.empty()) datasets::plot_confusion(a.confusion, report.confusion, data.classes);

  if (a.json) {
    json j = datasets::to_json(report);
    j["model"] = a.model;
    j["data"] = a.data;
    j["skipped"] = skipped;
    if (!a.confusion.empty()) j["confusion_png"] = a.confusion;
    if (any_group) {
      json groups = json::object();
      for (const auto& [g, r] : acc.group_reports()) groups[g] = datasets::to_json(r);
      j["groups"] = groups;
      json gaps = json::array();
      for (const auto& gap : acc.group_gaps())
        gaps.push_back({{"metric", gap.metric}, {"best_group", gap.best_group}, {"best", gap.best},
                        {"worst_group", gap.worst_group}, {"worst", gap.worst}, {"gap", gap.gap}});
      j["gaps"] = gaps;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("%s on %s: %lld samples", a.model.c_str(), a.data.c_str(), static_cast<long long>(report.count));
  if (skipped) std::printf(" (%lld skipped: could not be decoded)", static_cast<long long>(skipped));
  std::printf("\n");
  const std::string topk = "top-" + std::to_string(std::min<int64_t>(5, num_classes));
  std::printf("loss %s  accuracy %s  %s %s  macro F1 %s\n\n", fixed(report.loss).c_str(), fixed(report.accuracy).c_str(),
              topk.c_str(), fixed(report.top5).c_str(), fixed(report.macro_f1).c_str());
  std::printf("%s\n", datasets::format_report(report).c_str());
  if (any_group) {
    const auto groups = acc.group_reports();
    size_t width = 5;
    for (const auto& [g, r] : groups) width = std::max(width, g.size());
    std::printf("by %s:\n  %-*s  %8s  %8s  %8s\n", a.group_by.c_str(), static_cast<int>(width), "group", "samples",
                "accuracy", "macro F1");
    for (const auto& [g, r] : groups)
      std::printf("  %-*s  %8lld  %8s  %8s\n", static_cast<int>(width), g.c_str(), static_cast<long long>(r.count),
                  fixed(r.accuracy).c_str(), fixed(r.macro_f1).c_str());
    const auto gaps = acc.group_gaps();
    if (!gaps.empty()) std::printf("largest gaps:\n");
    for (const auto& gap : gaps)
      std::printf("  %-16s %s (%s: %s vs %s: %s)\n", gap.metric.c_str(), fixed(gap.gap).c_str(), gap.best_group.c_str(),
                  fixed(gap.best).c_str(), gap.worst_group.c_str(), fixed(gap.worst).c_str());
  }
  if (!a.confusion.empty()) std::printf("confusion matrix: %s\n", a.confusion.c_str());
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a classifier on labelled data (accuracy, per-class P/R/F1, groups)");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("model", a->model, "run folder, registry name, hf:ORG/NAME, Hugging Face folder, or weights file")
      ->required();
  cmd->add_option("--data,-d", a->data, "image folder of class folders, CSV/TSV/JSONL manifest, IDX or HDF5")->required();
  cmd->add_flag("--json", a->json, "one JSON object on stdout");
  cmd->add_option("--batch-size,-b", a->batch_size, "samples per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--group-by", a->group_by, "a manifest column: metrics per value and the largest gaps");
  cmd->add_option("--confusion", a->confusion, "write the confusion matrix as a PNG");
  cmd->add_option("--threads", a->threads, "compute threads (default: all cores)")->check(CLI::PositiveNumber);
  cmd->add_option("--arch", a->arch, "the architecture of a bare weights file (e.g. resnet50)");
  cmd->add_option("--max-samples", a->max_samples, "evaluate the first N samples only")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--offline", a->offline, "no network: pretrained names must be in the cache");
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace ark::cli
