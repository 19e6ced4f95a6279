// Saving and loading modules and tensors as safetensors, in libtorch's spelling:
//   ark::save(model, "model.safetensors");  ark::load(model, "model.safetensors");
// A module is written as its state_dict (dotted checkpoint keys); loading is strict and reports
// every missing, unexpected or mis-shaped key at once. Files are written atomically.
#pragma once
#include <memory>
#include <string>

#include "ark/io/safetensors.h"
#include "ark/nn/module.h"
#include "ark/nn/pimpl.h"

namespace ark {

void save(const nn::Module& module, const std::string& path);
void load(nn::Module& module, const std::string& path, bool strict = true);
template <class Impl>
void save(const nn::ModuleHolder<Impl>& module, const std::string& path) {
  save(*module.ptr(), path);
}
template <class Impl>
void load(nn::ModuleHolder<Impl>& module, const std::string& path, bool strict = true) {
  load(*module.ptr(), path, strict);
}
inline void save(const std::shared_ptr<nn::Module>& module, const std::string& path) { save(*module, path); }
inline void load(const std::shared_ptr<nn::Module>& module, const std::string& path, bool strict = true) {
  load(*module, path, strict);
}

/// One tensor, stored under the name "tensor".
void save(const Tensor& tensor, const std::string& path);
void load(Tensor& tensor, const std::string& path);

}  // namespace ark
