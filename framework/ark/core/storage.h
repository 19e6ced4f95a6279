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

  /// The bytes in the plain (strided) layout every kernel expects: a packed storage (below) is
  /// unpacked first.
  void* data() const {
    if (packed_.load(std::memory_order_acquire)) unpack();
    return data_;
  }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  /// A backend's derived copy of this storage's data (e.g. convolution weights in oneDNN's
  /// layout), dropped with the storage. The backend validates it against version().
  const std::shared_ptr<void>& backend_cache() const { return backend_cache_; }
  void set_backend_cache(std::shared_ptr<void> c) { backend_cache_ = std::move(c); }

  /// Packing, for inference weights (nn::optimize_for_inference allows it): a backend may rewrite
  /// the bytes in place into its own layout of the same size (oneDNN's blocked convolution
  /// weights), instead of keeping that layout beside a plain copy, which halves a convolutional
  /// network's weight memory. data() restores the plain bytes first, so every reader still sees
  /// plain data; a backend finds its packed bytes with packed_layout() and raw_data().
  void allow_packing(bool on) { packing_allowed_ = on; }
  bool packing_allowed() const { return packing_allowed_; }
  /// The layout the bytes are packed in (the backend's own type), or null when they are plain.
  std::shared_ptr<const void> packed_layout() const;
  /// Runs `pack(bytes)` to rewrite the plain bytes into `layout`; `unpack(bytes)` will undo it.
  void pack(std::shared_ptr<const void> layout, const std::function<void(void*)>& pack,
            std::function<void(void*)> unpack);
  /// The bytes as they are, packed or not (for the backend that packed them).
  void* raw_data() const { return data_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> deleter_;
  std::atomic<uint32_t> version_{0};
  std::shared_ptr<void> backend_cache_;
  bool packing_allowed_ = false;
  mutable std::atomic<bool> packed_{false};
  mutable std::shared_ptr<const void> packed_layout_;
  mutable std::function<void(void*)> unpack_;
  void unpack() const;
};

}  // namespace ark
