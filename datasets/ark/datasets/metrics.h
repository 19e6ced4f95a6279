// Classification metrics, computed as scikit-learn defines them (precision_recall_fscore_support
// with zero_division=0, macro averages over the classes, top-k as timm's accuracy()): an
// accumulator fed batch by batch, then a report. With groups (a manifest's group column), the
// same report per group and the largest gap between groups for each metric (a fairness audit).
//
// Definitions (tested against plain numpy formulas and torch.topk, tools/reference/metrics_ref.py):
// - The predicted class is the argmax of the logits, the first maximal index as torch.argmax
//   returns it; a NaN logit counts as larger than any number (torch's rule), so a row with NaNs is
//   predicted as its first NaN. accuracy = trace(confusion) / count, sklearn's accuracy_score.
// - top5 is timm's accuracy() at k = min(5, classes): the target is among the indices
//   torch.topk(logits, k) returns. With tied logits at the k-th place torch keeps whichever ties
//   its CPU kernel (std::nth_element, or std::partial_sort when 64 k <= classes) leaves in front,
//   not the lowest indices; metrics.cpp runs the same algorithm, so top5 matches PyTorch 1.13 on
//   CPU even on ties (exact ties are rare with real logits, common with quantised or constant ones).
// - Per class: precision = tp / predicted, recall = tp / support, f1 = 2 tp / (support +
//   predicted), each 0 when its denominator is 0 (zero_division=0).
// - Macro averages are over every class of the accumulator, including classes with no support and
//   never predicted (they count as 0), as sklearn does when labels= lists all classes. This is also
//   true of group reports: a group in which some classes never occur has its macro scores pulled
//   down by them; read the per-class rows of such a group.
// - Weighted averages weight each class by its support (sklearn's average="weighted"); 0 when no
//   sample was added.
// - With no samples every score is 0 and loss is NaN.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ark/core/tensor.h"

namespace ark::datasets {

struct ClassMetrics {
  std::string name;
  int64_t support = 0;    // true samples of the class
  int64_t predicted = 0;  // samples predicted as the class
  double precision = 0, recall = 0, f1 = 0;
};

struct ClassificationReport {
  int64_t count = 0;
  double loss = 0;  // mean cross-entropy (NaN when no loss was added)
  double accuracy = 0;
  double top5 = 0;    // top-min(5, classes)
  int64_t top_k = 5;  // the k of top5: min(5, classes)
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double weighted_precision = 0, weighted_recall = 0, weighted_f1 = 0;
  std::vector<ClassMetrics> per_class;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

/// The gap of one metric between groups: max - min over groups with samples.
struct GroupGap {
  std::string metric;  // "accuracy", "macro_f1", ...
  std::string best_group, worst_group;
  double best = 0, worst = 0, gap = 0;
};

class MetricAccumulator {
 public:
  /// Throws ark::Error when `classes` is empty.
  explicit MetricAccumulator(std::vector<std::string> classes);
  /// logits (N, C) float, labels (N,) int64; losses (N,) per-sample losses or undefined; groups
  /// empty or one per row. Either every non-empty batch has losses (groups) or none has. Invalid
  /// input (shapes, a label outside [0, C), ...) throws ark::Error and adds nothing.
  void add(const Tensor& logits, const Tensor& labels, const Tensor& losses = {},
           const std::vector<std::string>& groups = {});
  ClassificationReport report() const;
  /// One report per group value (empty without groups).
  std::map<std::string, ClassificationReport> group_reports() const;
  /// accuracy, macro_f1, macro_precision, macro_recall gaps (empty with fewer than two groups).
  /// Ties for best (worst) go to the first group in name order.
  std::vector<GroupGap> group_gaps() const;

  int64_t count() const { return static_cast<int64_t>(truth_.size()); }
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  enum class Has { kUnknown, kYes, kNo };                // whether the batches so far carried losses / groups
  ClassificationReport report_for(int32_t group) const;  // group -1: every sample

  std::vector<std::string> classes_;
  int64_t k_ = 5;
  // One entry per sample: the report is computed from these, so groups cost nothing extra.
  std::vector<int32_t> truth_, pred_;
  std::vector<uint8_t> topk_hit_;
  std::vector<double> loss_;
  std::vector<int32_t> group_;  // index into group_names_
  std::vector<std::string> group_names_;
  std::map<std::string, int32_t> group_index_;
  Has has_loss_ = Has::kUnknown, has_group_ = Has::kUnknown;
};

/// The report as JSON: {count, loss (null when NaN), accuracy, top5, top_k, macro_*, weighted_*,
/// per_class: [{name, support, predicted, precision, recall, f1}], confusion}.
nlohmann::json to_json(const ClassificationReport& report);
/// {metric, best_group, best, worst_group, worst, gap}.
nlohmann::json to_json(const GroupGap& gap);
/// A fixed-width text table of the report (per class, accuracy, macro and weighted averages), as
/// sklearn's classification_report(digits=2) prints it, character for character. Loss and top-k are
/// not in it (sklearn has neither); callers print them.
std::string format_report(const ClassificationReport& report);

}  // namespace ark::datasets
