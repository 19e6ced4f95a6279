// Strided loops for the CPU backend: up to four operands broadcast to one shape, dims coalesced,
// the outer index space split across the thread pool, and an inner callback that sees one run
// of the innermost dim (pointers + byte strides), so it can take a contiguous fast path.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>

#include "ark/core/parallel.h"
#include "ark/core/tensor.h"

namespace ark::cpu {

constexpr int kMaxDims = 16;
constexpr int64_t kGrain = 32768;  // elements per thread below which a loop runs serially

template <int N>
struct Loop {
  int ndim = 0;
  int64_t numel = 1;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];  // bytes, innermost last
  char* base[N];

  /// ts[0] defines the shape; the others are broadcast to it (right-aligned, size-1 dims).
  explicit Loop(const std::array<const Tensor*, N>& ts) {
    const Tensor& out = *ts[0];
    const int nd = static_cast<int>(out.dim());
    ARK_CHECK(nd <= kMaxDims, "tensors of more than ", kMaxDims, " dims are not supported, got ", nd);
    int64_t sz[kMaxDims], st[N][kMaxDims];
    for (int d = 0; d < nd; ++d) sz[d] = out.size(d);
    for (int k = 0; k < N; ++k) {
      const Tensor& t = *ts[k];
      base[k] = static_cast<char*>(t.data_ptr());
      const int64_t es = static_cast<int64_t>(t.element_size());
      const int off = nd - static_cast<int>(t.dim());
      for (int d = 0; d < nd; ++d) {
        const int td = d - off;
        st[k][d] = (td < 0 || t.size(td) == 1) ? 0 : t.stride(td) * es;
      }
    }
    // Drop size-1 dims and merge dims that are contiguous across every operand.
    for (int d = 0; d < nd; ++d) {
      if (sz[d] == 1) continue;
      if (ndim > 0) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          if (strides[k][ndim - 1] != st[k][d] * sz[d]) { merge = false; break; }
        if (merge) {
          sizes[ndim - 1] *= sz[d];
          for (int k = 0; k < N; ++k) strides[k][ndim - 1] = st[k][d];
          continue;
        }
      }
      sizes[ndim] = sz[d];
      for (int k = 0; k < N; ++k) strides[k][ndim] = st[k][d];
      ++ndim;
    }
    numel = 1;
    for (int d = 0; d < nd; ++d) numel *= sz[d];
    if (ndim == 0) {  // a single element
      sizes[0] = numel == 0 ? 0 : 1;
      for (int k = 0; k < N; ++k) strides[k][0] = 0;
      ndim = 1;
    }
  }

  /// inner(char* ptrs[N], const int64_t strides[N], int64_t n) over runs of the innermost dim.
  template <class F>
  void run(const F& inner, int64_t grain = kGrain) const {
    if (numel == 0) return;
    const int last = ndim - 1;
    int64_t inner_strides[N];
    for (int k = 0; k < N; ++k) inner_strides[k] = strides[k][last];
    if (ndim == 1) {
      parallel_for(numel, grain, [&](int64_t b, int64_t e) {
        char* p[N];
        for (int k = 0; k < N; ++k) p[k] = base[k] + b * inner_strides[k];
        inner(p, inner_strides, e - b);
      });
      return;
    }
    parallel_for(numel, grain, [&](int64_t b, int64_t e) {
      int64_t idx[kMaxDims];
      int64_t rem = b;
      for (int d = last; d >= 0; --d) {
        idx[d] = rem % sizes[d];
        rem /= sizes[d];
      }
      int64_t pos = b;
      while (pos < e) {
        char* p[N];
        for (int k = 0; k < N; ++k) {
          int64_t off = 0;
          for (int d = 0; d < ndim; ++d) off += idx[d] * strides[k][d];
          p[k] = base[k] + off;
        }
        const int64_t n = std::min(sizes[last] - idx[last], e - pos);
        inner(p, inner_strides, n);
        pos += n;
        idx[last] += n;
        for (int d = last; d > 0 && idx[d] >= sizes[d]; --d) {
          idx[d] = 0;
          ++idx[d - 1];
        }
      }
    });
  }
};

}  // namespace ark::cpu
