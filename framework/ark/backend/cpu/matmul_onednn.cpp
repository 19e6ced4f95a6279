// float32 and bfloat16 GEMM on oneDNN's matmul (bfloat16 with float32 accumulation, on the
// CPU's AVX512-BF16 dot products where it has them). On this class of CPU (AVX-512) its brgemm kernels read B in
// place through its strides, where OpenBLAS 0.3.21 packs all of B for every call: for the
// Transformer shapes (128-1024 rows times a 768x768..3072 weight) they run 1.1-3x faster.
// Operands are plain strided tensors (transposes are strides, nothing is copied); alpha is an
// output scale, beta a sum post-op. Primitives are cached by shape and strides.
#include "ark/backend/cpu/matmul_onednn.h"

#include <dnnl.hpp>

#include <mutex>
#include <string>
#include <unordered_map>

#include "ark/backend/cpu/cpu_backend.h"

namespace ark::cpu::onednn {
namespace {

using dnnl::memory;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// A single product is described in 2-D: a batch dim of 1 with an arbitrary stride makes oneDNN
// read the layout as exotic and fall back from brgemm to its slower gemm.
memory::desc strided_md(const Tensor& t) {
  const auto type = t.dtype() == kBFloat16 ? memory::data_type::bf16 : memory::data_type::f32;
  if (t.size(0) == 1) return memory::desc({t.size(1), t.size(2)}, type, {t.stride(1), t.stride(2)});
  return memory::desc({t.size(0), t.size(1), t.size(2)}, type, {t.stride(0), t.stride(1), t.stride(2)});
}

struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

// Key: the three operands' sizes and strides, alpha and beta. nullptr caches "oneDNN declined".
std::shared_ptr<Matmul> primitive(const Tensor& a, const Tensor& b, const Tensor& c, float alpha, float beta) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<Matmul>> cache;
  std::string key = dtype_name(a.dtype());
  for (const Tensor* t : {&a, &b, &c})
    for (int d = 0; d < 3; ++d) key += std::to_string(t->size(d)) + ':' + std::to_string(t->stride(d)) + ',';
  key += std::to_string(alpha) + ',' + std::to_string(beta);
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() > 1024) cache.clear();  // bound it for programs with endless shapes
  std::shared_ptr<Matmul> m;
  try {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (alpha != 1.f) attr.set_output_scales(0, {alpha});
    if (beta != 0.f) {
      dnnl::post_ops ops;
      ops.append_sum(beta);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::desc d(strided_md(a), strided_md(b), strided_md(c));
    dnnl::matmul::primitive_desc pd(d, attr, engine());
    m = std::make_shared<Matmul>(Matmul{pd, dnnl::matmul(pd)});
  } catch (const dnnl::error&) {
    m = nullptr;  // e.g. strides oneDNN cannot read: OpenBLAS takes it
  }
  cache.emplace(key, m);
  return m;
}

}  // namespace

bool matmul_pays(int64_t batch, int64_t m, int64_t n, int64_t k) {
  return m > 8 && n >= 16 && k >= 16 && static_cast<double>(batch) * m * n * k >= 262144.0;
}

bool matmul(const Tensor& a, const Tensor& b, const Tensor& c, float alpha, float beta) {
  const ScalarType t = a.dtype();
  if ((t != kFloat && t != kBFloat16) || b.dtype() != t || c.dtype() != t) return false;
  for (const Tensor* t : {&a, &b, &c})
    for (int d = 0; d < 3; ++d)
      if (t->stride(d) == 0 && t->size(d) > 1) return false;  // broadcast (expanded) operands: OpenBLAS

  auto m = primitive(a, b, c, alpha, beta);
  if (!m) return false;
  auto scratch = backend_for(Device(kCPU)).allocate(std::max<size_t>(m->pd.scratchpad_desc().get_size(), 64));
  memory am(m->pd.src_desc(), engine(), a.data_ptr()), bm(m->pd.weights_desc(), engine(), b.data_ptr());
  memory cm(m->pd.dst_desc(), engine(), c.data_ptr()), sm(m->pd.scratchpad_desc(), engine(), scratch->data());
  dnnl::stream st(engine());
  m->prim.execute(st, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}, {DNNL_ARG_SCRATCHPAD, sm}});
  st.wait();
  return true;
}

}  // namespace ark::cpu::onednn
