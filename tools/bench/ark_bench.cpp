// ark-bench: ark's side of the ark-vs-PyTorch benchmark suite. torch_bench.py does exactly the
// same work in PyTorch 1.13 and prints the same lines; run.sh runs both and tabulates.
//
//   ark-bench [--threads N] [--reps N] [--filter SUBSTR|=GROUP/CASE] [--data DIR] [--max-batches N] [--list]
//             [--list-cases] [--step] [GROUP...]
//
// Groups (all when none is named):
//   overhead    dispatch cost of add on two 64-float tensors: plain, recording autograd, inference
//   matmul      mm 1024^3 and 4096x768x768 (and the same as linear, x W^T)
//   eltwise     elementwise ops and reductions on 1M (2^20) floats; row ops on (1024, 1024)
//   conv_b1     conv2d forward and backward (dX + dW) on the 23 distinct resnet50 conv shapes, batch 1
//   conv_b16    the same at batch 16
//   bottleneck  torchvision Bottleneck blocks, training mode, forward + backward, batch 16
//   mnist       one training epoch of the classic libtorch MNIST net on Fashion-MNIST
//   mnist_layers  that net's step cut into layers (forward, backward), SGD step, whole step; batch 64
//   models      whole vision models at 224x224: eval forward (resnet50 b1/b16, resnet18 b1, vit_b_16
//               b1, mobilenet_v2 b1) and a resnet18 training step (batch 16, SGD, cross-entropy)
//   memory      peak resident memory added by building resnet50 and running 5 batch-1 forwards
//   memory_optimized  the same after nn::optimize_for_inference (PyTorch: torch.jit.freeze +
//               torch.jit.optimize_for_inference of the scripted model)
//               (VmHWM after the libraries are loaded, reset through /proc/self/clear_refs); the
//               "median_ms" column holds MB. Run it alone in its process (run.sh does).
//   text        BERT-base encoder at sequence 128 (batch 1 and 8, eval), a BERT-base + classifier
//               training step (batch 8, AdamW), GPT-2 small: prefill of 32 tokens and greedy decode
//               with the KV cache (ms per token over 64 tokens after a 32-token prompt)
//   text_memory peak resident memory added by building GPT-2 small and generating 64 tokens
//   llama_bf16  (ark only) a TinyLlama-1.1B-shaped LLaMA in bfloat16: ms per decoded token and the
//               fraction of the machine's read bandwidth (measured here) that reading its weights
//               once per token reaches
// Output: CSV lines side,group,case,median_ms,min_ms,max_ms,gflops,gbps (see bench_common.h for
// the timing policy). Forward-only cases run under InferenceMode, as torch.inference_mode().
// Left out on purpose: correctness checks (the test suite owns them).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ark/ark.h"
#include "ark/models/bert.h"
#include "ark/models/generation.h"
#include "ark/models/gpt2.h"
#include "ark/models/llama.h"
#include "ark/models/registry.h"
#include <fstream>
#include "bench_common.h"

namespace {

using ark::Tensor;
namespace nn = ark::nn;
namespace F = ark::nn::functional;

struct Config {
  int threads = 2;
  int reps = 0;  // 0: the policy of bench_common.h
  std::string filter;
  std::string data = "/usr/share/datasets/fashion-mnist";
  int64_t max_batches = 0;  // mnist: stop an epoch after this many batches (0: whole epoch); for profiling
  bool list_cases = false;  // print the cases' names instead of running them
  bool step = false;        // lock-step with the other side (tools/bench/paired.py)
};
Config g_cfg;

// --step: print a marker and wait for a line on stdin: "#step" at start and after each case, "#sample"
// before each timed sample, so that paired.py can run this process and PyTorch's in turn, sample by
// sample within a case (each case's two figures taken side by side, each process keeping its state
// across cases as in a plain run).
void lockstep(const char* marker = "#step") {
  if (!g_cfg.step) return;
  bench::wait_for_idle_threads();  // none of this process's threads may spin into the other side's turn
  std::printf("%s\n", marker);
  std::fflush(stdout);
  char line[64];
  if (!std::fgets(line, sizeof line, stdin)) std::exit(0);  // the controller is gone
}

// One result line (bench_common.h's format), then the lock-step pause.
void report(const std::string& group, const std::string& name, const bench::Stats& st, double flops = 0,
            double bytes = 0) {
  bench::report("ark", group, name, st, flops, bytes);
  lockstep();
}

// --filter SUBSTR selects the cases whose "group/case" contains SUBSTR; --filter =GROUP/CASE exactly
// that one (models/resnet50_b1 alone, not resnet50_b16 too). Under --list-cases every case is named
// once and none runs.
bool selected(const std::string& group, const std::string& name) {
  const std::string id = group + "/" + name;
  if (g_cfg.list_cases) {
    static std::set<std::string> named;
    if (named.insert(id).second) std::printf("%s\n", id.c_str());
    return false;
  }
  if (!g_cfg.filter.empty() && g_cfg.filter[0] == '=') return id == g_cfg.filter.substr(1);
  return g_cfg.filter.empty() || id.find(g_cfg.filter) != std::string::npos;
}

/// Times f unless filtered out, then prints its line.
void run_case(const std::string& group, const std::string& name, const std::function<void()>& f, double flops = 0,
              double bytes = 0) {
  if (!selected(group, name)) return;
  report(group, name, bench::time_case(f, g_cfg.reps, [] { lockstep("#sample"); }), flops, bytes);
}

// ---------------------------------------------------------------------------------------------
// overhead: what one tiny op costs beyond its arithmetic (allocation, checks, dispatch, autograd).
void bench_overhead() {
  Tensor a = ark::randn({64}), b = ark::randn({64});
  run_case("overhead", "add64", [&] { Tensor c = ark::add(a, b); });
  Tensor ag = ark::randn({64}).requires_grad_();
  // Records an AddBackward node per call; the graph dies with c.
  run_case("overhead", "add64_autograd", [&] { Tensor c = ark::add(ag, b); });
  run_case("overhead", "add64_inference", [&] {
    ark::InferenceMode guard;
    Tensor c = ark::add(a, b);
  });
}

// ---------------------------------------------------------------------------------------------
// matmul: (M, K) @ (K, N), and linear: (M, K) x (N, K)^T, the layout of nn.Linear.
void bench_matmul() {
  ark::InferenceMode guard;
  struct Mm {
    int64_t m, k, n;
  };
  for (Mm s : {Mm{1024, 1024, 1024}, Mm{4096, 768, 768}}) {
    const std::string shape = std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
    const double flops = 2.0 * s.m * s.k * s.n;
    Tensor a = ark::randn({s.m, s.k}), b = ark::randn({s.k, s.n}), w = ark::randn({s.n, s.k});
    run_case("matmul", "mm_" + shape, [&] { Tensor c = ark::mm(a, b); }, flops);
    run_case("matmul", "linear_" + shape, [&] { Tensor c = ark::linear(a, w); }, flops);
  }
}

// ---------------------------------------------------------------------------------------------
// eltwise: memory-bound ops; gbps counts the minimal traffic (each input read once, output written once).
void bench_eltwise() {
  ark::InferenceMode guard;
  const int64_t n = int64_t{1} << 20;
  const double fb = 4.0 * static_cast<double>(n);  // bytes of one 1M-float tensor
  Tensor x = ark::randn({n}), y = ark::randn({n});
  Tensor pos = ark::rand({n}) + 0.5;  // log/sqrt inputs, away from 0
  Tensor m = ark::randn({1024, 1024}), m2 = ark::randn({1024, 1024}), row = ark::randn({1024});
  const std::string g = "eltwise";
  run_case(g, "add", [&] { Tensor r = ark::add(x, y); }, 0, 3 * fb);
  run_case(g, "sub", [&] { Tensor r = ark::sub(x, y); }, 0, 3 * fb);
  run_case(g, "mul", [&] { Tensor r = ark::mul(x, y); }, 0, 3 * fb);
  run_case(g, "div", [&] { Tensor r = ark::div(x, y); }, 0, 3 * fb);
  run_case(g, "add_scalar", [&] { Tensor r = ark::add(x, 1.0); }, 0, 2 * fb);
  Tensor acc = x.clone();  // add_ target of its own, so x keeps its values for the cases below
  run_case(g, "add_inplace", [&] { acc.add_(y); }, 0, 3 * fb);
  run_case(g, "add_bcast_row", [&] { Tensor r = ark::add(m, row); }, 0, 2 * fb);
  run_case(g, "add_transposed", [&] { Tensor r = ark::add(m.t(), m2); }, 0, 3 * fb);
  run_case(g, "contiguous_transposed", [&] { Tensor r = m.t().contiguous(); }, 0, 2 * fb);
  run_case(g, "exp", [&] { Tensor r = ark::exp(x); }, 0, 2 * fb);
  run_case(g, "log", [&] { Tensor r = ark::log(pos); }, 0, 2 * fb);
  run_case(g, "sqrt", [&] { Tensor r = ark::sqrt(pos); }, 0, 2 * fb);
  run_case(g, "tanh", [&] { Tensor r = ark::tanh(x); }, 0, 2 * fb);
  run_case(g, "sigmoid", [&] { Tensor r = ark::sigmoid(x); }, 0, 2 * fb);
  run_case(g, "relu", [&] { Tensor r = ark::relu(x); }, 0, 2 * fb);
  run_case(g, "gelu", [&] { Tensor r = ark::gelu(x); }, 0, 2 * fb);
  run_case(g, "gelu_tanh", [&] { Tensor r = ark::gelu(x, "tanh"); }, 0, 2 * fb);
  run_case(g, "silu", [&] { Tensor r = ark::silu(x); }, 0, 2 * fb);
  run_case(g, "sum", [&] { Tensor r = ark::sum(x); }, 0, fb);
  run_case(g, "mean", [&] { Tensor r = ark::mean(x); }, 0, fb);
  run_case(g, "max", [&] { Tensor r = ark::max(x); }, 0, fb);
  run_case(g, "var", [&] { Tensor r = ark::var(x); }, 0, fb);
  run_case(g, "sum_dim0", [&] { Tensor r = ark::sum(m, {0}); }, 0, fb);
  run_case(g, "sum_dim1", [&] { Tensor r = ark::sum(m, {1}); }, 0, fb);
  run_case(g, "max_dim1", [&] { auto r = ark::max(m, 1); }, 0, fb);
  run_case(g, "softmax_dim1", [&] { Tensor r = ark::softmax(m, 1); }, 0, 2 * fb);
  run_case(g, "log_softmax_dim1", [&] { Tensor r = ark::log_softmax(m, 1); }, 0, 2 * fb);
}

// ---------------------------------------------------------------------------------------------
// conv: the distinct (in, out, kernel, stride, padding, input H=W) of torchvision's resnet50 at
// 224x224, in network order, all bias-free as there.
struct ConvShape {
  int64_t cin, cout, k, stride, pad, hw;
};
const ConvShape kResnet50Convs[] = {
    {3, 64, 7, 2, 3, 224},     {64, 64, 1, 1, 0, 56},     {64, 64, 3, 1, 1, 56},     {64, 256, 1, 1, 0, 56},
    {256, 64, 1, 1, 0, 56},    {256, 128, 1, 1, 0, 56},   {128, 128, 3, 2, 1, 56},   {128, 512, 1, 1, 0, 28},
    {256, 512, 1, 2, 0, 56},   {512, 128, 1, 1, 0, 28},   {128, 128, 3, 1, 1, 28},   {512, 256, 1, 1, 0, 28},
    {256, 256, 3, 2, 1, 28},   {256, 1024, 1, 1, 0, 14},  {512, 1024, 1, 2, 0, 28},  {1024, 256, 1, 1, 0, 14},
    {256, 256, 3, 1, 1, 14},   {1024, 512, 1, 1, 0, 14},  {512, 512, 3, 2, 1, 14},   {512, 2048, 1, 1, 0, 7},
    {1024, 2048, 1, 2, 0, 14}, {2048, 512, 1, 1, 0, 7},   {512, 512, 3, 1, 1, 7},
};

void bench_conv(int64_t batch) {
  const std::string g = "conv_b" + std::to_string(batch);
  for (const ConvShape& s : kResnet50Convs) {
    const int64_t ho = (s.hw + 2 * s.pad - s.k) / s.stride + 1;
    const double fwd_flops = 2.0 * batch * s.cout * ho * ho * s.cin * s.k * s.k;
    const std::string shape = std::to_string(s.cin) + "x" + std::to_string(s.cout) + "_k" + std::to_string(s.k) + "s" +
                              std::to_string(s.stride) + "p" + std::to_string(s.pad) + "_" + std::to_string(s.hw);
    if (!selected(g, "fwd_" + shape) && !selected(g, "bwd_" + shape)) continue;
    Tensor x = ark::randn({batch, s.cin, s.hw, s.hw}), w = ark::randn({s.cout, s.cin, s.k, s.k}) * 0.05;
    {
      ark::InferenceMode guard;
      run_case(g, "fwd_" + shape, [&] { Tensor y = ark::conv2d(x, w, {}, s.stride, s.pad); }, fwd_flops);
    }
    if (!selected(g, "bwd_" + shape)) continue;
    // Backward alone: the graph of one forward is kept (retain_graph) and differentiated again
    // and again; dX and dW each cost about one forward.
    Tensor xg = x.detach().requires_grad_(), wg = w.detach().requires_grad_();
    Tensor y = ark::conv2d(xg, wg, {}, s.stride, s.pad);
    Tensor gy = ark::randn(y.sizes());
    run_case(g, "bwd_" + shape, [&] { auto grads = ark::autograd::grad({y}, {xg, wg}, {gy}, true); }, 2 * fwd_flops);
  }
}

// ---------------------------------------------------------------------------------------------
// bottleneck: torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3 conv).
// ref: torchvision/models/resnet.py, class Bottleneck (expansion 4, in-place residual add and ReLU).
class BottleneckImpl : public nn::Module {
 public:
  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride)
      : conv1(register_module("conv1", nn::Conv2d(nn::Conv2dOptions(inplanes, planes, 1).bias(false)))),
        bn1(register_module("bn1", nn::BatchNorm2d(planes))),
        conv2(register_module(
            "conv2", nn::Conv2d(nn::Conv2dOptions(planes, planes, 3).stride(stride).padding(1).bias(false)))),
        bn2(register_module("bn2", nn::BatchNorm2d(planes))),
        conv3(register_module("conv3", nn::Conv2d(nn::Conv2dOptions(planes, planes * 4, 1).bias(false)))),
        bn3(register_module("bn3", nn::BatchNorm2d(planes * 4))) {
    if (stride != 1 || inplanes != planes * 4) {
      downsample = register_module(
          "downsample", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(inplanes, planes * 4, 1).stride(stride).bias(false)),
                                       nn::BatchNorm2d(planes * 4)));
    }
  }

  Tensor forward(const Tensor& x) {
    Tensor out = bn1(conv1(x)).relu_();
    out = bn2(conv2(out)).relu_();
    out = bn3(conv3(out));
    out += downsample ? downsample(x) : x;
    return out.relu_();
  }

  // Declared (so registered) in torchvision's order: conv1, bn1, conv2, bn2, conv3, bn3, downsample.
  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  nn::Conv2d conv2;
  nn::BatchNorm2d bn2;
  nn::Conv2d conv3;
  nn::BatchNorm2d bn3;
  nn::Sequential downsample = nullptr;
};
ARK_MODULE(Bottleneck);

void bench_bottleneck() {
  struct Block {
    const char* name;
    int64_t inplanes, planes, stride, hw;
  };
  const int64_t batch = 16;
  for (Block b : {Block{"layer2.0_256-128-512_s2_56", 256, 128, 2, 56}, Block{"layer2.1_512-128-512_s1_28", 512, 128, 1, 28}}) {
    Bottleneck block(b.inplanes, b.planes, b.stride);
    block->train();
    Tensor x = ark::randn({batch, b.inplanes, b.hw, b.hw}).requires_grad_();
    // FLOPs: the four convolutions' forward, times 3 for forward + dX + dW (BN/ReLU not counted).
    const int64_t ho = b.hw / b.stride;
    double fwd = 2.0 * batch * b.hw * b.hw * b.inplanes * b.planes +  // conv1
                 2.0 * batch * ho * ho * b.planes * b.planes * 9 +    // conv2
                 2.0 * batch * ho * ho * b.planes * b.planes * 4;     // conv3
    if (b.stride != 1 || b.inplanes != b.planes * 4) fwd += 2.0 * batch * ho * ho * b.inplanes * b.planes * 4;
    Tensor gy;
    run_case("bottleneck", std::string("fwd_bwd_b16_") + b.name, [&] {
      block->zero_grad(/*set_to_none=*/true);
      x.set_grad({});
      Tensor y = block(x);
      if (!gy.defined()) gy = ark::ones(y.sizes());
      y.backward(gy);
    }, 3 * fwd);
  }
  // The resnet stem's max pool, nn.MaxPool2d(3, 2, 1): forward with indices (inference), and
  // forward + backward (the training step's pair). gbps counts input + values + int64 indices.
  struct Pool {
    const char* name;
    int64_t n, c, hw;
  };
  for (Pool p : {Pool{"b16_c64_112", 16, 64, 112}, Pool{"b64_c64_32", 64, 64, 32}}) {
    const int64_t ho = (p.hw - 1) / 2 + 1;
    const double bytes = 4.0 * p.n * p.c * p.hw * p.hw + 12.0 * p.n * p.c * ho * ho;
    Tensor x = ark::randn({p.n, p.c, p.hw, p.hw});
    run_case("bottleneck", std::string("maxpool_3x3s2p1_fwd_") + p.name, [&] {
      ark::InferenceMode guard;
      auto [y, i] = ark::max_pool2d_with_indices(x, 3, 2, 1);
    }, 0, bytes);
    Tensor xg = ark::randn({p.n, p.c, p.hw, p.hw}).requires_grad_();
    Tensor gy = ark::randn({p.n, p.c, ho, ho});
    run_case("bottleneck", std::string("maxpool_3x3s2p1_fwd_bwd_") + p.name, [&] {
      xg.set_grad({});
      Tensor y = ark::max_pool2d(xg, 3, 2, 1);
      y.backward(gy);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// mnist: the classic libtorch MNIST example's net and recipe.
// ref: pytorch/examples cpp/mnist/mnist.cpp (same net as examples/mnist/main.py of that era).
class NetImpl : public nn::Module {
 public:
  NetImpl()
      : conv1(register_module("conv1", nn::Conv2d(nn::Conv2dOptions(1, 10, 5)))),
        conv2(register_module("conv2", nn::Conv2d(nn::Conv2dOptions(10, 20, 5)))),
        conv2_drop(register_module("conv2_drop", nn::Dropout2d())),
        fc1(register_module("fc1", nn::Linear(320, 50))),
        fc2(register_module("fc2", nn::Linear(50, 10))) {}

  Tensor forward(Tensor x) {
    x = ark::relu(ark::max_pool2d(conv1(x), {2, 2}));
    x = ark::relu(ark::max_pool2d(conv2_drop(conv2(x)), {2, 2}));
    x = x.view({-1, 320});
    x = ark::relu(fc1(x));
    x = F::dropout(x, F::DropoutFuncOptions().p(0.5).training(is_training()));
    x = fc2(x);
    return ark::log_softmax(x, 1);
  }

  nn::Conv2d conv1, conv2;
  nn::Dropout2d conv2_drop;
  nn::Linear fc1, fc2;
};
ARK_MODULE(Net);

void bench_mnist() {
  ark::data::datasets::MNIST train(g_cfg.data, ark::data::datasets::MNIST::Mode::kTrain);
  const Tensor images = train.images(), targets = train.targets();  // (60000, 1, 28, 28), (60000)
  const int64_t batch = 64;
  const int64_t n = g_cfg.max_batches > 0 ? std::min(images.size(0), g_cfg.max_batches * batch) : images.size(0);
  const std::string suffix = g_cfg.max_batches > 0 ? "_first" + std::to_string(g_cfg.max_batches) : "";
  Net net;
  net->train();
  ark::optim::SGD opt(net->parameters(), ark::optim::SGDOptions(0.01).momentum(0.5));
  auto step = [&](const Tensor& data, const Tensor& target) {
    opt.zero_grad(/*set_to_none=*/true);
    Tensor loss = ark::nll_loss(net(data), target);
    loss.backward();
    opt.step();
  };

  // train_epoch: batches cut from the in-memory dataset by a fresh permutation each epoch and
  // normalised per batch, i.e. exactly the tensor work the PyTorch side does.
  run_case("mnist", "train_epoch_b64" + suffix, [&] {
    Tensor perm = ark::randperm(n);
    for (int64_t s = 0; s < n; s += batch) {
      Tensor idx = perm.slice(0, s, std::min(n, s + batch));
      Tensor data = (images.index_select(0, idx) - 0.1307) / 0.3081;
      step(data, targets.index_select(0, idx));
    }
  });

  // train_epoch_dataloader: the libtorch example's own pipeline (MNIST.map(Normalize).map(Stack),
  // RandomSampler, no workers); PyTorch's side uses torch.utils.data.DataLoader over a TensorDataset.
  if (selected("mnist", "train_epoch_b64_dataloader" + suffix)) {
    namespace data = ark::data;
    auto loader = data::make_data_loader(
        data::datasets::MNIST(g_cfg.data, data::datasets::MNIST::Mode::kTrain)
            .map(data::transforms::Normalize<>(0.1307, 0.3081))
            .map(data::transforms::Stack<>()),
        data::DataLoaderOptions(batch));
    run_case("mnist", "train_epoch_b64_dataloader" + suffix, [&] {
      int64_t left = g_cfg.max_batches > 0 ? g_cfg.max_batches : -1;
      for (auto& b : *loader) {
        step(b.data, b.target);
        if (--left == 0) break;
      }
    });
  }
}

// mnist_layers: the MNIST step cut into its layers at batch 64, to show where an epoch's time goes.
// Forward cases record autograd as in training; backward cases differentiate a kept graph
// (retain_graph) with respect to what training needs (conv1: no dX, its input is the data).
void bench_mnist_layers() {
  const std::string g = "mnist_layers";
  const int64_t b = 64;
  auto fwd_bwd = [&](const std::string& name, const std::function<Tensor()>& fwd, const std::vector<Tensor>& wrt) {
    run_case(g, name + "_fwd", [&] { Tensor y = fwd(); });
    if (!selected(g, name + "_bwd")) return;
    Tensor y = fwd();
    Tensor gy = ark::randn(y.sizes());
    run_case(g, name + "_bwd", [&] { auto grads = ark::autograd::grad({y}, wrt, {gy}, true); });
  };
  auto param = [](ark::IntArrayRef size) { return (ark::randn(size) * 0.1).requires_grad_(); };
  Tensor x1 = ark::randn({b, 1, 28, 28}), w1 = param({10, 1, 5, 5}), b1 = param({10});
  fwd_bwd("conv1_5x5_1to10_28", [&] { return ark::conv2d(x1, w1, b1); }, {w1, b1});
  Tensor p1 = ark::randn({b, 10, 24, 24}).requires_grad_();
  fwd_bwd("maxpool1_2x2_10x24x24", [&] { return ark::max_pool2d(p1, {2, 2}); }, {p1});
  Tensor r1 = ark::randn({b, 10, 12, 12}).requires_grad_();
  fwd_bwd("relu1_10x12x12", [&] { return ark::relu(r1); }, {r1});
  Tensor x2 = ark::randn({b, 10, 12, 12}).requires_grad_(), w2 = param({20, 10, 5, 5}), b2 = param({20});
  fwd_bwd("conv2_5x5_10to20_12", [&] { return ark::conv2d(x2, w2, b2); }, {x2, w2, b2});
  Tensor d2 = ark::randn({b, 20, 8, 8}).requires_grad_();
  fwd_bwd("dropout2d_20x8x8", [&] { return F::dropout2d(d2, F::Dropout2dFuncOptions().p(0.5).training(true)); }, {d2});
  Tensor p2 = ark::randn({b, 20, 8, 8}).requires_grad_();
  fwd_bwd("maxpool2_2x2_20x8x8", [&] { return ark::max_pool2d(p2, {2, 2}); }, {p2});
  Tensor h = ark::randn({b, 320}).requires_grad_(), wf1 = param({50, 320}), bf1 = param({50});
  fwd_bwd("fc1_320to50", [&] { return ark::linear(h, wf1, bf1); }, {h, wf1, bf1});
  Tensor d = ark::randn({b, 50}).requires_grad_();
  fwd_bwd("dropout_50", [&] { return F::dropout(d, F::DropoutFuncOptions().p(0.5).training(true)); }, {d});
  Tensor z = ark::randn({b, 10}).requires_grad_(), target = ark::randint(0, 10, {b});
  fwd_bwd("log_softmax_nll_10", [&] { return ark::nll_loss(ark::log_softmax(z, 1), target); }, {z});

  Net net;
  net->train();
  ark::optim::SGD opt(net->parameters(), ark::optim::SGDOptions(0.01).momentum(0.5));
  for (Tensor& p : net->parameters()) p.set_grad(ark::randn(p.sizes()) * 0.01);
  run_case(g, "sgd_step", [&] { opt.step(); });
  Tensor data = ark::randn({b, 1, 28, 28}), labels = ark::randint(0, 10, {b});
  run_case(g, "train_step", [&] {
    opt.zero_grad(/*set_to_none=*/true);
    Tensor loss = ark::nll_loss(net(data), labels);
    loss.backward();
    opt.step();
  });
}

// ---------------------------------------------------------------------------------------------
// models: whole torchvision architectures as ark builds them, random weights, 224x224 inputs.
// FLOPs are 2 x the multiply-adds torchvision 0.14 documents for each model (its "GFLOPS" column
// counts MACs), so GFLOP/s divided by the sgemm rate says how close a model runs to the machine.
double model_flops(const std::string& arch) {
  if (arch == "resnet50") return 2 * 4.09e9;
  if (arch == "resnet18") return 2 * 1.81e9;
  if (arch == "vit_b_16") return 2 * 17.56e9;
  if (arch == "mobilenet_v2") return 2 * 0.30e9;
  return 0;
}

void bench_models() {
  struct Case {
    const char* arch;
    int64_t batch;
  };
  for (Case c : {Case{"resnet50", 1}, Case{"resnet50", 16}, Case{"resnet18", 1}, Case{"vit_b_16", 1},
                 Case{"mobilenet_v2", 1}}) {
    const std::string name = std::string(c.arch) + "_b" + std::to_string(c.batch);
    if (!selected("models", name)) continue;
    auto model = ark::models::create(c.arch);
    model->eval();
    Tensor x = ark::randn({c.batch, 3, 224, 224});
    run_case("models", name, [&] {
      ark::InferenceMode guard;
      Tensor y = model->forward(x);
    }, model_flops(c.arch) * static_cast<double>(c.batch));
  }
  if (selected("models", "resnet18_train_b16")) {
    auto model = ark::models::create("resnet18");
    model->train();
    ark::optim::SGD opt(model->parameters(), ark::optim::SGDOptions(0.01).momentum(0.9));
    Tensor x = ark::randn({16, 3, 224, 224}), labels = ark::randint(0, 1000, {16});
    run_case("models", "resnet18_train_b16", [&] {
      opt.zero_grad(/*set_to_none=*/true);
      Tensor loss = F::cross_entropy(model->forward(x), labels);
      loss.backward();
      opt.step();
    }, 3 * model_flops("resnet18") * 16);
  }
}

// memory: resident set size in MB from /proc/self/status ("VmRSS" now, "VmHWM" the peak).
double status_mb(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::atof(line.c_str() + field.size() + 1) / 1024.0;
  return 0;
}

// Peak RSS added by building resnet50 and running 5 batch-1 forwards; `optimized`: after
// nn::optimize_for_inference (convolution weights packed in place, no second copy).
void resnet50_peak(const char* group, const char* name, bool optimized) {
  if (!selected(group, name)) return;
  // Warm the libraries' lazy state (thread pool, allocator, oneDNN) on something tiny first, so
  // the figure is what the model adds.
  {
    ark::InferenceMode guard;
    Tensor t = ark::conv2d(ark::randn({1, 3, 8, 8}), ark::randn({4, 3, 3, 3}));
  }
  const double base = status_mb("VmRSS");
  { std::ofstream("/proc/self/clear_refs") << "5"; }  // resets VmHWM to the current RSS
  {
    auto model = ark::models::create("resnet50");
    model->eval();
    if (optimized) ark::nn::optimize_for_inference(*model);
    Tensor x = ark::randn({1, 3, 224, 224});
    ark::InferenceMode guard;
    for (int i = 0; i < 5; ++i) Tensor y = model->forward(x);
  }
  const double peak = status_mb("VmHWM") - base;
  report(group, name, bench::Stats{peak, peak, peak});
}
void bench_memory() { resnet50_peak("memory", "resnet50_b1_peak_mb", false); }
void bench_memory_optimized() { resnet50_peak("memory_optimized", "resnet50_b1_peak_mb", true); }


// ---- text: BERT, GPT-2 (same shapes as torch_bench.py's bench_text, models from its reference code) ----
// BERT-base forward FLOPs per token: 12 layers x 2 x (4 x 768^2 + 2 x 768 x 3072), plus attention
// (QK^T and PV: 2 x 2 x L x 768 per token per layer).
double bert_flops(int64_t batch, int64_t len) {
  const double per_token = 12 * 2.0 * (4.0 * 768 * 768 + 2.0 * 768 * 3072) + 12 * 4.0 * len * 768;
  return per_token * static_cast<double>(batch * len);
}

// Greedy decode with the KV cache: `steps` tokens after a prompt, timed per token; one sample per
// repetition (the prefill is outside the timing), reported with the shared median/min/max.
template <class Model>
void bench_decode(const std::string& group, const std::string& name, Model& model, int64_t vocab, int64_t prompt_len,
                  int64_t steps, int reps, double weight_bytes) {
  if (!selected(group, name)) return;
  ark::NoGradGuard ng;
  Tensor prompt = ark::randint(0, vocab, {1, prompt_len});
  auto cache = model.make_cache(1, prompt_len + steps + 1);
  std::vector<double> per_token;
  for (int r = 0; r < reps + 1; ++r) {  // the first round warms up
    cache.reset();
    Tensor h = model.forward_hidden(prompt, &cache);
    Tensor tok = model.logits(h.narrow(1, prompt_len - 1, 1)).argmax(-1);
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) tok = model.forward(tok, &cache).argmax(-1);
    if (r > 0) per_token.push_back(bench::seconds_since(t0) * 1e3 / static_cast<double>(steps));
  }
  std::sort(per_token.begin(), per_token.end());
  report(group, name, bench::Stats{per_token[per_token.size() / 2], per_token.front(), per_token.back()},
                0, weight_bytes);
}

void bench_text() {
  using namespace ark::models;
  const int64_t len = 128;
  for (int64_t batch : {1, 8}) {
    const std::string name = "bert_b" + std::to_string(batch) + "_s128";
    if (!selected("text", name)) continue;
    BertModel model(BertConfig{});
    model->eval();
    Tensor ids = ark::randint(1, 30522, {batch, len}), mask = ark::ones({batch, len}, ark::kLong);
    run_case("text", name, [&] {
      ark::InferenceMode guard;
      auto out = model->forward(ids, mask);
    }, bert_flops(batch, len));
  }
  if (selected("text", "bert_train_b8_s128")) {
    BertForSequenceClassification model(BertConfig{});
    model->train();
    ark::optim::AdamW opt(model->parameters(), ark::optim::AdamWOptions(2e-5));
    Tensor ids = ark::randint(1, 30522, {8, len}), mask = ark::ones({8, len}, ark::kLong);
    Tensor labels = ark::randint(0, 2, {8});
    run_case("text", "bert_train_b8_s128", [&] {
      opt.zero_grad(/*set_to_none=*/true);
      auto out = model->forward(ids, mask, {}, labels);
      out.loss.backward();
      opt.step();
    }, 3 * bert_flops(8, len));
  }
  if (selected("text", "gpt2_prefill_32") || selected("text", "gpt2_decode_tok")) {
    GPT2LMHeadModel model{GPT2Config{}};
    model.eval();
    Tensor prompt = ark::randint(0, 50257, {1, 32});
    auto cache = model.make_cache(1, 128);
    if (selected("text", "gpt2_prefill_32"))
      run_case("text", "gpt2_prefill_32", [&] {
        ark::NoGradGuard ng;
        cache.reset();
        Tensor h = model.forward_hidden(prompt, &cache);
        Tensor logits = model.logits(h.narrow(1, 31, 1));
      });
    double bytes = 0;
    for (const auto& p : model.parameters()) bytes += static_cast<double>(p.numel()) * 4;
    bench_decode("text", "gpt2_decode_tok", model, 50257, 32, 64, 5, bytes);
  }
}

void bench_text_memory() {
  if (!selected("text_memory", "gpt2_generate_peak_mb")) return;
  {
    ark::InferenceMode guard;
    Tensor t = ark::randn({4, 8}).mm(ark::randn({8, 4}));
  }
  const double base = status_mb("VmRSS");
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  {
    ark::models::GPT2LMHeadModel model{ark::models::GPT2Config{}};
    model.eval();
    ark::models::GenerationConfig gc;
    gc.max_new_tokens = 64;
    gc.temperature = 0;
    gc.eos_token_ids = std::vector<int64_t>{};  // always 64 tokens, as torch_bench.py
    std::vector<int64_t> prompt(32);
    for (int64_t i = 0; i < 32; ++i) prompt[i] = (i * 7919) % 50257;
    ark::NoGradGuard ng;
    auto result = ark::models::generate(model, {prompt}, gc);
  }
  const double peak = status_mb("VmHWM") - base;
  report("text_memory", "gpt2_generate_peak_mb", bench::Stats{peak, peak, peak});
}

// The machine's read bandwidth: a sum over 1 GiB on the benchmark's threads (best of 5), in GB/s.
double read_bandwidth_gbs() {
  const int64_t n = int64_t{1} << 28;
  std::vector<float> buf(static_cast<size_t>(n), 1.0f);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    double total = 0;
#pragma omp parallel for reduction(+ : total) num_threads(g_cfg.threads)
    for (int64_t b = 0; b < n; b += 4096) {
      const float* p = buf.data() + b;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;  // four chains hide the add latency
      for (int64_t i = 0; i < 4096; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
      }
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
      for (float v : lanes) total += v;
    }
    best = std::min(best, bench::seconds_since(t0));
    if (total != static_cast<double>(n)) std::fprintf(stderr, "read_bandwidth: bad sum\n");
  }
  return static_cast<double>(n) * 4 / best * 1e-9;
}

void bench_llama_bf16() {
  if (!selected("llama_bf16", "tinyllama_1b_decode_tok")) return;
  ark::models::LlamaConfig c;  // TinyLlama-1.1B's shape
  c.vocab_size = 32000, c.hidden_size = 2048, c.intermediate_size = 5632, c.num_hidden_layers = 22;
  c.num_attention_heads = 32, c.num_key_value_heads = 4, c.max_position_embeddings = 2048;
  ark::models::LlamaForCausalLM model{c};
  model.to(ark::kBFloat16);
  model.eval();
  double bytes = 0;
  for (const auto& p : model.parameters()) bytes += static_cast<double>(p.numel()) * 2;
  const double bw = read_bandwidth_gbs();
  std::printf("# llama_bf16: %.2f G parameters (%.2f GB in bfloat16); measured read bandwidth %.1f GB/s\n",
              bytes / 2e9, bytes / 1e9, bw);
  const double ms = 1.0737e9 / bw * 1e-6;
  report("llama_bf16", "read_1gib", bench::Stats{ms, ms, ms}, 0, 1.0737e9);
  bench_decode("llama_bf16", "tinyllama_1b_decode_tok", model, 32000, 32, 32, 3, bytes);
}

void usage() {
  std::fprintf(stderr,
               "usage: ark-bench [--threads N] [--reps N] [--filter SUBSTR|=GROUP/CASE] [--data DIR] [--max-batches N]\n"
               "                 [--list] [--list-cases] [--step] [GROUP...]\n"
               "groups: overhead matmul eltwise conv_b1 conv_b16 bottleneck mnist mnist_layers models memory\n"
               "        memory_optimized text text_memory llama_bf16\n"
               "(default: all but memory, memory_optimized, text_memory and llama_bf16, which must run alone)\n");
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::pair<std::string, std::function<void()>>> groups = {
      {"overhead", bench_overhead},     {"matmul", bench_matmul},
      {"eltwise", bench_eltwise},       {"conv_b1", [] { bench_conv(1); }},
      {"conv_b16", [] { bench_conv(16); }}, {"bottleneck", bench_bottleneck},
      {"mnist", bench_mnist},           {"mnist_layers", bench_mnist_layers},
      {"models", bench_models},         {"memory", bench_memory},
      {"memory_optimized", bench_memory_optimized}, {"text", bench_text},
      {"text_memory", bench_text_memory},
      {"llama_bf16", bench_llama_bf16},
  };
  std::vector<std::string> wanted;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") g_cfg.threads = std::atoi(value().c_str());
    else if (a == "--reps") g_cfg.reps = std::atoi(value().c_str());
    else if (a == "--filter") g_cfg.filter = value();
    else if (a == "--data") g_cfg.data = value();
    else if (a == "--max-batches") g_cfg.max_batches = std::atoll(value().c_str());
    else if (a == "--list-cases") g_cfg.list_cases = true;
    else if (a == "--step") g_cfg.step = true;
    else if (a == "--list") {
      for (const auto& g : groups) std::printf("%s\n", g.first.c_str());
      return 0;
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else wanted.push_back(a);
  }
  for (const std::string& w : wanted) {
    bool known = false;
    for (const auto& g : groups) known |= g.first == w;
    if (!known) {
      std::fprintf(stderr, "ark-bench: unknown group '%s'\n", w.c_str());
      usage();
      return 2;
    }
  }
  try {
    ark::set_num_threads(g_cfg.threads);
    ark::manual_seed(0);
    if (!g_cfg.list_cases)
      std::printf("# side,group,case,median_ms,min_ms,max_ms,gflops,gbps (threads=%d)\n", g_cfg.threads);
    lockstep();
    for (const auto& g : groups)
      if (wanted.empty() ? g.first != "memory" && g.first != "memory_optimized" && g.first != "text_memory" &&
                               g.first != "llama_bf16"
                         : std::find(wanted.begin(), wanted.end(), g.first) != wanted.end())
        g.second();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ark-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
