#include "ark/backend/backend.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "ark/backend/cpu/cpu_backend.h"

namespace ark {
namespace {
Backend* g_backends[2] = {nullptr, nullptr};
std::once_flag g_cpu_once;
}  // namespace

namespace {
std::atomic<bool>& winograd_setting() {
  static std::atomic<bool> on = [] {
    const char* env = std::getenv("ARK_CONV_WINOGRAD");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return on;
}
}  // namespace
void set_conv_winograd(bool enabled) { winograd_setting().store(enabled, std::memory_order_relaxed); }
bool conv_winograd() { return winograd_setting().load(std::memory_order_relaxed); }

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
