// Indexing kernels: index_select / index_add along a dim, gather / scatter(_add), nonzero.
// Index tensors are int64 and already bounds-checked by the ops.
#include <cstring>
#include <vector>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/ops/ops.h"
#include "ark/core/parallel.h"

namespace ark::cpu {
namespace {
// Views a tensor as (outer, dim, inner) around `dim` (contiguous tensors only).
struct Split3 {
  int64_t outer, n, inner;
};
Split3 split3(const Tensor& t, int64_t dim) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= t.size(d);
  for (int64_t d = dim + 1; d < t.dim(); ++d) inner *= t.size(d);
  return {outer, t.dim() ? t.size(dim) : 1, inner};
}

// Visits every element of `index` (any layout) with its coordinates' offsets in the other
// tensors: f(index_value, offset_in_a, offset_in_b) where offsets exclude `dim` for a.
template <class F>
void for_each_index(const Tensor& index, int64_t dim, const Tensor& a, const Tensor& b, const F& f) {
  const int64_t nd = index.dim(), n = index.numel();
  const int64_t* ip = index.data_ptr<int64_t>();
  std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t ioff = 0, aoff = 0, boff = 0;
    for (int64_t d = 0; d < nd; ++d) {
      ioff += idx[static_cast<size_t>(d)] * index.stride(d);
      if (d != dim) aoff += idx[static_cast<size_t>(d)] * a.stride(d);
      boff += idx[static_cast<size_t>(d)] * b.stride(d);
    }
    f(ip[ioff], aoff, boff);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[static_cast<size_t>(d)] < index.size(d)) break;
      idx[static_cast<size_t>(d)] = 0;
    }
  }
}
}  // namespace

void CpuBackend::index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  dispatch_all(in.dtype(), [&]<class T>() {
    const Split3 s = split3(in, dim);
    const int64_t k = index.numel();
    const int64_t* ip = index.data_ptr<int64_t>();
    const T* x = in.data_ptr<T>();
    T* y = out.data_ptr<T>();
    parallel_for(s.outer * k, std::max<int64_t>(1, 16384 / std::max<int64_t>(s.inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t ok = b; ok < e; ++ok) {
        const int64_t o = ok / k, j = ok % k;
        std::memcpy(y + (o * k + j) * s.inner, x + (o * s.n + ip[j]) * s.inner, sizeof(T) * static_cast<size_t>(s.inner));
      }
    });
  });
}

void CpuBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  dispatch_compute(out.dtype(), [&]<class T>() {
    const Split3 s = split3(out, dim);
    const int64_t k = index.numel();
    const int64_t* ip = index.data_ptr<int64_t>();
    const T* x = src.data_ptr<T>();
    T* y = out.data_ptr<T>();
    // Parallel over `outer` only: two indices may name the same row.
    parallel_for(s.outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(k * s.inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t j = 0; j < k; ++j) {
          T* dst = y + (o * s.n + ip[j]) * s.inner;
          const T* sr = x + (o * k + j) * s.inner;
          for (int64_t i = 0; i < s.inner; ++i) dst[i] += sr[i];
        }
    });
  });
}

void CpuBackend::gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  dispatch_all(in.dtype(), [&]<class T>() {
    const T* x = in.data_ptr<T>();
    T* y = out.data_ptr<T>();
    const int64_t sd = in.stride(dim);
    for_each_index(index, dim, in, out, [&](int64_t iv, int64_t aoff, int64_t boff) { y[boff] = x[aoff + iv * sd]; });
  });
}

void CpuBackend::scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  dispatch_all(out.dtype(), [&]<class T>() {
    T* y = out.data_ptr<T>();
    const T* x = src.data_ptr<T>();
    const int64_t sd = out.stride(dim);
    for_each_index(index, dim, out, src, [&](int64_t iv, int64_t aoff, int64_t boff) {
      if constexpr (std::is_same_v<T, bool>) {
        if (accumulate) y[aoff + iv * sd] = y[aoff + iv * sd] || x[boff];
        else y[aoff + iv * sd] = x[boff];
      } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        y[aoff + iv * sd] = accumulate ? T(static_cast<float>(y[aoff + iv * sd]) + static_cast<float>(x[boff])) : x[boff];
      } else {
        if (accumulate) y[aoff + iv * sd] += x[boff];
        else y[aoff + iv * sd] = x[boff];
      }
    });
  });
}

Tensor CpuBackend::nonzero(const Tensor& in) {
  Tensor c = in.contiguous();
  std::vector<int64_t> flat;
  dispatch_all(c.dtype(), [&]<class T>() {
    const T* p = c.data_ptr<T>();
    for (int64_t i = 0; i < c.numel(); ++i)
      if (static_cast<float>(p[i]) != 0.0f || (std::is_integral_v<T> && p[i] != T(0))) flat.push_back(i);
  });
  const int64_t nd = c.dim(), n = static_cast<int64_t>(flat.size());
  Tensor out = empty({n, nd}, kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k) {
    int64_t rem = flat[static_cast<size_t>(k)];
    for (int64_t d = nd - 1; d >= 0; --d) {
      o[k * nd + d] = rem % c.size(d);
      rem /= c.size(d);
    }
  }
  return out;
}

void register_cpu_backend() {
  static CpuBackend backend;
  register_backend(kCPU, &backend);
}

}  // namespace ark::cpu
