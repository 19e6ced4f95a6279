// Samplers of torch::data: they hand the DataLoader one batch of indices at a time and start
// over at reset(). SequentialSampler walks 0..size-1; RandomSampler walks a fresh permutation
// drawn at each reset from ark's default generator (or one passed in), so ark::manual_seed()
// makes the epochs of a run reproducible. ark's generator is not PyTorch's: the permutations
// differ from libtorch's for the same seed.
// Left out: save()/load() (no serialize archives yet), StreamSampler, DistributedSampler.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "ark/core/generator.h"
#include "ark/core/tensor.h"

namespace ark::data::samplers {

template <class BatchRequest = std::vector<size_t>>
class Sampler {
 public:
  using BatchRequestType = BatchRequest;

  virtual ~Sampler() = default;
  /// Starts over; new_size (if given) changes the number of indices.
  virtual void reset(std::optional<size_t> new_size) = 0;
  /// Up to batch_size indices, or nullopt when the epoch is exhausted.
  virtual std::optional<BatchRequest> next(size_t batch_size) = 0;
};

class SequentialSampler : public Sampler<> {
 public:
  explicit SequentialSampler(size_t size) : size_(size) {}

  void reset(std::optional<size_t> new_size = std::nullopt) override;
  std::optional<std::vector<size_t>> next(size_t batch_size) override;
  /// How many indices this epoch has handed out so far.
  size_t index() const noexcept { return index_; }

 private:
  size_t size_;
  size_t index_ = 0;
};

class RandomSampler : public Sampler<> {
 public:
  /// index_dtype is the dtype the permutation is kept in (kLong, or kInt to halve its memory).
  explicit RandomSampler(int64_t size, ScalarType index_dtype = kLong);
  /// Draws from `generator` instead of the default generator; it must outlive the sampler.
  RandomSampler(int64_t size, Generator* generator, ScalarType index_dtype = kLong);

  void reset(std::optional<size_t> new_size = std::nullopt) override;
  std::optional<std::vector<size_t>> next(size_t batch_size) override;
  size_t index() const noexcept { return static_cast<size_t>(index_); }

 private:
  Generator* generator_ = nullptr;  // null: the default generator
  Tensor indices_;                  // (size,) a permutation of [0, size)
  int64_t index_ = 0;
};

}  // namespace ark::data::samplers
