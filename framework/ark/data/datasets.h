// The dataset side of torch::data: BatchDataset (get_batch(request) -> batch), Dataset (get(index)
// -> example, batches by gathering examples), MapDataset (dataset.map(transform), chainable),
// TensorDataset and SharedBatchDataset. CRTP as in libtorch, so `.map()` returns a concrete type
// and the whole pipeline is one value that the DataLoader copies into each worker.
// Left out: stateful datasets are typed (is_stateful, MapDataset passes optional batches through)
// but there is no StatefulDataLoader and no ChunkDataset.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "ark/core/array_ref.h"
#include "ark/data/example.h"
#include "ark/ops/ops.h"

namespace ark::data::datasets {

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <bool B, class T>
using optional_if_t = std::conditional_t<B, std::optional<T>, T>;
}  // namespace detail

template <class Source, class Transform>
class MapDataset;
template <class Source, class Transform>
MapDataset<Source, Transform> map(Source dataset, Transform transform);

/// A dataset that answers whole batch requests. A batch type of std::optional<...> marks a
/// stateful (stream) dataset, which signals its end by returning nullopt.
template <class Self, class Batch = std::vector<Example<>>, class BatchRequest = ArrayRef<size_t>>
class BatchDataset {
 public:
  using SelfType = Self;
  using BatchType = Batch;
  using BatchRequestType = BatchRequest;
  static constexpr bool is_stateful = detail::is_optional<BatchType>::value;

  virtual ~BatchDataset() = default;
  virtual Batch get_batch(BatchRequest request) = 0;
  /// The number of examples, if known (a sampler needs it).
  virtual std::optional<size_t> size() const = 0;

  template <class Transform>
  MapDataset<Self, Transform> map(Transform transform) & {
    return datasets::map(static_cast<Self&>(*this), std::move(transform));
  }
  template <class Transform>
  MapDataset<Self, Transform> map(Transform transform) && {
    return datasets::map(std::move(static_cast<Self&>(*this)), std::move(transform));
  }
};

/// A dataset of single examples; get_batch gathers get(i) for each requested index.
template <class Self, class SingleExample = Example<>>
class Dataset : public BatchDataset<Self, std::vector<SingleExample>> {
 public:
  using ExampleType = SingleExample;

  virtual ExampleType get(size_t index) = 0;

  std::vector<ExampleType> get_batch(ArrayRef<size_t> indices) override {
    std::vector<ExampleType> batch;
    batch.reserve(indices.size());
    for (const size_t i : indices) batch.push_back(get(i));
    return batch;
  }
};

/// `source.map(transform)`: each batch of the source goes through transform.apply_batch().
template <class Source, class Transform>
class MapDataset : public BatchDataset<MapDataset<Source, Transform>,
                                       detail::optional_if_t<Source::is_stateful, typename Transform::OutputBatchType>,
                                       typename Source::BatchRequestType> {
 public:
  using DatasetType = Source;
  using TransformType = Transform;
  using BatchRequestType = typename Source::BatchRequestType;
  using OutputBatchType = detail::optional_if_t<Source::is_stateful, typename Transform::OutputBatchType>;
  static_assert(std::is_same_v<typename Source::BatchType,
                               detail::optional_if_t<Source::is_stateful, typename Transform::InputBatchType>>,
                "MapDataset: the transform's InputBatchType must be the dataset's BatchType");

  MapDataset(Source dataset, Transform transform) : dataset_(std::move(dataset)), transform_(std::move(transform)) {}

  OutputBatchType get_batch(BatchRequestType request) override {
    if constexpr (Source::is_stateful) {
      if (auto batch = dataset_.get_batch(std::move(request))) return transform_.apply_batch(std::move(*batch));
      return std::nullopt;
    } else {
      return transform_.apply_batch(dataset_.get_batch(std::move(request)));
    }
  }
  std::optional<size_t> size() const override { return dataset_.size(); }
  /// Stateful sources only (instantiated on use).
  void reset() { dataset_.reset(); }

  const Source& dataset() const noexcept { return dataset_; }
  const Transform& transform() const noexcept { return transform_; }

 private:
  Source dataset_;
  Transform transform_;
};

template <class Source, class Transform>
MapDataset<Source, Transform> map(Source dataset, Transform transform) {
  static_assert(std::is_same_v<typename Source::BatchType,
                               detail::optional_if_t<Source::is_stateful, typename Transform::InputBatchType>>,
                "map: the transform's InputBatchType must be the dataset's BatchType");
  return {std::move(dataset), std::move(transform)};
}

/// One tensor whose rows are the examples (no targets).
struct TensorDataset : public Dataset<TensorDataset, TensorExample> {
  explicit TensorDataset(const std::vector<Tensor>& tensors) : TensorDataset(ark::stack(tensors)) {}
  explicit TensorDataset(Tensor tensor) : tensor(std::move(tensor)) {}

  TensorExample get(size_t index) override { return tensor[static_cast<int64_t>(index)]; }
  std::optional<size_t> size() const override { return static_cast<size_t>(tensor.size(0)); }

  Tensor tensor;
};

/// Wraps a shared_ptr so that copies (one per DataLoader worker) share a single dataset; the
/// dataset must then be safe to call from several threads.
template <class Underlying>
class SharedBatchDataset : public BatchDataset<SharedBatchDataset<Underlying>, typename Underlying::BatchType,
                                               typename Underlying::BatchRequestType> {
 public:
  using BatchType = typename Underlying::BatchType;
  using BatchRequestType = typename Underlying::BatchRequestType;

  /* implicit */ SharedBatchDataset(std::shared_ptr<Underlying> dataset) : dataset_(std::move(dataset)) {}  // NOLINT

  BatchType get_batch(BatchRequestType request) override { return dataset_->get_batch(std::move(request)); }
  std::optional<size_t> size() const override { return dataset_->size(); }
  Underlying& operator*() { return *dataset_; }
  const Underlying& operator*() const { return *dataset_; }
  Underlying* operator->() { return dataset_.get(); }
  const Underlying* operator->() const { return dataset_.get(); }
  void reset() { dataset_->reset(); }

 private:
  std::shared_ptr<Underlying> dataset_;
};

template <class Underlying, class... Args>
SharedBatchDataset<Underlying> make_shared_dataset(Args&&... args) {
  return std::make_shared<Underlying>(std::forward<Args>(args)...);
}

}  // namespace ark::data::datasets
