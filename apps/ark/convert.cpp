// `ark convert IN OUT [--arch NAME] [--remap NAME] [--force]`: any supported weights file to
// safetensors. With --arch the tensors are loaded into that architecture through the source's
// remap (checked key by key, as load_weights does) and written with ark's names; without it they
// are written as read (DataParallel's "module." prefix and checkpoint nesting removed). The output is written atomically: on any error nothing is left behind.
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "ark/models/registry.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/pretrained.h"
#include "cli.h"

namespace ark::cli {
namespace {

struct ConvertArgs {
  std::string in, out, arch, remap;
  int64_t num_classes = 1000;
  bool force = false;
};

// An unknown architecture is a usage error (the registry's message lists the closest names).
std::shared_ptr<models::VisionModel> create_model(const ConvertArgs& a) {
  try {
    return models::create(a.arch, {.num_classes = a.num_classes});
  } catch (const Error& e) {
    throw CommandError(kUsage, "convert: " + e.msg());
  }
}

void run_convert(const ConvertArgs& a) {
  struct stat st {};
  const bool by_name = ::stat(a.in.c_str(), &st) != 0 && pretrained::is_pretrained_name(a.in);
  if (!by_name && ::stat(a.in.c_str(), &st) != 0) throw CommandError(kIo, "convert: cannot open " + a.in + ": no such file");
  if (::stat(a.out.c_str(), &st) == 0 && !a.force)
    throw CommandError(kUsage, "convert: " + a.out + " exists; use --force to overwrite it");
  io::TensorDict tensors;
  std::string format;
  if (by_name && a.arch.empty()) {
    // A pretrained name: pulled if needed, built and loaded as its registry entry says (remap,
    // dropped keys), written with ark's names.
    pretrained::LoadPretrainedOptions lo;
    lo.pull.log = [](const std::string& line) { std::cerr << line << "\n"; };
    lo.tokenizer = false;
    pretrained::InterruptHandlers handlers;  // Ctrl-C during a download: clean cache, exit 130
    auto p = pretrained::load(a.in, lo);
    ARK_CHECK(p.vision, "convert: ", a.in, " is a text model; its weights are already safetensors in the cache");
    tensors = p.vision->state_dict();
    format = "pretrained " + p.name;
  } else if (!a.arch.empty()) {
    auto model = create_model(a);
    LoadOptions opts;
    opts.remap = a.remap;
    std::shared_ptr<void> pulled;  // a registry name: its cached weights file
    const std::string in = resolve_weights_arg(a.in, pulled);
    try {
      load_weights(*model, in, opts);
    } catch (const Error& e) {
      // The usual misfit when converting a fine-tuned checkpoint: its head has another class count.
      if (e.msg().find("shape mismatch: " + model->classifier() + ".") != std::string::npos)
        throw Error(e.msg() + " (the checkpoint's classifier has another number of classes: pass --num-classes)");
      throw;
    }
    tensors = model->state_dict();
    format = "architecture " + a.arch;
  } else {
    tensors = pretrained::read_weights(a.in, &format);
  }
  const std::string from = by_name ? a.in : std::filesystem::path(a.in).filename().string();
  io::save_safetensors(a.out, tensors, {{"format", "pt"}, {"converted_from", from}});
  std::cerr << "wrote " << a.out << " (" << tensors.size() << " tensors, from " << format << ")\n";
}

}  // namespace

void add_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Convert a weights file to safetensors (optionally into ark's names)");
  auto a = std::make_shared<ConvertArgs>();
  cmd->add_option("in", a->in, "input weights file (.pth, .safetensors, .h5, TF.js model.json) or a pretrained name")->required();
  cmd->add_option("out", a->out, "output .safetensors file")->required();
  cmd->add_option("--arch", a->arch, "load into this architecture and write its state dict");
  cmd->add_option("--num-classes", a->num_classes, "classes of the checkpoint's head (with --arch)")->default_val(1000);
  cmd->add_option("--remap", a->remap, "source remap (default: the format's)");
  cmd->add_flag("--force", a->force, "overwrite OUT if it exists");
  cmd->callback([a] { run_convert(*a); });
}

}  // namespace ark::cli
