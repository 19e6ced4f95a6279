// Dropout, Dropout2d.
#include "ark/nn/modules/dropout.h"

#include "ark/nn/functional.h"

namespace ark::nn {

namespace {
void check_p(const char* name, double p) {
  ARK_CHECK(p >= 0 && p <= 1, name, ": dropout probability has to be between 0 and 1, but got ", p);
}
std::string dropout_repr(const DropoutOptions& o) {
  return "p=" + detail::repr_double(o.p()) + ", inplace=" + detail::repr_bool(o.inplace());
}
}  // namespace

DropoutImpl::DropoutImpl(const DropoutOptions& options_) : options(options_) { check_p("Dropout", options.p()); }

Tensor DropoutImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) {
    return F::dropout(x, F::DropoutFuncOptions().p(options.p()).training(is_training()).inplace(options.inplace()));
  });
}

std::string DropoutImpl::extra_repr() const { return dropout_repr(options); }

Dropout2dImpl::Dropout2dImpl(const Dropout2dOptions& options_) : options(options_) { check_p("Dropout2d", options.p()); }

Tensor Dropout2dImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) {
    return F::dropout2d(x, F::Dropout2dFuncOptions().p(options.p()).training(is_training()).inplace(options.inplace()));
  });
}

std::string Dropout2dImpl::extra_repr() const { return dropout_repr(options); }

}  // namespace ark::nn
