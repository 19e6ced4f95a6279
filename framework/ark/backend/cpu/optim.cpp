// Fused optimizer updates. The unfused Adam/AdamW step (optim/adam.cpp) is eleven passes over
// memory (mul_, add_, mul, add_, sqrt, div_, add_, div, add_ on param-sized tensors, three of
// them allocated); for a resnet18 that is ~0.8 GB of traffic per step, about a tenth of a
// fine-tuning step at 64x64. This is one pass, with the same float operations in the same
// order, each rounded as the tensor ops round them:
//   mul_(scalar) and div_(scalar): x * float(s), x / float(s); add_(scalar): x + float(s);
//   add_(tensor, alpha): fma(float(alpha), y, x), as GCC contracts the tensor kernel's
//   `x + alpha * y` on FMA targets (the default -ffp-contract=fast). Contraction is switched off
//   (and errno for sqrt, which would keep the loop scalar; sqrt is correctly rounded either way)
//   here and the fmas are written out, so nothing else fuses.
// tests/framework/test_optim.cpp checks it bitwise against the tensor-op sequence.
#include <cmath>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/core/parallel.h"

namespace ark::cpu {

namespace {

struct AdamConstants {
  float wd, b1, a1, b2, a2, bc2, eps, step;
};

// One range; restrict pointers and constants by value so the loop vectorises.
template <bool kDecay>
[[gnu::optimize("fp-contract=off", "no-math-errno")]] void adam_range(float* __restrict p, const float* __restrict g,
                                                                      float* __restrict m, float* __restrict v,
                                                                      int64_t n, const AdamConstants c) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float pi = kDecay ? p[i] * c.wd : p[i];
    const float mi = std::fma(c.a1, gi, m[i] * c.b1);
    const float gg = gi * gi;
    const float vi = std::fma(c.a2, gg, v[i] * c.b2);
    const float denom = std::sqrt(vi) / c.bc2 + c.eps;
    p[i] = std::fma(c.step, mi / denom, pi);
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void CpuBackend::adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                           const AdamStep& s) {
  float* p = param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* m = exp_avg.data_ptr<float>();
  float* v = exp_avg_sq.data_ptr<float>();
  const bool decay = s.decay != 1.0;
  const AdamConstants c{static_cast<float>(s.decay),           static_cast<float>(s.beta1),
                        static_cast<float>(s.one_minus_beta1), static_cast<float>(s.beta2),
                        static_cast<float>(s.one_minus_beta2), static_cast<float>(s.bias_correction2_sqrt),
                        static_cast<float>(s.eps),             static_cast<float>(s.neg_step_size)};
  parallel_for(param.numel(), 16384, [&](int64_t begin, int64_t end) {
    if (decay) adam_range<true>(p + begin, g + begin, m + begin, v + begin, end - begin, c);
    else adam_range<false>(p + begin, g + begin, m + begin, v + begin, end - begin, c);
  });
}

}  // namespace ark::cpu
