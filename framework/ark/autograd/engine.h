// The backward engine: runs the graph from some roots in reverse topological order.
#pragma once
#include <optional>

#include "ark/autograd/node.h"

namespace ark::autograd {

/// Computes gradients of `tensors` and accumulates them into the leaves (Tensor::backward).
/// If `inputs` is non-empty, only those leaves accumulate.
void backward(const variable_list& tensors, const variable_list& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
              const variable_list& inputs = {});

/// Returns d(outputs)/d(inputs) without touching .grad() (torch.autograd.grad).
variable_list grad(const variable_list& outputs, const variable_list& inputs,
                   const variable_list& grad_outputs = {}, std::optional<bool> retain_graph = std::nullopt,
                   bool create_graph = false, bool allow_unused = false);

}  // namespace ark::autograd
