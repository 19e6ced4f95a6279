// CPU memory and random fills.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/backend/cpu/loops.h"

namespace ark::cpu {

namespace {

// Keeps freed large blocks for reuse. A training or inference loop allocates the same
// activation sizes every step; fresh pages from the OS cost a page fault each (about a quarter
// of the time of a 4 MB elementwise op), reused ones cost nothing. Blocks under 64 KB go straight
// to malloc, whose own free lists already serve them well. The cache holds at most
// ARK_CPU_CACHE_MB megabytes (default: an eighth of physical memory, at most 2 GB, at least
// 512 MB; 0 disables it). A BERT-base training step at batch 8 frees about 1.5 GB of activations
// and gradients; with a 512 MB cap a tenth of its time went to page faults.
class BlockCache {
 public:
  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache();  // never destroyed: storages may outlive statics
    return *cache;
  }

  std::pair<void*, size_t> get(size_t nbytes) {
    const size_t size = round(nbytes);
    if (size >= kMinBlock && cap_ > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= size + size / 4) {  // at most 25% slack
        auto block = *it;
        free_.erase(it);
        cached_ -= block.first;
        return {block.second, block.first};
      }
    }
    void* p = nullptr;
    // 64-byte alignment: a cache line, and what AVX-512 loads prefer.
    if (posix_memalign(&p, 64, size) != 0 || !p) {
      release_all();  // give cached memory back and try once more
      if (posix_memalign(&p, 64, size) != 0 || !p)
        ARK_ERROR("out of memory: failed to allocate ", nbytes, " bytes on the CPU");
    }
    return {p, size};
  }

  void put(void* p, size_t size) {
    if (size >= kMinBlock && cap_ > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + size <= cap_) {
        free_.emplace(size, p);
        cached_ += size;
        return;
      }
    }
    std::free(p);
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, p] : free_) std::free(p);
    free_.clear();
    cached_ = 0;
  }

 private:
  static constexpr size_t kMinBlock = size_t{1} << 16;
  BlockCache() {
    const char* env = std::getenv("ARK_CPU_CACHE_MB");
    if (env) {
      cap_ = static_cast<size_t>(std::atoll(env)) << 20;
    } else {
      const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
      const size_t eighth = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 8 : 0;
      cap_ = std::clamp<size_t>(eighth, size_t{512} << 20, size_t{2048} << 20);
    }
  }
  static size_t round(size_t n) { return n >= kMinBlock ? (n + 4095) & ~size_t{4095} : (n + 63) & ~size_t{63}; }

  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0, cap_ = 0;
};

}  // namespace

std::shared_ptr<Storage> CpuBackend::allocate(size_t nbytes) {
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, Device(kCPU), nullptr);
  auto [p, size] = BlockCache::instance().get(nbytes);
  return std::make_shared<Storage>(p, nbytes, Device(kCPU), [size = size](void* q) { BlockCache::instance().put(q, size); });
}

void release_cached_memory() { BlockCache::instance().release_all(); }

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
