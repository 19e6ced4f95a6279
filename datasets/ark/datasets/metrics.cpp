// MetricAccumulator: validates each batch, keeps per sample the true class, the predicted class,
// whether the target is in the top k, the loss and the group, and computes reports from those
// (confusion matrix first, everything else from it). Definitions and their sources: metrics.h.
#include "ark/datasets/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "ark/core/error.h"

namespace ark::datasets {

namespace {

// torch.topk's comparator on CPU (aten/src/ATen/native/cpu/SortingKernel.cpp, topk_impl_loop,
// PyTorch 1.13): NaN sorts above every number, for numpy compatibility.
using Elem = std::pair<double, int64_t>;
bool topk_greater(const Elem& x, const Elem& y) {
  return (std::isnan(x.first) && !std::isnan(y.first)) || (x.first > y.first);
}

// Whether `target` is among the k indices torch.topk(row, k, largest=True) returns. The same
// standard-library calls on the same (value, index) sequence, so that ties resolve as in PyTorch:
// which of several equal values make the cut depends on the selection algorithm, not on the index.
template <class T>
bool topk_contains(const T* row, int64_t n, int64_t k, int64_t target, std::vector<Elem>& queue) {
  // The comparator is a strict weak order, so torch's k always hold every value ranked above the
  // target's; only ties straddling the k-th place need the selection itself (rare, and O(n) more).
  const Elem t{static_cast<double>(row[target]), target};
  int64_t above = 0, level = 0;  // other entries ranked above / level with the target
  for (int64_t j = 0; j < n; ++j) {
    if (j == target) continue;
    const Elem e{static_cast<double>(row[j]), j};
    if (topk_greater(e, t))
      ++above;
    else if (!topk_greater(t, e))
      ++level;
  }
  if (above >= k) return false;
  if (above + level < k) return true;
  queue.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) queue[static_cast<size_t>(j)] = {static_cast<double>(row[j]), j};
  if (k * 64 <= n)
    std::partial_sort(queue.begin(), queue.begin() + k, queue.end(), topk_greater);
  else
    std::nth_element(queue.begin(), queue.begin() + k - 1, queue.end(), topk_greater);
  // torch then sorts the first k - 1 (sorted=True); the set of k is already fixed.
  for (int64_t j = 0; j < k; ++j)
    if (queue[static_cast<size_t>(j)].second == target) return true;
  return false;
}

// torch.argmax: the first maximal index, a NaN being the maximum.
template <class T>
int64_t argmax(const T* row, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (std::isnan(row[j])) return j;
    if (row[j] > row[best]) best = j;
  }
  return best;
}

// Appends each row's predicted class and top-k hit. Float rows are read as they are (a float ->
// double copy of the batch cost more than the metrics); comparisons are the same in either type.
template <class T>
void score_rows(const T* x, const int64_t* y, int64_t N, int64_t C, int64_t k, std::vector<int32_t>& pred,
                std::vector<uint8_t>& hit) {
  std::vector<Elem> queue;
  for (int64_t i = 0; i < N; ++i) {
    const T* row = x + i * C;
    pred.push_back(static_cast<int32_t>(argmax(row, C)));
    hit.push_back(topk_contains(row, C, k, y[i], queue) ? 1 : 0);
  }
}

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

}  // namespace

MetricAccumulator::MetricAccumulator(std::vector<std::string> classes) : classes_(std::move(classes)) {
  ARK_CHECK(!classes_.empty(), "MetricAccumulator: expected at least one class, got none");
  ARK_CHECK(classes_.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
            "MetricAccumulator: too many classes (", classes_.size(), ")");
  k_ = std::min<int64_t>(5, static_cast<int64_t>(classes_.size()));
}

void MetricAccumulator::add(const Tensor& logits, const Tensor& labels, const Tensor& losses,
                            const std::vector<std::string>& groups) {
  const int64_t C = static_cast<int64_t>(classes_.size());
  ARK_CHECK(logits.defined() && labels.defined(), "MetricAccumulator::add: logits and labels are required");
  ARK_CHECK(logits.dim() == 2 && logits.size(1) == C, "MetricAccumulator::add: expected logits of shape (N, ", C,
            "), got ", logits.sizes());
  ARK_CHECK(logits.is_floating_point(), "MetricAccumulator::add: expected floating-point logits, got ",
            dtype_name(logits.dtype()));
  const int64_t N = logits.size(0);
  ARK_CHECK(labels.dim() == 1 && labels.size(0) == N, "MetricAccumulator::add: expected labels of shape (", N,
            ") for logits ", logits.sizes(), ", got ", labels.sizes());
  ARK_CHECK(is_integral(labels.dtype(), false), "MetricAccumulator::add: expected integer labels, got ",
            dtype_name(labels.dtype()));
  if (losses.defined()) {
    ARK_CHECK(losses.dim() == 1 && losses.size(0) == N, "MetricAccumulator::add: expected per-sample losses of shape (",
              N, "), got ", losses.sizes());
    ARK_CHECK(losses.is_floating_point(), "MetricAccumulator::add: expected floating-point losses, got ",
              dtype_name(losses.dtype()));
  }
  ARK_CHECK(groups.empty() || static_cast<int64_t>(groups.size()) == N, "MetricAccumulator::add: expected ", N,
            " groups (one per row) or none, got ", groups.size());
  if (N == 0) return;
  // Mixing would make the mean loss (or the group reports) cover only part of the samples.
  const Has with_loss = losses.defined() ? Has::kYes : Has::kNo;
  ARK_CHECK(has_loss_ == Has::kUnknown || has_loss_ == with_loss, "MetricAccumulator::add: per-sample losses were ",
            has_loss_ == Has::kYes ? "given" : "not given", " for earlier batches but ",
            with_loss == Has::kYes ? "are" : "are not", " for this one");
  const Has with_group = groups.empty() ? Has::kNo : Has::kYes;
  ARK_CHECK(has_group_ == Has::kUnknown || has_group_ == with_group, "MetricAccumulator::add: groups were ",
            has_group_ == Has::kYes ? "given" : "not given", " for earlier batches but ",
            with_group == Has::kYes ? "are" : "are not", " for this one");

  // Detached: training loops pass logits that still carry their graph. Half and bfloat16 become
  // float, exactly.
  Tensor x = logits.detach().cpu();
  if (x.dtype() != kFloat && x.dtype() != kDouble) x = x.to(kFloat);
  x = x.contiguous();
  const Tensor y = labels.dtype() == kLong ? labels.cpu().contiguous() : labels.cpu().to(kLong).contiguous();
  const int64_t* yp = y.data_ptr<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    ARK_CHECK(yp[i] >= 0 && yp[i] < C, "MetricAccumulator::add: label ", yp[i], " at row ", i, " is out of range for ",
              C, " classes");
  Tensor l;
  if (losses.defined()) l = losses.detach().cpu().to(kDouble).contiguous();

  // Everything is checked: from here on nothing throws except allocation.
  truth_.insert(truth_.end(), yp, yp + N);  // in [0, C), C < 2^31
  if (x.dtype() == kFloat)
    score_rows(x.data_ptr<float>(), yp, N, C, k_, pred_, topk_hit_);
  else
    score_rows(x.data_ptr<double>(), yp, N, C, k_, pred_, topk_hit_);
  if (l.defined()) {
    const double* lp = l.data_ptr<double>();
    loss_.insert(loss_.end(), lp, lp + N);
  }
  for (const std::string& g : groups) {
    auto [it, inserted] = group_index_.try_emplace(g, static_cast<int32_t>(group_names_.size()));
    if (inserted) group_names_.push_back(g);
    group_.push_back(it->second);
  }
  has_loss_ = with_loss;
  has_group_ = with_group;
}

ClassificationReport MetricAccumulator::report_for(int32_t group) const {
  const size_t C = classes_.size();
  ClassificationReport r;
  r.top_k = k_;
  r.confusion.assign(C, std::vector<int64_t>(C, 0));
  int64_t hits = 0, loss_n = 0;
  double loss_sum = 0;
  for (size_t i = 0; i < truth_.size(); ++i) {
    if (group >= 0 && group_[i] != group) continue;
    ++r.count;
    ++r.confusion[static_cast<size_t>(truth_[i])][static_cast<size_t>(pred_[i])];
    hits += topk_hit_[i];
    if (!loss_.empty()) {
      loss_sum += loss_[i];
      ++loss_n;
    }
  }
  r.loss = loss_n > 0 ? loss_sum / static_cast<double>(loss_n) : std::numeric_limits<double>::quiet_NaN();
  int64_t correct = 0;
  r.per_class.resize(C);
  for (size_t c = 0; c < C; ++c) {
    ClassMetrics& m = r.per_class[c];
    m.name = classes_[c];
    for (size_t p = 0; p < C; ++p) {
      m.support += r.confusion[c][p];
      m.predicted += r.confusion[p][c];
    }
    const double tp = static_cast<double>(r.confusion[c][c]);
    correct += r.confusion[c][c];
    m.precision = ratio(tp, static_cast<double>(m.predicted));
    m.recall = ratio(tp, static_cast<double>(m.support));
    m.f1 = ratio(2 * tp, static_cast<double>(m.support + m.predicted));
    r.macro_precision += m.precision;
    r.macro_recall += m.recall;
    r.macro_f1 += m.f1;
    r.weighted_precision += m.precision * static_cast<double>(m.support);
    r.weighted_recall += m.recall * static_cast<double>(m.support);
    r.weighted_f1 += m.f1 * static_cast<double>(m.support);
  }
  const double n = static_cast<double>(r.count);
  r.macro_precision /= static_cast<double>(C);
  r.macro_recall /= static_cast<double>(C);
  r.macro_f1 /= static_cast<double>(C);
  r.weighted_precision = ratio(r.weighted_precision, n);
  r.weighted_recall = ratio(r.weighted_recall, n);
  r.weighted_f1 = ratio(r.weighted_f1, n);
  r.accuracy = ratio(static_cast<double>(correct), n);
  r.top5 = ratio(static_cast<double>(hits), n);
  return r;
}

ClassificationReport MetricAccumulator::report() const { return report_for(-1); }

std::map<std::string, ClassificationReport> MetricAccumulator::group_reports() const {
  std::map<std::string, ClassificationReport> out;
  for (const auto& [name, index] : group_index_) out.emplace(name, report_for(index));
  return out;
}

std::vector<GroupGap> MetricAccumulator::group_gaps() const {
  std::vector<GroupGap> gaps;
  if (group_index_.size() < 2) return gaps;
  const auto reports = group_reports();
  const std::pair<const char*, double ClassificationReport::*> metrics[] = {
      {"accuracy", &ClassificationReport::accuracy},
      {"macro_f1", &ClassificationReport::macro_f1},
      {"macro_precision", &ClassificationReport::macro_precision},
      {"macro_recall", &ClassificationReport::macro_recall},
  };
  for (const auto& [metric, field] : metrics) {
    GroupGap g;
    g.metric = metric;
    bool first = true;
    for (const auto& [name, r] : reports) {  // name order: ties go to the first group
      const double v = r.*field;
      if (first || v > g.best) g.best = v, g.best_group = name;
      if (first || v < g.worst) g.worst = v, g.worst_group = name;
      first = false;
    }
    g.gap = g.best - g.worst;
    gaps.push_back(g);
  }
  return gaps;
}

nlohmann::json to_json(const ClassificationReport& r) {
  nlohmann::json j;
  j["count"] = r.count;
  j["loss"] = std::isfinite(r.loss) ? nlohmann::json(r.loss) : nlohmann::json(nullptr);
  j["accuracy"] = r.accuracy;
  j["top5"] = r.top5;
  j["top_k"] = r.top_k;
  j["macro_precision"] = r.macro_precision;
  j["macro_recall"] = r.macro_recall;
  j["macro_f1"] = r.macro_f1;
  j["weighted_precision"] = r.weighted_precision;
  j["weighted_recall"] = r.weighted_recall;
  j["weighted_f1"] = r.weighted_f1;
  nlohmann::json classes = nlohmann::json::array();
  for (const ClassMetrics& m : r.per_class)
    classes.push_back({{"name", m.name},
                       {"support", m.support},
                       {"predicted", m.predicted},
                       {"precision", m.precision},
                       {"recall", m.recall},
                       {"f1", m.f1}});
  j["per_class"] = std::move(classes);
  j["confusion"] = r.confusion;
  return j;
}

nlohmann::json to_json(const GroupGap& g) {
  return {{"metric", g.metric},           {"best_group", g.best_group}, {"best", g.best},
          {"worst_group", g.worst_group}, {"worst", g.worst},           {"gap", g.gap}};
}

namespace {
// Python's "{:>{w}s}" / "{:>{w}.{d}f}" (sklearn formats with str.format; glibc's printf rounds the
// binary value exactly as Python does, so the digits agree).
std::string right(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}
std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
}  // namespace

std::string format_report(const ClassificationReport& r) {
  // sklearn.metrics.classification_report, digits=2 (sklearn 1.x, _classification.py).
  constexpr int kDigits = 2;
  const std::string last_heading = "weighted avg";
  size_t width = last_heading.size();
  for (const ClassMetrics& m : r.per_class) width = std::max(width, m.name.size());
  auto cell = [](const std::string& s) {  // appends: GCC 12 misreads " " + string (-Wrestrict)
    std::string c(1, ' ');
    c += right(s, 9);
    return c;
  };
  std::string out = right("", width) + " ";
  for (const char* h : {"precision", "recall", "f1-score", "support"}) out += cell(h);
  out += "\n\n";
  auto row = [&](const std::string& name, double p, double rc, double f, int64_t support) {
    out += right(name, width) + " " + cell(fixed(p, kDigits)) + cell(fixed(rc, kDigits)) + cell(fixed(f, kDigits)) +
           cell(std::to_string(support)) + "\n";
  };
  for (const ClassMetrics& m : r.per_class) row(m.name, m.precision, m.recall, m.f1, m.support);
  out += "\n";
  out += right("accuracy", width) + " " + cell("") + cell("") + cell(fixed(r.accuracy, kDigits)) +
         cell(std::to_string(r.count)) + "\n";
  row("macro avg", r.macro_precision, r.macro_recall, r.macro_f1, r.count);
  row(last_heading, r.weighted_precision, r.weighted_recall, r.weighted_f1, r.count);
  return out;
}

}  // namespace ark::datasets
