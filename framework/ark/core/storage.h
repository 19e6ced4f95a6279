// Storage: a reference-counted block of memory shared by a tensor and all its views.
// It also carries the version counter that autograd uses to detect in-place changes to a saved
// tensor: every view of the storage sees the same count, as in PyTorch.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "ark/core/device.h"

namespace ark {

class Storage {
 public:
  /// Allocates `nbytes` of 64-byte-aligned memory on `device`.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device(kCPU));
  /// Wraps external memory; `deleter` (may be empty) runs when the last reference goes.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);

  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
      : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (deleter_) deleter_(data_);
  }

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  /// A backend's derived copy of this storage's data (e.g. convolution weights in oneDNN's
  /// layout), dropped with the storage. The backend validates it against version().
  const std::shared_ptr<void>& backend_cache() const { return backend_cache_; }
  void set_backend_cache(std::shared_ptr<void> c) { backend_cache_ = std::move(c); }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> deleter_;
  std::atomic<uint32_t> version_{0};
  std::shared_ptr<void> backend_cache_;
};

}  // namespace ark
