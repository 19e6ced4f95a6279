// A per-thread cap on the kernels' thread count (kept out of parallel.h, which nearly every
// backend file includes, so that adding it rebuilt one file).
#pragma once

namespace ark {

/// Caps the threads of the kernels the calling thread runs at n, for this thread only, while the
/// guard lives: get_num_threads() there returns at most n (so parallel_for opens no larger team),
/// and the thread's OpenMP setting, which OpenBLAS and oneDNN read, is lowered too. Data-loader
/// workers use it so that each does not open a team as large as the pool beside the training
/// loop's (PyTorch's DataLoader workers call set_num_threads(1) for the same reason).
class ThreadLimitGuard {
 public:
  explicit ThreadLimitGuard(int n);
  ~ThreadLimitGuard();
  ThreadLimitGuard(const ThreadLimitGuard&) = delete;
  ThreadLimitGuard& operator=(const ThreadLimitGuard&) = delete;

 private:
  int previous_cap_, previous_omp_;
};

}  // namespace ark
