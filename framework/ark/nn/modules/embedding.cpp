// Embedding. ref: torch/nn/modules/sparse.py (PyTorch 1.13).
#include "ark/nn/modules/embedding.h"

#include "ark/autograd/grad_mode.h"
#include "ark/nn/functional.h"
#include "ark/nn/init.h"
#include "ark/ops/ops.h"

namespace ark::nn {

EmbeddingImpl::EmbeddingImpl(EmbeddingOptions options_) : options(std::move(options_)) {
  const int64_t n = options.num_embeddings(), dim = options.embedding_dim();
  ARK_CHECK(n >= 0 && dim >= 0, "Embedding: num_embeddings and embedding_dim must be non-negative, got ", n, " and ", dim);
  if (options.padding_idx()) {
    const int64_t p = *options.padding_idx();
    ARK_CHECK(p < n && p >= -n, "Embedding: padding_idx must be within num_embeddings (", n, "), got ", p);
    if (p < 0) options.padding_idx(p + n);
  }
  if (options._weight().defined()) {
    ARK_CHECK(options._weight().dim() == 2 && options._weight().size(0) == n && options._weight().size(1) == dim,
              "Embedding: shape of _weight does not match num_embeddings and embedding_dim: expected [", n, ", ", dim,
              "], got ", options._weight().sizes());
    weight = register_parameter("weight", options._weight());
  } else {
    weight = register_parameter("weight", ark::empty({n, dim}));
    reset_parameters();
  }
}

void EmbeddingImpl::reset_parameters() {
  init::normal_(weight);
  if (options.padding_idx()) {
    NoGradGuard no_grad;
    weight.select(0, *options.padding_idx()).fill_(0);
  }
}

Tensor EmbeddingImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    return F::embedding(x, weight, F::EmbeddingFuncOptions().padding_idx(options.padding_idx()).max_norm(options.max_norm())
                                       .norm_type(options.norm_type()).scale_grad_by_freq(options.scale_grad_by_freq())
                                       .sparse(options.sparse()));
  });
}

std::string EmbeddingImpl::extra_repr() const {
  std::string s = ark::detail::str_cat(options.num_embeddings(), ", ", options.embedding_dim());
  if (options.padding_idx()) s += ark::detail::str_cat(", padding_idx=", *options.padding_idx());
  if (options.max_norm()) s += ", max_norm=" + detail::repr_double(*options.max_norm());
  if (options.norm_type() != 2) s += ", norm_type=" + detail::repr_double(options.norm_type());
  if (options.scale_grad_by_freq()) s += ", scale_grad_by_freq=True";
  if (options.sparse()) s += ", sparse=True";
  return s;
}

Embedding Embedding::from_pretrained(const Tensor& embeddings, const EmbeddingFromPretrainedOptions& o) {
  ARK_CHECK(embeddings.dim() == 2, "Embedding::from_pretrained: embeddings must be 2-D, got shape ", embeddings.sizes());
  Embedding e(EmbeddingOptions(embeddings.size(0), embeddings.size(1))
                  ._weight(embeddings)
                  .padding_idx(o.padding_idx())
                  .max_norm(o.max_norm())
                  .norm_type(o.norm_type())
                  .scale_grad_by_freq(o.scale_grad_by_freq())
                  .sparse(o.sparse()));
  e->weight.set_requires_grad(!o.freeze());
  return e;
}

}  // namespace ark::nn
