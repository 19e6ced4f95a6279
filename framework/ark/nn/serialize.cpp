#include "ark/nn/serialize.h"

namespace ark {

void save(const nn::Module& module, const std::string& path) {
  io::save_safetensors(path, module.state_dict(), {{"format", "pt"}, {"producer", "ark"}});
}

void load(nn::Module& module, const std::string& path, bool strict) {
  io::SafetensorsFile f = io::load_safetensors(path);
  try {
    module.load_state_dict(f.tensors, strict);
  } catch (const Error& e) {
    throw Error(path + ": " + e.msg());
  }
}

void save(const Tensor& tensor, const std::string& path) {
  io::TensorDict d;
  d.insert("tensor", tensor);
  io::save_safetensors(path, d, {{"producer", "ark"}});
}

void load(Tensor& tensor, const std::string& path) {
  io::SafetensorsFile f = io::load_safetensors(path);
  const Tensor* t = f.tensors.find("tensor");
  ARK_CHECK(t != nullptr, path, ": no tensor named 'tensor' (not written by ark::save(Tensor))");
  tensor = t->clone();
}

}  // namespace ark
