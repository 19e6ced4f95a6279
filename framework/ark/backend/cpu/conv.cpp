// Convolution on the CPU: oneDNN for float32 (conv_onednn.cpp), im2col + GEMM here for the rest
// (float64 gradient checks, odd shapes). Layout NCHW, weights OIHW, groups supported.
#include <cblas.h>

#include <cstring>
#include <vector>

#include "ark/backend/cpu/conv.h"
#include "ark/backend/cpu/cpu_backend.h"
#include "ark/core/parallel.h"

namespace ark::cpu {
namespace {

struct Geometry {
  int64_t n, c, h, w, o, kh, kw, ho, wo, g;
  int64_t cg() const { return c / g; }
  int64_t og() const { return o / g; }
  int64_t col_rows() const { return cg() * kh * kw; }
  int64_t col_cols() const { return ho * wo; }
};

Geometry geometry(const Tensor& input, const Tensor& weight, const Tensor& out, const Backend::ConvParams& p) {
  return {input.size(0), input.size(1), input.size(2), input.size(3), weight.size(0), weight.size(2), weight.size(3),
          out.size(2),   out.size(3),   p.groups};
}

template <class T>
void im2col(const T* x, const Geometry& g, const Backend::ConvParams& p, T* col) {
  const int64_t cg = g.cg();
  for (int64_t c = 0; c < cg; ++c)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        T* row = col + ((c * g.kh + ki) * g.kw + kj) * g.ho * g.wo;
        for (int64_t oi = 0; oi < g.ho; ++oi) {
          const int64_t ii = oi * p.stride[0] - p.padding[0] + ki * p.dilation[0];
          T* r = row + oi * g.wo;
          if (ii < 0 || ii >= g.h) {
            std::memset(r, 0, sizeof(T) * static_cast<size_t>(g.wo));
            continue;
          }
          const T* xr = x + (c * g.h + ii) * g.w;
          for (int64_t oj = 0; oj < g.wo; ++oj) {
            const int64_t jj = oj * p.stride[1] - p.padding[1] + kj * p.dilation[1];
            r[oj] = (jj >= 0 && jj < g.w) ? xr[jj] : T(0);
          }
        }
      }
}

template <class T>
void col2im(const T* col, const Geometry& g, const Backend::ConvParams& p, T* x) {
  const int64_t cg = g.cg();
  for (int64_t c = 0; c < cg; ++c)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const T* row = col + ((c * g.kh + ki) * g.kw + kj) * g.ho * g.wo;
        for (int64_t oi = 0; oi < g.ho; ++oi) {
          const int64_t ii = oi * p.stride[0] - p.padding[0] + ki * p.dilation[0];
          if (ii < 0 || ii >= g.h) continue;
          T* xr = x + (c * g.h + ii) * g.w;
          for (int64_t oj = 0; oj < g.wo; ++oj) {
            const int64_t jj = oj * p.stride[1] - p.padding[1] + kj * p.dilation[1];
            if (jj >= 0 && jj < g.w) xr[jj] += row[oi * g.wo + oj];
          }
        }
      }
}

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T beta,
          T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                1.0f, a, int(lda), b, int(ldb), beta, c, int(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                1.0, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

bool is_pointwise(const Geometry& g, const Backend::ConvParams& p) {
  return g.kh == 1 && g.kw == 1 && p.stride[0] == 1 && p.stride[1] == 1 && p.padding[0] == 0 && p.padding[1] == 0;
}

// Runs body(n, col_buffer) for every image, in parallel over images when there are enough of
// them (each thread has its own column buffer and GEMM runs single-threaded inside).
template <class T, class F>
void per_image(const Geometry& g, const F& body) {
  const size_t col_size = static_cast<size_t>(g.col_rows() * g.col_cols());
  if (g.n >= get_num_threads() && g.n > 1) {
    parallel_for(g.n, 1, [&](int64_t b, int64_t e) {
      std::vector<T> col(col_size);
      for (int64_t i = b; i < e; ++i) body(i, col.data());
    });
  } else {
    std::vector<T> col(col_size);
    for (int64_t i = 0; i < g.n; ++i) body(i, col.data());
  }
}

template <class T>
void conv_forward(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
                  const Backend::ConvParams& p) {
  const Geometry g = geometry(input, weight, out, p);
  const T* x = input.data_ptr<T>();
  const T* w = weight.data_ptr<T>();
  T* y = out.data_ptr<T>();
  const bool pw = is_pointwise(g, p);
  per_image<T>(g, [&](int64_t n, T* col) {
    for (int64_t grp = 0; grp < g.g; ++grp) {
      const T* xin = x + (n * g.c + grp * g.cg()) * g.h * g.w;
      const T* src = xin;
      if (!pw) {
        im2col(xin, g, p, col);
        src = col;
      }
      T* yout = y + (n * g.o + grp * g.og()) * g.ho * g.wo;
      gemm<T>(false, false, g.og(), g.col_cols(), g.col_rows(), w + grp * g.og() * g.col_rows(), g.col_rows(), src,
              g.col_cols(), T(0), yout, g.col_cols());
    }
    if (bias.defined()) {
      const T* bp = bias.data_ptr<T>();
      for (int64_t o = 0; o < g.o; ++o) {
        T* row = y + (n * g.o + o) * g.ho * g.wo;
        for (int64_t i = 0; i < g.ho * g.wo; ++i) row[i] += bp[o];
      }
    }
  });
}

template <class T>
void conv_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_in,
                         const Backend::ConvParams& p) {
  const Geometry g = geometry(grad_in, weight, grad_out, p);
  const T* gy = grad_out.data_ptr<T>();
  const T* w = weight.data_ptr<T>();
  T* gx = grad_in.data_ptr<T>();
  const bool pw = is_pointwise(g, p);
  per_image<T>(g, [&](int64_t n, T* col) {
    T* gxn = gx + n * g.c * g.h * g.w;
    if (!pw) std::memset(gxn, 0, sizeof(T) * static_cast<size_t>(g.c * g.h * g.w));
    for (int64_t grp = 0; grp < g.g; ++grp) {
      const T* gyn = gy + (n * g.o + grp * g.og()) * g.ho * g.wo;
      T* dst = pw ? gxn + grp * g.cg() * g.h * g.w : col;
      gemm<T>(true, false, g.col_rows(), g.col_cols(), g.og(), w + grp * g.og() * g.col_rows(), g.col_rows(), gyn,
              g.col_cols(), T(0), dst, g.col_cols());
      if (!pw) col2im(col, g, p, gxn + grp * g.cg() * g.h * g.w);
    }
  });
}

template <class T>
void conv_backward_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_w, const Tensor& grad_b,
                          const Backend::ConvParams& p) {
  const Geometry g = geometry(input, grad_w, grad_out, p);
  const T* gy = grad_out.data_ptr<T>();
  const T* x = input.data_ptr<T>();
  const bool pw = is_pointwise(g, p);
  if (grad_w.defined()) {
    T* gw = grad_w.data_ptr<T>();
    std::vector<T> col(pw ? 0 : static_cast<size_t>(g.col_rows() * g.col_cols()));
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t grp = 0; grp < g.g; ++grp) {
        const T* xin = x + (n * g.c + grp * g.cg()) * g.h * g.w;
        const T* src = xin;
        if (!pw) {
          im2col(xin, g, p, col.data());
          src = col.data();
        }
        const T* gyn = gy + (n * g.o + grp * g.og()) * g.ho * g.wo;
        gemm<T>(false, true, g.og(), g.col_rows(), g.col_cols(), gyn, g.col_cols(), src, g.col_cols(),
                n == 0 ? T(0) : T(1), gw + grp * g.og() * g.col_rows(), g.col_rows());
      }
    if (g.n == 0) std::memset(gw, 0, grad_w.nbytes());
  }
  if (grad_b.defined()) {
    T* gb = grad_b.data_ptr<T>();
    for (int64_t o = 0; o < g.o; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* row = gy + (n * g.o + o) * g.ho * g.wo;
        for (int64_t i = 0; i < g.ho * g.wo; ++i) acc += row[i];
      }
      gb[o] = static_cast<T>(acc);
    }
  }
}

}  // namespace

void CpuBackend::conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
                        const ConvParams& p) {
  if (input.dtype() == kFloat && onednn::conv2d(input, weight, bias, out, p)) return;
  dispatch_float(input.dtype(), "conv2d", [&]<class T>() { conv_forward<T>(input, weight, bias, out, p); });
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_in,
                                       const ConvParams& p) {
  if (grad_out.dtype() == kFloat && onednn::conv2d_backward_input(grad_out, weight, grad_in, p)) return;
  dispatch_float(grad_out.dtype(), "conv2d", [&]<class T>() { conv_backward_input<T>(grad_out, weight, grad_in, p); });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_weight,
                                        const Tensor& grad_bias, const ConvParams& p) {
  if (grad_out.dtype() == kFloat && onednn::conv2d_backward_weight(grad_out, input, grad_weight, grad_bias, p)) return;
  dispatch_float(grad_out.dtype(), "conv2d",
                 [&]<class T>() { conv_backward_weight<T>(grad_out, input, grad_weight, grad_bias, p); });
}

}  // namespace ark::cpu
