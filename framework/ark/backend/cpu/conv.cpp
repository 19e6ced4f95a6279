// Convolution on the CPU: oneDNN for float32 (conv_onednn.cpp), im2col + GEMM here for the rest
// (float64 gradient checks, odd shapes). Layout NCHW, weights OIHW, groups supported.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ark/backend/cpu/conv.h"
#include "ark/backend/cpu/cpu_backend.h"
#include "ark/core/parallel.h"
#include "ark/ops/ops.h"

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

// The kh*kw rows of one input channel `xc` (an h x w plane) in the column matrix, each row
// `ld` elements apart (ho*wo for one image; a batch-wide matrix puts images side by side).
template <class T>
void im2col_channel(const T* xc, const Geometry& g, const Backend::ConvParams& p, T* rows, int64_t ld) {
  for (int64_t ki = 0; ki < g.kh; ++ki)
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      T* row = rows + (ki * g.kw + kj) * ld;
      // Output columns whose input column lies inside the image: [j0, j1).
      const int64_t off = kj * p.dilation[1] - p.padding[1], s = p.stride[1];
      const int64_t j0 = std::clamp<int64_t>(off >= 0 ? 0 : (-off + s - 1) / s, 0, g.wo);
      const int64_t j1 = std::clamp<int64_t>(g.w - off <= 0 ? 0 : (g.w - off + s - 1) / s, j0, g.wo);
      for (int64_t oi = 0; oi < g.ho; ++oi) {
        const int64_t ii = oi * p.stride[0] - p.padding[0] + ki * p.dilation[0];
        T* r = row + oi * g.wo;
        if (ii < 0 || ii >= g.h) {
          std::fill(r, r + g.wo, T(0));
          continue;
        }
        const T* xr = xc + ii * g.w + off;
        std::fill(r, r + j0, T(0));
        if (s == 1) std::copy(xr + j0, xr + j1, r + j0);
        else
          for (int64_t oj = j0; oj < j1; ++oj) r[oj] = xr[oj * s];
        std::fill(r + j1, r + g.wo, T(0));
      }
    }
}

template <class T>
void im2col(const T* x, const Geometry& g, const Backend::ConvParams& p, T* col) {
  const int64_t rows = g.kh * g.kw, cols = g.ho * g.wo;
  for (int64_t c = 0; c < g.cg(); ++c) im2col_channel(x + c * g.h * g.w, g, p, col + c * rows * cols, cols);
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
// them (each thread has its own column buffer and GEMM runs single-threaded inside). Pointwise
// convolutions need no column buffer (a batch-1 ResNet layer's would be a 3 MB memset per call).
template <class T, class F>
void per_image(const Geometry& g, bool pointwise, const F& body) {
  const size_t col_size = pointwise ? 0 : static_cast<size_t>(g.col_rows() * g.col_cols());
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
void add_bias(const Geometry& g, const Tensor& bias, T* y, int64_t n) {
  const T* bp = bias.data_ptr<T>();
  for (int64_t o = 0; o < g.o; ++o) {
    T* row = y + (n * g.o + o) * g.ho * g.wo;
    for (int64_t i = 0; i < g.ho * g.wo; ++i) row[i] += bp[o];
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
  if (pw) {
    // Per image, one product per group on the plain tensors, through the backend's GEMM (oneDNN's
    // matmul for float32 where it pays, ~10 % faster than OpenBLAS on batch-1 ResNet layers).
    Backend& be = backend_for(Device(kCPU));
    const Tensor wg = weight.view({g.g, g.og(), g.cg()});
    for (int64_t n = 0; n < g.n; ++n) {
      const Tensor xn = input.select(0, n).view({g.g, g.cg(), g.h * g.w});
      be.bmm(wg, xn, out.select(0, n).view({g.g, g.og(), g.ho * g.wo}), 1, 0);
      if (bias.defined()) add_bias(g, bias, y, n);
    }
    return;
  }
  per_image<T>(g, false, [&](int64_t n, T* col) {
    for (int64_t grp = 0; grp < g.g; ++grp) {
      const T* xin = x + (n * g.c + grp * g.cg()) * g.h * g.w;
      im2col(xin, g, p, col);
      T* yout = y + (n * g.o + grp * g.og()) * g.ho * g.wo;
      gemm<T>(false, false, g.og(), g.col_cols(), g.col_rows(), w + grp * g.og() * g.col_rows(), g.col_rows(), col,
              g.col_cols(), T(0), yout, g.col_cols());
    }
    if (bias.defined()) add_bias(g, bias, y, n);
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
  per_image<T>(g, pw, [&](int64_t n, T* col) {
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

// The weight gradient as one GEMM over the whole batch: grad_w (O x C*kh*kw, per group) =
// grad_out (O x N*ho*wo) . col^T, with the column matrices of all images side by side. One product
// with a long reduction (N*ho*wo) runs near the GEMM's peak, where a product per image (a reduction
// of ho*wo, 49 for ResNet's last stage) does not. Images go in chunks that keep the column matrix
// within kColumnBudget, the chunks' products accumulating into grad_w.
constexpr size_t kColumnBudget = size_t{64} << 20;

template <class T>
void conv_backward_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_w, const Tensor& grad_b,
                          const Backend::ConvParams& p) {
  const Geometry g = geometry(input, grad_w, grad_out, p);
  const int64_t pixels = g.ho * g.wo, rows = g.col_rows();
  Backend& be = backend_for(Device(kCPU));
  if (grad_w.defined() && (g.n == 0 || pixels == 0)) be.fill(grad_w, 0);
  if (grad_w.defined() && g.n > 0 && pixels > 0) {
    const size_t image_bytes = static_cast<size_t>(g.c * g.kh * g.kw * pixels) * sizeof(T);
    const int64_t chunk = std::clamp<int64_t>(static_cast<int64_t>(kColumnBudget / image_bytes), 1, g.n);
    const TensorOptions opts = TensorOptions().dtype(input.dtype());
    Tensor col = empty({g.g, rows, chunk * pixels}, opts);
    Tensor gy_t = empty({g.o, chunk * pixels}, opts);
    const T* x = input.data_ptr<T>();
    T* cp = col.data_ptr<T>();
    for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
      const int64_t nc = std::min(chunk, g.n - n0), ld = nc * pixels;
      // grad_out's rows of these images, channel-major: (O, nc, ho*wo).
      Tensor gy_rows = gy_t.narrow(1, 0, ld);
      be.copy(gy_rows.view({g.o, nc, pixels}),
              grad_out.narrow(0, n0, nc).reshape({nc, g.o, pixels}).permute({1, 0, 2}));
      // Column matrix: group, then (channel, kh, kw) rows, then (image, pixel) columns.
      parallel_for(nc * g.c, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const int64_t n = i / g.c, c = i % g.c, grp = c / g.cg(), cg = c % g.cg();
          T* dst = cp + grp * rows * ld + cg * g.kh * g.kw * ld + n * pixels;
          im2col_channel(x + ((n0 + n) * g.c + c) * g.h * g.w, g, p, dst, ld);
        }
      });
      Tensor cols = col.view({-1}).narrow(0, 0, g.g * rows * ld).view({g.g, rows, ld});
      be.bmm(gy_rows.view({g.g, g.og(), ld}), cols.transpose(1, 2), grad_w.view({g.g, g.og(), rows}), 1.0,
             n0 == 0 ? 0.0 : 1.0);
    }
  }
  if (grad_b.defined()) {
    const T* gy = grad_out.data_ptr<T>();
    T* gb = grad_b.data_ptr<T>();
    for (int64_t o = 0; o < g.o; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* row = gy + (n * g.o + o) * pixels;
        for (int64_t i = 0; i < pixels; ++i) acc += row[i];
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
