// CPU memory and random fills.
#include <cstdlib>
#include <mutex>
#include <new>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/backend/cpu/loops.h"

namespace ark::cpu {

std::shared_ptr<Storage> CpuBackend::allocate(size_t nbytes) {
  void* p = nullptr;
  if (nbytes > 0) {
    // 64-byte alignment: a cache line, and what AVX-512 loads prefer.
    if (posix_memalign(&p, 64, (nbytes + 63) & ~size_t{63}) != 0 || !p)
      ARK_ERROR("out of memory: failed to allocate ", nbytes, " bytes on the CPU");
  }
  return std::make_shared<Storage>(p, nbytes, Device(kCPU), [](void* q) { std::free(q); });
}

namespace {
template <class T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) return T(static_cast<float>(v));
  else return static_cast<T>(v);
}

// Random fills run serially in element order, so a seed gives the same values whatever the
// thread count (and whatever the layout: values are assigned in logical order).
template <class F>
void fill_ordered(const Tensor& out, Generator& gen, const F& next) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  dispatch_all(out.dtype(), [&]<class T>() {
    Loop<1> loop({&out});
    loop.run([&](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = next.template operator()<T>();
    }, /*grain=*/INT64_MAX);
  });
}
}  // namespace

void CpuBackend::uniform(const Tensor& out, double from, double to, Generator& gen) {
  const double range = to - from;
  fill_ordered(out, gen, [&]<class T>() -> T {
    if constexpr (std::is_same_v<T, double>) return from + range * gen.uniform_double();
    else return from_double<T>(from + range * static_cast<double>(gen.uniform_float()));
  });
}

void CpuBackend::normal(const Tensor& out, double mean, double std, Generator& gen) {
  fill_ordered(out, gen, [&]<class T>() -> T { return from_double<T>(mean + std * gen.normal()); });
}

void CpuBackend::bernoulli(const Tensor& out, const Tensor& p, Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  Tensor prob = p.to(kDouble).contiguous();
  const double* pp = prob.data_ptr<double>();
  const bool scalar_p = prob.numel() == 1;
  dispatch_all(out.dtype(), [&]<class T>() {
    int64_t k = 0;
    Loop<1> loop({&out});
    loop.run([&](char** q, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i, ++k) {
        const double pv = scalar_p ? pp[0] : pp[k];
        *reinterpret_cast<T*>(q[0] + i * s[0]) = from_double<T>(gen.uniform_double() < pv ? 1.0 : 0.0);
      }
    }, INT64_MAX);
  });
}

void CpuBackend::random_int(const Tensor& out, int64_t low, int64_t high, Generator& gen) {
  const uint64_t range = static_cast<uint64_t>(high - low);
  fill_ordered(out, gen, [&]<class T>() -> T {
    return from_double<T>(static_cast<double>(low + static_cast<int64_t>(gen.random64() % range)));
  });
}

}  // namespace ark::cpu
