// Autograd engine behaviour: accumulation, retain_graph, hooks, autograd::grad with higher-order
// gradients, custom Functions, grad_fn names, grad-mode guards, in-place safety, clear errors
// for misuse, and flat memory over a long training loop.
#include <gtest/gtest.h>

#include <fstream>

#include "ark/ark.h"

using namespace ark;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
#define EXPECT_ERROR(stmt, fragment)                                              \
  do {                                                                            \
    const std::string msg_ = error_of([&] { stmt; });                            \
    EXPECT_NE(msg_.find(fragment), std::string::npos) << "message: '" << msg_ << "'"; \
  } while (0)
}  // namespace

TEST(Autograd, AccumulatesIntoLeaves) {
  Tensor x = tensor({1.0f, 2.0f, 3.0f}).requires_grad_();
  (x * x).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), tensor({2.0f, 4.0f, 6.0f})));
  (x * 3).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), tensor({5.0f, 7.0f, 9.0f})));
  x.mutable_grad().zero_();
  x.sum().backward();
  EXPECT_TRUE(allclose(x.grad(), ones({3})));
}

TEST(Autograd, GradientArgumentForNonScalars) {
  Tensor x = tensor({1.0f, 2.0f}).requires_grad_();
  Tensor y = x * 2;
  EXPECT_ERROR(y.backward(), "grad can be implicitly created only for scalar outputs");
  y.backward(tensor({1.0f, 10.0f}));
  EXPECT_TRUE(allclose(x.grad(), tensor({2.0f, 20.0f})));
  Tensor z = x * 2;
  EXPECT_ERROR(z.backward(tensor({1.0f})), "has shape [1] but the tensor has shape [2]");
}

TEST(Autograd, FreedGraphAndRetainGraph) {
  Tensor x = randn({3}).requires_grad_();
  Tensor y = (x.exp() * x).sum();
  y.backward(Tensor(), /*retain_graph=*/true);
  Tensor g1 = x.grad().clone();
  y.backward();
  EXPECT_TRUE(allclose(x.grad(), g1 * 2));
  EXPECT_ERROR(y.backward(), "backward through the graph a second time");
}

TEST(Autograd, BackwardOnTensorWithoutGrad) {
  Tensor x = randn({2});
  EXPECT_ERROR(x.sum().backward(), "does not require grad and does not have a grad_fn");
  Tensor u;
  EXPECT_ERROR(u.backward(), "undefined");
}

TEST(Autograd, NoGradAndInferenceMode) {
  Tensor x = randn({3}).requires_grad_();
  {
    NoGradGuard ng;
    Tensor y = x * 2;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(GradMode::is_enabled());
  }
  {
    InferenceMode im;
    EXPECT_FALSE((x + 1).requires_grad());
  }
  EXPECT_TRUE(GradMode::is_enabled());
  EXPECT_TRUE((x * 2).requires_grad());
  Tensor d = (x * 2).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
}

TEST(Autograd, GradFnNamesFollowPyTorch) {
  Tensor a = randn({2, 3}).requires_grad_(), b = randn({2, 3}).requires_grad_();
  EXPECT_EQ((a + b).grad_fn()->name(), "AddBackward0");
  EXPECT_EQ((a * b).grad_fn()->name(), "MulBackward0");
  EXPECT_EQ((a * 2).grad_fn()->name(), "MulBackward1");
  EXPECT_EQ(a.sum().grad_fn()->name(), "SumBackward0");
  EXPECT_EQ(a.sum(1).grad_fn()->name(), "SumBackward1");
  EXPECT_EQ(a.view({3, 2}).grad_fn()->name(), "ViewBackward0");
  EXPECT_EQ(a.t().grad_fn()->name(), "TBackward0");
  EXPECT_EQ(a.relu().grad_fn()->name(), "ReluBackward0");
  EXPECT_EQ(a.matmul(b.t()).grad_fn()->name(), "MmBackward0");
  EXPECT_EQ(a.exp().grad_fn()->name(), "ExpBackward0");
  EXPECT_EQ(softmax(a, 1).grad_fn()->name(), "SoftmaxBackward0");
  EXPECT_EQ(a.grad_fn(), nullptr);
  Tensor y = a * b;
  EXPECT_EQ(y.grad_fn()->next_edges()[0].function->name(), "torch::autograd::AccumulateGrad");
}

TEST(Autograd, TensorHooks) {
  Tensor x = tensor({1.0f, 2.0f}).requires_grad_();
  Tensor y = x * 3;
  Tensor seen;
  y.register_hook([&](const Tensor& g) { seen = g.clone(); });
  y.register_hook([](const Tensor& g) { return g * 10; });  // replaces the gradient
  x.register_hook([](const Tensor& g) { return g + 1; });   // leaf hook, before accumulation
  y.sum().backward();
  EXPECT_TRUE(allclose(seen, ones({2})));
  EXPECT_TRUE(allclose(x.grad(), full({2}, 31.0f)));
}

TEST(Autograd, RetainGradOnNonLeaf) {
  Tensor x = randn({3}).requires_grad_();
  Tensor h = x * 2;
  h.retain_grad();
  (h * h).sum().backward();
  EXPECT_TRUE(allclose(h.grad(), h.detach() * 2));
}

TEST(Autograd, GradFunctionAndHigherOrder) {
  Tensor x = tensor({0.5, -1.0, 2.0}, kDouble).requires_grad_();
  Tensor y = (x.pow(3) + x.sin()).sum();
  auto g = autograd::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true);
  EXPECT_TRUE(allclose(g[0], x.detach().pow(2) * 3 + x.detach().cos()));
  EXPECT_FALSE(x.grad().defined());  // grad() does not accumulate
  auto gg = autograd::grad({g[0].sum()}, {x});
  EXPECT_TRUE(allclose(gg[0], x.detach() * 6 - x.detach().sin()));
  Tensor unused = randn({2}, kDouble).requires_grad_();
  EXPECT_ERROR(autograd::grad({(x * 2).sum()}, {unused}), "appears to not have been used");
  auto r = autograd::grad({(x * 2).sum()}, {unused}, {}, std::nullopt, false, /*allow_unused=*/true);
  EXPECT_FALSE(r[0].defined());
}

TEST(Autograd, GradientPenaltyTrains) {
  // WGAN-GP style: minimise f(x)'s gradient norm towards 1 through a second-order graph.
  manual_seed(0);
  Tensor w1 = (randn({4, 8}) * 0.5).requires_grad_(), w2 = (randn({8, 1}) * 0.5).requires_grad_();
  auto f = [&](const Tensor& x) { return tanh(x.matmul(w1)).matmul(w2); };
  auto penalty = [&]() {
    Tensor x = randn({16, 4}).requires_grad_();
    Tensor out = f(x).sum();
    Tensor g = autograd::grad({out}, {x}, {}, std::nullopt, true)[0];
    return (g.norm(2, {1}) - 1).pow(2).mean();
  };
  manual_seed(1);
  const double first = penalty().item<double>();
  for (int step = 0; step < 100; ++step) {
    Tensor loss = penalty();
    auto grads = autograd::grad({loss}, {w1, w2});
    NoGradGuard ng;
    w1.sub_(grads[0] * 0.1);
    w2.sub_(grads[1] * 0.1);
  }
  manual_seed(1);
  EXPECT_LT(penalty().item<double>(), first * 0.5);
}

TEST(Autograd, DoubleBackwardThroughConvAndNorms) {
  manual_seed(2);
  Tensor x = randn({2, 3, 5, 5}, kDouble).requires_grad_();
  Tensor w = randn({4, 3, 3, 3}, kDouble).requires_grad_();
  auto f = [&](const Tensor& xx) { return gelu(layer_norm(conv2d(xx, w, {}, 1, IntArrayRef{1}), {5})).sum(); };
  Tensor g = autograd::grad({f(x)}, {x}, {}, std::nullopt, true)[0];
  Tensor s = (g * g).sum();
  Tensor gw = autograd::grad({s}, {w})[0];
  // Finite differences of s(w) along one weight element.
  const double eps = 1e-6;
  auto s_of = [&](const Tensor& ww) {
    Tensor xx = x.detach().requires_grad_();
    Tensor out = gelu(layer_norm(conv2d(xx, ww, {}, 1, IntArrayRef{1}), {5})).sum();
    Tensor gx = autograd::grad({out}, {xx})[0];
    return (gx * gx).sum().item<double>();
  };
  for (int64_t e : {0, 17, 80}) {
    Tensor wp = w.detach().clone(), wm = w.detach().clone();
    wp.view({-1})[e].add_(eps);
    wm.view({-1})[e].sub_(eps);
    const double numeric = (s_of(wp) - s_of(wm)) / (2 * eps);
    EXPECT_NEAR(gw.view({-1})[e].item<double>(), numeric, 1e-5 + 1e-3 * std::abs(numeric));
  }
}

namespace {
struct MulConstant : autograd::Function<MulConstant> {
  static Tensor forward(autograd::AutogradContext* ctx, Tensor x, double c) {
    ctx->saved_data["c"] = c;
    ctx->save_for_backward({x});
    return x * c;
  }
  static autograd::variable_list backward(autograd::AutogradContext* ctx, autograd::variable_list grads) {
    EXPECT_TRUE(ctx->needs_input_grad(0));
    Tensor x = ctx->get_saved_variables()[0];
    EXPECT_EQ(x.sizes(), grads[0].sizes());
    return {grads[0] * ctx->saved_data["c"].toDouble(), Tensor()};
  }
};
struct ExpFn : autograd::Function<ExpFn> {  // saves its output
  static Tensor forward(autograd::AutogradContext* ctx, Tensor x) {
    Tensor y = x.exp();
    ctx->save_for_backward({y});
    return y;
  }
  static autograd::variable_list backward(autograd::AutogradContext* ctx, autograd::variable_list grads) {
    return {grads[0] * ctx->get_saved_variables()[0]};
  }
};
}  // namespace

TEST(Autograd, CustomFunctions) {
  Tensor x = tensor({1.0, 2.0}, kDouble).requires_grad_();
  Tensor y = MulConstant::apply(x, 3.0);
  EXPECT_EQ(y.grad_fn()->name().rfind("CppNode<", 0), 0u);
  y.sum().backward();
  EXPECT_TRUE(allclose(x.grad(), full({2}, 3.0, kDouble)));
  // A custom function that saves its output supports double backward.
  Tensor z = tensor({0.3, -0.7}, kDouble).requires_grad_();
  Tensor g = autograd::grad({ExpFn::apply(z).sum()}, {z}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(allclose(g, z.detach().exp()));
  Tensor gg = autograd::grad({g.sum()}, {z})[0];
  EXPECT_TRUE(allclose(gg, z.detach().exp()));
  Tensor out = ExpFn::apply(z).sum();
  out.backward();
  EXPECT_ERROR(out.backward(), "second time");
}

TEST(Autograd, InPlaceOnSavedTensorIsAnError) {
  Tensor x = randn({3}).requires_grad_();
  Tensor y = x * 2;
  Tensor z = y.exp();  // saves its output
  z.add_(1);           // modifies what exp saved
  EXPECT_ERROR(z.sum().backward(), "modified by an inplace operation");
  Tensor a = randn({3}).requires_grad_();
  Tensor b = a.sigmoid();
  Tensor c = b * b;  // saves b
  b.mul_(2);
  EXPECT_ERROR(c.sum().backward(), "is at version 1; expected version 0");
}

TEST(Autograd, InPlaceOnLeafRequiringGradIsAnError) {
  Tensor x = randn({3}).requires_grad_();
  EXPECT_ERROR(x.add_(1), "a leaf Variable that requires grad is being used in an in-place operation");
  EXPECT_ERROR(x.select(0, 1).mul_(2), "a view of a leaf Variable that requires grad");
  {
    NoGradGuard ng;
    x.add_(1);  // allowed: this is how optimizers update parameters
  }
  Tensor nonleaf = x * 2;
  EXPECT_ERROR(nonleaf.requires_grad_(false), "only change requires_grad flags of leaf variables");
}

TEST(Autograd, InPlaceThroughViewRoutesGradient) {
  Tensor a = randn({3, 4}).requires_grad_(), b = randn({3}).requires_grad_();
  Tensor y = a * 1;
  y.select(1, 2).copy_(b * 5);
  y.sum().backward();
  Tensor expect_a = ones({3, 4});
  expect_a.select(1, 2).zero_();
  EXPECT_TRUE(allclose(a.grad(), expect_a));
  EXPECT_TRUE(allclose(b.grad(), full({3}, 5.0f)));
}

TEST(Autograd, DetachSharesStorage) {
  Tensor x = randn({3}).requires_grad_();
  Tensor d = x.detach();
  EXPECT_TRUE(d.is_alias_of(x));
  Tensor y = x * 2;
  y.detach_();
  EXPECT_FALSE(y.requires_grad());
}

namespace {
size_t resident_kb() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * 4;
}
}  // namespace

TEST(Autograd, GraphIsFreedAfterBackward) {
  // A 1000-step training loop runs in flat memory: each step's graph dies with its loss.
  manual_seed(0);
  Tensor w1 = (randn({64, 128}) * 0.1).requires_grad_(), w2 = (randn({128, 10}) * 0.1).requires_grad_();
  Tensor x = randn({32, 64});
  Tensor t = randint(0, 10, {32});
  auto step = [&] {
    Tensor loss = cross_entropy_loss(relu(x.matmul(w1)).matmul(w2), t);
    loss.backward();
    NoGradGuard ng;
    w1.sub_(w1.grad() * 0.01);
    w2.sub_(w2.grad() * 0.01);
    w1.mutable_grad().zero_();
    w2.mutable_grad().zero_();
  };
  for (int i = 0; i < 100; ++i) step();
  const size_t before = resident_kb();
  for (int i = 0; i < 1000; ++i) step();
  const size_t after = resident_kb();
  EXPECT_LT(after, before + 2048) << "RSS grew from " << before << " kB to " << after << " kB";
  std::weak_ptr<autograd::Node> node;
  {
    Tensor loss = (x.matmul(w1)).sum();
    node = loss.grad_fn();
    loss.backward();
  }
  EXPECT_TRUE(node.expired());
}
