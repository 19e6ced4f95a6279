#include "ark/backend/backend.h"

#include <mutex>

#include "ark/backend/cpu/cpu_backend.h"

namespace ark {
namespace {
Backend* g_backends[2] = {nullptr, nullptr};
std::once_flag g_cpu_once;
}  // namespace

void register_backend(DeviceType type, Backend* backend) { g_backends[static_cast<int>(type)] = backend; }

bool has_backend(DeviceType type) {
  std::call_once(g_cpu_once, cpu::register_cpu_backend);
  return g_backends[static_cast<int>(type)] != nullptr;
}

Backend& backend_for(Device device) {
  Backend* b = g_backends[static_cast<int>(device.type())];
  if (b) [[likely]]
    return *b;
  std::call_once(g_cpu_once, cpu::register_cpu_backend);
  b = g_backends[static_cast<int>(device.type())];
  ARK_CHECK(b != nullptr, "no backend for device ", device.str(),
            device.is_cuda() ? ": ark was built without CUDA (configure with -DARK_CUDA=ON)" : "");
  return *b;
}

}  // namespace ark
