// Fused row and channel kernels: softmax / log_softmax (and backward) over the last dim, row
// moments for layer/group/rms norm, channel moments and affine for batch norm.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/backend/cpu/vec_math.h"
#include "ark/core/parallel.h"

namespace ark::cpu {
namespace {
int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)); }

// Per-plane sums for batch norm, the hot loops of a training step: two running sums (s, q),
// kept in float vector accumulators over blocks of kBlock elements (16 independent partial sums
// each, so neither add latency nor rounding grows with the plane), each block's totals added
// into doubles. step16(i, s0, s1, q0, q1) adds elements i..i+15; step1(i, s, q) adds element i.
constexpr int64_t kBlock = 2048;

#ifdef __AVX2__
template <class Step16, class Step1>
void block_sums(int64_t n, const Step16& step16, const Step1& step1, double& s, double& q) {
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
    int64_t i = b;
    for (; i + 16 <= e; i += 16) step16(i, s0, s1, q0, q1);
    alignas(32) float ls[8], lq[8];
    _mm256_store_ps(ls, _mm256_add_ps(s0, s1));
    _mm256_store_ps(lq, _mm256_add_ps(q0, q1));
    double bs = 0, bq = 0;
    for (int k = 0; k < 8; ++k) {
      bs += ls[k];
      bq += lq[k];
    }
    for (; i < e; ++i) step1(i, bs, bq);
    s += bs;
    q += bq;
  }
}
#endif

// sum(p[i]) and sum((p[i] - mu)^2) over one plane.
template <class T>
void plane_moments(const T* p, int64_t n, T mu, double& sum, double& sq) {
  auto step1 = [&](int64_t i, double& s, double& q) {
    s += p[i];
    const double d = static_cast<double>(p[i]) - mu;
    q += d * d;
  };
#ifdef __AVX2__
  if constexpr (std::is_same_v<T, float>) {
    const __m256 vm = _mm256_set1_ps(mu);
    auto step16 = [&](int64_t i, __m256& s0, __m256& s1, __m256& q0, __m256& q1) {
      const __m256 x0 = _mm256_loadu_ps(p + i), x1 = _mm256_loadu_ps(p + i + 8);
      s0 = _mm256_add_ps(s0, x0);
      s1 = _mm256_add_ps(s1, x1);
      const __m256 d0 = _mm256_sub_ps(x0, vm), d1 = _mm256_sub_ps(x1, vm);
      q0 = _mm256_fmadd_ps(d0, d0, q0);
      q1 = _mm256_fmadd_ps(d1, d1, q1);
    };
    return block_sums(n, step16, step1, sum, sq);
  }
#endif
  for (int64_t i = 0; i < n; ++i) step1(i, sum, sq);
}

// sum(g[i]) and sum(g[i] * (x[i] - mu)) over one plane.
template <class T>
void plane_grad_sums(const T* g, const T* x, int64_t n, T mu, double& sum_g, double& sum_gx) {
  auto step1 = [&](int64_t i, double& s, double& q) {
    s += g[i];
    q += static_cast<double>(g[i]) * (x[i] - mu);
  };
#ifdef __AVX2__
  if constexpr (std::is_same_v<T, float>) {
    const __m256 vm = _mm256_set1_ps(mu);
    auto step16 = [&](int64_t i, __m256& s0, __m256& s1, __m256& q0, __m256& q1) {
      const __m256 g0 = _mm256_loadu_ps(g + i), g1 = _mm256_loadu_ps(g + i + 8);
      s0 = _mm256_add_ps(s0, g0);
      s1 = _mm256_add_ps(s1, g1);
      q0 = _mm256_fmadd_ps(g0, _mm256_sub_ps(_mm256_loadu_ps(x + i), vm), q0);
      q1 = _mm256_fmadd_ps(g1, _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm), q1);
    };
    return block_sums(n, step16, step1, sum_g, sum_gx);
  }
#endif
  for (int64_t i = 0; i < n; ++i) step1(i, sum_g, sum_gx);
}
}  // namespace

void CpuBackend::softmax(const Tensor& in, const Tensor& out, bool log) {
  dispatch_float(in.dtype(), "softmax", [&]<class T>() {
    const int64_t n = in.size(-1), rows = n ? in.numel() / n : 0;
    const T* x = in.data_ptr<T>();
    T* y = out.data_ptr<T>();
    parallel_for(rows, row_grain(n), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        T mx = -std::numeric_limits<T>::infinity();
        if constexpr (std::is_same_v<T, float>) mx = std::max(mx, vec::max(xr, n));
        else
          for (int64_t i = 0; i < n; ++i) mx = std::max(mx, xr[i]);
        if (std::isinf(mx) && mx < 0) mx = 0;  // all -inf: avoid (-inf) - (-inf)
        T sum = 0;
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - mx;
        if constexpr (std::is_same_v<T, float>) {
          if (log) {
            // exp into a scratch row: y keeps x - max for the final subtraction.
            float buf[1024];
            for (int64_t b = 0; b < n; b += 1024) {
              const int64_t m = std::min<int64_t>(1024, n - b);
              vec::exp(yr + b, buf, m);
              sum += static_cast<float>(vec::sum(buf, m));
            }
          } else {
            vec::exp(yr, yr, n);
            sum = static_cast<float>(vec::sum(yr, n));
          }
        } else {
          for (int64_t i = 0; i < n; ++i) {
            if (log) sum += std::exp(yr[i]);
            else sum += (yr[i] = std::exp(yr[i]));
          }
        }
        if (log) {
          const T lse = std::log(sum);
          for (int64_t i = 0; i < n; ++i) yr[i] -= lse;
        } else {
          const T inv = T(1) / sum;
          for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
        }
      }
    });
  });
}

void CpuBackend::softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_in, bool log) {
  dispatch_float(grad.dtype(), "softmax_backward", [&]<class T>() {
    const int64_t n = grad.size(-1), rows = n ? grad.numel() / n : 0;
    const T* g = grad.data_ptr<T>();
    const T* y = out.data_ptr<T>();
    T* gx = grad_in.data_ptr<T>();
    parallel_for(rows, row_grain(n), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* gr = g + r * n;
        const T* yr = y + r * n;
        T* o = gx + r * n;
        T acc = 0;
        if (log) {
          for (int64_t i = 0; i < n; ++i) acc += gr[i];
          for (int64_t i = 0; i < n; ++i) o[i] = gr[i] - std::exp(yr[i]) * acc;
        } else {
          for (int64_t i = 0; i < n; ++i) acc += gr[i] * yr[i];
          for (int64_t i = 0; i < n; ++i) o[i] = yr[i] * (gr[i] - acc);
        }
      }
    });
  });
}

void CpuBackend::row_moments(const Tensor& in, double eps, const Tensor& mean, const Tensor& rstd) {
  dispatch_float(in.dtype(), "row_moments", [&]<class T>() {
    const int64_t rows = mean.numel(), n = rows ? in.numel() / rows : 0;
    const T* x = in.data_ptr<T>();
    T* m = mean.data_ptr<T>();
    T* rs = rstd.data_ptr<T>();
    parallel_for(rows, row_grain(n), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + r * n;
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += xr[i];
        const double mu = s / static_cast<double>(n);
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double d = xr[i] - mu;
          ss += d * d;
        }
        m[r] = static_cast<T>(mu);
        rs[r] = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
      }
    });
  });
}

void CpuBackend::channel_moments(const Tensor& in, const Tensor& mean, const Tensor& var) {
  dispatch_float(in.dtype(), "batch_norm", [&]<class T>() {
    const int64_t N = in.size(0), C = in.size(1), S = in.numel() / std::max<int64_t>(N * C, 1);
    const T* x = in.data_ptr<T>();
    T* m = mean.data_ptr<T>();
    T* v = var.data_ptr<T>();
    parallel_for(C, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        // Two passes (mean, then squared deviations) as PyTorch's batch_norm_cpu_collect_stats;
        // the first pass's sums of squares about the provisional centre 0 are not used.
        double s = 0, unused = 0;
        for (int64_t n = 0; n < N; ++n) plane_moments<T>(x + (n * C + c) * S, S, T(0), s, unused);
        const double cnt = static_cast<double>(N * S), mu = s / cnt;
        double s2 = 0, ss = 0;
        for (int64_t n = 0; n < N; ++n) plane_moments<T>(x + (n * C + c) * S, S, static_cast<T>(mu), s2, ss);
        // ss is about the float-rounded centre; correct it to the exact mean.
        const double shift = s2 / cnt - static_cast<double>(static_cast<T>(mu));
        m[c] = static_cast<T>(mu);
        v[c] = static_cast<T>(std::max(0.0, ss / cnt - shift * shift));
      }
    });
  });
}

void CpuBackend::channel_affine(const Tensor& in, const Tensor& scale, const Tensor& shift, const Tensor& out) {
  dispatch_float(in.dtype(), "batch_norm", [&]<class T>() {
    const int64_t N = in.size(0), C = in.size(1), S = in.numel() / std::max<int64_t>(N * C, 1);
    const T* x = in.data_ptr<T>();
    const T* a = scale.data_ptr<T>();
    const T* b = shift.data_ptr<T>();
    T* y = out.data_ptr<T>();
    parallel_for(N * C, row_grain(S), [&](int64_t b0, int64_t e0) {
      for (int64_t nc = b0; nc < e0; ++nc) {
        const int64_t c = nc % C;
        const T av = a[c], bv = b[c];
        const T* p = x + nc * S;
        T* q = y + nc * S;
        for (int64_t i = 0; i < S; ++i) q[i] = p[i] * av + bv;
      }
    });
  });
}

void CpuBackend::channel_grad_sums(const Tensor& grad, const Tensor& in, const Tensor& mean, const Tensor& sum_g,
                                   const Tensor& sum_gx) {
  dispatch_float(in.dtype(), "batch_norm_backward", [&]<class T>() {
    const int64_t N = in.size(0), C = in.size(1), S = in.numel() / std::max<int64_t>(N * C, 1);
    const T* g = grad.data_ptr<T>();
    const T* x = in.data_ptr<T>();
    const T* m = mean.data_ptr<T>();
    T* sg = sum_g.data_ptr<T>();
    T* sgx = sum_gx.data_ptr<T>();
    parallel_for(C, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double a = 0, ax = 0;
        const T mu = m[c];
        for (int64_t n = 0; n < N; ++n) plane_grad_sums<T>(g + (n * C + c) * S, x + (n * C + c) * S, S, mu, a, ax);
        sg[c] = static_cast<T>(a);
        sgx[c] = static_cast<T>(ax);
      }
    });
  });
}

}  // namespace ark::cpu
