// `ark inspect FILE [--json]`: the tensors of any supported weights file (safetensors, .pth,
// Keras .h5, TF.js model.json): name, dtype, shape, bytes, and totals. The file is read by the
// same readers load_weights uses, so its errors are theirs.
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "ark/pretrained/load_weights.h"
#include "cli.h"

namespace ark::cli {
namespace {

std::string shape_str(IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r.append(i ? ", " : "").append(std::to_string(s[i]));
  return r + "]";
}

void run_inspect(const std::string& arg, bool json) {
  std::shared_ptr<void> pulled;  // a registry name: its cached weights, pulled if needed
  const std::string path = resolve_weights_arg(arg, pulled);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw CommandError(kIo, "inspect: cannot open " + path + ": no such file");
  std::string format;
  io::TensorDict tensors = pretrained::read_weights(path, &format);
  uint64_t total_bytes = 0, total_elems = 0;
  std::map<std::string, uint64_t> by_dtype;
  for (const auto& item : tensors) {
    total_bytes += item.value().nbytes();
    total_elems += static_cast<uint64_t>(item.value().numel());
    by_dtype[dtype_name(item.value().dtype())] += static_cast<uint64_t>(item.value().numel());
  }
  if (json) {
    nlohmann::json j;
    j["file"] = path;
    j["format"] = format;
    j["tensors"] = nlohmann::json::array();
    for (const auto& item : tensors) {
      const Tensor& t = item.value();
      j["tensors"].push_back({{"name", item.key()},
                              {"dtype", dtype_name(t.dtype())},
                              {"shape", t.sizes().vec()},
                              {"bytes", t.nbytes()}});
    }
    j["total"] = {{"tensors", tensors.size()}, {"elements", total_elems}, {"bytes", total_bytes}, {"by_dtype", by_dtype}};
    std::cout << j.dump(2) << "\n";
    return;
  }
  size_t width = 4;
  for (const auto& item : tensors) width = std::max(width, item.key().size());
  std::printf("%s: %s, %zu tensors\n", path.c_str(), format.c_str(), tensors.size());
  std::printf("%-*s  %-8s  %-22s  %12s\n", static_cast<int>(width), "name", "dtype", "shape", "bytes");
  for (const auto& item : tensors) {
    const Tensor& t = item.value();
    std::printf("%-*s  %-8s  %-22s  %12zu\n", static_cast<int>(width), item.key().c_str(), dtype_name(t.dtype()),
                shape_str(t.sizes()).c_str(), t.nbytes());
  }
  std::printf("total: %llu elements, %llu bytes", static_cast<unsigned long long>(total_elems),
              static_cast<unsigned long long>(total_bytes));
  for (const auto& [dt, n] : by_dtype) std::printf("; %s %llu", dt.c_str(), static_cast<unsigned long long>(n));
  std::printf("\n");
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "List the tensors of a weights file (safetensors, .pth, .h5, TF.js)");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("file", *path, "weights file, or a pretrained name (resnet50.tv_in1k)")->required();
  cmd->add_flag("--json", *json, "machine-readable output on stdout");
  cmd->callback([path, json] { run_inspect(*path, *json); });
}

}  // namespace ark::cli
