// Random number generation. A Generator is a seeded Philox-free mt19937_64 stream, as simple as
// PyTorch's CPU generator in purpose (not bit-compatible with it: ark's random numbers differ
// from PyTorch's for the same seed). manual_seed() reseeds the default generator.
#pragma once
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace ark {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) { set_current_seed(seed); }
  void set_current_seed(uint64_t seed) {
    seed_ = seed;
    engine_.seed(seed);
    next_normal_valid_ = false;
  }
  uint64_t current_seed() const { return seed_; }
  uint64_t random64() { return engine_(); }
  /// Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
  float uniform_float() { return static_cast<float>(engine_() >> 40) * (1.0f / 16777216.0f); }
  double uniform_double() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  double normal();
  /// The full state, to save and restore (e.g. for exact resume of training).
  std::string get_state() const;
  void set_state(const std::string& state);
  std::mutex& mutex() { return mutex_; }

 private:
  uint64_t seed_ = 0;
  std::mt19937_64 engine_;
  double next_normal_ = 0;
  bool next_normal_valid_ = false;
  std::mutex mutex_;
};

/// The process-wide default generator used when none is passed.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace ark
