// oneDNN convolution for float32 (forward, backward data, backward weights). Tensors arrive as
// plain NCHW / OIHW; oneDNN picks its preferred (blocked) layouts and we reorder in and out, as
// PyTorch's mkldnn path does. Primitives are cached by shape, so a training loop builds them once.
// oneDNN runs on the same OpenMP pool as everything else in ark.
#include <dnnl.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "ark/backend/cpu/conv.h"
#include "ark/autograd/grad_mode.h"
#include "ark/backend/backend.h"
#include "ark/backend/cpu/cpu_backend.h"

namespace ark::cpu::onednn {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

struct Shapes {
  memory::dims src, weights, bias, dst, strides, dilates, pad_l, pad_r;
  bool grouped;
  // Subsampled (below): `src` is a strided view of the plain input, with these element strides.
  bool subsampled = false;
  memory::dims src_strides;
};

Shapes shapes_of(IntArrayRef in, IntArrayRef w, IntArrayRef out, const Backend::ConvParams& p) {
  Shapes s;
  const int64_t g = p.groups;
  s.grouped = g > 1;
  s.src = {in[0], in[1], in[2], in[3]};
  s.dst = {out[0], out[1], out[2], out[3]};
  if (s.grouped) s.weights = {g, w[0] / g, w[1], w[2], w[3]};
  else s.weights = {w[0], w[1], w[2], w[3]};
  s.bias = {w[0]};
  s.strides = {p.stride[0], p.stride[1]};
  s.dilates = {p.dilation[0] - 1, p.dilation[1] - 1};
  s.pad_l = {p.padding[0], p.padding[1]};
  // Right padding that makes oneDNN's output size equal ours (floor division leaves a remainder).
  for (int i = 0; i < 2; ++i) {
    const int64_t eff = (w[2 + i] - 1) * p.dilation[i] + 1;
    s.pad_r.push_back((out[2 + i] - 1) * p.stride[i] + eff - in[2 + i] - p.padding[i]);
  }
  // A strided 1x1 convolution without padding reads only every stride-th pixel: it is the
  // stride-1 convolution of that subsampled input. The subsampling rides on the reorder into
  // oneDNN's layout (a strided source view), which then moves 1/stride^2 of the input instead of
  // all of it; backward-data writes the sampled pixels of a zeroed gradient the same way. (ResNet's
  // downsample convolutions at batch 16: from parity with PyTorch's same kernel to 1.17-1.31x
  // forward, 1.9x backward.)
  if (w[2] == 1 && w[3] == 1 && p.padding[0] == 0 && p.padding[1] == 0 && (p.stride[0] > 1 || p.stride[1] > 1)) {
    s.subsampled = true;
    s.src_strides = {in[1] * in[2] * in[3], in[2] * in[3], in[3] * p.stride[0], p.stride[1]};
    s.src = {in[0], in[1], out[2], out[3]};
    s.strides = {1, 1};
    s.pad_r = {0, 0};
  }
  return s;
}

std::string key_of(const char* kind, const Shapes& s) {
  std::string k = kind;
  k += conv_winograd() ? "|wino" : "|direct";
  for (const auto* v : {&s.src, &s.weights, &s.dst, &s.strides, &s.dilates, &s.pad_l, &s.pad_r}) {
    k += '|';
    for (auto d : *v) k += std::to_string(d) + ',';
  }
  return k;
}

memory::desc any_md(const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); }
memory::desc plain_src_md(const Shapes& s) {
  return s.subsampled ? memory::desc(s.src, dt::f32, s.src_strides) : memory::desc(s.src, dt::f32, tag::nchw);
}
memory::desc plain_md(const memory::dims& d, bool weights, bool grouped) {
  if (!weights) return memory::desc(d, dt::f32, d.size() == 1 ? tag::a : tag::nchw);
  return memory::desc(d, dt::f32, grouped ? tag::goihw : tag::oihw);
}

// Scratch memory (reordered tensors, primitive scratchpads) comes from ark's allocator, whose block
// cache reuses it across calls instead of taking fresh pages from the OS every time.
struct Scratch {
  std::shared_ptr<Storage> storage;
  memory mem;
};
Scratch scratch(const memory::desc& md) {
  auto st = backend_for(Device(kCPU)).allocate(std::max<size_t>(md.get_size(), 64));
  return {st, memory(md, engine(), st->data())};
}

// A primitive's scratchpad: one buffer per calling thread, grown to the largest asked for and
// shared by every convolution that thread runs (execution is synchronous, so one at a time).
// Winograd's scratchpads (the transformed tiles) are several MB and differ per layer and pass;
// taken from the block cache, each size would stay parked there (~50 MB over a resnet18 step).
memory scratchpad(const memory::desc& md) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buf;
  const size_t need = std::max<size_t>(md.get_size(), 64);
  if (need > buf.size) {
    std::free(buf.data);
    buf.size = 0;
    buf.data = std::aligned_alloc(64, (need + 63) / 64 * 64);
    ARK_CHECK(buf.data != nullptr, "out of memory: failed to allocate a ", need, "-byte convolution scratchpad");
    buf.size = need;
  }
  return memory(md, engine(), buf.data);
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Shapes& s, bool with_bias, dnnl::algorithm alg) {
  using cf = dnnl::convolution_forward;
  auto d = with_bias ? cf::desc(dnnl::prop_kind::forward_training, alg, any_md(s.src), any_md(s.weights),
                                any_md(s.bias), any_md(s.dst), s.strides, s.dilates, s.pad_l, s.pad_r)
                     : cf::desc(dnnl::prop_kind::forward_training, alg, any_md(s.src), any_md(s.weights),
                                any_md(s.dst), s.strides, s.dilates, s.pad_l, s.pad_r);
  return cf::primitive_desc(d, user_scratchpad(), engine());
}

// Winograd F(4x4, 3x3) (oneDNN's jit_wino_4x3) does a 3x3 stride-1 convolution with about 2.25x
// fewer multiplies, at an error of a few 1e-6 of the output's scale (tests/framework/
// test_conv_winograd.cpp). Its input and output transforms cost memory traffic, so it wins only
// where there are enough 4x4 output tiles: measured on AVX-512 at 2 threads for batch 1-64, 64-512
// channels and 2-56 pixels a side, forward, backward-data and backward-weights alike, from 64 tiles
// up it ran 1.2-3.6x faster than the direct kernels (one case 1.03x), below 32 mostly slower (down
// to 0.05x for 2x2 maps, which use a quarter of a tile).
bool winograd_wins(const Shapes& s) {
  const bool eligible = !s.grouped && s.weights[2] == 3 && s.weights[3] == 3 && s.strides[0] == 1 &&
                        s.strides[1] == 1 && s.dilates[0] == 0 && s.dilates[1] == 0 && s.pad_l[0] <= 1 &&
                        s.pad_l[1] <= 1 && s.weights[0] % 16 == 0 && s.weights[1] % 16 == 0;
  if (!eligible || !conv_winograd()) return false;
  const int64_t oh = s.dst[2], ow = s.dst[3];
  return oh >= 4 && ow >= 4 && s.dst[0] * ((oh + 3) / 4) * ((ow + 3) / 4) >= 64;
}

// oneDNN's direct backward-weights kernel runs at 100-150 GFLOP/s on deep layers with small maps
// (512 channels at 7x7, every batch size from 1 to 64; any layer at batch 1 with a 14x14 output or
// less), where one GEMM over the whole batch (conv.cpp: im2col of all images side by side, a
// reduction of N*ho*wo) runs at 160-190 including its column matrix: measured at 2 threads, 3x3
// ResNet layers, batch 16 1.2-1.5x (512 channels, stride 1 and 2), batch 1 1.15-1.8x, batch 64 at
// 2x2 and 4x4 maps 1.4-1.5x. It loses (0.3-0.85x) on wide maps and on 256 channels or fewer at
// batch 16-64, and 1x1 kernels gain too little (1.0-1.1x) to pay for the column copy.
bool weight_grad_by_gemm(const Shapes& s) {
  if (s.grouped || s.subsampled || s.weights[2] * s.weights[3] == 1) return false;
  const int64_t pixels = s.dst[2] * s.dst[3], cin = s.weights[1], cout = s.weights[0];
  return (cin >= 512 && cout >= 512 && pixels <= 64) || (cin >= 256 && cout >= 256 && s.dst[0] * pixels <= 256);
}

struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
};
struct BackwardData {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data prim;
};
struct BackwardWeights {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights prim;
};

// A pointwise (1x1, stride 1, unpadded) convolution of one image is one GEMM on the plain
// tensors, W (O x C) . X (C x H*W), with no reorder in or out (conv.cpp's pointwise path). Measured
// at 2 threads on ResNet-50's 1x1 layers at batch 1, against oneDNN's kernel with its reorders:
// 1.2-1.8x on 56x56 and 28x28 maps, 1.2x on 14x14 from 256 input channels, but 0.97-1.06x on 14x14
// from 1024 and 0.85x on 7x7, where the kernel's blocking of the wide weights pays. At batch 16 the
// GEMM per image loses (0.6-1.0x).
bool forward_by_gemm(const Shapes& s) {
  const bool pointwise = !s.grouped && !s.subsampled && s.weights[2] * s.weights[3] == 1 && s.strides[0] == 1 &&
                         s.strides[1] == 1 && s.pad_l[0] == 0 && s.pad_l[1] == 0 && s.dilates[0] == 0 &&
                         s.dilates[1] == 0;
  const int64_t pixels = s.dst[2] * s.dst[3];
  return pointwise && s.src[0] == 1 && (pixels >= 28 * 28 || (pixels >= 14 * 14 && s.weights[1] <= 256));
}

// Builds a pass's primitive with Winograd where it wins, else (or if oneDNN declines the shape)
// with the direct algorithm, as long as Winograd's scratchpad stays within a few times the layer's
// own tensors (input, output and weights), as an im2col column buffer would. The scratchpad holds
// the transformed tiles (~2.3-3x the activations) and the transformed weights (4x the weights), and
// for backward-weights also a transformed weight gradient per thread. Measured at 2 threads, the
// forward's and backward-data's against the layer's tensors: 0.3-4.2x on ResNet-50's 3x3 layers at
// batch 16 (the deepest, 512 channels at 7^2: 51 MB against 12 MB, where Winograd takes 0.7x the
// direct kernels' time), 4.4-5.9x on deep layers with small maps, 11x on a narrow layer with few
// tiles (64 channels at 16^2 x 4: the scratchpad does not shrink below ~7 MB). Backward-weights':
// 5-6x on middle layers, 9-17x on deep and narrow ones (512 at 7^2 x 16: 125 MB), under 1.2x on wide
// maps. The forward and backward-data take it within 6x, backward-weights within 3.5x, so it never
// adds more than a few layers' worth of tensors to a peak (the scratchpad stays allocated, one per
// calling thread, for the next call).
template <class Make>
auto build(const Shapes& s, const Make& make) {
  if (winograd_wins(s)) {
    try {
      auto built = make(dnnl::algorithm::convolution_winograd);
      auto numel = [](const memory::dims& d) { return std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>()); };
      const size_t tensors = static_cast<size_t>(numel(s.src) + numel(s.dst) + numel(s.weights)) * sizeof(float);
      const size_t bound = std::is_same_v<decltype(built), BackwardWeights> ? 7 * tensors / 2 : 6 * tensors;
      if (built.pd.scratchpad_desc().get_size() <= bound) return built;
    } catch (const dnnl::error&) {
    }
  }
  return make(dnnl::algorithm::convolution_direct);
}

// The forward runs wide-map layers a few images per primitive call, each chunk reordered into
// oneDNN's layout, convolved and reordered back before the next: the chunk's blocked input and
// output then stay in cache between the reorder and the convolution instead of going out to memory
// and back. Measured at 2 threads on ResNet-50's layers at batch 16, oneDNN's direct kernels with
// their reorders, chunks of 4 images against the whole batch: 0.80-0.95x the time on 56x56 and
// 28x28 inputs (3x3 stride 2, 1x1, the 7x7 stem), but 0.97-1.0x on 14x14 and slower on 7x7, where
// the weights outweigh the activations and every chunk reads them again. Winograd layers are left
// whole (their transforms have their own tiling).
int64_t images_per_call(const Shapes& s) {
  const int64_t n = s.src[0];
  if (std::max(s.src[2] * s.src[3], s.dst[2] * s.dst[3]) < 28 * 28 || winograd_wins(s)) return n;
  for (int64_t c = std::min<int64_t>(4, n / 2); c >= 2; --c)
    if (n % c == 0) return c;
  return n;
}

Shapes with_batch(Shapes s, int64_t images) {
  s.src[0] = s.dst[0] = images;
  return s;
}

// Whether `d` (an activation layout) keeps each image's elements together, images one after
// another: then a chunk of images is a byte range of the whole batch's buffer.
bool images_outermost(const memory::desc& d) {
  const dnnl_memory_desc_t& m = d.data;
  if (m.format_kind != dnnl_blocked || m.ndims != 4 || m.offset0 != 0) return false;
  const auto& b = m.format_desc.blocking;
  for (int i = 0; i < b.inner_nblks; ++i)
    if (b.inner_idxs[i] == 0) return false;
  return static_cast<size_t>(b.strides[0]) * static_cast<size_t>(m.padded_dims[0]) * sizeof(float) == d.get_size();
}

// The layout `d` (images outermost) for `images` images.
memory::desc with_images(const memory::desc& d, int64_t images) {
  dnnl_memory_desc_t m = d.data;
  m.dims[0] = m.padded_dims[0] = images;
  return memory::desc(m);
}

template <class T>
struct Cache {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<T>> map;
  template <class Make>
  std::shared_ptr<T> get(const std::string& key, const Make& make) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = map.find(key);
    if (it != map.end()) return it->second;
    if (map.size() > 512) map.clear();  // bound the cache for programs with endless shapes
    auto v = std::make_shared<T>(make());
    map.emplace(key, v);
    return v;
  }
};

// A user buffer in plain layout, and the primitive's layout (the same memory if they agree).
struct Staged {
  memory user, prim;
  bool reordered;
  Scratch buffer;  // owns the primitive-layout copy
};

Staged stage_in(dnnl::stream& st, const memory::desc& want, const memory::desc& plain, void* ptr) {
  memory user(plain, engine(), ptr);
  if (want == plain) return {user, user, false, {}};
  Scratch b = scratch(want);
  dnnl::reorder(user, b.mem).execute(st, user, b.mem);
  return {user, b.mem, true, b};
}

Staged stage_out(const memory::desc& want, const memory::desc& plain, void* ptr) {
  memory user(plain, engine(), ptr);
  if (want == plain) return {user, user, false, {}};
  Scratch b = scratch(want);
  return {user, b.mem, true, b};
}

// A copy of a tensor's data in a primitive's layout, kept on the tensor's storage and valid while
// the storage's version (bumped by every in-place update), the tensor's offset and the layout are
// unchanged. It dies with the storage. Two uses:
// - weights under no-grad: inference calls the same convolution with unchanged weights again and
//   again (a ResNet-50 forward would otherwise reorder 100 MB of weights every time);
// - activations in training: the forward's blocked input and backward-data's blocked grad_out are
//   what backward-weights needs next, so it uses them instead of reordering again. The input's
//   copy is taken off its storage there (the input may be a tensor the caller keeps); grad_out's
//   stays for the other convolutions fed by the same gradient (a ResNet block and its downsample
//   branch) and dies with it.
struct DerivedCopy {
  uint32_t version;
  int64_t offset;
  memory::desc layout;
  Scratch buffer;
};
std::mutex derived_mu;

// The storage's copy of `t` in layout `want`, or an empty Scratch.
Scratch find_copy(const Tensor& t, const memory::desc& want, bool take) {
  Storage& storage = *t.storage();
  std::lock_guard<std::mutex> lock(derived_mu);
  auto c = std::static_pointer_cast<DerivedCopy>(storage.backend_cache());
  if (!c || c->version != storage.version() || c->offset != t.storage_offset() || c->layout != want) return {};
  Scratch hit = c->buffer;
  if (take) storage.set_backend_cache(nullptr);
  return hit;
}

void drop_copy(const Tensor& t) {
  Storage& storage = *t.storage();
  std::lock_guard<std::mutex> lock(derived_mu);
  if (storage.backend_cache()) storage.set_backend_cache(nullptr);
}

void keep_copy(const Tensor& t, const Staged& s) {
  if (!s.reordered) return;
  Storage& storage = *t.storage();
  std::lock_guard<std::mutex> lock(derived_mu);
  storage.set_backend_cache(
      std::make_shared<DerivedCopy>(DerivedCopy{storage.version(), t.storage_offset(), s.prim.get_desc(), s.buffer}));
}

// stage_in, but served by a copy an earlier call kept (and taking it off the storage if `take`).
Staged stage_kept(dnnl::stream& st, const Tensor& t, const memory::desc& want, const memory::desc& plain,
                  bool take) {
  if (want != plain) {
    Scratch kept = find_copy(t, want, take);
    if (kept.storage) return {memory(plain, engine(), t.data_ptr()), kept.mem, true, kept};
  }
  return stage_in(st, want, plain, t.data_ptr());
}

// How many rows of dimension 0 (output channels, or groups) form one contiguous run of bytes in
// the layout `d`, if dimension 0 is its outermost (true of OIHW and of oneDNN's weight layouts,
// whose output-channel blocks come first); 0 if not. Rows [k*b, (k+1)*b) then take the same byte
// range in both layouts, so a relayout can go one such slab at a time.
int64_t outer_rows(const memory::desc& d) {
  const dnnl_memory_desc_t& m = d.data;
  if (m.format_kind != dnnl_blocked || m.ndims < 2) return 0;
  const auto& b = m.format_desc.blocking;
  int64_t block = 1;
  for (int i = 0; i < b.inner_nblks; ++i)
    if (b.inner_idxs[i] == 0) block *= b.inner_blks[i];
  int64_t total = 1;
  for (int i = 0; i < m.ndims; ++i) total *= m.padded_dims[i];
  return m.padded_dims[0] % block == 0 && b.strides[0] * (m.padded_dims[0] / block) == total ? block : 0;
}

// Rewrites `bytes` from layout `from` into layout `to` (of the same size). Where both keep
// dimension 0 outermost, it goes one slab of rows at a time through a slab-sized temporary (at
// most ~1 MB), else through a copy of the whole tensor. The temporary comes from the OS directly:
// ark's block cache would keep it, and packing a ResNet-50 would leave idle blocks behind; a
// whole-tensor one (9.4 MB for a 512x512x3x3 weight) would also add to the peak of the first
// forward, which packs while the activations are live.
void relayout_in_place(void* bytes, const memory::desc& from, const memory::desc& to) {
  const size_t n = to.get_size();
  const memory::dims dims = to.dims();
  const int64_t a = outer_rows(from), b = outer_rows(to);
  int64_t rows = dims[0];
  if (const int64_t unit = a > 0 && b > 0 ? std::lcm(a, b) : 0; unit > 0 && dims[0] % unit == 0) {
    const int64_t units = dims[0] / unit, unit_bytes = static_cast<int64_t>(n) / units;
    int64_t per_slab = std::clamp<int64_t>((int64_t{1} << 20) / unit_bytes, 1, units);
    while (units % per_slab != 0) --per_slab;  // slabs of equal size, so one reorder serves all
    rows = per_slab * unit;
  }
  memory::dims slab_dims = dims;
  slab_dims[0] = rows;
  const memory::dims origin(dims.size(), 0);
  const memory::desc from_slab = from.submemory_desc(slab_dims, origin), to_slab = to.submemory_desc(slab_dims, origin);
  const size_t slab = to_slab.get_size();
  void* tmp = ::mmap(nullptr, slab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ARK_CHECK(tmp != MAP_FAILED, "out of memory: failed to map ", slab, " bytes to repack convolution weights");
  std::unique_ptr<void, std::function<void(void*)>> unmap(tmp, [slab](void* q) { ::munmap(q, slab); });
  dnnl::stream st(engine());
  dnnl::reorder reorder(dnnl::reorder::primitive_desc(engine(), from_slab, engine(), to_slab));
  for (size_t off = 0; off < n; off += slab) {
    char* at = static_cast<char*>(bytes) + off;
    memory src(from_slab, engine(), at), dst(to_slab, engine(), tmp);
    reorder.execute(st, src, dst);
    st.wait();
    std::memcpy(at, tmp, slab);
  }
}

// Inference weights whose storage allows packing (nn::optimize_for_inference) and holds just this
// weight, with no padding in oneDNN's layout: the storage's own bytes are rewritten into that
// layout, so no plain copy stays beside it. Reading the weight (Storage::data) restores it.
bool packs_in_place(const Tensor& weight, const memory::desc& want) {
  const Storage& s = *weight.storage();
  const size_t bytes = static_cast<size_t>(weight.numel()) * element_size(weight.dtype());
  return s.packing_allowed() && weight.storage_offset() == 0 && weight.is_contiguous() && bytes == s.nbytes() &&
         want.get_size() == bytes;
}

memory packed_weights(const Tensor& weight, const memory::desc& want, const memory::desc& plain) {
  Storage& storage = *weight.storage();
  auto layout = std::static_pointer_cast<const memory::desc>(storage.packed_layout());
  if (!layout || *layout != want) {
    {
      std::lock_guard<std::mutex> lock(derived_mu);
      storage.set_backend_cache(nullptr);  // a side copy from before packing was allowed
    }
    storage.pack(
        std::make_shared<const memory::desc>(want), [&](void* bytes) { relayout_in_place(bytes, plain, want); },
        [plain, want](void* bytes) { relayout_in_place(bytes, want, plain); });
  }
  return memory(want, engine(), storage.raw_data());
}

Staged stage_weights(dnnl::stream& st, const Tensor& weight, const memory::desc& want, const memory::desc& plain) {
  // Only under no-grad (inference): training changes the weights every step anyway. A copy kept by
  // an earlier no-grad pass (a validation between epochs) is dropped on the first training call
  // rather than left beside the weight, stale, for the rest of the run (44 MB for a resnet18).
  if (GradMode::is_enabled()) {
    drop_copy(weight);
    return stage_in(st, want, plain, weight.data_ptr());
  }
  if (want == plain) return stage_in(st, want, plain, weight.data_ptr());
  if (packs_in_place(weight, want)) {
    memory packed = packed_weights(weight, want, plain);
    return {packed, packed, false, {}};
  }
  Scratch cached = find_copy(weight, want, /*take=*/false);
  if (cached.storage) return {memory(plain, engine(), weight.data_ptr()), cached.mem, true, cached};
  Staged staged = stage_in(st, want, plain, weight.data_ptr());
  st.wait();
  keep_copy(weight, staged);
  return staged;
}

void finish_out(dnnl::stream& st, Staged& s) {
  if (s.reordered) dnnl::reorder(s.prim, s.user).execute(st, s.prim, s.user);
}

template <class F>
bool guarded(F&& f) {
  try {
    f();
    return true;
  } catch (const dnnl::error&) {
    return false;  // oneDNN declined this shape: the caller falls back to im2col
  }
}

}  // namespace

bool conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
            const Backend::ConvParams& p) {
  static Cache<Forward> cache;
  const Shapes s = shapes_of(input.sizes(), weight.sizes(), out.sizes(), p);
  const bool with_bias = bias.defined();
  if (forward_by_gemm(s)) return false;  // the caller's GEMM on the plain tensors
  return guarded([&] {
    auto primitive = [&](const Shapes& sc) {
      return cache.get(key_of(with_bias ? "fwd_b" : "fwd", sc), [&] {
        return build(sc, [&](dnnl::algorithm alg) {
          auto pd = forward_pd(sc, with_bias, alg);
          return Forward{pd, dnnl::convolution_forward(pd)};
        });
      });
    };
    const int64_t n = s.src[0];
    int64_t images = images_per_call(s);
    auto f = primitive(with_batch(s, images));
    if (images < n && !(images_outermost(f->pd.src_desc()) && images_outermost(f->pd.dst_desc()))) {
      images = n;  // oneDNN's activation layouts keep images outermost; should one not, go whole
      f = primitive(s);
    }
    const Shapes sc = with_batch(s, images);
    dnnl::stream st(engine());
    Staged w = stage_weights(st, weight, f->pd.weights_desc(), plain_md(s.weights, true, s.grouped));
    const memory::desc src_plain = plain_src_md(sc), dst_plain = plain_md(sc.dst, false, false);
    const memory::desc src_want = f->pd.src_desc(), dst_want = f->pd.dst_desc();
    const bool src_reorders = src_want != src_plain, dst_reorders = dst_want != dst_plain;
    // Backward-weights reuses the whole batch's blocked input (training), so that buffer holds every
    // image; otherwise one chunk's worth serves each chunk in turn.
    const bool keep = src_reorders && p.weight_grad_follows && !weight_grad_by_gemm(s);
    Scratch src_buf = src_reorders ? scratch(keep ? with_images(src_want, n) : src_want) : Scratch{};
    Scratch dst_buf = dst_reorders ? scratch(dst_want) : Scratch{};
    std::optional<dnnl::reorder> to_blocked, to_plain;
    if (src_reorders) to_blocked.emplace(dnnl::reorder::primitive_desc(engine(), src_plain, engine(), src_want));
    if (dst_reorders) to_plain.emplace(dnnl::reorder::primitive_desc(engine(), dst_want, engine(), dst_plain));
    const int64_t in_image = s.subsampled ? s.src_strides[0] : s.src[1] * s.src[2] * s.src[3];
    const int64_t out_image = s.dst[1] * s.dst[2] * s.dst[3];
    const size_t src_image_bytes = src_want.get_size() / static_cast<size_t>(images);
    char* const src_base = src_reorders ? static_cast<char*>(src_buf.mem.get_data_handle()) : nullptr;
    float* const x_base = static_cast<float*>(input.data_ptr());
    float* const y_base = static_cast<float*>(out.data_ptr());
    std::unordered_map<int, memory> args;
    if (with_bias) args[DNNL_ARG_BIAS] = memory(f->pd.bias_desc(), engine(), bias.data_ptr());
    args[DNNL_ARG_WEIGHTS] = w.prim;
    args[DNNL_ARG_SCRATCHPAD] = scratchpad(f->pd.scratchpad_desc());
    for (int64_t n0 = 0; n0 < n; n0 += images) {
      memory x(src_plain, engine(), x_base + n0 * in_image);
      memory y(dst_plain, engine(), y_base + n0 * out_image);
      memory src = x, dst = y;
      if (src_reorders) {
        src = memory(src_want, engine(), src_base + (keep ? static_cast<size_t>(n0) * src_image_bytes : 0));
        to_blocked->execute(st, x, src);
      }
      if (dst_reorders) dst = dst_buf.mem;
      args[DNNL_ARG_SRC] = src;
      args[DNNL_ARG_DST] = dst;
      f->prim.execute(st, args);
      if (dst_reorders) to_plain->execute(st, dst, y);
    }
    st.wait();
    if (keep) {
      const memory whole(with_images(src_want, n), engine(), src_base);
      keep_copy(input, Staged{memory(plain_src_md(s), engine(), x_base), whole, true, src_buf});
    }
  });
}

bool conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_in,
                           const Backend::ConvParams& p) {
  static Cache<BackwardData> cache;
  const Shapes s = shapes_of(grad_in.sizes(), weight.sizes(), grad_out.sizes(), p);
  return guarded([&] {
    auto b = cache.get(key_of("bwd_data", s), [&] {
      return build(s, [&](dnnl::algorithm alg) {
        using cb = dnnl::convolution_backward_data;
        cb::desc d(alg, any_md(s.src), any_md(s.weights), any_md(s.dst), s.strides, s.dilates, s.pad_l, s.pad_r);
        cb::primitive_desc pd(d, user_scratchpad(), engine(), forward_pd(s, false, alg));
        return BackwardData{pd, cb(pd)};
      });
    });
    dnnl::stream st(engine());
    Staged gy = stage_kept(st, grad_out, b->pd.diff_dst_desc(), plain_md(s.dst, false, false), false);
    if (p.weight_grad_follows && !weight_grad_by_gemm(s)) keep_copy(grad_out, gy);
    Staged w = stage_in(st, b->pd.weights_desc(), plain_md(s.weights, true, s.grouped), weight.data_ptr());
    if (s.subsampled) backend_for(Device(kCPU)).fill(grad_in, 0);  // the pixels no output read
    Staged gx = stage_out(b->pd.diff_src_desc(), plain_src_md(s), grad_in.data_ptr());
    b->prim.execute(st, {{DNNL_ARG_DIFF_DST, gy.prim}, {DNNL_ARG_WEIGHTS, w.prim}, {DNNL_ARG_DIFF_SRC, gx.prim},
                         {DNNL_ARG_SCRATCHPAD, scratchpad(b->pd.scratchpad_desc())}});
    finish_out(st, gx);
    st.wait();
  });
}

bool conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_weight,
                            const Tensor& grad_bias, const Backend::ConvParams& p) {
  static Cache<BackwardWeights> cache;
  const Shapes s = shapes_of(input.sizes(), grad_weight.sizes(), grad_out.sizes(), p);
  const bool with_bias = grad_bias.defined();
  if (weight_grad_by_gemm(s)) return false;  // the caller's batch-wide im2col + GEMM
  return guarded([&] {
    auto b = cache.get(key_of(with_bias ? "bwd_w_b" : "bwd_w", s), [&] {
      return build(s, [&](dnnl::algorithm alg) {
        using cw = dnnl::convolution_backward_weights;
        auto d = with_bias ? cw::desc(alg, any_md(s.src), any_md(s.weights), any_md(s.bias), any_md(s.dst), s.strides,
                                      s.dilates, s.pad_l, s.pad_r)
                           : cw::desc(alg, any_md(s.src), any_md(s.weights), any_md(s.dst), s.strides, s.dilates,
                                      s.pad_l, s.pad_r);
        cw::primitive_desc pd(d, user_scratchpad(), engine(), forward_pd(s, with_bias, alg));
        return BackwardWeights{pd, cw(pd)};
      });
    });
    dnnl::stream st(engine());
    Staged x = stage_kept(st, input, b->pd.src_desc(), plain_src_md(s), /*take=*/true);
    Staged gy = stage_kept(st, grad_out, b->pd.diff_dst_desc(), plain_md(s.dst, false, false), /*take=*/false);
    Staged gw = stage_out(b->pd.diff_weights_desc(), plain_md(s.weights, true, s.grouped), grad_weight.data_ptr());
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, x.prim}, {DNNL_ARG_DIFF_DST, gy.prim}, {DNNL_ARG_DIFF_WEIGHTS, gw.prim}};
    if (with_bias) args[DNNL_ARG_DIFF_BIAS] = memory(b->pd.diff_bias_desc(), engine(), grad_bias.data_ptr());
    args[DNNL_ARG_SCRATCHPAD] = scratchpad(b->pd.scratchpad_desc());
    b->prim.execute(st, args);
    finish_out(st, gw);
    st.wait();
  });
}

}  // namespace ark::cpu::onednn
