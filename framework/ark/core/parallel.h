// The one thread pool: OpenMP (libgomp), shared with OpenBLAS's and oneDNN's OpenMP builds, so
// every kernel in the process runs on the same threads. set_num_threads() sets it for all three.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ark {

void set_num_threads(int n);
int get_num_threads();
/// True inside a parallel region (nested kernels then run serially).
bool in_parallel_region();

/// Runs f(begin, end) over [0, n) split into contiguous chunks of at least `grain` items, one per
/// thread. Runs inline when the work is small or when already inside a parallel region.
template <class F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  const int max_threads = get_num_threads();
  const int64_t g = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(max_threads, n / g + (n % g != 0));  // ceil(n / g), no overflow
  if (chunks > 1 && !in_parallel_region()) {
#pragma omp parallel num_threads(static_cast<int>(chunks))
    {
      const int64_t tid = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t per = (n + nt - 1) / nt;
      const int64_t b = tid * per, e = std::min(n, b + per);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(int64_t{0}, n);
}

}  // namespace ark
