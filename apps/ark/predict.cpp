// `ark predict MODEL INPUT... [--topk K] [--json] [--file F] [--cam OUT.png] [--arch A] [--offline]`
// MODEL is anything model_arg.h resolves (a run folder, a registry name, hf:..., a Hugging Face
// folder, a weights file with --arch). Vision models take image files and folders (searched
// recursively for image files, in sorted order); text classifiers take the texts themselves as
// arguments, or --file with one text per line. Each input gets its top-k classes with softmax
// probabilities: one block per input, or with --json one array on stdout.
// An image that cannot be read or decoded gets an error line on stderr (and an "error" entry in
// the JSON) and the others go on; the exit code then says what failed: 6 when a file could not be
// read, else 5. --cam (one image, vision models) writes where the model looked (Grad-CAM for
// CNNs, attention rollout for ViT) over the input as the model saw it: resized, centre-cropped
// and un-normalised.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ark/core/error.h"
#include "ark/datasets/image.h"
#include "ark/datasets/plot.h"
#include "ark/datasets/transforms.h"
#include "ark/models/cam.h"
#include "cli.h"
#include "model_arg.h"

namespace ark::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct PredictArgs {
  std::string model;
  std::vector<std::string> inputs;
  int64_t topk = 5;
  bool json = false;
  std::string file, cam, arch;
  bool offline = false;
  int64_t batch_size = 16;
};

// One input's outcome: its top-k, or why it failed.
struct Result {
  std::string input;
  std::vector<std::pair<int64_t, double>> top;  // (class, probability)
  std::string error;
  ExitCode code = kOk;
};

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const char* const kExts[] = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
  return std::any_of(std::begin(kExts), std::end(kExts), [&](const char* e) { return ext == e; });
}

bool hidden(const fs::path& relative) {
  for (const auto& part : relative)
    if (!part.empty() && part.string()[0] == '.' && part != "." && part != "..") return true;
  return false;
}

// Files stay as given (their content decides whether they decode); folders contribute their
// image files, recursively, sorted, hidden ones skipped (as ImageFolder).
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (!fs::is_directory(in, ec)) {
      out.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(in, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path rel = it->path().lexically_relative(in);
      if (hidden(rel)) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && is_image_name(it->path())) found.push_back(it->path().string());
    }
    if (ec) throw CommandError(kIo, "predict: cannot list " + in + ": " + ec.message());
    if (found.empty()) throw CommandError(kUsage, "predict: " + in + " holds no image files");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

std::vector<std::string> read_text_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CommandError(kIo, "predict: cannot open " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);  // blank lines are not texts
  }
  if (lines.empty()) throw CommandError(kUsage, "predict: " + path + " holds no texts (one per line)");
  return lines;
}

std::vector<std::pair<int64_t, double>> top_of(const Tensor& probs_row, int64_t k) {
  const Tensor p = probs_row.contiguous();
  const float* d = p.data_ptr<float>();
  const int64_t n = p.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  // Stable: equal probabilities keep class order, so the output is deterministic.
  std::stable_sort(order.begin(), order.end(), [d](int64_t a, int64_t b) { return d[a] > d[b]; });
  std::vector<std::pair<int64_t, double>> top;
  for (int64_t i = 0; i < std::min(k, n); ++i) top.emplace_back(order[static_cast<size_t>(i)], d[order[static_cast<size_t>(i)]]);
  return top;
}

std::string label_of(const ModelArg& m, int64_t cls) {
  if (cls >= 0 && cls < static_cast<int64_t>(m.labels.size())) return m.labels[static_cast<size_t>(cls)];
  return "class " + std::to_string(cls);
}

// The normalised model input (1, 3, H, W) back to what the model saw, as uint8 (H, W, 3).
Tensor unnormalise(const Tensor& x, const datasets::PreprocessConfig& cfg) {
  const Tensor c = x.contiguous();
  const int64_t h = c.size(2), w = c.size(3);
  Tensor out = empty({h, w, 3}, kByte);
  const float* src = c.data_ptr<float>();
  auto* dst = out.data_ptr<uint8_t>();
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t i = 0; i < h * w; ++i) {
      const double v = (src[ch * h * w + i] * cfg.std[static_cast<size_t>(ch)] + cfg.mean[static_cast<size_t>(ch)]) * 255.0;
      dst[i * 3 + ch] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
    }
  return out;
}

void predict_images(ModelArg& m, const std::vector<std::string>& files, const PredictArgs& a, std::vector<Result>& results) {
  auto& model = *m.vision;
  // Inference only: convolution weights packed in place, one copy in memory (--cam's backward
  // pass reads them plain, so it keeps them so).
  if (a.cam.empty()) nn::optimize_for_inference(model);
  else model.eval();
  InferenceMode guard;
  // Decoded and preprocessed a batch at a time: memory stays bounded for a folder of thousands.
  for (size_t start = 0; start < files.size(); start += static_cast<size_t>(a.batch_size)) {
    const size_t end = std::min(files.size(), start + static_cast<size_t>(a.batch_size));
    std::vector<Tensor> xs;
    std::vector<size_t> ok;
    for (size_t i = start; i < end; ++i) {
      Result r;
      r.input = files[i];
      std::error_code ec;
      try {
        if (!fs::exists(files[i], ec)) throw CommandError(kIo, "cannot read image '" + files[i] + "': no such file");
        xs.push_back(datasets::preprocess(datasets::load_image(files[i]), m.preprocess));
        ok.push_back(results.size());
      } catch (const CommandError& e) {
        r.error = e.what();
        r.code = e.code();
      } catch (const Error& e) {
        r.error = e.msg();
        // load_image says "cannot read" for the file system, "cannot decode" for the bytes.
        r.code = e.msg().find("cannot read image") != std::string::npos ? kIo : kBadFile;
      }
      if (!r.error.empty()) std::cerr << "ark predict: " << r.error << "\n";
      results.push_back(std::move(r));
    }
    if (xs.empty()) continue;
    const Tensor probs = softmax(model.forward(cat(xs, 0)), 1);
    for (size_t j = 0; j < ok.size(); ++j) results[ok[j]].top = top_of(probs[static_cast<int64_t>(j)], a.topk);
  }
}

void predict_texts(ModelArg& m, const std::vector<std::string>& texts, const PredictArgs& a, std::vector<Result>& results) {
  m.text_model->eval();
  InferenceMode guard;
  tokenizers::EncodeOptions eo;
  eo.truncation = tokenizers::Truncation::kLongestFirst;
  eo.max_length = m.max_length;
  for (size_t start = 0; start < texts.size(); start += static_cast<size_t>(a.batch_size)) {
    const size_t end = std::min(texts.size(), start + static_cast<size_t>(a.batch_size));
    std::vector<tokenizers::Encoding> enc;
    size_t longest = 1;
    for (size_t i = start; i < end; ++i) {
      enc.push_back(m.tokenizer->encode_plus(texts[i], std::nullopt, eo));
      longest = std::max(longest, enc.back().ids.size());
    }
    // Right padding with the model's pad id (the classifiers pool the first or the last real token).
    const auto B = static_cast<int64_t>(enc.size()), T = static_cast<int64_t>(longest);
    Tensor ids = full({B, T}, m.pad_id, kLong), mask = zeros({B, T}, kLong), types = zeros({B, T}, kLong);
    auto* pi = ids.data_ptr<int64_t>();
    auto* pm = mask.data_ptr<int64_t>();
    auto* pt = types.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      const auto& e = enc[static_cast<size_t>(b)];
      for (size_t t = 0; t < e.ids.size(); ++t) {
        pi[b * T + static_cast<int64_t>(t)] = e.ids[t];
        pm[b * T + static_cast<int64_t>(t)] = 1;
        if (t < e.token_type_ids.size()) pt[b * T + static_cast<int64_t>(t)] = e.token_type_ids[t];
      }
    }
    const Tensor probs = softmax(text_logits(m, ids, mask, types), 1);
    for (int64_t b = 0; b < B; ++b) {
      Result r;
      r.input = texts[start + static_cast<size_t>(b)];
      r.top = top_of(probs[b], a.topk);
      results.push_back(std::move(r));
    }
  }
}

json cam_image(ModelArg& m, const std::string& file, const std::string& out) {
  const Tensor x = datasets::preprocess(datasets::load_image(file), m.preprocess);
  const models::CamResult cam = models::explain(*m.vision, x);
  const Tensor seen = unnormalise(x, m.preprocess);
  datasets::write_png(out, datasets::overlay_heatmap(seen, cam.heatmap));
  return {{"path", out}, {"class", cam.target}, {"label", label_of(m, cam.target)}};
}

void run_predict(const PredictArgs& a) {
  if (a.topk < 1) throw CommandError(kUsage, "predict: --topk must be at least 1");
  if (a.inputs.empty() && a.file.empty()) throw CommandError(kUsage, "predict: give inputs (images or texts) or --file");
  ModelArgOptions o;
  o.arch = a.arch;
  o.offline = a.offline;
  o.hash_weights = false;
  o.log = [](const std::string& line) { std::cerr << line << "\n"; };
  ModelArg m = load_model_arg(a.model, o);

  std::vector<Result> results;
  json cam;
  if (m.text) {
    if (!a.cam.empty()) throw CommandError(kUsage, "predict: --cam explains vision models only; " + a.model + " is a text model");
    if (!m.architecture.ends_with("ForSequenceClassification"))
      throw CommandError(kUsage, "predict: " + a.model + " is a " + m.architecture + ", not a text classifier");
    std::vector<std::string> texts = a.inputs;
    if (!a.file.empty()) {
      auto lines = read_text_lines(a.file);
      texts.insert(texts.end(), lines.begin(), lines.end());
    }
    predict_texts(m, texts, a, results);
  } else {
    if (m.vision->num_classes() == 0)
      throw CommandError(kUsage, "predict: " + a.model + " has no classifier head (its weights end at the features)");
    std::vector<std::string> files = a.inputs;
    if (!a.file.empty()) {
      auto lines = read_text_lines(a.file);  // a list of image paths
      files.insert(files.end(), lines.begin(), lines.end());
    }
    files = expand_inputs(files);
    if (!a.cam.empty() && files.size() != 1)
      throw CommandError(kUsage, "predict: --cam takes exactly one image, got " + std::to_string(files.size()));
    predict_images(m, files, a, results);
    if (!a.cam.empty() && results[0].error.empty()) cam = cam_image(m, files[0], a.cam);
  }

  ExitCode worst = kOk;
  for (const auto& r : results)
    if (r.code != kOk && (worst == kOk || r.code == kIo)) worst = r.code;
  if (a.json) {
    json arr = json::array();
    for (const auto& r : results) {
      json j = {{"input", r.input}};
      if (!r.error.empty()) {
        j["error"] = r.error;
      } else {
        json preds = json::array();
        for (const auto& [cls, p] : r.top) preds.push_back({{"index", cls}, {"label", label_of(m, cls)}, {"probability", p}});
        j["predictions"] = preds;
      }
      arr.push_back(j);
    }
    if (!cam.is_null()) arr[0]["cam"] = cam;
    std::printf("%s\n", arr.dump(2).c_str());
  } else {
    size_t width = 0;
    for (const auto& r : results)
      for (const auto& t : r.top) width = std::max(width, label_of(m, t.first).size());
    for (const auto& r : results) {
      if (!r.error.empty()) continue;  // already reported on stderr
      std::printf("%s\n", r.input.c_str());
      for (const auto& [cls, p] : r.top) std::printf("  %-*s  %.4f\n", static_cast<int>(width), label_of(m, cls).c_str(), p);
    }
    if (!cam.is_null())
      std::printf("cam: %s (class %s)\n", a.cam.c_str(), cam["label"].get<std::string>().c_str());
  }
  std::fflush(stdout);
  if (worst != kOk) {
    size_t failed = 0;
    for (const auto& r : results) failed += r.error.empty() ? 0 : 1;
    throw CommandError(worst, "predict: " + std::to_string(failed) + " of " + std::to_string(results.size()) +
                                  " inputs failed");
  }
}

}  // namespace

void add_predict(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Classify images or texts with a model (top-k labels and probabilities)");
  auto a = std::make_shared<PredictArgs>();
  cmd->add_option("model", a->model, "run folder, registry name, hf:ORG/NAME, Hugging Face folder, or weights file")
      ->required();
  cmd->add_option("inputs", a->inputs, "image files or folders (vision), texts (text models)");
  cmd->add_option("--topk,-k", a->topk, "classes per input")->capture_default_str();
  cmd->add_flag("--json", a->json, "one JSON array on stdout");
  cmd->add_option("--file,-f", a->file, "a file with one input per line (texts, or image paths)");
  cmd->add_option("--cam", a->cam, "write a Grad-CAM / attention-rollout overlay PNG (one image input)");
  cmd->add_option("--arch", a->arch, "the architecture of a bare weights file (e.g. resnet50)");
  cmd->add_flag("--offline", a->offline, "no network: pretrained names must be in the cache");
  cmd->add_option("--batch-size", a->batch_size, "inputs per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([a] { run_predict(*a); });
}

}  // namespace ark::cli
