// Classification metrics against plain numpy formulas of sklearn's definitions and torch.topk
// (tools/reference/metrics_ref.py: random logits, heavy ties, NaN logits, absent classes, groups),
// hand-computed small cases, the JSON and text reports, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "ark/core/error.h"
#include "ark/datasets/metrics.h"
#include "ark/io/safetensors.h"
#include "ark/ops/ops.h"
#include "support/reference.h"

namespace ark {
namespace {

using datasets::ClassificationReport;
using datasets::MetricAccumulator;

const io::SafetensorsFile& metrics_reference() {
  static const io::SafetensorsFile file =
      io::load_safetensors(test::reference_file("metrics_ref.py", "metrics_ref.safetensors"));
  return file;
}

const Tensor* ref_tensor(const std::string& key) { return metrics_reference().tensors.find(key); }

std::string ref_meta(const std::string& key) {
  const auto& m = metrics_reference().metadata;
  const auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) out.push_back(item);
  return out;
}

// Compares a report with the reference's confusion / per_class / summary tensors under `prefix`.
void expect_report(const ClassificationReport& r, const std::string& prefix) {
  SCOPED_TRACE(prefix);
  const Tensor* conf = ref_tensor(prefix + ".confusion");
  const Tensor* per_class = ref_tensor(prefix + ".per_class");
  const Tensor* summary = ref_tensor(prefix + ".summary");
  ASSERT_TRUE(conf && per_class && summary);
  const int64_t C = conf->size(0);
  ASSERT_EQ(static_cast<int64_t>(r.confusion.size()), C);
  ASSERT_EQ(static_cast<int64_t>(r.per_class.size()), C);
  const int64_t* cp = conf->data_ptr<int64_t>();
  int64_t wrong_cells = 0;
  for (int64_t t = 0; t < C; ++t)
    for (int64_t p = 0; p < C; ++p) wrong_cells += r.confusion[t][p] != cp[t * C + p];
  EXPECT_EQ(wrong_cells, 0);
  const double* pc = per_class->data_ptr<double>();
  double maxdiff = 0;
  for (int64_t c = 0; c < C; ++c) {
    const auto& m = r.per_class[c];
    EXPECT_EQ(m.support, static_cast<int64_t>(pc[c * 5 + 0])) << "class " << c;
    EXPECT_EQ(m.predicted, static_cast<int64_t>(pc[c * 5 + 1])) << "class " << c;
    maxdiff = std::max({maxdiff, std::abs(m.precision - pc[c * 5 + 2]), std::abs(m.recall - pc[c * 5 + 3]),
                        std::abs(m.f1 - pc[c * 5 + 4])});
  }
  EXPECT_LE(maxdiff, 1e-12) << "per-class precision/recall/f1";
  const double* s = summary->data_ptr<double>();
  EXPECT_EQ(r.count, static_cast<int64_t>(s[0]));
  if (std::isnan(s[1]))
    EXPECT_TRUE(std::isnan(r.loss));
  else
    EXPECT_NEAR(r.loss, s[1], 1e-6 * std::max(1.0, std::abs(s[1])));  // float32 losses summed in float64
  EXPECT_DOUBLE_EQ(r.accuracy, s[2]);
  EXPECT_DOUBLE_EQ(r.top5, s[3]) << "top-" << s[4];
  EXPECT_EQ(r.top_k, static_cast<int64_t>(s[4]));
  EXPECT_NEAR(r.macro_precision, s[5], 1e-12);
  EXPECT_NEAR(r.macro_recall, s[6], 1e-12);
  EXPECT_NEAR(r.macro_f1, s[7], 1e-12);
  EXPECT_NEAR(r.weighted_precision, s[8], 1e-12);
  EXPECT_NEAR(r.weighted_recall, s[9], 1e-12);
  EXPECT_NEAR(r.weighted_f1, s[10], 1e-12);
}

TEST(Metrics, MatchNumpyReference) {
  const auto cases = split(ref_meta("cases"), ',');
  ASSERT_GE(cases.size(), 8u);
  for (const std::string& name : cases) {
    SCOPED_TRACE(name);
    const Tensor logits = *ref_tensor(name + ".logits");
    const Tensor labels = *ref_tensor(name + ".labels");
    const Tensor* losses = ref_tensor(name + ".losses");
    const Tensor* group_codes = ref_tensor(name + ".groups");
    const auto group_names = split(ref_meta(name + ".group_names"), '|');
    MetricAccumulator acc(split(ref_meta(name + ".classes"), '|'));
    int64_t start = 0;
    for (const std::string& b : split(ref_meta(name + ".batches"), ',')) {
      const int64_t n = std::stoll(b);
      std::vector<std::string> groups;
      if (group_codes)
        for (int64_t i = start; i < start + n; ++i)
          groups.push_back(group_names.at(group_codes->data_ptr<int64_t>()[i]));
      acc.add(logits.narrow(0, start, n), labels.narrow(0, start, n), losses ? losses->narrow(0, start, n) : Tensor(),
              groups);
      start += n;
    }
    ASSERT_EQ(start, logits.size(0));
    const ClassificationReport r = acc.report();
    expect_report(r, name);
    EXPECT_EQ(datasets::format_report(r), ref_meta(name + ".report"));

    const auto groups = acc.group_reports();
    if (!group_codes) {
      EXPECT_TRUE(groups.empty());
      EXPECT_TRUE(acc.group_gaps().empty());
      continue;
    }
    for (const auto& [g, gr] : groups) expect_report(gr, name + ".group." + g);
    const auto expected = nlohmann::json::parse(ref_meta(name + ".gaps"));
    const auto gaps = acc.group_gaps();
    ASSERT_EQ(gaps.size(), expected.size());
    for (size_t i = 0; i < gaps.size(); ++i) {
      EXPECT_EQ(gaps[i].metric, expected[i]["metric"]);
      EXPECT_EQ(gaps[i].best_group, expected[i]["best_group"]) << gaps[i].metric;
      EXPECT_EQ(gaps[i].worst_group, expected[i]["worst_group"]) << gaps[i].metric;
      EXPECT_NEAR(gaps[i].best, expected[i]["best"].get<double>(), 1e-12);
      EXPECT_NEAR(gaps[i].worst, expected[i]["worst"].get<double>(), 1e-12);
      EXPECT_NEAR(gaps[i].gap, expected[i]["gap"].get<double>(), 1e-12);
    }
  }
}

// Logits whose argmax is `pred` (C columns).
Tensor logits_for(const std::vector<int64_t>& pred, int64_t C) {
  Tensor x = zeros({static_cast<int64_t>(pred.size()), C});
  float* p = x.data_ptr<float>();
  for (size_t i = 0; i < pred.size(); ++i) p[i * C + pred[i]] = 1.0f;
  return x;
}

TEST(Metrics, HandComputedWithAbsentClass) {
  // true:      a a b b b a     class c never occurs and is never predicted
  // predicted: a b b b a a
  MetricAccumulator acc({"a", "b", "c"});
  acc.add(logits_for({0, 1, 1}, 3), tensor({0, 0, 1}, kLong), tensor({1.0, 2.0, 3.0}));
  acc.add(logits_for({1, 0, 0}, 3), tensor({1, 1, 0}, kLong), tensor({4.0, 5.0, 6.0}));
  const ClassificationReport r = acc.report();
  EXPECT_EQ(r.count, 6);
  EXPECT_EQ(r.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 0}, {1, 2, 0}, {0, 0, 0}}));
  for (int c = 0; c < 2; ++c) {
    EXPECT_EQ(r.per_class[c].support, 3);
    EXPECT_EQ(r.per_class[c].predicted, 3);
    EXPECT_DOUBLE_EQ(r.per_class[c].precision, 2.0 / 3);
    EXPECT_DOUBLE_EQ(r.per_class[c].recall, 2.0 / 3);
    EXPECT_DOUBLE_EQ(r.per_class[c].f1, 2.0 / 3);
  }
  EXPECT_EQ(r.per_class[2].support, 0);
  EXPECT_EQ(r.per_class[2].f1, 0.0);
  EXPECT_DOUBLE_EQ(r.accuracy, 4.0 / 6);
  EXPECT_DOUBLE_EQ(r.macro_precision, 4.0 / 9);  // the absent class counts as 0 (labels= semantics)
  EXPECT_DOUBLE_EQ(r.macro_recall, 4.0 / 9);
  EXPECT_DOUBLE_EQ(r.macro_f1, 4.0 / 9);
  EXPECT_DOUBLE_EQ(r.weighted_f1, 2.0 / 3);
  EXPECT_EQ(r.top_k, 3);
  EXPECT_DOUBLE_EQ(r.top5, 1.0);
  EXPECT_DOUBLE_EQ(r.loss, 3.5);
}

TEST(Metrics, HandComputedNeverPredicted) {
  // true 0 1 2 3, predicted 0 1 2 2: class 3 has support 1 and is never predicted (precision 0 by
  // zero_division=0), class 2 is predicted twice.
  MetricAccumulator acc({"w", "x", "y", "z"});
  acc.add(logits_for({0, 1, 2, 2}, 4), tensor({0, 1, 2, 3}, kInt));
  const ClassificationReport r = acc.report();
  EXPECT_EQ(r.per_class[3].predicted, 0);
  EXPECT_EQ(r.per_class[3].precision, 0.0);
  EXPECT_EQ(r.per_class[3].recall, 0.0);
  EXPECT_EQ(r.per_class[3].f1, 0.0);
  EXPECT_DOUBLE_EQ(r.per_class[2].precision, 0.5);
  EXPECT_DOUBLE_EQ(r.per_class[2].recall, 1.0);
  EXPECT_DOUBLE_EQ(r.per_class[2].f1, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.macro_precision, 2.5 / 4);
  EXPECT_DOUBLE_EQ(r.macro_f1, (1 + 1 + 2.0 / 3) / 4);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.75);
  EXPECT_TRUE(std::isnan(r.loss));
  // The logits' dtype does not matter.
  for (ScalarType dtype : {kDouble, kHalf, kBFloat16}) {
    MetricAccumulator other({"w", "x", "y", "z"});
    other.add(logits_for({0, 1, 2, 2}, 4).to(dtype), tensor({0, 1, 2, 3}, kLong));
    EXPECT_EQ(other.report().confusion, r.confusion) << dtype_name(dtype);
  }
}

TEST(Metrics, TopFiveOfEight) {
  // Row [0 .. 7]: the five largest are the classes 3..7.
  MetricAccumulator acc({"0", "1", "2", "3", "4", "5", "6", "7"});
  const Tensor row = arange(8).to(kFloat).reshape({1, 8});
  acc.add(row, tensor({2}, kLong));
  acc.add(row, tensor({3}, kLong));
  acc.add(row.clone().requires_grad_(true), tensor({7}, kLong));  // logits straight from a model
  const ClassificationReport r = acc.report();
  EXPECT_EQ(r.top_k, 5);
  EXPECT_DOUBLE_EQ(r.top5, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.accuracy, 1.0 / 3);
}

TEST(Metrics, EmptyReportAndJson) {
  MetricAccumulator acc({"a", "b"});
  acc.add(zeros({0, 2}), zeros({0}, kLong));  // an empty batch is fine
  ClassificationReport r = acc.report();
  EXPECT_EQ(r.count, 0);
  EXPECT_TRUE(std::isnan(r.loss));
  EXPECT_EQ(r.accuracy, 0.0);
  EXPECT_EQ(r.macro_f1, 0.0);
  nlohmann::json j = datasets::to_json(r);
  EXPECT_TRUE(j["loss"].is_null());
  EXPECT_TRUE(nlohmann::json::parse(j.dump())["loss"].is_null());  // NaN would not be valid JSON

  acc.add(logits_for({1, 1}, 2), tensor({1, 0}, kLong), tensor({0.5f, 1.5f}), {"g1", "g2"});
  r = acc.report();
  j = datasets::to_json(r);
  EXPECT_EQ(j["count"], 2);
  EXPECT_DOUBLE_EQ(j["loss"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.5);
  EXPECT_EQ(j["top_k"], 2);
  ASSERT_EQ(j["per_class"].size(), 2u);
  EXPECT_EQ(j["per_class"][1]["name"], "b");
  EXPECT_EQ(j["per_class"][1]["support"], 1);
  EXPECT_EQ(j["per_class"][1]["predicted"], 2);
  EXPECT_DOUBLE_EQ(j["per_class"][1]["precision"].get<double>(), 0.5);
  EXPECT_EQ(j["confusion"], nlohmann::json::parse("[[0,1],[0,1]]"));
  for (const char* key : {"macro_precision", "macro_recall", "macro_f1", "weighted_f1", "top5"})
    EXPECT_TRUE(j.contains(key)) << key;
  const auto gaps = acc.group_gaps();
  ASSERT_EQ(gaps.size(), 4u);
  EXPECT_EQ(gaps[0].metric, "accuracy");
  EXPECT_EQ(gaps[0].best_group, "g1");  // g1: true b predicted b; g2: true a predicted b
  EXPECT_EQ(gaps[0].worst_group, "g2");
  EXPECT_DOUBLE_EQ(gaps[0].best, 1.0);
  EXPECT_DOUBLE_EQ(gaps[0].worst, 0.0);
  EXPECT_DOUBLE_EQ(gaps[0].gap, 1.0);
  EXPECT_EQ(datasets::to_json(gaps[0])["worst_group"], gaps[0].worst_group);
}

TEST(Metrics, GroupGapsNeedTwoGroups) {
  MetricAccumulator acc({"a", "b"});
  acc.add(logits_for({0, 1}, 2), tensor({0, 0}, kLong), {}, {"same", "same"});
  EXPECT_EQ(acc.group_reports().size(), 1u);
  EXPECT_TRUE(acc.group_gaps().empty());
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Metrics, BadInputIsAnErrorAndAddsNothing) {
  expect_error([] { MetricAccumulator acc({}); }, "at least one class");
  MetricAccumulator acc({"a", "b", "c"});
  acc.add(logits_for({0}, 3), tensor({0}, kLong), tensor({1.0f}));
  expect_error([&] { acc.add(zeros({2, 4}), tensor({0, 1}, kLong), zeros({2})); }, "(N, 3)");
  expect_error([&] { acc.add(zeros({3}), tensor({0, 1, 2}, kLong), zeros({3})); }, "(N, 3)");
  expect_error([&] { acc.add(zeros({2, 3}), tensor({0, 1, 2}, kLong), zeros({2})); }, "labels of shape (2)");
  expect_error([&] { acc.add(zeros({2, 3}), tensor({0.0f, 1.0f}), zeros({2})); }, "integer labels");
  expect_error([&] { acc.add(zeros({2, 3}, kLong), tensor({0, 1}, kLong), zeros({2})); }, "floating-point logits");
  expect_error([&] { acc.add(zeros({2, 3}), tensor({0, 3}, kLong), zeros({2})); }, "label 3 at row 1 is out of range");
  expect_error([&] { acc.add(zeros({2, 3}), tensor({-1, 0}, kLong), zeros({2})); }, "label -1 at row 0");
  expect_error([&] { acc.add(zeros({2, 3}), tensor({0, 1}, kLong), zeros({3})); }, "per-sample losses");
  expect_error([&] { acc.add(zeros({2, 3}), tensor({0, 1}, kLong)); }, "losses were given for earlier batches");
  expect_error([&] { acc.add(zeros({2, 3}), tensor({0, 1}, kLong), zeros({2}), {"x"}); }, "one per row");
  expect_error(
      [&] {
        acc.add(zeros({2, 3}), tensor({0, 1}, kLong), zeros({2}), {"x", "y"});
      },
      "groups were not given for earlier batches");
  expect_error([&] { acc.add(Tensor(), tensor({0, 1}, kLong)); }, "required");
  const ClassificationReport r = acc.report();
  EXPECT_EQ(r.count, 1);
  EXPECT_DOUBLE_EQ(r.loss, 1.0);
}

}  // namespace
}  // namespace ark
