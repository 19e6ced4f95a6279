// The pretrained registry over every entry (timm's sweep): each entry is self-consistent (files,
// hashes, URLs, preprocessing, labels vs num_classes), its architecture exists and its config
// builds with exactly the parameter count torchvision reports, the torchvision pins are the hash
// prefixes in the file names, the text entries name a model_type ark implements and Hub URLs;
// lookup (default tags, suggestions, globs, tasks); and load by name through a local mirror of
// nsfwjs' MobileNetV2 (ARK_ENDPOINT as a folder, a scratch ARK_HOME).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "ark/ark.h"
#include "ark/models/hf.h"
#include "ark/models/registry.h"
#include "ark/pretrained/hub.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/pretrained.h"
#include "ark/pretrained/registry.h"
#include "support/reference.h"

namespace fs = std::filesystem;
namespace pt = ark::pretrained;

namespace {

bool has_task(const pt::Entry& e, const std::string& t) {
  return std::find(e.tasks.begin(), e.tasks.end(), t) != e.tasks.end();
}

}  // namespace

TEST(RegistryEntries, EveryEntryIsSelfConsistent) {
  const auto& all = pt::entries();
  ASSERT_GE(all.size(), 25u);
  std::set<std::string> names;
  for (const auto& e : all) {
    SCOPED_TRACE(e.name);
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate name";
    const auto problems = pt::check_entry(e);
    EXPECT_TRUE(problems.empty()) << problems.front();
    EXPECT_FALSE(e.tasks.empty());
    ASSERT_NE(e.file(e.weights), nullptr);
    for (const auto& f : e.files) {
      if (!has_task(e, "offline")) {
        EXPECT_FALSE(f.urls.empty()) << f.name << ": no URL";
      }
      if (e.text) continue;
      EXPECT_GE(f.sha256.size(), 8u) << f.name << ": vision files pin a sha256 or its prefix";
    }
    if (e.text) {
      const auto& types = pt::supported_model_types();
      EXPECT_NE(std::find(types.begin(), types.end(), e.architecture), types.end()) << e.architecture;
      EXPECT_EQ(e.config_file, "config.json");
      EXPECT_FALSE(e.tokenizer_files.empty());
      EXPECT_EQ(e.format, "safetensors");
      for (const auto& f : e.files) {
        ASSERT_EQ(f.urls.size(), 1u);
        EXPECT_EQ(f.urls[0].rfind("https://huggingface.co/", 0), 0u) << f.urls[0];
        EXPECT_NE(f.urls[0].find("/resolve/"), std::string::npos) << f.urls[0];
        EXPECT_EQ(f.urls[0].substr(f.urls[0].size() - f.name.size()), f.name);
      }
      continue;
    }
    EXPECT_TRUE(ark::models::is_model(e.architecture)) << e.architecture;
    ASSERT_TRUE(e.preprocess.has_value());
    const auto& p = *e.preprocess;
    EXPECT_EQ(p.input_size[0], 3);
    EXPECT_EQ(p.input_size[1], p.input_size[2]);
    if (e.options.image_size) {
      EXPECT_EQ(*e.options.image_size, p.input_size[1]) << "ViT image_size vs input size";
    }
    if (e.options.num_classes > 0) {
      EXPECT_EQ(e.labels.size(), static_cast<size_t>(e.options.num_classes));
      EXPECT_EQ(e.labels_name, "imagenet-1k");
    }
  }
}

TEST(RegistryEntries, CheckEntryNamesEachProblem) {
  auto has = [](const std::vector<std::string>& problems, const std::string& what) {
    for (const auto& p : problems)
      if (p.find(what) != std::string::npos) return true;
    return false;
  };
  const auto empty = pt::check_entry(pt::Entry{});
  for (const char* what : {"empty name", "no architecture", "no files", "no task tags", "no license"})
    EXPECT_TRUE(has(empty, what)) << what;

  pt::Entry e = pt::get_entry("resnet50.tv_in1k");
  EXPECT_TRUE(pt::check_entry(e).empty());
  e.files[0].sha256 = "0676BA61";
  EXPECT_TRUE(has(pt::check_entry(e), "lowercase hex"));
  e.files[0].sha256 = "0676";
  EXPECT_TRUE(has(pt::check_entry(e), "at least 8 digits"));
  e.files[0].sha256.clear();
  EXPECT_TRUE(has(pt::check_entry(e), "only Hugging Face files"));
  e = pt::get_entry("resnet50.tv_in1k");
  e.files[0].name = "../x.pth";
  EXPECT_TRUE(has(pt::check_entry(e), "not a plain file name"));
  e = pt::get_entry("resnet50.tv_in1k");
  e.files[0].urls = {"ftp://example.com/x.pth"};
  EXPECT_TRUE(has(pt::check_entry(e), "not http(s) or file"));
  e = pt::get_entry("resnet50.tv_in1k");
  e.labels.pop_back();
  EXPECT_TRUE(has(pt::check_entry(e), "999 names for num_classes 1000"));
  e = pt::get_entry("resnet50.tv_in1k");
  e.preprocess->crop_pct = 1.5;
  e.preprocess->interpolation = "lanczos";
  EXPECT_TRUE(has(pt::check_entry(e), "crop_pct"));
  EXPECT_TRUE(has(pt::check_entry(e), "interpolation"));
  e = pt::get_entry("gpt2");
  e.tokenizer_files.push_back("tokenizer.model");
  EXPECT_TRUE(has(pt::check_entry(e), "tokenizer file 'tokenizer.model' is not among the files"));
}

TEST(RegistryEntries, TorchvisionPinsAreTheFileNamesHashPrefix) {
  int n = 0;
  for (const auto& e : pt::entries()) {
    if (e.source.rfind("torchvision", 0) != 0) continue;
    ++n;
    ASSERT_EQ(e.files.size(), 1u);
    const auto& f = e.files[0];
    // torch.hub's check_hash: the file name is <arch>-<first 8+ hex of the sha256>.pth.
    const auto dash = f.name.rfind('-'), dot = f.name.rfind('.');
    ASSERT_NE(dash, std::string::npos);
    EXPECT_EQ(f.name.substr(dash + 1, dot - dash - 1), f.sha256) << e.name;
    EXPECT_EQ(f.urls.at(0), "https://download.pytorch.org/models/" + f.name);
    EXPECT_EQ(e.format, "pth");
    EXPECT_EQ(e.remap, "torchvision");
  }
  EXPECT_EQ(n, 21);  // every torchvision 0.14 weight of the 11 architectures ark has
}

TEST(RegistryEntries, ImagenetLabelsAreTorchvisions) {
  const auto& l = pt::label_set("imagenet-1k");
  ASSERT_EQ(l.size(), 1000u);
  EXPECT_EQ(l[0], "tench");
  EXPECT_EQ(l[1], "goldfish");
  EXPECT_EQ(l[207], "golden retriever");
  EXPECT_EQ(l[999], "toilet tissue");
  for (const auto& s : l) EXPECT_FALSE(s.empty());
}

// Each distinct (architecture, config) is built once: construction succeeds and the parameter
// count is the num_params torchvision's weights meta reports for those weights.
TEST(RegistryEntries, ConfigsBuildWithTheWeightsParameterCount) {
  std::map<std::string, const pt::Entry*> distinct;
  for (const auto& e : pt::entries())
    if (!e.text)
      distinct.emplace(e.architecture + "/" + std::to_string(e.options.num_classes) + "/" +
                           std::to_string(e.options.image_size.value_or(0)),
                       &e);
  for (const auto& [key, e] : distinct) {
    SCOPED_TRACE(e->name);
    // vit_l_16 at 512 (305M parameters) costs seconds to initialise; vit_b_16 at 384 checks the
    // same image_size path.
    if (e->architecture == "vit_l_16" && e->options.image_size) continue;
    ark::NoGradGuard g;
    auto m = ark::models::create(e->architecture, e->options);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->num_classes(), e->options.num_classes);
    if (e->num_params > 0) {
      int64_t n = 0;
      for (const auto& p : m->parameters()) n += p.numel();
      EXPECT_EQ(n, e->num_params);
    }
  }
}

TEST(RegistryEntries, Lookup) {
  EXPECT_EQ(pt::get_entry("resnet50").name, "resnet50.tv_in1k");  // the first tag is the default
  EXPECT_EQ(pt::get_entry("vit_b_16.swag_e2e_in1k").options.image_size, 384);
  EXPECT_EQ(pt::find_entry("resnet50.nope"), nullptr);
  EXPECT_EQ(pt::get_entry("TinyLlama/TinyLlama-1.1B-Chat-v1.0").architecture, "llama");
  try {
    pt::get_entry("resnet51");
    FAIL() << "no error";
  } catch (const ark::Error& e) {
    EXPECT_NE(e.msg().find("did you mean: resnet50.tv_in1k"), std::string::npos) << e.msg();
  }
  auto near = pt::closest_names("gtp2");
  ASSERT_FALSE(near.empty());
  EXPECT_EQ(near[0], "gpt2");
  EXPECT_EQ(pt::closest_names("vit_b_16.tv_in1K")[0], "vit_b_16.tv_in1k");

  auto names = [](const std::vector<const pt::Entry*>& v) {
    std::vector<std::string> out;
    for (const auto* e : v) out.push_back(e->name);
    return out;
  };
  EXPECT_EQ(names(pt::list_entries("vit_l_16*")),
            (std::vector<std::string>{"vit_l_16.tv_in1k", "vit_l_16.swag_e2e_in1k", "vit_l_16.swag_lin_in1k"}));
  EXPECT_EQ(names(pt::list_entries("TINYLLAMA")), (std::vector<std::string>{"TinyLlama/TinyLlama-1.1B-Chat-v1.0"}));
  EXPECT_EQ(names(pt::list_entries("", "text-generation")),
            (std::vector<std::string>{"gpt2", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"}));
  EXPECT_TRUE(pt::list_entries("zzz").empty());
}

TEST(RegistryEntries, HfReferences) {
  auto r = pt::parse_hf_ref("hf:org/name@v1.0");
  EXPECT_EQ(r.id, "org/name");
  EXPECT_EQ(r.revision, "v1.0");
  EXPECT_EQ(r.entry_name(), "hf:org/name@v1.0");
  EXPECT_EQ(pt::parse_hf_ref("hf:gpt2").entry_name(), "hf:gpt2@main");
  for (const char* bad : {"hf:", "hf:a/b/c", "hf:../x", "hf:a/..", "hf:a b/c", "hf:a/b@", "hf:a/b@../x", "gpt2"})
    EXPECT_THROW(pt::parse_hf_ref(bad), ark::Error) << bad;
  EXPECT_EQ(pt::hf_url("https://huggingface.co", r, "config.json"),
            "https://huggingface.co/org/name/resolve/v1.0/config.json");
}

// ---- load by name, through a mirror folder of nsfwjs' TF.js files ----

namespace {

std::string nsfwjs_dir() {
  const char* env = std::getenv("ARK_ASSETS");
  const std::string base = env && *env ? env : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache/ark/assets";
  return base + "/nsfwjs-4.4.0/mobilenet_v2";
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(RegistryLoad, NsfwjsBackboneFromAMirrorFolder) {
  struct stat st {};
  if (::stat((nsfwjs_dir() + "/.complete").c_str(), &st) != 0)
    GTEST_SKIP() << "nsfwjs@4.4.0 is not in " << nsfwjs_dir() << " (scripts/fetch_assets.sh)";
  const fs::path root = fs::temp_directory_path() / ("ark-reg-load-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const fs::path mirror = root / "mirror" / "mobilenet_v2_keras.nsfwjs_tfjs";
  fs::create_directories(mirror);
  fs::copy_file(nsfwjs_dir() + "/model.json", mirror / "model.json");
  fs::copy_file(nsfwjs_dir() + "/group1-shard1of1", mirror / "group1-shard1of1");
  ScopedEnv home("ARK_HOME", (root / "home").string());
  ScopedEnv ep("ARK_ENDPOINT", (root / "mirror").string());

  auto p = pt::load("mobilenet_v2_keras.nsfwjs_tfjs");
  ASSERT_TRUE(p.vision);
  EXPECT_EQ(p.name, "mobilenet_v2_keras.nsfwjs_tfjs");
  ASSERT_TRUE(p.preprocess);
  EXPECT_EQ(p.preprocess->mean[0], 0.0);
  EXPECT_TRUE(p.labels.empty());
  EXPECT_EQ(p.files.size(), 2u);
  p.vision->eval();
  ark::NoGradGuard g;
  ark::manual_seed(0);
  const ark::Tensor x = ark::rand({1, 3, 224, 224});
  const ark::Tensor f = p.vision->forward(x);
  EXPECT_EQ(f.sizes().vec(), (std::vector<int64_t>{1, 1280}));
  // The same weights straight from the TF.js files (non-strict: the dense head is left over).
  auto ref = ark::models::create("mobilenet_v2_keras", {.num_classes = 0});
  ark::LoadOptions lax;
  lax.strict = false;
  ark::load_weights(*ref, nsfwjs_dir() + "/model.json", lax);
  ref->eval();
  EXPECT_TRUE(ark::equal(ref->forward(x), f));

  // Cached now: offline, with no mirror, it loads again; fine-tuning replaces the head.
  {
    ScopedEnv off("ARK_OFFLINE", "1");
    ScopedEnv no_ep("ARK_ENDPOINT", "");
    pt::LoadPretrainedOptions o;
    o.pull.download.offline = true;
    o.num_classes = 3;
    auto q = pt::load("mobilenet_v2_keras.nsfwjs_tfjs", o);
    EXPECT_EQ(q.vision->num_classes(), 3);
  }
  fs::remove_all(root);
}

// An hf: repository end to end: a tiny GPT-2 (tools/reference/text_decoders.py, seeded random
// weights) laid out as the Hub serves it in an ARK_ENDPOINT folder, pulled offline and built by
// models/hf.h's from_pretrained: the same weights as loading the folder directly.
TEST(RegistryLoad, HfRepositoryFromAMirrorFolderBuildsTheTextModel) {
  const std::string ref = ark::test::reference_file("text_decoders.py", "gpt2_tiny.ref.safetensors", "gpt2_tiny");
  const fs::path folder = ref.substr(0, ref.size() - std::string(".ref.safetensors").size()) + ".hf";
  ASSERT_TRUE(fs::exists(folder / "config.json")) << folder;
  const fs::path root = fs::temp_directory_path() / ("ark-reg-hf-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const fs::path repo = root / "hub" / "org" / "gpt2-tiny" / "resolve" / "main";
  fs::create_directories(repo);
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(folder / f, repo / f);
  ScopedEnv home("ARK_HOME", (root / "home").string());
  ScopedEnv ep("ARK_ENDPOINT", (root / "hub").string());

  pt::LoadPretrainedOptions o;
  o.pull.download.offline = true;  // the folder is the only source
  auto p = pt::load("hf:org/gpt2-tiny", o);
  EXPECT_EQ(p.name, "hf:org/gpt2-tiny@main");
  EXPECT_EQ(p.entry, nullptr);
  ASSERT_TRUE(p.text);
  EXPECT_FALSE(p.tokenizer);  // the repository has no tokenizer files
  EXPECT_EQ(p.files.size(), 2u);
  auto direct = ark::models::hf::from_pretrained(folder);
  auto a = p.text->state_dict(), b = direct->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : b) EXPECT_TRUE(ark::equal(a[item.key()], item.value())) << item.key();
  fs::remove_all(root);
}
