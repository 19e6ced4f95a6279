// data::datasets::MNIST: the IDX files of MNIST (or of a drop-in such as Fashion-MNIST, which
// uses the same file names), plain or gzip-compressed, read whole into memory as in libtorch:
// images (N, 1, 28, 28) float32 in [0, 1], targets (N) int64. get(i) returns views of row i.
// Left out: downloading (ark never fetches data behind the user's back; point root at a folder).
#pragma once
#include <cstddef>
#include <optional>
#include <string>

#include "ark/data/datasets.h"

namespace ark::data::datasets {

class MNIST : public Dataset<MNIST> {
 public:
  enum class Mode { kTrain, kTest };

  /// Reads {train,t10k}-images-idx3-ubyte and -labels-idx1-ubyte from root; each may instead
  /// be gzip-compressed with a .gz suffix. Throws ark::Error naming the file on any defect.
  explicit MNIST(const std::string& root, Mode mode = Mode::kTrain);

  Example<> get(size_t index) override;
  std::optional<size_t> size() const override;
  bool is_train() const noexcept { return is_train_; }
  /// (N, 1, 28, 28) float32 in [0, 1].
  const Tensor& images() const { return images_; }
  /// (N) int64.
  const Tensor& targets() const { return targets_; }

 private:
  Tensor images_, targets_;
  bool is_train_;
};

}  // namespace ark::data::datasets
