// Batched GEMM: a few rows on the skinny kernels (gemv.h), float32 products of Transformer/CNN size
// on oneDNN's matmul (matmul_onednn.h), the rest on OpenBLAS (float32/float64) and a plain loop for
// integer dtypes. OpenBLAS is the OpenMP build: called inside an OpenMP parallel region it runs
// single-threaded, so a batch of small products is parallelised over the batch, a few big ones
// inside GEMM.
#include <cblas.h>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/backend/cpu/gemv.h"
#include "ark/backend/cpu/matmul_onednn.h"
#include "ark/core/parallel.h"
#include "ark/ops/ops.h"

namespace ark::cpu {
namespace {

// How a 2-D operand is laid out for BLAS: row-major with leading dim `ld`, possibly transposed.
struct MatLayout {
  bool trans;
  int64_t ld;
};

std::optional<MatLayout> blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (cs == 1 && (rs >= std::max<int64_t>(cols, 1) || rows == 1)) return MatLayout{false, std::max<int64_t>(rs, cols)};
  if (rs == 1 && (cs >= std::max<int64_t>(rows, 1) || cols == 1)) return MatLayout{true, std::max<int64_t>(cs, rows)};
  return std::nullopt;
}

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
                c, static_cast<int>(ldc));
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
                c, static_cast<int>(ldc));
  }
}

}  // namespace

// A few rows against a float32, bfloat16 or float16 B (decoding, attention over a KV cache): the
// skinny kernels of gemv.h, which read B once. False when the product is not of that shape.
static bool skinny_bmm(const Tensor& a_in, const Tensor& b, const Tensor& c, double alpha, double beta) {
  const int64_t batch = c.size(0), m = c.size(1), n = c.size(2), k = a_in.size(2);
  if (c.dtype() != kFloat || a_in.dtype() != kFloat || c.stride(2) != 1 || !skinny_gemm_pays(m, n, k)) return false;
  const ScalarType bt = b.dtype();
  if (bt != kFloat && bt != kBFloat16 && bt != kHalf) return false;
  const GemvType type = bt == kFloat ? GemvType::F32 : bt == kBFloat16 ? GemvType::BF16 : GemvType::F16;
  bool trans;
  int64_t ldb;
  if (b.stride(1) == 1 && b.stride(2) >= k) trans = true, ldb = b.stride(2);
  else if (b.stride(2) == 1 && b.stride(1) >= n) trans = false, ldb = b.stride(1);
  else return false;
  Tensor a = a_in.stride(2) == 1 && a_in.stride(1) >= k ? a_in : a_in.contiguous();
  const float* pa = a.data_ptr<float>();
  const char* pb = static_cast<const char*>(b.data_ptr());
  float* pc = c.data_ptr<float>();
  const int64_t esize = static_cast<int64_t>(element_size(bt));
  const int64_t ldc = std::max<int64_t>(c.stride(1), n);
  auto one = [&](int64_t i) {
    skinny_gemm(m, n, k, static_cast<float>(alpha), pa + i * a.stride(0), a.stride(1), pb + i * b.stride(0) * esize,
                type, trans, ldb, static_cast<float>(beta), pc + i * c.stride(0), ldc);
  };
  // Per-head products over a KV cache: one per thread. One big weight: the kernel splits it.
  if (batch >= get_num_threads() && static_cast<double>(n) * static_cast<double>(k) < 1e6) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
  return true;
}

void CpuBackend::bmm(const Tensor& a_in, const Tensor& b_in, const Tensor& c, double alpha, double beta) {
  const int64_t batch = c.size(0), m = c.size(1), n = c.size(2), k = a_in.size(2);
  ARK_ASSERT(c.stride(2) == 1 || n == 1);
  if (is_reduced_float(c.dtype())) {
    // bfloat16 on oneDNN where it pays; else (and float16) in float32: a few rows read B in its
    // own dtype through the skinny kernels, larger products widen B once per call.
    if (onednn::matmul_pays(batch, m, n, k) &&
        onednn::matmul(a_in, b_in, c, static_cast<float>(alpha), static_cast<float>(beta)))
      return;
    Tensor cf = empty(c.sizes(), c.options().dtype(kFloat));
    if (beta != 0) copy(cf, c);
    bmm(a_in.to(kFloat), skinny_gemm_pays(m, n, k) ? b_in : b_in.to(kFloat), cf, alpha, beta);
    copy(c, cf);
    return;
  }
  if (skinny_bmm(a_in, b_in, c, alpha, beta)) return;
  if (b_in.dtype() != c.dtype()) return bmm(a_in, b_in.to(c.dtype()), c, alpha, beta);  // a reduced-precision B
  if (c.dtype() == kFloat && onednn::matmul_pays(batch, m, n, k) &&
      onednn::matmul(a_in, b_in, c, static_cast<float>(alpha), static_cast<float>(beta)))
    return;
  dispatch_compute(c.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      Tensor a = a_in, b = b_in;
      auto la = blas_layout(m, k, a.stride(1), a.stride(2));
      if (!la) { a = a.contiguous(); la = blas_layout(m, k, a.stride(1), a.stride(2)); }
      auto lb = blas_layout(k, n, b.stride(1), b.stride(2));
      if (!lb) { b = b.contiguous(); lb = blas_layout(k, n, b.stride(1), b.stride(2)); }
      const T* pa = a.data_ptr<T>();
      const T* pb = b.data_ptr<T>();
      T* pc = c.data_ptr<T>();
      const int64_t sa = a.stride(0), sb = b.stride(0), sc = c.stride(0);
      const int64_t ldc = std::max<int64_t>(c.stride(1), n);
      auto one = [&](int64_t i) {
        gemm<T>(la->trans, lb->trans, m, n, k, static_cast<T>(alpha), pa + i * sa, la->ld, pb + i * sb, lb->ld,
                static_cast<T>(beta), pc + i * sc, ldc);
      };
      // Many small products: one per thread. Few or large ones: let GEMM use the threads.
      const double flops_each = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
      if (batch >= get_num_threads() && flops_each < 4e6) {
        parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
          for (int64_t i = b0; i < b1; ++i) one(i);
        });
      } else {
        for (int64_t i = 0; i < batch; ++i) one(i);
      }
    } else {
      const T* pa = a_in.data_ptr<T>();
      const T* pb = b_in.data_ptr<T>();
      T* pc = c.data_ptr<T>();
      for (int64_t bi = 0; bi < batch; ++bi)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            T acc = 0;
            for (int64_t p = 0; p < k; ++p)
              acc += pa[bi * a_in.stride(0) + i * a_in.stride(1) + p * a_in.stride(2)] *
                     pb[bi * b_in.stride(0) + p * b_in.stride(1) + j * b_in.stride(2)];
            T& out = pc[bi * c.stride(0) + i * c.stride(1) + j * c.stride(2)];
            out = static_cast<T>(static_cast<double>(alpha) * static_cast<double>(acc) +
                                 (beta == 0 ? 0.0 : static_cast<double>(beta) * static_cast<double>(out)));
          }
    }
  });
}

}  // namespace ark::cpu
