// CPU reductions. The input is viewed as (outer kept dims) x (reduced dims) x (inner kept dims)
// after moving reduced dims together; accumulation is in double for floating types (accurate
// and still memory-bound on this hardware) and in int64 for integers.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/backend/cpu/loops.h"
#include "ark/backend/cpu/math.h"
#include "ark/backend/cpu/vec_math.h"

namespace ark::cpu {
namespace {

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>,
                                 double, int64_t>;

// A reduction as nested loops: `outer` output positions, each reducing `rdims` with strides.
struct ReducePlan {
  std::vector<int64_t> out_sizes, in_out_strides, out_strides;  // kept dims: sizes, input strides, output strides
  std::vector<int64_t> red_sizes, red_strides;                  // reduced dims, innermost last
  int64_t n_out = 1, n_red = 1;
};

ReducePlan make_plan(const Tensor& in, IntArrayRef dims, const Tensor& out) {
  ReducePlan pl;
  std::vector<bool> reduced(static_cast<size_t>(in.dim()), false);
  for (int64_t d : dims) reduced[static_cast<size_t>(d)] = true;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (in.size(d) == 1) continue;
    if (reduced[static_cast<size_t>(d)]) {
      pl.red_sizes.push_back(in.size(d));
      pl.red_strides.push_back(in.stride(d));
      pl.n_red *= in.size(d);
    } else {
      pl.out_sizes.push_back(in.size(d));
      pl.in_out_strides.push_back(in.stride(d));
      pl.out_strides.push_back(out.stride(d));
      pl.n_out *= in.size(d);
    }
  }
  if (in.numel() == 0) {
    pl.n_red = 0;
    for (int64_t d = 0; d < in.dim(); ++d)
      if (reduced[static_cast<size_t>(d)] && in.size(d) == 0) pl.n_red = 0;
    pl.n_out = out.numel();
  }
  // Order reduced dims so the smallest stride is innermost (memory order).
  std::vector<size_t> order(pl.red_sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return pl.red_strides[x] > pl.red_strides[y]; });
  std::vector<int64_t> rs, rst;
  for (size_t i : order) { rs.push_back(pl.red_sizes[i]); rst.push_back(pl.red_strides[i]); }
  pl.red_sizes = rs;
  pl.red_strides = rst;
  return pl;
}

// Visits every element of the reduced sub-space starting at `base`; f(value) per element, with
// the innermost dim as a tight loop.
template <class T, class F>
inline void visit_reduced(const T* base, const ReducePlan& pl, F& f) {
  const size_t nd = pl.red_sizes.size();
  if (nd == 0) { f(base, 1, 1); return; }
  const int64_t inner_n = pl.red_sizes[nd - 1], inner_s = pl.red_strides[nd - 1];
  int64_t outer = pl.n_red / inner_n;
  std::vector<int64_t> idx(nd, 0);
  for (int64_t o = 0; o < outer; ++o) {
    int64_t off = 0;
    for (size_t d = 0; d + 1 < nd; ++d) off += idx[d] * pl.red_strides[d];
    f(base + off, inner_n, inner_s);
    for (size_t d = nd - 1; d-- > 0;) {
      if (++idx[d] < pl.red_sizes[d]) break;
      idx[d] = 0;
    }
  }
}

template <class T>
inline int64_t out_offset(int64_t o, const ReducePlan& pl, int64_t& in_off) {
  int64_t off = 0;
  in_off = 0;
  for (size_t d = pl.out_sizes.size(); d-- > 0;) {
    const int64_t i = o % pl.out_sizes[d];
    o /= pl.out_sizes[d];
    off += i * pl.out_strides[d];
    in_off += i * pl.in_out_strides[d];
  }
  return off;
}

template <class T>
double load(const T* p) { return static_cast<double>(static_cast<acc_t<T>>(*p)); }

template <class T>
void reduce_typed(ReduceOp op, const Tensor& in, IntArrayRef dims, const Tensor& out, const OpParams& prm) {
  using A = acc_t<T>;
  const ReducePlan pl = make_plan(in, dims, out);
  const T* src = in.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  const double p = prm.a;

  auto reduce_one = [&](const T* base) -> T {
    switch (op) {
      case ReduceOp::Sum: {
        A acc = 0;
        auto f = [&](const T* q, int64_t n, int64_t s) {
          if constexpr (std::is_same_v<T, float>) {
            if (s == 1) { acc += vec::sum(q, n); return; }
          }
          if (s == 1) { A a2 = 0; for (int64_t i = 0; i < n; ++i) a2 += static_cast<A>(q[i]); acc += a2; }
          else for (int64_t i = 0; i < n; ++i) acc += static_cast<A>(q[i * s]);
        };
        visit_reduced(base, pl, f);
        return static_cast<T>(acc);
      }
      case ReduceOp::Prod: {
        A acc = 1;
        auto f = [&](const T* q, int64_t n, int64_t s) { for (int64_t i = 0; i < n; ++i) acc *= static_cast<A>(q[i * s]); };
        visit_reduced(base, pl, f);
        return static_cast<T>(acc);
      }
      case ReduceOp::Max: case ReduceOp::Min: {
        const bool is_max = op == ReduceOp::Max;
        T acc = base[0];
        auto f = [&](const T* q, int64_t n, int64_t s) {
          if constexpr (std::is_same_v<T, float>) {
            if (s == 1) {
              const float v = is_max ? vec::max(q, n) : vec::min(q, n);
              acc = is_max ? propagate_nan_max(acc, v) : propagate_nan_min(acc, v);
              return;
            }
          }
          for (int64_t i = 0; i < n; ++i) {
            const T v = q[i * s];
            acc = is_max ? propagate_nan_max(acc, v) : propagate_nan_min(acc, v);
          }
        };
        visit_reduced(base, pl, f);
        return acc;
      }
      case ReduceOp::Any: case ReduceOp::All: {
        const bool any = op == ReduceOp::Any;
        bool acc = !any;
        auto f = [&](const T* q, int64_t n, int64_t s) {
          for (int64_t i = 0; i < n; ++i) {
            const bool v = static_cast<double>(static_cast<A>(q[i * s])) != 0.0;
            acc = any ? (acc || v) : (acc && v);
          }
        };
        visit_reduced(base, pl, f);
        return static_cast<T>(acc);
      }
      case ReduceOp::NormP: {
        double acc = 0;
        auto f = [&](const T* q, int64_t n, int64_t s) {
          for (int64_t i = 0; i < n; ++i) {
            const double v = std::abs(load(q + i * s));
            acc += p == 2.0 ? v * v : p == 1.0 ? v : p == 0.0 ? (v != 0) : std::pow(v, p);
          }
        };
        visit_reduced(base, pl, f);
        return static_cast<T>(p == 2.0 ? std::sqrt(acc) : (p == 1.0 || p == 0.0) ? acc : std::pow(acc, 1.0 / p));
      }
      case ReduceOp::NormInf: {
        double acc = 0;
        auto f = [&](const T* q, int64_t n, int64_t s) {
          for (int64_t i = 0; i < n; ++i) {
            const double v = std::abs(load(q + i * s));
            acc = (v != v || acc != acc) ? std::numeric_limits<double>::quiet_NaN() : std::max(acc, v);
          }
        };
        visit_reduced(base, pl, f);
        return static_cast<T>(acc);
      }
      default: ARK_ERROR("reduce: unknown op");
    }
  };

  // Sums over an outer dim with a contiguous kept inner dim (e.g. a bias gradient): accumulate
  // whole rows so memory is read in order.
  const bool row_sum = op == ReduceOp::Sum && pl.red_sizes.size() == 1 && pl.out_sizes.size() >= 1 &&
                       pl.in_out_strides.back() == 1 && pl.out_strides.back() == 1 &&
                       pl.red_strides[0] >= pl.out_sizes.back() && pl.n_red > 1;
  if (row_sum && pl.n_out > 0) {
    const int64_t inner = pl.out_sizes.back(), outer = pl.n_out / inner;
    const int64_t rn = pl.red_sizes[0], rs = pl.red_strides[0];
    parallel_for(outer * inner, kGrain, [&](int64_t b, int64_t e) {
      std::vector<A> acc;
      for (int64_t pos = b; pos < e;) {
        const int64_t o = pos / inner, j0 = pos % inner, j1 = std::min(inner, j0 + (e - pos));
        int64_t in_off;
        const int64_t off = out_offset<T>(o * inner, pl, in_off);
        acc.assign(static_cast<size_t>(j1 - j0), A(0));
        for (int64_t r = 0; r < rn; ++r) {
          const T* row = src + in_off + r * rs + j0;
          for (int64_t j = 0; j < j1 - j0; ++j) acc[static_cast<size_t>(j)] += static_cast<A>(row[j]);
        }
        for (int64_t j = j0; j < j1; ++j) dst[off + j] = static_cast<T>(acc[static_cast<size_t>(j - j0)]);
        pos += j1 - j0;
      }
    });
    return;
  }

  if (pl.n_red == 0) {  // empty reduction: identity
    const T init = op == ReduceOp::Prod || op == ReduceOp::All ? T(1) : T(0);
    ARK_CHECK(op != ReduceOp::Max && op != ReduceOp::Min,
              "max/min: cannot reduce over a zero-size dimension (no identity)");
    for (int64_t o = 0; o < pl.n_out; ++o) { int64_t io; dst[out_offset<T>(o, pl, io)] = init; }
    return;
  }
  if (pl.n_out == 1 && pl.n_red >= 2 * kGrain && op == ReduceOp::Sum && pl.red_sizes.size() == 1 &&
      pl.red_strides[0] == 1) {
    // One big contiguous sum: per-thread partials, combined in a fixed order (deterministic).
    const int nt = get_num_threads();
    std::vector<A> partial(static_cast<size_t>(nt), A(0));
    const int64_t n = pl.n_red, per = (n + nt - 1) / nt;
    parallel_for(nt, 1, [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t) {
        const int64_t b = t * per, e = std::min(n, b + per);
        A acc = 0;
        if constexpr (std::is_same_v<T, float>) acc = vec::sum(src + b, std::max<int64_t>(e - b, 0));
        else
          for (int64_t i = b; i < e; ++i) acc += static_cast<A>(src[i]);
        partial[static_cast<size_t>(t)] = acc;
      }
    });
    A total = 0;
    for (A v : partial) total += v;
    dst[0] = static_cast<T>(total);
    return;
  }
  parallel_for(pl.n_out, std::max<int64_t>(1, kGrain / std::max<int64_t>(pl.n_red, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t in_off;
      const int64_t off = out_offset<T>(o, pl, in_off);
      dst[off] = reduce_one(src + in_off);
    }
  });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& in, IntArrayRef dims, const Tensor& out, const OpParams& p) {
  dispatch_compute(in.dtype(), [&]<class T>() { reduce_typed<T>(op, in, dims, out, p); });
}

namespace {
// var/mean of float32 rows of a contiguous tensor reduced over its trailing dims: vectorised two
// passes, parallel over rows, or over chunks of the one row (combined in double).
bool var_mean_rows(const Tensor& in, IntArrayRef dims, int64_t correction, const Tensor& var, const Tensor& mean) {
  if (in.dtype() != kFloat || !in.is_contiguous() || !var.is_contiguous() || in.numel() == 0) return false;
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != in.dim() - static_cast<int64_t>(dims.size()) + static_cast<int64_t>(i)) return false;
  int64_t n = 1;
  for (int64_t d : dims) n *= in.size(d);
  const int64_t rows = in.numel() / n;
  const float* x = in.data_ptr<float>();
  float* v = var.data_ptr<float>();
  float* m = mean.data_ptr<float>();
  const double denom = static_cast<double>(n - correction);
  if (rows == 1 && n >= 2 * kGrain) {
    const int nt = get_num_threads();
    const int64_t per = (n + nt - 1) / nt;
    std::vector<double> part(static_cast<size_t>(nt), 0.0);
    parallel_for(nt, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) part[static_cast<size_t>(t)] = vec::sum(x + t * per, std::max<int64_t>(0, std::min(n, (t + 1) * per) - t * per));
    });
    double s = 0;
    for (double p : part) s += p;
    const float mu = static_cast<float>(s / static_cast<double>(n));
    parallel_for(nt, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t)
        part[static_cast<size_t>(t)] = vec::sum_sq_dev(x + t * per, std::max<int64_t>(0, std::min(n, (t + 1) * per) - t * per), mu);
    });
    double ss = 0;
    for (double p : part) ss += p;
    m[0] = mu;
    v[0] = static_cast<float>(denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN());
    return true;
  }
  parallel_for(rows, std::max<int64_t>(1, kGrain / n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float mu = static_cast<float>(vec::sum(x + r * n, n) / static_cast<double>(n));
      const double ss = vec::sum_sq_dev(x + r * n, n, mu);
      m[r] = mu;
      v[r] = static_cast<float>(denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN());
    }
  });
  return true;
}
}  // namespace

void CpuBackend::var_mean(const Tensor& in, IntArrayRef dims, int64_t correction, const Tensor& var,
                          const Tensor& mean) {
  if (var_mean_rows(in, dims, correction, var, mean)) return;
  dispatch_float(in.dtype(), "var", [&]<class T>() {
    const ReducePlan pl = make_plan(in, dims, var);
    const T* src = in.data_ptr<T>();
    T* v = var.data_ptr<T>();
    T* m = mean.data_ptr<T>();
    // mean and var share their shape and strides.
    parallel_for(pl.n_out, std::max<int64_t>(1, kGrain / std::max<int64_t>(pl.n_red, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        int64_t in_off;
        const int64_t off = out_offset<T>(o, pl, in_off);
        double sum = 0;
        auto f1 = [&](const T* q, int64_t n, int64_t s) { for (int64_t i = 0; i < n; ++i) sum += q[i * s]; };
        visit_reduced(src + in_off, pl, f1);
        const double mu = pl.n_red ? sum / static_cast<double>(pl.n_red) : std::numeric_limits<double>::quiet_NaN();
        double ss = 0;
        auto f2 = [&](const T* q, int64_t n, int64_t s) {
          for (int64_t i = 0; i < n; ++i) { const double d = q[i * s] - mu; ss += d * d; }
        };
        visit_reduced(src + in_off, pl, f2);
        const double denom = static_cast<double>(pl.n_red - correction);
        m[off] = static_cast<T>(mu);
        v[off] = static_cast<T>(denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN());
      }
    });
  });
}

void CpuBackend::arg_reduce(bool is_max, const Tensor& in, int64_t dim, const Tensor& values, const Tensor& indices) {
  dispatch_compute(in.dtype(), [&]<class T>() {
    // values/indices have keepdim shape; iterate over them and scan `dim`.
    const int64_t n = in.size(dim), s = in.stride(dim);
    const T* src = in.data_ptr<T>();
    T* vals = values.data_ptr<T>();
    int64_t* idx = indices.data_ptr<int64_t>();
    const int64_t nd = in.dim();
    const int64_t n_out = values.numel();
    parallel_for(n_out, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        int64_t rem = o, in_off = 0, v_off = 0, i_off = 0;
        for (int64_t d = nd - 1; d >= 0; --d) {
          const int64_t sz = values.size(d);
          const int64_t i = rem % sz;
          rem /= sz;
          in_off += i * in.stride(d);
          v_off += i * values.stride(d);
          i_off += i * indices.stride(d);
        }
        const T* q = src + in_off;
        if constexpr (std::is_same_v<T, float>) {
          if (s == 1) {
            // Vector max, then the first position holding it (NaN counts as the max).
            const float mx = is_max ? vec::max(q, n) : vec::min(q, n);
            int64_t at = 0;
            if (mx != mx) {
              while (at < n && q[at] == q[at]) ++at;
            } else {
              while (at < n && q[at] != mx) ++at;
            }
            vals[v_off] = mx;
            idx[i_off] = at;
            continue;
          }
        }
        T best = q[0];
        int64_t best_i = 0;
        for (int64_t i = 1; i < n; ++i) {
          const T v = q[i * s];
          bool better;
          if constexpr (std::is_floating_point_v<T>) {
            if (best != best) break;  // NaN wins and stays
            better = (v != v) || (is_max ? v > best : v < best);
          } else {
            better = is_max ? v > best : v < best;
          }
          if (better) { best = v; best_i = i; }
        }
        vals[v_off] = best;
        idx[i_off] = best_i;
      }
    });
  });
}

void CpuBackend::cumsum(const Tensor& in, int64_t dim, const Tensor& out) {
  dispatch_compute(in.dtype(), [&]<class T>() {
    using A = acc_t<T>;
    const int64_t n = in.size(dim), si = in.stride(dim), so = out.stride(dim);
    const T* src = in.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const int64_t nd = in.dim(), lines = n ? in.numel() / n : 0;
    parallel_for(lines, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t l = b; l < e; ++l) {
        int64_t rem = l, ioff = 0, ooff = 0;
        for (int64_t d = nd - 1; d >= 0; --d) {
          if (d == dim) continue;
          const int64_t i = rem % in.size(d);
          rem /= in.size(d);
          ioff += i * in.stride(d);
          ooff += i * out.stride(d);
        }
        A acc = 0;
        for (int64_t i = 0; i < n; ++i) {
          acc += static_cast<A>(src[ioff + i * si]);
          dst[ooff + i * so] = static_cast<T>(acc);
        }
      }
    });
  });
}

void CpuBackend::sort(const Tensor& in, int64_t dim, bool descending, const Tensor& values, const Tensor& indices) {
  dispatch_compute(in.dtype(), [&]<class T>() {
    const int64_t n = in.size(dim);
    const T* src = in.data_ptr<T>();
    T* vals = values.data_ptr<T>();
    int64_t* idx = indices.data_ptr<int64_t>();
    const int64_t nd = in.dim(), lines = n ? in.numel() / n : 0;
    parallel_for(lines, 1, [&](int64_t b, int64_t e) {
      std::vector<int64_t> perm(static_cast<size_t>(n));
      for (int64_t l = b; l < e; ++l) {
        int64_t rem = l, ioff = 0, voff = 0, xoff = 0;
        for (int64_t d = nd - 1; d >= 0; --d) {
          if (d == dim) continue;
          const int64_t i = rem % in.size(d);
          rem /= in.size(d);
          ioff += i * in.stride(d);
          voff += i * values.stride(d);
          xoff += i * indices.stride(d);
        }
        const T* q = src + ioff;
        const int64_t s = in.stride(dim);
        std::iota(perm.begin(), perm.end(), 0);
        // NaN sorts as the largest value, as in PyTorch; ties keep their order (stable).
        auto less = [&](int64_t x, int64_t y) {
          const T a = q[x * s], c = q[y * s];
          if constexpr (std::is_floating_point_v<T>) {
            if (a != a) return false;
            if (c != c) return true;
          }
          return a < c;
        };
        if (descending)
          std::stable_sort(perm.begin(), perm.end(), [&](int64_t x, int64_t y) { return less(y, x); });
        else
          std::stable_sort(perm.begin(), perm.end(), less);
        for (int64_t i = 0; i < n; ++i) {
          vals[voff + i * values.stride(dim)] = q[perm[static_cast<size_t>(i)] * s];
          idx[xoff + i * indices.stride(dim)] = perm[static_cast<size_t>(i)];
        }
      }
    });
  });
}

}  // namespace ark::cpu
