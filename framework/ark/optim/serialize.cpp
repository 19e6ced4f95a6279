// ark::optim::save / load. Metadata: format = "ark.optim", kind = Optimizer::name() (or
// "LRScheduler"), version = "1".
#include "ark/optim/serialize.h"

#include "ark/io/safetensors.h"

namespace ark::optim {

namespace {
constexpr const char* kFormat = "ark.optim";
constexpr const char* kVersion = "1";

std::string meta(const io::Metadata& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

io::SafetensorsFile read(const std::string& path, const std::string& expected_kind) {
  io::SafetensorsFile file = io::load_safetensors(path);
  const std::string format = meta(file.metadata, "format");
  ARK_CHECK(format == kFormat, "ark::optim::load: ", path, " is not an ark optimizer checkpoint (metadata format is '",
            format, "', expected '", kFormat, "')");
  const std::string version = meta(file.metadata, "version");
  ARK_CHECK(version == kVersion, "ark::optim::load: ", path, " has checkpoint version '", version, "', this build reads '",
            kVersion, "'");
  const std::string kind = meta(file.metadata, "kind");
  ARK_CHECK(kind == expected_kind, "ark::optim::load: ", path, " holds the state of ", kind.empty() ? "?" : kind,
            ", not of ", expected_kind);
  return file;
}

template <class T>
void load_into(T& target, const io::SafetensorsFile& file, const std::string& path) {
  try {
    target.load_state_dict(file.tensors);
  } catch (const Error& e) {
    throw Error("ark::optim::load: " + path + ": " + e.msg());
  }
}
}  // namespace

void save(const Optimizer& optimizer, const std::string& path) {
  io::save_safetensors(path, optimizer.state_dict(),
                       {{"format", kFormat}, {"version", kVersion}, {"kind", optimizer.name()}});
}

void load(Optimizer& optimizer, const std::string& path) {
  load_into(optimizer, read(path, optimizer.name()), path);
}

void save(const LRScheduler& scheduler, const std::string& path) {
  io::save_safetensors(path, scheduler.state_dict(), {{"format", kFormat}, {"version", kVersion}, {"kind", "LRScheduler"}});
}

void load(LRScheduler& scheduler, const std::string& path) { load_into(scheduler, read(path, "LRScheduler"), path); }

}  // namespace ark::optim
