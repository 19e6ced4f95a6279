// Thread-local switches for gradient recording: NoGradGuard, AutoGradMode, InferenceMode.
#pragma once

namespace ark {

struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

/// Restores the previous grad mode on destruction.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

/// Turns gradient recording off in its scope (torch.no_grad()).
class NoGradGuard : public AutoGradMode {
 public:
  NoGradGuard() : AutoGradMode(false) {}
};

/// Inference scope (torch.inference_mode()): no recording. ark tensors created here are ordinary
/// tensors, so unlike PyTorch there is no restriction on using them later in autograd.
class InferenceMode : public AutoGradMode {
 public:
  explicit InferenceMode(bool enabled = true) : AutoGradMode(!enabled && GradMode::is_enabled()) {}
  static bool is_enabled();
};

}  // namespace ark
