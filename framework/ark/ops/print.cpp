// Printing as Python PyTorch prints (torch._tensor_str): precision 4, integer mode, scientific
// mode for wide ranges, summarised with "..." beyond 1000 elements, dtype and grad suffixes.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "ark/autograd/node.h"
#include "ark/ops/util.h"

namespace ark {

namespace {

constexpr int64_t kThreshold = 1000, kEdgeItems = 3, kLineWidth = 80;

struct Formatter {
  bool floating = false, int_mode = true, sci_mode = false;
  size_t width = 1;

  explicit Formatter(const Tensor& values) {  // values: flat double tensor of what will be shown
    floating = true;
    const double* p = values.data_ptr<double>();
    const int64_t n = values.numel();
    double mx = 0, mn = INFINITY;
    bool any_finite_nonzero = false;
    for (int64_t i = 0; i < n; ++i) {
      const double v = p[i];
      if (!std::isfinite(v)) continue;
      if (v != std::ceil(v)) int_mode = false;
      if (v != 0) {
        any_finite_nonzero = true;
        mx = std::max(mx, std::abs(v));
        mn = std::min(mn, std::abs(v));
      }
    }
    if (!any_finite_nonzero) return;
    sci_mode = int_mode ? (mx / mn > 1000.0 || mx > 1e8) : (mx / mn > 1000.0 || mx > 1e8 || mn < 1e-4);
    // As PyTorch: the width comes from the finite non-zero values only.
    for (int64_t i = 0; i < n; ++i)
      if (std::isfinite(p[i]) && p[i] != 0) width = std::max(width, format(p[i]).size());
  }
  Formatter(const Tensor& values, bool is_bool) {  // integers and bools
    const double* p = values.data_ptr<double>();
    for (int64_t i = 0; i < values.numel(); ++i)
      width = std::max(width, is_bool ? std::string(p[i] != 0 ? "True" : "False").size() : format(p[i]).size());
  }

  std::string format(double v) const {
    char buf[64];
    if (!floating) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
      return buf;
    }
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci_mode) std::snprintf(buf, sizeof buf, "%.4e", v);
    else if (int_mode) std::snprintf(buf, sizeof buf, "%.0f.", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }
  std::string pad(double v) const {
    std::string s = format(v);
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  }
};

std::string bool_str(double v) { return v != 0 ? "True" : "False"; }

// Selects the elements that will be shown (edges only when summarising).
Tensor shown(const Tensor& t, bool summarize) {
  if (!summarize || t.dim() == 0) return t.reshape({-1});
  if (t.dim() == 1) {
    if (t.size(0) > 2 * kEdgeItems) return cat({t.narrow(0, 0, kEdgeItems), t.narrow(0, t.size(0) - kEdgeItems, kEdgeItems)});
    return t;
  }
  std::vector<Tensor> parts;
  if (t.size(0) > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) parts.push_back(shown(t[i], true));
    for (int64_t i = t.size(0) - kEdgeItems; i < t.size(0); ++i) parts.push_back(shown(t[i], true));
  } else {
    for (int64_t i = 0; i < t.size(0); ++i) parts.push_back(shown(t[i], true));
  }
  return cat(parts);
}

void body(std::ostringstream& os, const Tensor& t, const Formatter& f, bool is_bool, int indent, bool summarize) {
  auto elem = [&](const Tensor& x) {
    const double v = x.item<double>();
    if (is_bool) {
      std::string s = bool_str(v);
      return std::string(f.width > s.size() ? f.width - s.size() : 0, ' ') + s;
    }
    return f.pad(v);
  };
  if (t.dim() == 0) {
    os << elem(t);
    return;
  }
  if (t.dim() == 1) {
    const int64_t n = t.size(0);
    std::vector<std::string> items;
    if (summarize && n > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) items.push_back(elem(t[i]));
      items.push_back(" ...");
      for (int64_t i = n - kEdgeItems; i < n; ++i) items.push_back(elem(t[i]));
    } else {
      for (int64_t i = 0; i < n; ++i) items.push_back(elem(t[i]));
    }
    // Wrap lines at 80 columns as PyTorch does.
    const size_t per_line = std::max<size_t>(1, static_cast<size_t>((kLineWidth - indent) / static_cast<int64_t>(f.width + 2)));
    os << '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) {
        os << ',';
        if (i % per_line == 0) os << '\n' << std::string(static_cast<size_t>(indent + 1), ' ');
        else os << ' ';
      }
      os << items[i];
    }
    os << ']';
    return;
  }
  const int64_t n = t.size(0);
  os << '[';
  std::string sep = ",";
  sep.append(static_cast<size_t>(t.dim() - 1), '\n').append(static_cast<size_t>(indent + 1), ' ');
  bool first = true;
  auto row = [&](int64_t i) {
    if (!first) os << sep;
    first = false;
    body(os, t[i], f, is_bool, indent + 1, summarize);
  };
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) row(i);
    os << sep << "...";
    for (int64_t i = n - kEdgeItems; i < n; ++i) row(i);
  } else {
    for (int64_t i = 0; i < n; ++i) row(i);
  }
  os << ']';
}

}  // namespace

std::string Tensor::toString() const {
  if (!defined()) return "[ Tensor (undefined) ]";
  NoGradGuard ng;
  std::ostringstream os;
  const std::string prefix = "tensor(";
  os << prefix;
  Tensor cpu = is_cpu() ? detach() : detach().to(Device(kCPU));
  const bool summarize = numel() > kThreshold;
  const bool is_bool = dtype() == kBool;
  if (numel() == 0 && dim() != 1) {
    os << "[]";
  } else if (numel() == 0) {
    os << "[]";
  } else {
    Tensor vals = shown(cpu, summarize).to(kDouble).contiguous();
    Formatter f = is_floating_point() ? Formatter(vals) : Formatter(vals, is_bool);
    body(os, cpu, f, is_bool, static_cast<int>(prefix.size()), summarize);
  }
  if (numel() == 0 && dim() != 1) os << ", size=(" << [&] {
    std::ostringstream s;
    for (int64_t i = 0; i < dim(); ++i) s << (i ? ", " : "") << size(i);
    if (dim() == 1) s << ",";
    return s.str();
  }() << ")";
  if (dtype() != kFloat && dtype() != kLong && dtype() != kBool) os << ", dtype=torch." << dtype_name(dtype());
  if (!is_cpu()) os << ", device='" << device().str() << "'";
  if (grad_fn()) os << ", grad_fn=<" << grad_fn()->name() << ">";
  else if (requires_grad()) os << ", requires_grad=True";
  os << ')';
  return os.str();
}

void Tensor::print() const { std::cout << toString() << std::endl; }

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.toString(); }

}  // namespace ark
