// SequentialSampler and RandomSampler (see samplers.h).
#include "ark/data/samplers.h"

#include <algorithm>

#include "ark/ops/ops.h"

namespace ark::data::samplers {

void SequentialSampler::reset(std::optional<size_t> new_size) {
  if (new_size) size_ = *new_size;
  index_ = 0;
}

std::optional<std::vector<size_t>> SequentialSampler::next(size_t batch_size) {
  ARK_CHECK(batch_size > 0, "SequentialSampler::next: batch_size must be positive");
  if (index_ >= size_) return std::nullopt;
  const size_t end = std::min(size_, index_ + batch_size);
  std::vector<size_t> batch(end - index_);
  for (size_t i = 0; i < batch.size(); ++i) batch[i] = index_ + i;
  index_ = end;
  return batch;
}

RandomSampler::RandomSampler(int64_t size, ScalarType index_dtype) : RandomSampler(size, nullptr, index_dtype) {}

RandomSampler::RandomSampler(int64_t size, Generator* generator, ScalarType index_dtype)
    : generator_(generator) {
  ARK_CHECK(index_dtype == kLong || index_dtype == kInt,
            "RandomSampler: index_dtype must be int64 or int32, got ", dtype_name(index_dtype));
  // As libtorch: a permutation is drawn here too, so next() works before the first reset().
  indices_ = ark::randperm(size, generator_, index_dtype);
}

void RandomSampler::reset(std::optional<size_t> new_size) {
  const int64_t size = new_size ? static_cast<int64_t>(*new_size) : indices_.numel();
  indices_ = ark::randperm(size, generator_, indices_.dtype());
  index_ = 0;
}

std::optional<std::vector<size_t>> RandomSampler::next(size_t batch_size) {
  ARK_CHECK(batch_size > 0, "RandomSampler::next: batch_size must be positive");
  const int64_t remaining = indices_.numel() - index_;
  if (remaining <= 0) return std::nullopt;
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(batch_size), remaining);
  std::vector<size_t> batch(static_cast<size_t>(n));
  if (indices_.dtype() == kLong) {
    const int64_t* p = indices_.data_ptr<int64_t>() + index_;
    for (int64_t i = 0; i < n; ++i) batch[static_cast<size_t>(i)] = static_cast<size_t>(p[i]);
  } else {
    const int32_t* p = indices_.data_ptr<int32_t>() + index_;
    for (int64_t i = 0; i < n; ++i) batch[static_cast<size_t>(i)] = static_cast<size_t>(p[i]);
  }
  index_ += n;
  return batch;
}

}  // namespace ark::data::samplers
