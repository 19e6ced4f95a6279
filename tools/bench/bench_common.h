// The timing policy and output format shared by ark-bench and libtorch-overhead, mirrored line for
// line by torch_bench.py (time_case there), so both sides of a comparison are measured alike:
//   1. warm-up: call f() until 0.2 s have passed (at least once); the fastest warm-up call is the
//      estimate of one call's cost;
//   2. inner: calls per timed sample, enough for a sample of >= 20 ms, so µs-scale ops are timed
//      in batches and the clock's own cost vanishes;
//   3. reps samples (11 when a call is under 1 ms, 5 when over 1 s, else 7; --reps overrides);
//      median, min and max of the per-call time over the samples. `before_sample` runs before each
//      (untimed): in lock-step with the other side (paired.py), the two take turns sample by sample.
// One CSV line per case: side,group,case,median_ms,min_ms,max_ms,gflops,gbps (the last two empty
// where they mean nothing), computed from the median.
// Deliberately header-only and free of ark types, so the libtorch program can use it too.
#pragma once
#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bench {

struct Stats {
  double median_ms = 0, min_ms = 0, max_ms = 0;
};

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr double kWarmupSeconds = 0.2;
constexpr double kSampleSeconds = 0.02;

template <class F, class Pause>
Stats time_case(F&& f, int reps_override, Pause&& before_sample) {
  using clock = std::chrono::steady_clock;
  double best = 1e30;
  const auto warm0 = clock::now();
  do {
    const auto t0 = clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  } while (seconds_since(warm0) < kWarmupSeconds);

  const long inner = std::max(1L, static_cast<long>(std::ceil(kSampleSeconds / std::max(best, 1e-9))));
  const int reps = reps_override > 0 ? reps_override : best < 1e-3 ? 11 : best > 1.0 ? 5 : 7;
  std::vector<double> per_call;
  for (int r = 0; r < reps; ++r) {
    before_sample();
    const auto t0 = clock::now();
    for (long i = 0; i < inner; ++i) f();
    per_call.push_back(seconds_since(t0) * 1e3 / static_cast<double>(inner));
  }
  std::sort(per_call.begin(), per_call.end());
  return {per_call[per_call.size() / 2], per_call.front(), per_call.back()};
}

template <class F>
Stats time_case(F&& f, int reps_override) {
  return time_case(std::forward<F>(f), reps_override, [] {});
}

/// Waits, up to `limit_s`, until every other thread of this process is off the CPU, and returns the
/// seconds waited. Lock-step runs (paired.py) call it before handing the machine to the other side: a
/// pool's threads keep spinning for work a while after its last parallel region (libgomp's default
/// policy: ~300k spins; OpenBLAS's pool), and would otherwise eat into the other side's first
/// milliseconds, once per sample. Linux: the threads' states in /proc/self/task/*/stat ('R': running).
inline double wait_for_idle_threads(double limit_s = 0.1) {
  const long self = ::syscall(SYS_gettid);
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    bool busy = false;
    if (DIR* dir = ::opendir("/proc/self/task")) {
      while (const dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.' || std::atol(e->d_name) == self) continue;
        std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stat");
        const std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        const size_t name_end = stat.rfind(')');  // the state follows the (parenthesised) thread name
        if (name_end != std::string::npos && name_end + 2 < stat.size() && stat[name_end + 2] == 'R') busy = true;
      }
      ::closedir(dir);
    }
    if (!busy || seconds_since(t0) >= limit_s) return seconds_since(t0);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

/// Prints one result line; flops/bytes <= 0 leave their column empty.
inline void report(const char* side, const std::string& group, const std::string& name, const Stats& s,
                   double flops = 0, double bytes = 0) {
  std::printf("%s,%s,%s,%.6f,%.6f,%.6f,", side, group.c_str(), name.c_str(), s.median_ms, s.min_ms, s.max_ms);
  if (flops > 0) std::printf("%.2f", flops / (s.median_ms * 1e-3) * 1e-9);
  std::printf(",");
  if (bytes > 0) std::printf("%.2f", bytes / (s.median_ms * 1e-3) * 1e-9);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace bench
