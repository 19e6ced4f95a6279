// Factory functions: empty/zeros/ones/full, ranges, eye, random tensors, from_blob and
// ark::tensor({...}) from nested initializer lists.
#include <cmath>

#include "ark/autograd/node.h"
#include "ark/backend/backend.h"
#include "ark/ops/ops.h"

namespace ark {

namespace {
DimVector contiguous_strides(IntArrayRef size) {
  DimVector st(size.size());
  int64_t s = 1;
  for (size_t i = size.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<int64_t>(size[i], 1);
  }
  return st;
}

size_t checked_nbytes(IntArrayRef size, ScalarType dtype, const char* op) {
  uint64_t n = 1;
  for (int64_t s : size) {
    ARK_CHECK(s >= 0, op, ": negative dimension ", s, " in size ", size);
    ARK_CHECK(!__builtin_mul_overflow(n, static_cast<uint64_t>(s), &n), op, ": size ", size, " overflows");
  }
  uint64_t bytes;
  ARK_CHECK(!__builtin_mul_overflow(n, static_cast<uint64_t>(element_size(dtype)), &bytes), op, ": size ", size,
            " overflows");
  return static_cast<size_t>(bytes);
}

Tensor finish(Tensor t, const TensorOptions& o) {
  if (o.requires_grad()) {
    ARK_CHECK(is_floating_point(t.dtype()), "only tensors of floating point dtype can require gradients, got ",
              dtype_name(t.dtype()));
    t.requires_grad_(true);
  }
  return t;
}
}  // namespace

Tensor empty(IntArrayRef size, TensorOptions options) {
  const size_t nbytes = checked_nbytes(size, options.dtype(), "empty");
  auto storage = backend_for(options.device()).allocate(nbytes);
  return finish(Tensor(std::make_shared<TensorImpl>(std::move(storage), size.vec(), contiguous_strides(size), 0,
                                                    options.dtype())),
                options);
}

Tensor empty_strided(IntArrayRef size, IntArrayRef stride, TensorOptions options) {
  ARK_CHECK(size.size() == stride.size(), "empty_strided: got ", size.size(), " sizes but ", stride.size(), " strides");
  int64_t extent = 1;
  bool empty_t = false;
  for (size_t i = 0; i < size.size(); ++i) {
    ARK_CHECK(size[i] >= 0 && stride[i] >= 0, "empty_strided: negative size or stride");
    if (size[i] == 0) empty_t = true;
    extent += (size[i] - 1) * stride[i];
  }
  if (empty_t) extent = 0;
  const size_t nbytes = checked_nbytes({extent}, options.dtype(), "empty_strided");
  auto storage = backend_for(options.device()).allocate(nbytes);
  return finish(Tensor(std::make_shared<TensorImpl>(std::move(storage), size.vec(), stride.vec(), 0, options.dtype())),
                options);
}

Tensor zeros(IntArrayRef size, TensorOptions options) {
  Tensor t = empty(size, options.requires_grad(false));
  backend_for(t).fill(t, 0);
  return finish(t, options);
}
Tensor ones(IntArrayRef size, TensorOptions options) { return full(size, 1, options.dtype(options.dtype())); }
Tensor full(IntArrayRef size, const Scalar& value, TensorOptions options) {
  if (!options.has_dtype())
    options = options.dtype(value.isFloatingPoint() ? kFloat : value.isBoolean() ? kBool : kLong);
  Tensor t = empty(size, options.requires_grad(false));
  backend_for(t).fill(t, value);
  return finish(t, options);
}

namespace {
TensorOptions like(const Tensor& t, const std::optional<TensorOptions>& o) {
  TensorOptions r = t.options();
  if (o) {
    if (o->has_dtype()) r = r.dtype(o->dtype());
    r = r.requires_grad(o->requires_grad());
  }
  return r;
}
}  // namespace
Tensor empty_like(const Tensor& t, std::optional<TensorOptions> o) { return empty(t.sizes(), like(t, o)); }
Tensor zeros_like(const Tensor& t, std::optional<TensorOptions> o) { return zeros(t.sizes(), like(t, o)); }
Tensor ones_like(const Tensor& t, std::optional<TensorOptions> o) { return ones(t.sizes(), like(t, o)); }
Tensor full_like(const Tensor& t, const Scalar& v, std::optional<TensorOptions> o) {
  return full(t.sizes(), v, like(t, o));
}
Tensor rand_like(const Tensor& t, std::optional<TensorOptions> o) { return rand(t.sizes(), like(t, o)); }
Tensor randn_like(const Tensor& t, std::optional<TensorOptions> o) { return randn(t.sizes(), like(t, o)); }

Tensor scalar_tensor(const Scalar& s, TensorOptions options) {
  if (!options.has_dtype()) options = options.dtype(kFloat);
  return full({}, s, options);
}

Tensor arange(const Scalar& end, TensorOptions options) { return arange(0, end, 1, options); }
Tensor arange(const Scalar& start, const Scalar& end, TensorOptions options) { return arange(start, end, 1, options); }
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, TensorOptions options) {
  const bool any_float = start.isFloatingPoint() || end.isFloatingPoint() || step.isFloatingPoint();
  if (!options.has_dtype()) options = options.dtype(any_float ? kFloat : kLong);
  const double s = start.toDouble(), e = end.toDouble(), st = step.toDouble();
  ARK_CHECK(st != 0, "arange: step must be nonzero");
  ARK_CHECK(std::isfinite(s) && std::isfinite(e), "arange: unsupported range ", s, " -> ", e);
  ARK_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange: upper bound and larger bound inconsistent with step sign");
  int64_t n;
  if (any_float) n = static_cast<int64_t>(std::ceil((e - s) / st));
  else {
    const int64_t si = start.toLong(), ei = end.toLong(), sti = step.toLong();
    n = (ei - si + sti + (sti > 0 ? -1 : 1)) / sti;
  }
  Tensor t = empty({n}, options.requires_grad(false));
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    if (any_float || is_floating_point(t.dtype()))
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(static_cast<float>(s + st * static_cast<double>(i)));
    else
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start.toLong() + step.toLong() * i);
  });
  if (t.dtype() == kDouble) {
    double* p = t.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = s + st * static_cast<double>(i);
  }
  return finish(t, options);
}

Tensor linspace(const Scalar& start, const Scalar& end, int64_t steps, TensorOptions options) {
  ARK_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  if (!options.has_dtype()) options = options.dtype(kFloat);
  Tensor t = empty({steps}, options.requires_grad(false));
  const double s = start.toDouble(), e = end.toDouble();
  const double step = steps > 1 ? (e - s) / static_cast<double>(steps - 1) : 0;
  const int64_t half = steps / 2;
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    // Symmetric from both ends, as PyTorch, so the last value is exactly `end`.
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < half ? s + step * static_cast<double>(i) : e - step * static_cast<double>(steps - i - 1));
  });
  return finish(t, options);
}

Tensor eye(int64_t n, TensorOptions options) { return eye(n, n, options); }
Tensor eye(int64_t n, int64_t m, TensorOptions options) {
  ARK_CHECK(n >= 0 && m >= 0, "eye: n and m must be non-negative, got ", n, " and ", m);
  Tensor t = zeros({n, m}, options.requires_grad(false));
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = static_cast<T>(1);
  });
  return finish(t, options);
}

Tensor rand(IntArrayRef size, TensorOptions options) { return rand(size, nullptr, options); }
Tensor rand(IntArrayRef size, Generator* gen, TensorOptions options) {
  Tensor t = empty(size, options.requires_grad(false));
  ARK_CHECK(t.is_floating_point(), "rand: expected a floating point dtype, got ", dtype_name(t.dtype()));
  t.uniform_(0, 1, gen);
  return finish(t, options);
}
Tensor randn(IntArrayRef size, TensorOptions options) { return randn(size, nullptr, options); }
Tensor randn(IntArrayRef size, Generator* gen, TensorOptions options) {
  Tensor t = empty(size, options.requires_grad(false));
  ARK_CHECK(t.is_floating_point(), "randn: expected a floating point dtype, got ", dtype_name(t.dtype()));
  t.normal_(0, 1, gen);
  return finish(t, options);
}
Tensor randint(int64_t high, IntArrayRef size, TensorOptions options) { return randint(0, high, size, nullptr, options); }
Tensor randint(int64_t low, int64_t high, IntArrayRef size, TensorOptions options) {
  return randint(low, high, size, nullptr, options);
}
Tensor randint(int64_t low, int64_t high, IntArrayRef size, Generator* gen, TensorOptions options) {
  ARK_CHECK(low < high, "randint: expected low < high, got low=", low, " high=", high);
  if (!options.has_dtype()) options = options.dtype(kLong);
  Tensor t = empty(size, options.requires_grad(false));
  t.random_(low, high, gen);
  return finish(t, options);
}
Tensor randperm(int64_t n, TensorOptions options) { return randperm(n, nullptr, options); }
Tensor randperm(int64_t n, Generator* gen, TensorOptions options) {
  ARK_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  if (!options.has_dtype()) options = options.dtype(kLong);
  Generator& g = gen ? *gen : default_generator();
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
      const int64_t j = static_cast<int64_t>(g.random64() % static_cast<uint64_t>(i + 1));
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    }
  }
  Tensor t = from_blob(perm.data(), {n}, kLong).to(options.dtype(), false, true);
  return finish(t, options);
}

Tensor bernoulli(const Tensor& p, Generator* gen) {
  Tensor out = empty_like(p);
  backend_for(p).bernoulli(out, p.contiguous(), gen ? *gen : default_generator());
  return out;
}

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator* gen) {
  ARK_CHECK(probs.dim() == 1 || probs.dim() == 2, "multinomial: expected a 1-D or 2-D tensor, got ", probs.dim(), "-D");
  ARK_CHECK(num_samples > 0, "multinomial: num_samples must be positive, got ", num_samples);
  Tensor p = probs.dim() == 1 ? probs.unsqueeze(0) : probs;
  p = p.to(kDouble).contiguous();
  const int64_t rows = p.size(0), n = p.size(1);
  ARK_CHECK(replacement || num_samples <= n, "multinomial: cannot sample ", num_samples, " > ", n,
            " categories without replacement");
  Tensor out = empty({rows, num_samples}, kLong);
  Generator& g = gen ? *gen : default_generator();
  std::lock_guard<std::mutex> lock(g.mutex());
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> w(p.data_ptr<double>() + r * n, p.data_ptr<double>() + (r + 1) * n);
    for (double v : w) ARK_CHECK(v >= 0 && std::isfinite(v), "multinomial: probabilities must be finite and >= 0");
    for (int64_t s = 0; s < num_samples; ++s) {
      double total = 0;
      for (double v : w) total += v;
      ARK_CHECK(total > 0, "multinomial: the probabilities of a row sum to zero");
      double u = g.uniform_double() * total;
      int64_t k = 0;
      for (; k < n - 1; ++k) {
        u -= w[static_cast<size_t>(k)];
        if (u < 0) break;
      }
      while (w[static_cast<size_t>(k)] == 0 && k > 0) --k;
      out.data_ptr<int64_t>()[r * num_samples + s] = k;
      if (!replacement) w[static_cast<size_t>(k)] = 0;
    }
  }
  return probs.dim() == 1 ? out.squeeze(0) : out;
}

Tensor from_blob(void* data, IntArrayRef size, TensorOptions options) {
  return from_blob(data, size, contiguous_strides(size), options);
}
Tensor from_blob(void* data, IntArrayRef size, IntArrayRef strides, TensorOptions options) {
  ARK_CHECK(size.size() == strides.size(), "from_blob: got ", size.size(), " sizes but ", strides.size(), " strides");
  int64_t extent = 1;
  for (size_t i = 0; i < size.size(); ++i) extent += (size[i] - 1) * strides[i];
  const size_t nbytes = checked_nbytes({extent}, options.dtype(), "from_blob");
  auto storage = Storage::wrap(data, nbytes, options.device(), nullptr);
  return finish(Tensor(std::make_shared<TensorImpl>(std::move(storage), size.vec(), strides.vec(), 0, options.dtype())),
                options);
}
Tensor from_blob(void* data, IntArrayRef size, std::function<void(void*)> deleter, TensorOptions options) {
  const size_t nbytes = checked_nbytes(size, options.dtype(), "from_blob");
  auto storage = Storage::wrap(data, nbytes, options.device(), std::move(deleter));
  return finish(Tensor(std::make_shared<TensorImpl>(std::move(storage), size.vec(), contiguous_strides(size), 0,
                                                    options.dtype())),
                options);
}

// ---- ark::tensor({...}) ----
TensorDataContainer::TensorDataContainer(float v) : values_{v}, dtype_(kFloat) {}
TensorDataContainer::TensorDataContainer(double v) : values_{v}, dtype_(kFloat) {}
TensorDataContainer::TensorDataContainer(int v) : values_{static_cast<double>(v)}, dtype_(kLong) {}
TensorDataContainer::TensorDataContainer(int64_t v) : values_{static_cast<double>(v)}, dtype_(kLong) {}
TensorDataContainer::TensorDataContainer(bool v) : values_{v ? 1.0 : 0.0}, dtype_(kBool) {}
TensorDataContainer::TensorDataContainer(std::initializer_list<TensorDataContainer> list) : dtype_(kBool) {
  sizes_.push_back(static_cast<int64_t>(list.size()));
  const TensorDataContainer* first = list.size() ? list.begin() : nullptr;
  bool any_float = false, any_int = false;
  for (const auto& e : list) {
    ARK_CHECK(e.sizes_ == first->sizes_, "tensor: nested lists have inconsistent sizes: ", IntArrayRef(first->sizes_),
              " vs ", IntArrayRef(e.sizes_));
    values_.insert(values_.end(), e.values_.begin(), e.values_.end());
    any_float |= e.dtype_ == kFloat;
    any_int |= e.dtype_ == kLong;
  }
  if (first) sizes_.insert(sizes_.end(), first->sizes_.begin(), first->sizes_.end());
  dtype_ = any_float ? kFloat : any_int ? kLong : kBool;
  if (list.size() == 0) dtype_ = kFloat;
}
namespace {
template <class T>
void init_from_vector(const std::vector<T>& v, std::vector<double>& values, DimVector& sizes) {
  sizes = {static_cast<int64_t>(v.size())};
  values.assign(v.begin(), v.end());
}
}  // namespace
TensorDataContainer::TensorDataContainer(const std::vector<float>& v) : dtype_(kFloat) { init_from_vector(v, values_, sizes_); }
TensorDataContainer::TensorDataContainer(const std::vector<double>& v) : dtype_(kFloat) { init_from_vector(v, values_, sizes_); }
TensorDataContainer::TensorDataContainer(const std::vector<int64_t>& v) : dtype_(kLong) { init_from_vector(v, values_, sizes_); }
TensorDataContainer::TensorDataContainer(const std::vector<int>& v) : dtype_(kLong) { init_from_vector(v, values_, sizes_); }
TensorDataContainer::TensorDataContainer(const std::vector<bool>& v) : dtype_(kBool) {
  sizes_ = {static_cast<int64_t>(v.size())};
  for (bool b : v) values_.push_back(b ? 1 : 0);
}

Tensor TensorDataContainer::to_tensor(const TensorOptions& options) const {
  // As libtorch: floating values give the default dtype (float32), integers int64.
  const ScalarType dt = options.has_dtype() ? options.dtype() : dtype_;
  Tensor t = empty(sizes_, options.dtype(dt).requires_grad(false));
  dispatch_all(dt, [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (size_t i = 0; i < values_.size(); ++i) {
      if constexpr (std::is_same_v<T, bool>) p[i] = values_[i] != 0;
      else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) p[i] = T(static_cast<float>(values_[i]));
      else p[i] = static_cast<T>(values_[i]);
    }
  });
  return finish(t, options);
}

Tensor tensor(const TensorDataContainer& data, TensorOptions options) { return data.to_tensor(options); }

}  // namespace ark
