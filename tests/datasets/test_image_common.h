// Shared by the image tests: the torchvision/PIL reference file (tools/reference/image_reference.py)
// and small comparison helpers.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "ark/datasets/datasets.h"
#include "ark/io/safetensors.h"
#include "ark/ops/ops.h"
#include "support/reference.h"

namespace ark::test {

inline const io::SafetensorsFile& image_reference() {
  static const io::SafetensorsFile file =
      io::load_safetensors(reference_file("image_reference.py", "image_reference.safetensors"));
  return file;
}

inline const Tensor& image_ref(const std::string& key) {
  const Tensor* t = image_reference().tensors.find(key);
  ARK_CHECK(t != nullptr, "image reference has no tensor ", key);
  return *t;
}

inline bool has_image_ref(const std::string& key) { return image_reference().tensors.find(key) != nullptr; }

inline std::string image_meta(const std::string& key) {
  const auto& m = image_reference().metadata;
  const auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

struct AbsDiff {
  double mean = 0, max = 0;
  int64_t differing = 0;
};

/// |a - b| over two tensors of the same shape (any dtype, compared as double).
inline AbsDiff abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  AbsDiff d;
  if (a.sizes() != b.sizes()) {
    d.mean = d.max = INFINITY;
    return d;
  }
  const Tensor x = a.to(kDouble).contiguous(), y = b.to(kDouble).contiguous();
  const double* p = x.data_ptr<double>();
  const double* q = y.data_ptr<double>();
  double sum = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double e = std::abs(p[i] - q[i]);
    sum += e;
    d.max = std::max(d.max, e);
    d.differing += e != 0;
  }
  d.mean = x.numel() ? sum / static_cast<double>(x.numel()) : 0;
  return d;
}

inline std::string tensor_bytes(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

}  // namespace ark::test
