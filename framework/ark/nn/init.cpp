// nn::init: the formulas of torch/nn/init.py (PyTorch 1.13). Fills that need a transform the op
// set lacks (erfinv for trunc_normal_, QR for orthogonal_, the dirac pattern) are computed in
// float64 on the host and copied in, so they work for every dtype and device.
#include "ark/nn/init.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ark/autograd/grad_mode.h"
#include "ark/ops/ops.h"

namespace ark::nn::init {

namespace {

// erf^-1: Giles' single-precision approximation ("Approximating the erfinv function", 2010)
// refined by two Newton steps on erf to full double precision.
double erfinv(double x) {
  if (x <= -1) return -std::numeric_limits<double>::infinity();
  if (x >= 1) return std::numeric_limits<double>::infinity();
  double w = -std::log((1.0 - x) * (1.0 + x)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double y = p * x;
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 2; ++i) y -= (std::erf(y) - x) / (two_over_sqrt_pi * std::exp(-y * y));
  return y;
}

// Copies host float64 values (row-major, tensor's shape) into `tensor`.
void copy_from_host(Tensor& tensor, std::vector<double>& values) {
  Tensor src = from_blob(values.data(), tensor.sizes(), TensorOptions().dtype(kDouble));
  tensor.copy_(src);
}

double fan_for(const Tensor& tensor, const FanModeType& mode) {
  auto [fan_in, fan_out] = _calculate_fan_in_and_fan_out(tensor);
  return static_cast<double>(std::holds_alternative<enumtype::kFanIn>(mode) ? fan_in : fan_out);
}

}  // namespace

double calculate_gain(NonlinearityType nonlinearity, double param) {
  if (std::holds_alternative<enumtype::kTanh>(nonlinearity)) return 5.0 / 3.0;
  if (std::holds_alternative<enumtype::kReLU>(nonlinearity)) return std::sqrt(2.0);
  if (std::holds_alternative<enumtype::kLeakyReLU>(nonlinearity)) return std::sqrt(2.0 / (1 + param * param));
  if (std::holds_alternative<enumtype::kSELU>(nonlinearity)) return 3.0 / 4.0;
  return 1.0;  // linear, conv*, conv_transpose*, sigmoid
}

std::tuple<int64_t, int64_t> _calculate_fan_in_and_fan_out(const Tensor& tensor) {
  ARK_CHECK(tensor.dim() >= 2, "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got "
            "shape ", tensor.sizes(), ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive *= tensor.size(d);
  return {tensor.size(1) * receptive, tensor.size(0) * receptive};
}

Tensor uniform_(Tensor tensor, double low, double high) {
  NoGradGuard no_grad;
  tensor.uniform_(low, high);
  return tensor;
}

Tensor normal_(Tensor tensor, double mean, double std) {
  NoGradGuard no_grad;
  tensor.normal_(mean, std);
  return tensor;
}

Tensor constant_(Tensor tensor, Scalar value) {
  NoGradGuard no_grad;
  tensor.fill_(value);
  return tensor;
}

Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1); }
Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0); }

Tensor eye_(Tensor matrix) {
  ARK_CHECK(matrix.dim() == 2, "eye_: only tensors with 2 dimensions are supported, got shape ", matrix.sizes());
  NoGradGuard no_grad;
  matrix.copy_(ark::eye(matrix.size(0), matrix.size(1), matrix.options()));
  return matrix;
}

Tensor dirac_(Tensor tensor, int64_t groups) {
  const int64_t dims = tensor.dim();
  ARK_CHECK(dims >= 3 && dims <= 5, "dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape ",
            tensor.sizes());
  ARK_CHECK(groups > 0 && tensor.size(0) % groups == 0, "dirac_: dim 0 (", tensor.size(0), ") must be divisible by groups (",
            groups, ")");
  const int64_t out_per_group = tensor.size(0) / groups;
  const int64_t min_dim = std::min(out_per_group, tensor.size(1));
  std::vector<double> v(static_cast<size_t>(tensor.numel()), 0.0);
  // Row-major strides of the weight; the 1 goes to the kernel's centre (size // 2 per dim).
  std::vector<int64_t> strides(static_cast<size_t>(dims), 1);
  for (int64_t d = dims - 2; d >= 0; --d) strides[d] = strides[d + 1] * tensor.size(d + 1);
  int64_t centre = 0;
  for (int64_t d = 2; d < dims; ++d) centre += (tensor.size(d) / 2) * strides[d];
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t d = 0; d < min_dim; ++d) v[static_cast<size_t>((g * out_per_group + d) * strides[0] + d * strides[1] + centre)] = 1;
  NoGradGuard no_grad;
  copy_from_host(tensor, v);
  return tensor;
}

Tensor xavier_uniform_(Tensor tensor, double gain) {
  auto [fan_in, fan_out] = _calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double a = std::sqrt(3.0) * std;
  return uniform_(std::move(tensor), -a, a);
}

Tensor xavier_normal_(Tensor tensor, double gain) {
  auto [fan_in, fan_out] = _calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(std::move(tensor), 0, std);
}

Tensor kaiming_uniform_(Tensor tensor, double a, FanModeType mode, NonlinearityType nonlinearity) {
  if (tensor.numel() == 0) return tensor;  // PyTorch warns "Initializing zero-element tensors is a no-op"
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan_for(tensor, mode));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor kaiming_normal_(Tensor tensor, double a, FanModeType mode, NonlinearityType nonlinearity) {
  if (tensor.numel() == 0) return tensor;
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan_for(tensor, mode));
  return normal_(std::move(tensor), 0, std);
}

Tensor trunc_normal_(Tensor tensor, double mean, double std, double a, double b) {
  ARK_CHECK(std > 0, "trunc_normal_: std must be positive, got ", std);
  ARK_CHECK(a < b, "trunc_normal_: expected a < b, got a=", a, " b=", b);
  auto norm_cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double l = norm_cdf((a - mean) / std), u = norm_cdf((b - mean) / std);
  NoGradGuard no_grad;
  // Uniform on [2l-1, 2u-1], then the inverse CDF of the standard normal, scaled and clamped.
  Tensor r = empty(tensor.sizes(), TensorOptions().dtype(kDouble)).uniform_(2 * l - 1, 2 * u - 1).contiguous();
  double* p = r.data_ptr<double>();
  for (int64_t i = 0; i < r.numel(); ++i)
    p[i] = std::clamp(erfinv(p[i]) * std * std::sqrt(2.0) + mean, a, b);
  tensor.copy_(r);
  return tensor;
}

Tensor orthogonal_(Tensor tensor, double gain) {
  ARK_CHECK(tensor.dim() >= 2, "orthogonal_: only tensors with 2 or more dimensions are supported, got shape ",
            tensor.sizes());
  if (tensor.numel() == 0) return tensor;
  const int64_t rows = tensor.size(0), cols = tensor.numel() / rows;
  // QR of the tall orientation by modified Gram-Schmidt (twice, for orthogonality in float64).
  // Its R has a positive diagonal, so Q is already PyTorch's sign-corrected q * sign(diag(r)).
  const int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  Tensor g = empty({m, n}, TensorOptions().dtype(kDouble)).normal_().contiguous();
  std::vector<double> a(g.data_ptr<double>(), g.data_ptr<double>() + m * n);  // a[i * n + j]
  for (int64_t j = 0; j < n; ++j) {
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t k = 0; k < j; ++k) {
        double dot = 0;
        for (int64_t i = 0; i < m; ++i) dot += a[i * n + k] * a[i * n + j];
        for (int64_t i = 0; i < m; ++i) a[i * n + j] -= dot * a[i * n + k];
      }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += a[i * n + j] * a[i * n + j];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; ++i) a[i * n + j] /= norm;
  }
  std::vector<double> q(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      q[r * cols + c] = gain * (rows >= cols ? a[r * n + c] : a[c * n + r]);
  NoGradGuard no_grad;
  tensor.copy_(from_blob(q.data(), tensor.sizes(), TensorOptions().dtype(kDouble)));
  return tensor;
}

}  // namespace ark::nn::init
