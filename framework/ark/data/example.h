// data::Example: one (data, target) pair, the unit a Dataset yields and a collation batches, as
// torch::data::Example. Example<Data, NoTarget> (TensorExample) holds data only.
#pragma once
#include <utility>

#include "ark/core/tensor.h"

namespace ark::data {

namespace example {
using NoTarget = void;
}

template <class Data = Tensor, class Target = Tensor>
struct Example {
  using DataType = Data;
  using TargetType = Target;

  Example() = default;
  Example(Data data, Target target) : data(std::move(data)), target(std::move(target)) {}

  Data data;
  Target target;
};

template <class Data>
struct Example<Data, example::NoTarget> {
  using DataType = Data;
  using TargetType = example::NoTarget;

  Example() = default;
  Example(Data data) : data(std::move(data)) {}  // NOLINT: implicit, as libtorch
  operator Data&() { return data; }              // NOLINT
  operator const Data&() const { return data; }  // NOLINT

  Data data;
};

using TensorExample = Example<Tensor, example::NoTarget>;

}  // namespace ark::data
