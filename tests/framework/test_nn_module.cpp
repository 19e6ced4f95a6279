// nn::Module mechanics: registration and dotted names through Sequential/ModuleList/ModuleDict,
// holders, train/eval, zero_grad, apply, to(dtype), forward hooks, state_dict round trips and
// load_state_dict's all-at-once error report, repr.
#include <gtest/gtest.h>

#include <sstream>

#include "ark/ark.h"

namespace nn = ark::nn;
namespace F = ark::nn::functional;
using ark::Tensor;

namespace {

struct BlockImpl : nn::Module {
  nn::Conv2d conv1 = nullptr;
  nn::BatchNorm2d bn1 = nullptr;
  nn::Sequential downsample = nullptr;  // registered only when asked: "downsample.0.weight"

  BlockImpl(int64_t in, bool with_downsample) {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, 4, 3).padding(1).bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(4));
    if (with_downsample)
      downsample = register_module("downsample", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(3, 4, 1).bias(false)),
                                                                nn::BatchNorm2d(4)));
  }
  Tensor forward(const Tensor& x) {
    return with_hooks(x, [&](const Tensor& x) {
      Tensor y = bn1(conv1(x));
      return F::relu(downsample ? y + downsample(x) : y);
    });
  }
};
ARK_MODULE(Block);

struct NetImpl : nn::Module {
  nn::Sequential layer1 = register_module("layer1", nn::Sequential(Block(3, true), Block(4, false)));
  nn::ModuleList heads = register_module("heads", nn::ModuleList(nn::Linear(4, 2), nn::Linear(4, 3)));
  nn::ModuleDict extra = register_module("extra", nn::ModuleDict(std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>>{
                                                      {"proj", std::make_shared<nn::LinearImpl>(2, 2)}}));
  nn::Linear fc{nullptr};
  NetImpl() { fc = register_module("fc", nn::Linear(nn::LinearOptions(4, 5).bias(false))); }
  Tensor forward(const Tensor& x) {
    Tensor y = layer1->forward(x).mean({2, 3});
    return fc(y);
  }
};
ARK_MODULE(Net);

std::vector<std::string> keys_of(const ark::OrderedDict<std::string, Tensor>& d) { return d.keys(); }

}  // namespace

TEST(NnModule, DottedNamesThroughContainers) {
  Net net;
  const std::vector<std::string> expected = {
      "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.downsample.0.weight",
      "layer1.0.downsample.1.weight", "layer1.0.downsample.1.bias", "layer1.1.conv1.weight", "layer1.1.bn1.weight",
      "layer1.1.bn1.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias", "extra.proj.weight",
      "extra.proj.bias", "fc.weight"};
  EXPECT_EQ(keys_of(net->named_parameters()), expected);
  EXPECT_EQ(net->parameters().size(), expected.size());
  EXPECT_EQ(net->named_parameters(/*recurse=*/false).size(), 0u);
  EXPECT_EQ(keys_of(net->fc->named_parameters()), std::vector<std::string>{"weight"});

  auto buffers = keys_of(net->named_buffers());
  ASSERT_EQ(buffers.size(), 9u);
  EXPECT_EQ(buffers[0], "layer1.0.bn1.running_mean");
  EXPECT_EQ(buffers[2], "layer1.0.bn1.num_batches_tracked");
  EXPECT_EQ(buffers[3], "layer1.0.downsample.1.running_mean");

  // state_dict: each module's parameters, then its buffers, then its children (PyTorch's order).
  auto sd = keys_of(net->state_dict());
  ASSERT_GE(sd.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(sd.begin(), sd.begin() + 6),
            (std::vector<std::string>{"layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
                                      "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
                                      "layer1.0.bn1.num_batches_tracked"}));
  EXPECT_EQ(sd.size(), expected.size() + buffers.size());

  std::vector<std::string> module_names;
  for (const auto& m : net->named_modules()) module_names.push_back(m.key());
  EXPECT_EQ(module_names.front(), "");
  EXPECT_EQ(module_names[1], "layer1");
  EXPECT_EQ(module_names[2], "layer1.0");
  EXPECT_EQ(module_names[3], "layer1.0.conv1");
  EXPECT_EQ(net->modules().size(), module_names.size());
  EXPECT_EQ(net->modules(/*include_self=*/false).size(), module_names.size() - 1);
  std::vector<std::string> children;
  for (const auto& c : net->named_children()) children.push_back(c.key());
  EXPECT_EQ(children, (std::vector<std::string>{"layer1", "heads", "extra", "fc"}));
  EXPECT_EQ(net->named_modules("model")["model.layer1.1.bn1"]->name(), "BatchNorm2d");
  EXPECT_EQ(net->get_submodule<nn::Conv2dImpl>("layer1.0.downsample.0")->options.kernel_size()[0], 1);
  EXPECT_THROW(net->get_submodule("layer1.7"), ark::Error);

  // Container access.
  EXPECT_EQ(net->layer1->size(), 2u);
  EXPECT_NE(net->layer1->ptr<BlockImpl>(0), nullptr);
  EXPECT_EQ(net->heads->at<nn::LinearImpl>(1).options.out_features(), 3);
  EXPECT_EQ(net->extra["proj"]->name(), "Linear");
  EXPECT_TRUE(net->extra->contains("proj"));
}

TEST(NnModule, HoldersBehaveLikeLibtorch) {
  nn::Linear empty{nullptr};
  EXPECT_TRUE(empty.is_empty());
  EXPECT_FALSE(empty);
  EXPECT_THROW(empty.ptr(), ark::Error);

  nn::Linear fc(nn::LinearOptions(4, 5).bias(false));
  EXPECT_FALSE(fc->bias.defined());
  EXPECT_EQ(fc->weight.sizes(), (ark::IntArrayRef{5, 4}));
  Tensor x = ark::randn({2, 4});
  EXPECT_TRUE(fc(x).equal(fc->forward(x)));
  nn::Linear alias = fc;  // copies share the module
  EXPECT_EQ(alias.get(), fc.get());
  EXPECT_NE(fc->as<nn::Linear>(), nullptr);
  EXPECT_EQ(fc->as<nn::Conv2d>(), nullptr);

  // Sequential from named modules, push_back, operator[].
  nn::Sequential seq({{"fc", nn::Linear(4, 3)}, {"act", nn::ReLU()}});
  seq->push_back(nn::Linear(3, 2));
  EXPECT_EQ(keys_of(seq->named_parameters()), (std::vector<std::string>{"fc.weight", "fc.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(seq[1]->name(), "ReLU");
  EXPECT_EQ(seq(x).sizes(), (ark::IntArrayRef{2, 2}));

  // ModuleList insert renumbers, ModuleDict replaces and pops.
  nn::ModuleList list(nn::Linear(1, 1), nn::Linear(2, 2));
  list->insert(0, nn::Identity());
  EXPECT_EQ(keys_of(list->named_parameters()), (std::vector<std::string>{"1.weight", "1.bias", "2.weight", "2.bias"}));
  nn::ModuleDict dict;
  dict->insert("a", nn::Linear(1, 1));
  dict->insert("a", nn::Linear(3, 3));
  EXPECT_EQ(dict->size(), 1u);
  EXPECT_EQ(dict->at<nn::LinearImpl>("a").options.in_features(), 3);
  EXPECT_EQ(dict->named_parameters()["a.weight"].size(1), 3);
  dict->pop("a");
  EXPECT_TRUE(dict->named_parameters().is_empty());

  // Registration errors.
  struct Bad : nn::Module {};
  auto bad = std::make_shared<Bad>();
  bad->register_parameter("w", ark::zeros({1}));
  EXPECT_THROW(bad->register_buffer("w", ark::zeros({1})), ark::Error);
  EXPECT_THROW(bad->register_module("a.b", nn::Linear(1, 1)), ark::Error);
  EXPECT_THROW(bad->register_parameter("", ark::zeros({1})), ark::Error);
}

TEST(NnModule, TrainEvalPropagates) {
  Net net;
  EXPECT_TRUE(net->is_training());
  net->eval();
  for (const auto& m : net->modules()) EXPECT_FALSE(m->is_training()) << m->name();
  net->train();
  for (const auto& m : net->modules()) EXPECT_TRUE(m->is_training()) << m->name();
  net->layer1->train(false);
  EXPECT_TRUE(net->is_training());
  EXPECT_FALSE(net->layer1[0]->is_training());

  // Dropout follows the mode.
  nn::Dropout drop(0.5);
  Tensor ones = ark::ones({1000}, ark::kFloat);
  EXPECT_FALSE(drop(ones).equal(ones));
  drop->eval();
  EXPECT_TRUE(drop(ones).equal(ones));
}

TEST(NnModule, ZeroGradAndApply) {
  Net net;
  Tensor y = net(ark::randn({2, 3, 5, 5}));
  y.sum().backward();
  for (const auto& p : net->layer1->parameters()) EXPECT_TRUE(p.grad().defined());
  net->zero_grad(/*set_to_none=*/false);
  for (const auto& p : net->layer1->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().abs().sum().item<float>(), 0.f);
  }
  net->zero_grad();
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());

  // apply visits every module once, parent first; the named form gets dotted names.
  std::vector<std::string> visited;
  net->apply([&](nn::Module& m) { visited.push_back(m.name()); });
  EXPECT_EQ(visited.size(), net->modules().size());
  EXPECT_EQ(visited[0], "Net");
  std::vector<std::string> named;
  net->apply([&](const std::string& name, nn::Module&) { named.push_back(name); }, "net");
  EXPECT_EQ(named[0], "net");
  EXPECT_EQ(named[1], "net.layer1");
  // Re-initialise every Linear through apply, as model code does.
  net->apply([](nn::Module& m) {
    if (auto* lin = m.as<nn::Linear>()) nn::init::zeros_(lin->weight);
  });
  EXPECT_EQ(net->fc->weight.abs().sum().item<float>(), 0.f);
}

TEST(NnModule, ToDoubleConvertsInPlace) {
  Net net;
  Tensor w = net->fc->weight;  // taken before the cast: must follow it
  auto params_before = net->parameters();
  net->to(ark::kDouble);
  for (const auto& p : net->parameters()) {
    EXPECT_EQ(p.dtype(), ark::kDouble);
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(p.is_leaf());
  }
  EXPECT_EQ(w.dtype(), ark::kDouble);
  EXPECT_TRUE(params_before[0].is_same(net->parameters()[0]));
  // Floating buffers follow; the integer step counter stays int64 as in PyTorch.
  auto bufs = net->named_buffers();
  EXPECT_EQ(bufs["layer1.0.bn1.running_mean"].dtype(), ark::kDouble);
  EXPECT_EQ(bufs["layer1.0.bn1.num_batches_tracked"].dtype(), ark::kLong);
  Tensor y = net(ark::randn({2, 3, 5, 5}, ark::kDouble));
  EXPECT_EQ(y.dtype(), ark::kDouble);
  y.sum().backward();
  EXPECT_EQ(net->fc->weight.grad().dtype(), ark::kDouble);
  net->to(ark::kFloat);
  EXPECT_EQ(w.dtype(), ark::kFloat);
  EXPECT_EQ(w.grad().dtype(), ark::kFloat);
}

TEST(NnModuleHooks, PreHookPostHookAndRemoval) {
  nn::Linear fc(3, 2);
  Tensor x = ark::randn({4, 3});
  const Tensor expected = fc(x);

  // A pre-hook replacing the input.
  auto pre = fc->register_forward_pre_hook([](nn::Module&, const Tensor& in) { return in * 0; });
  EXPECT_TRUE(fc(x).allclose(fc->bias.expand({4, 2})));
  pre.remove();
  pre.remove();  // idempotent
  EXPECT_TRUE(fc(x).allclose(expected));

  // A post-hook reading the output (what Grad-CAM does on a conv layer) and one replacing it.
  Tensor seen_in, seen_out;
  auto reader = fc->register_forward_hook([&](nn::Module& m, const Tensor& in, const Tensor& out) {
    EXPECT_EQ(m.name(), "Linear");
    seen_in = in;
    seen_out = out;
  });
  auto doubler = fc->register_forward_hook(
      [](nn::Module&, const Tensor&, const Tensor& out) -> std::optional<Tensor> { return out * 2; });
  Tensor y = fc->forward(x);
  EXPECT_TRUE(seen_in.equal(x));
  EXPECT_TRUE(seen_out.allclose(expected));
  EXPECT_TRUE(y.allclose(expected * 2));
  doubler.remove();
  EXPECT_TRUE(fc(x).allclose(expected));
  reader.remove();

  // Hooks on a conv layer inside a model fire when the model runs (feature extraction), and the
  // captured activation stays in the graph so its gradient can be read (Grad-CAM).
  Net net;
  Tensor activation;
  auto h = net->layer1[1]->as<Block>()->conv1->register_forward_hook(
      [&](nn::Module&, const Tensor&, const Tensor& out) {
        activation = out;
        activation.retain_grad();
      });
  Tensor logits = net(ark::randn({2, 3, 6, 6}));
  ASSERT_TRUE(activation.defined());
  EXPECT_EQ(activation.sizes(), (ark::IntArrayRef{2, 4, 6, 6}));
  logits.select(1, 0).sum().backward();
  EXPECT_TRUE(activation.grad().defined());
  h.remove();

  // A user module that routes through with_hooks, and Sequential itself.
  Block block(3, false);
  int calls = 0;
  block->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++calls; });
  nn::Sequential seq(block, nn::ReLU());
  seq->register_forward_pre_hook([&](nn::Module&, const Tensor& in) {
    ++calls;
    return in;
  });
  seq(ark::randn({1, 3, 4, 4}));
  EXPECT_EQ(calls, 2);
}

TEST(NnModuleStateDict, RoundTrip) {
  Net a, b;
  a->train();
  a(ark::randn({4, 3, 5, 5}));  // moves running stats and the step counter
  auto sd = a->state_dict();
  EXPECT_FALSE(sd["layer1.0.bn1.running_mean"].requires_grad());
  auto result = b->load_state_dict(sd);
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_TRUE(result.unexpected_keys.empty());
  for (const auto& item : a->state_dict()) EXPECT_TRUE(item.value().equal(b->state_dict()[item.key()])) << item.key();
  EXPECT_EQ(b->named_buffers()["layer1.0.bn1.num_batches_tracked"].item<int64_t>(), 1);
  // Loading copies into the existing tensors: members and optimizer handles see the values, and
  // parameters stay leaves that require grad.
  EXPECT_TRUE(b->fc->weight.equal(a->fc->weight));
  EXPECT_TRUE(b->fc->weight.requires_grad());
  EXPECT_FALSE(b->fc->weight.is_same(a->fc->weight));
  // dtype converts on load.
  auto sd64 = a->state_dict();
  sd64.insert_or_assign("fc.weight", sd64["fc.weight"].to(ark::kDouble));
  b->load_state_dict(sd64);
  EXPECT_EQ(b->fc->weight.dtype(), ark::kFloat);
  EXPECT_TRUE(b->fc->weight.equal(a->fc->weight));
}

TEST(NnModuleStateDict, ReportsEveryProblemAtOnce) {
  Net net;
  auto sd = net->state_dict();
  sd.erase("layer1.0.bn1.running_mean");
  sd.erase("heads.1.bias");
  sd.insert("foo.bar", ark::zeros({1}));
  sd.insert_or_assign("fc.weight", ark::zeros({1000, 4}));
  sd.insert_or_assign("heads.0.weight", ark::zeros({2, 7}));
  Tensor before = net->heads[0]->as<nn::Linear>()->bias.clone();
  sd.insert_or_assign("heads.0.bias", ark::ones({2}, ark::kFloat));
  try {
    net->load_state_dict(sd);
    FAIL() << "load_state_dict accepted a bad state dict";
  } catch (const ark::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Error(s) in loading state_dict for Net"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing: [layer1.0.bn1.running_mean, heads.1.bias]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected: [foo.bar]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape mismatch: heads.0.weight expected [2, 4] got [2, 7]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape mismatch: fc.weight expected [5, 4] got [1000, 4]"), std::string::npos) << msg;
  }
  // Nothing was loaded.
  EXPECT_TRUE(net->heads[0]->as<nn::Linear>()->bias.equal(before));

  // strict=false tolerates missing/unexpected keys and reports them, but never a shape mismatch.
  sd.insert_or_assign("fc.weight", ark::zeros({5, 4}));
  sd.insert_or_assign("heads.0.weight", ark::zeros({2, 4}));
  EXPECT_THROW(net->load_state_dict(sd), ark::Error);
  auto result = net->load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(result.missing_keys, (std::vector<std::string>{"layer1.0.bn1.running_mean", "heads.1.bias"}));
  EXPECT_EQ(result.unexpected_keys, std::vector<std::string>{"foo.bar"});
  EXPECT_TRUE(net->heads[0]->as<nn::Linear>()->bias.equal(ark::ones({2}, ark::kFloat)));
  sd.insert_or_assign("fc.weight", ark::zeros({1000, 4}));
  try {
    net->load_state_dict(sd, /*strict=*/false);
    FAIL();
  } catch (const ark::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find("missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape mismatch: fc.weight expected [5, 4] got [1000, 4]"), std::string::npos) << msg;
  }
}

TEST(NnModule, NonPersistentBuffersAndReplaceModule) {
  struct M : nn::Module {
    M() {
      register_buffer("kept", ark::zeros({2}));
      register_buffer("scratch", ark::zeros({2}), /*persistent=*/false);
      register_module("head", nn::Linear(2, 3));
    }
  };
  auto m = std::make_shared<M>();
  EXPECT_EQ(keys_of(m->named_buffers()), (std::vector<std::string>{"kept", "scratch"}));
  EXPECT_EQ(keys_of(m->state_dict()), (std::vector<std::string>{"kept", "head.weight", "head.bias"}));
  m->replace_module("head", nn::Linear(2, 10));
  EXPECT_EQ(m->state_dict()["head.weight"].size(0), 10);
}

TEST(NnModule, PrettyPrintLikePyTorch) {
  nn::Sequential seq(nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)), nn::BatchNorm2d(64),
                     nn::ReLU(true), nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)),
                     nn::AdaptiveAvgPool2d(1), nn::Flatten(), nn::Dropout(0.2), nn::Linear(64, 10),
                     nn::LayerNorm(std::vector<int64_t>{10}), nn::GELU(nn::GELUOptions().approximate("tanh")));
  std::ostringstream os;
  os << seq;
  EXPECT_EQ(os.str(),
            "Sequential(\n"
            "  (0): Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)\n"
            "  (1): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
            "  (2): ReLU(inplace=True)\n"
            "  (3): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)\n"
            "  (4): AdaptiveAvgPool2d(output_size=1)\n"
            "  (5): Flatten(start_dim=1, end_dim=-1)\n"
            "  (6): Dropout(p=0.2, inplace=False)\n"
            "  (7): Linear(in_features=64, out_features=10, bias=True)\n"
            "  (8): LayerNorm((10,), eps=1e-05, elementwise_affine=True)\n"
            "  (9): GELU(approximate='tanh')\n"
            ")");
  std::ostringstream os2;
  os2 << nn::MultiheadAttention(8, 2);
  EXPECT_EQ(os2.str(), "MultiheadAttention(\n  (out_proj): Linear(in_features=8, out_features=8, bias=True)\n)");
  Net net;
  std::ostringstream os3;
  os3 << *net;
  EXPECT_NE(os3.str().find("  (layer1): Sequential(\n    (0): Block(\n      (conv1): Conv2d(3, 4"), std::string::npos)
      << os3.str();
}
