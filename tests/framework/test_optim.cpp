// ark/optim against PyTorch 1.13: 20 optimizer steps per configuration (float64 to 1e-6, float32 to
// a stated tolerance), every LR scheduler's lr (and OneCycleLR's momentum) sequence to 1e-12 relative,
// clip_grad_norm_/clip_grad_value_, plus the API (options, groups, zero_grad, closures) and
// checkpoints (bit-identical continuation after save/load, clear errors on mismatch).
// Reference data: tools/reference/optim_reference.py, generated once per build tree into ARK_TEST_DATA.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <typeinfo>
#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/optim/fp_exact.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ark;
using namespace ark::optim;

namespace {

// ---- reference data ----
// Runs the generator when its output is missing or older than the script. A file lock serialises
// parallel test processes; the script itself writes atomically.
const json& reference() {
  static const json data = [] {
    const fs::path script = fs::path(ARK_SOURCE_DIR) / "tools/reference/optim_reference.py";
    const fs::path out = fs::path(ARK_TEST_DATA) / "optim_reference.json";
    fs::create_directories(out.parent_path());
    const std::string lock = out.string() + ".lock";
    const int fd = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    ARK_CHECK(fd >= 0, "cannot create ", lock);
    ::flock(fd, LOCK_EX);
    std::error_code ec;
    if (!fs::exists(out) || fs::last_write_time(out, ec) < fs::last_write_time(script, ec)) {
      const std::string cmd = std::string(ARK_PYTHON) + " " + script.string() + " " + out.string();
      const int rc = std::system(cmd.c_str());
      if (rc != 0) {
        ::close(fd);
        ARK_ERROR("reference generation failed (exit ", rc, "): ", cmd);
      }
    }
    ::close(fd);
    std::ifstream f(out);
    return json::parse(f);
  }();
  return data;
}

std::vector<double> values(const Tensor& t) {
  Tensor d = t.detach().to(kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

Tensor from_json(const json& j, ScalarType dtype) {
  std::vector<double> flat;
  DimVector shape;
  if (j.is_array() && !j.empty() && j[0].is_array()) {
    shape = {static_cast<int64_t>(j.size()), static_cast<int64_t>(j[0].size())};
    for (const auto& row : j)
      for (const auto& v : row) flat.push_back(v.get<double>());
  } else {
    shape = {static_cast<int64_t>(j.size())};
    for (const auto& v : j) flat.push_back(v.get<double>());
  }
  return tensor(flat, kDouble).reshape(shape).to(dtype);
}

// ---- the reference problem (see optim_reference.py) ----
struct Problem {
  std::map<std::string, Tensor> p;  // W, b, v, u
  Tensor x, y, s;

  explicit Problem(ScalarType dtype) {
    const json& ref = reference();
    for (const char* name : {"W", "b", "v", "u"})
      p[name] = from_json(ref["init"][name], dtype).requires_grad_();
    x = from_json(ref["consts"]["x"], dtype);
    y = from_json(ref["consts"]["y"], dtype);
    s = from_json(ref["consts"]["s"], dtype);
  }
  // 0.5 * sum((W @ x + b - y)^2) + 0.3 * sum(tanh(2 v)) + 0.5 * sum(s * v * v); u gets no gradient.
  Tensor loss() const {
    Tensor r = matmul(p.at("W"), x) + p.at("b") - y;
    return 0.5 * (r * r).sum() + 0.3 * ark::tanh(2 * p.at("v")).sum() + 0.5 * (s * p.at("v") * p.at("v")).sum();
  }
};

double opt_double(const json& o, const char* key, double dflt) { return o.contains(key) ? o[key].get<double>() : dflt; }
bool opt_bool(const json& o, const char* key, bool dflt) { return o.contains(key) ? o[key].get<bool>() : dflt; }

// Per-group kwargs override the defaults, as in PyTorch.
json merged(const json& base, const json& over) {
  json m = base;
  for (auto it = over.begin(); it != over.end(); ++it) m[it.key()] = it.value();
  return m;
}

std::unique_ptr<Optimizer> make_optimizer(const json& c, Problem& prob) {
  const std::string kind = c["optimizer"];
  const json& defaults = c["defaults"];
  auto sgd = [](const json& o) {
    return SGDOptions(o["lr"].get<double>())
        .momentum(opt_double(o, "momentum", 0))
        .dampening(opt_double(o, "dampening", 0))
        .weight_decay(opt_double(o, "weight_decay", 0))
        .nesterov(opt_bool(o, "nesterov", false))
        .maximize(opt_bool(o, "maximize", false));
  };
  auto betas = [](const json& o) {
    return o.contains("betas") ? std::make_tuple(o["betas"][0].get<double>(), o["betas"][1].get<double>())
                               : std::make_tuple(0.9, 0.999);
  };
  auto adam = [&](const json& o) {
    return AdamOptions(opt_double(o, "lr", 1e-3))
        .betas(betas(o))
        .eps(opt_double(o, "eps", 1e-8))
        .weight_decay(opt_double(o, "weight_decay", 0))
        .amsgrad(opt_bool(o, "amsgrad", false))
        .maximize(opt_bool(o, "maximize", false));
  };
  auto adamw = [&](const json& o) {
    return AdamWOptions(opt_double(o, "lr", 1e-3))
        .betas(betas(o))
        .eps(opt_double(o, "eps", 1e-8))
        .weight_decay(opt_double(o, "weight_decay", 1e-2))
        .amsgrad(opt_bool(o, "amsgrad", false))
        .maximize(opt_bool(o, "maximize", false));
  };
  auto rmsprop = [](const json& o) {
    return RMSpropOptions(opt_double(o, "lr", 1e-2))
        .alpha(opt_double(o, "alpha", 0.99))
        .eps(opt_double(o, "eps", 1e-8))
        .weight_decay(opt_double(o, "weight_decay", 0))
        .momentum(opt_double(o, "momentum", 0))
        .centered(opt_bool(o, "centered", false))
        .maximize(opt_bool(o, "maximize", false));
  };
  std::vector<OptimizerParamGroup> groups;
  for (const auto& g : c["groups"]) {
    std::vector<Tensor> params;
    for (const auto& n : g["params"]) params.push_back(prob.p.at(n.get<std::string>()));
    if (g["options"].empty()) {
      groups.emplace_back(params);
      continue;
    }
    const json o = merged(defaults, g["options"]);
    if (kind == "SGD") groups.emplace_back(params, sgd(o));
    else if (kind == "Adam") groups.emplace_back(params, adam(o));
    else if (kind == "AdamW") groups.emplace_back(params, adamw(o));
    else groups.emplace_back(params, rmsprop(o));
  }
  if (kind == "SGD") return std::make_unique<SGD>(groups, sgd(defaults));
  if (kind == "Adam") return std::make_unique<Adam>(groups, adam(defaults));
  if (kind == "AdamW") return std::make_unique<AdamW>(groups, adamw(defaults));
  if (kind == "RMSprop") return std::make_unique<RMSprop>(groups, rmsprop(defaults));
  ADD_FAILURE() << "unknown optimizer " << kind;
  return nullptr;
}

struct Diff {
  double max_abs = 0;
  int first_step = -1;  // first step over tolerance
};

// Runs every reference case of `dtype` and checks params and loss after each step.
void check_optimizers(const std::string& dtype, double tol) {
  const ScalarType st = dtype == "float64" ? kDouble : kFloat;
  int n = 0;
  double worst = 0;
  for (const auto& c : reference()["optimizers"]) {
    if (c["dtype"] != dtype) continue;
    ++n;
    const std::string name = c["name"];
    SCOPED_TRACE(name + " " + dtype);
    Problem prob(st);
    auto opt = make_optimizer(c, prob);
    ASSERT_TRUE(opt);
    Diff d;
    for (size_t step = 0; step < c["params"].size(); ++step) {
      opt->zero_grad();
      Tensor loss = prob.loss();
      loss.backward();
      opt->step();
      // |got - want| / max(1, |want|): absolute for the params (~1), relative for a loss that grows (maximize)
      auto err = [](double got, double want) { return std::abs(got - want) / std::max(1.0, std::abs(want)); };
      double step_max = err(loss.item<double>(), c["losses"][step].get<double>());
      for (const auto& [pname, t] : prob.p) {
        const auto got = values(t);
        const auto& want = c["params"][step][pname];
        ASSERT_EQ(got.size(), want.size());
        for (size_t k = 0; k < got.size(); ++k) step_max = std::max(step_max, err(got[k], want[k].get<double>()));
      }
      d.max_abs = std::max(d.max_abs, step_max);
      if (step_max > tol && d.first_step < 0) d.first_step = static_cast<int>(step);
    }
    EXPECT_LE(d.max_abs, tol) << "first step over tolerance: " << d.first_step;
    // u never has a gradient: it must not move.
    EXPECT_EQ(values(prob.p["u"]), values(from_json(reference()["init"]["u"], st)));
    worst = std::max(worst, d.max_abs);
    std::printf("  %-28s %s  max error over 20 steps = %.3g\n", name.c_str(), dtype.c_str(), d.max_abs);
  }
  EXPECT_GE(n, 15);
  std::printf("  worst %s: %.3g (tolerance %.0g)\n", dtype.c_str(), worst, tol);
}

}  // namespace

// ---- optimizers vs PyTorch ----
// float64 tests the algorithm: any difference in operation order would show far above rounding.
TEST(OptimReference, Float64MatchesPyTorch) { check_optimizers("float64", 1e-6); }

// float32: ark's kernels and PyTorch's round differently (PyTorch fuses a + alpha * b into an FMA
// in its vector loops, ark's addcmul/addcdiv group their product differently); after 20 steps the
// params (magnitude ~1) agree to a few float32 ulps (4e-7 seen; tolerance 5e-6, ~40 ulps).
TEST(OptimReference, Float32MatchesPyTorch) { check_optimizers("float32", 5e-6); }

// ---- optimizer API ----
TEST(Optim, OptionDefaultsAndSetters) {
  SGDOptions sgd(0.1);
  EXPECT_EQ(sgd.lr(), 0.1);
  EXPECT_EQ(sgd.momentum(), 0);
  EXPECT_EQ(sgd.dampening(), 0);
  EXPECT_EQ(sgd.weight_decay(), 0);
  EXPECT_FALSE(sgd.nesterov());
  sgd.momentum(0.9).nesterov(true).lr(0.2);
  EXPECT_EQ(sgd.momentum(), 0.9);
  EXPECT_TRUE(sgd.nesterov());
  EXPECT_EQ(sgd.lr(), 0.2);

  AdamOptions adam;
  EXPECT_EQ(adam.lr(), 1e-3);
  EXPECT_EQ(adam.betas(), std::make_tuple(0.9, 0.999));
  EXPECT_EQ(adam.eps(), 1e-8);
  EXPECT_EQ(adam.weight_decay(), 0);
  EXPECT_FALSE(adam.amsgrad());
  adam.betas({0.8, 0.99});
  EXPECT_EQ(std::get<0>(adam.betas()), 0.8);

  AdamWOptions adamw;
  EXPECT_EQ(adamw.lr(), 1e-3);
  EXPECT_EQ(adamw.weight_decay(), 1e-2);

  RMSpropOptions rms;
  EXPECT_EQ(rms.lr(), 1e-2);
  EXPECT_EQ(rms.alpha(), 0.99);
  EXPECT_EQ(rms.eps(), 1e-8);
  EXPECT_EQ(rms.momentum(), 0);
  EXPECT_FALSE(rms.centered());

  // Hyperparameters by PyTorch's key, as schedulers and state_dict use them.
  EXPECT_EQ(adam.hyperparameter("betas"), (std::vector<double>{0.8, 0.99}));
  EXPECT_EQ(sgd.hyperparameter("nesterov"), std::vector<double>{1.0});
  EXPECT_TRUE(rms.has_hyperparameter("momentum"));
  EXPECT_FALSE(adam.has_hyperparameter("momentum"));
  EXPECT_THROW(adam.hyperparameter("momentum"), Error);
}

TEST(Optim, ParamGroupsAndLr) {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({3}).requires_grad_(), c = zeros({1}).requires_grad_();
  SGD opt({OptimizerParamGroup({a}), OptimizerParamGroup({b}, SGDOptions(0.5).momentum(0.3))},
          SGDOptions(0.1).momentum(0.9));
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.param_groups()[0].options().lr(), 0.1);
  EXPECT_EQ(opt.param_groups()[1].options().lr(), 0.5);
  EXPECT_EQ(static_cast<SGDOptions&>(opt.param_groups()[0].options()).momentum(), 0.9);
  opt.param_groups()[0].options().set_lr(0.01);
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.01);
  EXPECT_EQ(opt.defaults().lr(), 0.1);  // groups own copies of the options

  opt.add_param_group(OptimizerParamGroup({c}));
  EXPECT_EQ(opt.param_groups()[2].options().lr(), 0.1);
  EXPECT_EQ(opt.size(), 3u);
  EXPECT_EQ(opt.parameters().size(), 3u);
  EXPECT_THROW(opt.add_param_group(OptimizerParamGroup({a})), Error);  // already in group 0
  Tensor nonleaf = a * 2;
  EXPECT_THROW(opt.add_param_group(OptimizerParamGroup({nonleaf})), Error);
}

TEST(Optim, InvalidOptionsThrow) {
  Tensor a = zeros({2}).requires_grad_();
  EXPECT_THROW(SGD({a}, SGDOptions(-0.1)), Error);
  EXPECT_THROW(SGD({a}, SGDOptions(0.1).nesterov(true)), Error);  // Nesterov needs momentum
  EXPECT_THROW(SGD({a}, SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)), Error);
  EXPECT_THROW(Adam({a}, AdamOptions().betas({1.0, 0.9})), Error);
  EXPECT_THROW(AdamW({a}, AdamWOptions().eps(-1)), Error);
  EXPECT_THROW(RMSprop({a}, RMSpropOptions().alpha(-1)), Error);
  EXPECT_THROW(Adam({OptimizerParamGroup({a}, AdamOptions(-1))}, AdamOptions()), Error);  // checked per group too
  try {  // another optimizer's options
    Adam({OptimizerParamGroup({a}, SGDOptions(0.1))}, AdamOptions());
    ADD_FAILURE() << "SGD options accepted by Adam";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Adam: param group options must be AdamOptions"), std::string::npos) << what;
  }
}

TEST(Optim, ZeroGradAndSkippedParams) {
  Tensor a = ones({2}, kFloat).requires_grad_(), b = ones({2}, kFloat).requires_grad_();
  Adam opt({a, b}, AdamOptions(0.1));
  (a * 3).sum().backward();
  ASSERT_TRUE(a.grad().defined());
  ASSERT_FALSE(b.grad().defined());
  opt.step();
  EXPECT_FALSE(equal(a.detach(), ones({2}, kFloat)));
  EXPECT_TRUE(equal(b.detach(), ones({2}, kFloat)));  // no grad: no update, no state
  EXPECT_EQ(opt.state().count(param_key(a)), 1u);
  EXPECT_EQ(opt.state().count(param_key(b)), 0u);
  EXPECT_EQ(static_cast<AdamParamState&>(*opt.state().at(param_key(a))).step(), 1);

  opt.zero_grad(false);
  ASSERT_TRUE(a.grad().defined());
  EXPECT_TRUE(equal(a.grad(), zeros({2})));
  opt.zero_grad();  // set_to_none defaults to true
  EXPECT_FALSE(a.grad().defined());
}

// step(closure) evaluates the closure with grad mode on (step itself runs under no-grad), returns
// its loss and then updates exactly as step() after the same backward.
template <class Opt, class Options>
void expect_closure_step_is_plain_step(const Options& options) {
  SCOPED_TRACE(typeid(Opt).name());
  Tensor w1 = tensor({1.0, -2.0}, kDouble).requires_grad_(), w2 = w1.detach().clone().requires_grad_();
  Opt opt1({w1}, options);
  Opt opt2({w2}, options);
  for (int i = 0; i < 3; ++i) {
    Tensor loss = opt1.step([&] {
      opt1.zero_grad();
      Tensor l = (w1 * w1).sum();
      l.backward();
      return l;
    });
    ASSERT_TRUE(loss.defined());
    opt2.zero_grad();
    Tensor l2 = (w2 * w2).sum();
    l2.backward();
    EXPECT_FALSE(opt2.step().defined());
    EXPECT_EQ(loss.item<double>(), l2.item<double>());
    EXPECT_TRUE(equal(w1.detach(), w2.detach()));
  }
}

TEST(Optim, StepWithClosureReturnsLoss) {
  expect_closure_step_is_plain_step<SGD>(SGDOptions(0.1).momentum(0.9));
  expect_closure_step_is_plain_step<Adam>(AdamOptions(0.1).weight_decay(0.01));
  expect_closure_step_is_plain_step<AdamW>(AdamWOptions(0.1));
  expect_closure_step_is_plain_step<RMSprop>(RMSpropOptions(0.1).momentum(0.5));
}

// ---- optimizer state: state_dict, save/load ----
namespace {

// A per-process scratch folder, removed when the test process exits.
struct ScratchDir {
  fs::path dir = fs::path(ARK_TEST_DATA) / ("optim_" + std::to_string(::getpid()));
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::string tmp_path(const std::string& name) {
  static ScratchDir scratch;
  fs::create_directories(scratch.dir);
  return (scratch.dir / name).string();
}

// A two-group problem with float32 and float64 params; `make` builds the optimizer under test.
struct OptimRun {
  Tensor a, b, c;
  std::unique_ptr<Optimizer> opt;
  template <class Make>
  explicit OptimRun(const Make& make) {
    a = (arange(12, kFloat).reshape({3, 4}) * 0.1 - 0.5).requires_grad_();
    b = (arange(5, kDouble) * 0.2 - 0.4).requires_grad_();
    c = tensor({0.3, -0.7}, kFloat).requires_grad_();
    opt = make(std::vector<OptimizerParamGroup>{OptimizerParamGroup({a, b}), OptimizerParamGroup({c})});
  }
  void steps(int n) {
    for (int i = 0; i < n; ++i) {
      opt->zero_grad();
      Tensor loss = (a.tanh() * a).sum() + (b * b * b).sum().to(kFloat) + (c.sin() * 3).sum();
      loss.backward();
      opt->step();
    }
  }
};

using MakeOpt = std::function<std::unique_ptr<Optimizer>(std::vector<OptimizerParamGroup>)>;

std::vector<std::pair<std::string, MakeOpt>> checkpoint_cases() {
  return {
      {"SGD", [](auto g) {
         g[1].set_options(SGDOptions(0.02).momentum(0.5).nesterov(true));
         return std::make_unique<SGD>(g, SGDOptions(0.05).momentum(0.9).weight_decay(0.01));
       }},
      {"Adam", [](auto g) {
         g[1].set_options(AdamOptions(0.01).betas({0.8, 0.9}));
         return std::make_unique<Adam>(g, AdamOptions(0.03).amsgrad(true));
       }},
      {"AdamW", [](auto g) { return std::make_unique<AdamW>(g, AdamWOptions(0.03).weight_decay(0.1)); }},
      {"RMSprop", [](auto g) {
         return std::make_unique<RMSprop>(g, RMSpropOptions(0.01).centered(true).momentum(0.5));
       }},
  };
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "expected an ark::Error";
  } catch (const Error& e) {
    for (const auto& frag : fragments)
      EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << "'" << frag << "' not in: " << e.what();
  }
}

}  // namespace

TEST(OptimState, SaveLoadContinuesBitIdentically) {
  for (const auto& [name, make] : checkpoint_cases()) {
    SCOPED_TRACE(name);
    OptimRun ref(make);
    ref.steps(4);
    ref.opt->param_groups()[0].options().set_lr(0.007);  // a scheduler's change must survive too
    const std::string path = tmp_path(name + ".safetensors");
    save(*ref.opt, path);

    OptimRun resumed(make);  // fresh state, same initial params: copy the trained ones in
    {
      NoGradGuard ng;
      resumed.a.copy_(ref.a);
      resumed.b.copy_(ref.b);
      resumed.c.copy_(ref.c);
    }
    load(*resumed.opt, path);
    EXPECT_EQ(resumed.opt->param_groups()[0].options().lr(), 0.007);
    ref.steps(5);
    resumed.steps(5);
    EXPECT_TRUE(equal(ref.a.detach(), resumed.a.detach()));
    EXPECT_TRUE(equal(ref.b.detach(), resumed.b.detach()));
    EXPECT_TRUE(equal(ref.c.detach(), resumed.c.detach()));

    // The same through an in-memory state_dict, whose keys follow PyTorch's names.
    OptimRun mem(make);
    {
      NoGradGuard ng;
      mem.a.copy_(resumed.a);
      mem.b.copy_(resumed.b);
      mem.c.copy_(resumed.c);
    }
    const StateDict sd = resumed.opt->state_dict();
    EXPECT_TRUE(sd.contains("param_groups.0.lr"));
    EXPECT_TRUE(sd.contains("param_groups.1.params"));
    mem.opt->load_state_dict(sd);
    resumed.steps(2);
    mem.steps(2);
    EXPECT_TRUE(equal(resumed.a.detach(), mem.a.detach()));
    EXPECT_TRUE(equal(resumed.c.detach(), mem.c.detach()));
  }
  OptimRun adam(checkpoint_cases()[1].second);
  adam.steps(1);
  const StateDict sd = adam.opt->state_dict();
  for (const char* key : {"state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq", "state.0.step",
                          "state.2.exp_avg", "param_groups.0.betas", "param_groups.1.amsgrad"})
    EXPECT_TRUE(sd.contains(key)) << key;
  EXPECT_EQ(sd["state.1.exp_avg"].dtype(), kDouble);
}

TEST(OptimState, MismatchedLoadsAreClearErrors) {
  const auto cases = checkpoint_cases();
  OptimRun adam(cases[1].second);
  adam.steps(2);
  const std::string path = tmp_path("adam_for_mismatch.safetensors");
  save(*adam.opt, path);

  // Another optimizer type: named in the error, from the file's metadata...
  OptimRun sgd(cases[0].second);
  expect_error([&] { load(*sgd.opt, path); }, {"adam_for_mismatch.safetensors", "Adam", "SGD"});
  // ...and from the keys when a state_dict is loaded directly.
  expect_error([&] { sgd.opt->load_state_dict(adam.opt->state_dict()); },
               {"missing: [param_groups.0.momentum", "unexpected: [", "state.0.exp_avg"});

  // Other param shapes.
  OptimRun other(cases[1].second);
  {
    Tensor a2 = zeros({4, 3}).requires_grad_(), b2 = zeros({5}, kDouble).requires_grad_();
    Tensor c2 = zeros({2}).requires_grad_();
    other.opt = std::make_unique<Adam>(std::vector<OptimizerParamGroup>{OptimizerParamGroup({a2, b2}),
                                                                         OptimizerParamGroup({c2})},
                                       AdamOptions(0.03).amsgrad(true));
  }
  expect_error([&] { load(*other.opt, path); }, {"adam_for_mismatch.safetensors", "state.0.exp_avg expected [4, 3] got [3, 4]"});
  EXPECT_TRUE(other.opt->state().empty());  // nothing was applied

  // Other param counts / group counts.
  Tensor p = zeros({3, 4}).requires_grad_(), q = zeros({5}, kDouble).requires_grad_();
  Adam fewer({OptimizerParamGroup({p}), OptimizerParamGroup({q})}, AdamOptions(0.03).amsgrad(true));
  expect_error([&] { load(fewer, path); }, {"param_groups.0.params: the loaded group has 2 params, the optimizer's has 1"});
  Adam one_group({p, q}, AdamOptions(0.03).amsgrad(true));
  expect_error([&] { load(one_group, path); }, {"2 parameter group(s), the optimizer has 1"});

  // Not an optimizer checkpoint.
  const std::string plain = tmp_path("plain.safetensors");
  io::save_safetensors(plain, adam.opt->state_dict());
  expect_error([&] { load(*adam.opt, plain); }, {"plain.safetensors", "not an ark optimizer checkpoint"});
}

// ---- LR schedulers vs PyTorch ----
namespace {

// The optimizers of optim_reference.py's scheduler cases: two groups with lr 0.1 and 0.05.
struct SchedOpt {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({3}).requires_grad_();
  std::unique_ptr<Optimizer> opt;
  explicit SchedOpt(const std::string& kind) {
    std::vector<OptimizerParamGroup> groups{OptimizerParamGroup({a})};
    if (kind == "sgd") {
      groups.emplace_back(std::vector<Tensor>{b}, SGDOptions(0.05).momentum(0.9));
      opt = std::make_unique<SGD>(groups, SGDOptions(0.1).momentum(0.9));
    } else {
      groups.emplace_back(std::vector<Tensor>{b}, AdamOptions(0.05).betas({0.9, 0.99}));
      opt = std::make_unique<Adam>(groups, AdamOptions(0.1).betas({0.9, 0.99}));
    }
  }
  std::vector<double> momenta() const {
    std::vector<double> m;
    for (const auto& g : opt->param_groups())
      m.push_back(g.options().has_hyperparameter("betas") ? g.options().hyperparameter("betas")[0]
                                                          : g.options().hyperparameter("momentum")[0]);
    return m;
  }
};

// Python rounds 0.1 * e before adding it; without ARK_NO_FP_CONTRACT GCC would fuse the two.
ARK_NO_FP_CONTRACT double lam_inv(int64_t e) { return 1.0 / (1.0 + 0.1 * static_cast<double>(e)); }
double lam_pow(int64_t e) { return std::pow(0.95, static_cast<double>(e)); }

using MakeSched = std::function<std::shared_ptr<LRScheduler>(Optimizer&)>;
std::map<std::string, std::pair<std::string, MakeSched>> scheduler_cases() {
  return {
      {"step_lr", {"sgd", [](Optimizer& o) { return std::make_shared<StepLR>(o, 7, 0.5); }}},
      {"step_lr_default", {"sgd", [](Optimizer& o) { return std::make_shared<StepLR>(o, 3); }}},
      {"multi_step_lr",
       {"sgd", [](Optimizer& o) { return std::make_shared<MultiStepLR>(o, std::vector<int64_t>{5, 12, 12, 30}, 0.3); }}},
      {"exponential_lr", {"sgd", [](Optimizer& o) { return std::make_shared<ExponentialLR>(o, 0.93); }}},
      {"cosine_lr", {"sgd", [](Optimizer& o) { return std::make_shared<CosineAnnealingLR>(o, 10, 0.001); }}},
      {"cosine_lr_zero", {"sgd", [](Optimizer& o) { return std::make_shared<CosineAnnealingLR>(o, 7); }}},
      {"linear_lr_default", {"sgd", [](Optimizer& o) { return std::make_shared<LinearLR>(o); }}},
      {"linear_lr", {"sgd", [](Optimizer& o) { return std::make_shared<LinearLR>(o, 0.25, 0.9, 8); }}},
      {"constant_lr", {"sgd", [](Optimizer& o) { return std::make_shared<ConstantLR>(o, 0.5, 4); }}},
      {"lambda_lr", {"sgd", [](Optimizer& o) { return std::make_shared<LambdaLR>(o, lam_inv); }}},
      {"lambda_lr_groups",
       {"sgd", [](Optimizer& o) {
          return std::make_shared<LambdaLR>(o, std::vector<LambdaLR::LrLambda>{lam_pow, lam_inv});
        }}},
      {"one_cycle_cos",
       {"sgd", [](Optimizer& o) {
          return std::make_shared<OneCycleLR>(o, OneCycleLROptions(std::vector<double>{0.5, 0.3}).total_steps(40));
        }}},
      {"one_cycle_linear_three_phase",
       {"adam", [](Optimizer& o) {
          return std::make_shared<OneCycleLR>(o, OneCycleLROptions(0.2)
                                                     .epochs(5)
                                                     .steps_per_epoch(7)
                                                     .pct_start(0.25)
                                                     .anneal_strategy("linear")
                                                     .three_phase(true)
                                                     .div_factor(10.0)
                                                     .final_div_factor(100.0)
                                                     .base_momentum(0.8)
                                                     .max_momentum(0.9));
        }}},
      {"one_cycle_no_momentum",
       {"sgd", [](Optimizer& o) {
          return std::make_shared<OneCycleLR>(
              o, OneCycleLROptions(1.0).total_steps(30).pct_start(0.4).cycle_momentum(false));
        }}},
      {"sequential_linear_cosine",
       {"sgd", [](Optimizer& o) {
          auto warm = std::make_shared<LinearLR>(o, 0.1, 1.0, 5);
          auto cos = std::make_shared<CosineAnnealingLR>(o, 20);
          return std::make_shared<SequentialLR>(o, std::vector<std::shared_ptr<LRScheduler>>{warm, cos},
                                                std::vector<int64_t>{5});
        }}},
      {"sequential_three",
       {"sgd", [](Optimizer& o) {
          auto s1 = std::make_shared<ConstantLR>(o, 0.5, 3);
          auto s2 = std::make_shared<ExponentialLR>(o, 0.9);
          auto s3 = std::make_shared<StepLR>(o, 4, 0.5);
          return std::make_shared<SequentialLR>(o, std::vector<std::shared_ptr<LRScheduler>>{s1, s2, s3},
                                                std::vector<int64_t>{3, 10});
        }}},
      {"sequential_lambda_multistep",
       {"sgd", [](Optimizer& o) {
          auto s1 = std::make_shared<LambdaLR>(o, lam_pow);
          auto s2 = std::make_shared<MultiStepLR>(o, std::vector<int64_t>{3, 9}, 0.5);
          return std::make_shared<SequentialLR>(o, std::vector<std::shared_ptr<LRScheduler>>{s1, s2},
                                                std::vector<int64_t>{6});
        }}},
  };
}

double rel_diff(double got, double want) { return std::abs(got - want) / std::max(std::abs(want), 1e-300); }

}  // namespace

TEST(LRSchedulerReference, MatchesPyTorchSequences) {
  const auto cases = scheduler_cases();
  const json& ref = reference()["schedulers"];
  ASSERT_EQ(ref.size(), cases.size());
  size_t total = 0, identical = 0;
  double worst = 0;
  for (auto it = ref.begin(); it != ref.end(); ++it) {
    const std::string name = it.key();
    SCOPED_TRACE(name);
    ASSERT_TRUE(cases.count(name)) << "no C++ case for " << name;
    const auto& [kind, make] = cases.at(name);
    SchedOpt so(kind);
    auto sched = make(*so.opt);
    const json& lrs = (*it)["lrs"];
    const json& moms = (*it)["momentum"];
    for (size_t step = 0; step < lrs.size(); ++step) {
      if (step > 0) {
        so.opt->step();
        sched->step();
      }
      const auto& got = sched->get_last_lr();
      const auto mom = so.momenta();
      ASSERT_EQ(got.size(), lrs[step].size());
      for (size_t g = 0; g < got.size(); ++g) {
        const double want = lrs[step][g], want_m = moms[step][g];
        EXPECT_LE(rel_diff(got[g], want), 1e-12) << "step " << step << " group " << g << ": " << got[g] << " vs " << want;
        EXPECT_LE(rel_diff(mom[g], want_m), 1e-12) << "momentum, step " << step << " group " << g;
        EXPECT_EQ(so.opt->param_groups()[g].options().lr(), got[g]);
        worst = std::max({worst, rel_diff(got[g], want), rel_diff(mom[g], want_m)});
        total += 2;
        identical += (got[g] == want) + (mom[g] == want_m);
        if (got[g] != want || mom[g] != want_m)
          std::printf("  not bit-identical: %s step %zu group %zu: lr %.17g vs %.17g, momentum %.17g vs %.17g\n",
                      name.c_str(), step, g, got[g], want, mom[g], want_m);
      }
    }
  }
  std::printf("  %zu lr/momentum values: %zu bit-identical to PyTorch, max relative difference %.3g\n", total,
              identical, worst);
}

TEST(LRScheduler, StateDictRoundTrip) {
  const auto cases = scheduler_cases();
  for (const char* name : {"cosine_lr", "one_cycle_cos", "sequential_linear_cosine", "multi_step_lr"}) {
    SCOPED_TRACE(name);
    const auto& [kind, make] = cases.at(name);
    SchedOpt a(kind);
    auto sa = make(*a.opt);
    for (int i = 0; i < 8; ++i) {
      a.opt->step();
      sa->step();
    }
    const std::string path = tmp_path(std::string(name) + "_sched.safetensors");
    save(*sa, path);
    SchedOpt b(kind);
    auto sb = make(*b.opt);
    b.opt->load_state_dict(a.opt->state_dict());  // lr and momentum live in the optimizer's groups
    load(*sb, path);
    EXPECT_EQ(sb->last_epoch(), sa->last_epoch());
    for (int i = 0; i < 12; ++i) {
      a.opt->step();
      sa->step();
      b.opt->step();
      sb->step();
      EXPECT_EQ(sa->get_last_lr(), sb->get_last_lr()) << "step " << i;
      EXPECT_EQ(a.momenta(), b.momenta());
    }
  }
  SchedOpt so("sgd");
  StepLR step(*so.opt, 3);
  StateDict sd = step.state_dict();
  sd.insert("bogus", zeros({1}));
  EXPECT_THROW(step.load_state_dict(sd), Error);
}

TEST(LRScheduler, Errors) {
  SchedOpt so("sgd");
  OneCycleLR one(*so.opt, 0.1, 3);  // last_epoch 0; steps to 1, 2, 3 are allowed, as in PyTorch
  for (int i = 0; i < 3; ++i) one.step();
  expect_error([&] { one.step(); }, {"tried to step 5 times", "total steps is 3"});
  expect_error([&] { OneCycleLR s(*so.opt, OneCycleLROptions(0.1)); }, {"total_steps"});
  expect_error([&] { OneCycleLR s(*so.opt, OneCycleLROptions(0.1).total_steps(10).anneal_strategy("exp")); },
               {"anneal_strategy"});
  expect_error([&] { OneCycleLR s(*so.opt, OneCycleLROptions(std::vector<double>{0.1, 0.2, 0.3}).total_steps(10)); },
               {"expected 2 values for max_lr"});
  SchedOpt other("sgd");
  auto s1 = std::make_shared<StepLR>(*so.opt, 2);
  auto s2 = std::make_shared<StepLR>(*other.opt, 2);
  expect_error([&] { SequentialLR s(*so.opt, {s1, s2}, {3}); }, {"same optimizer"});
  expect_error([&] { SequentialLR s(*so.opt, {s1}, {3}); }, {"one more than the number of milestone"});
  expect_error([&] { LambdaLR s(*so.opt, std::vector<LambdaLR::LrLambda>{lam_inv}); }, {"expected 2 lr_lambdas"});
}

// ---- gradient clipping vs PyTorch ----
TEST(ClipGradReference, MatchesPyTorch) {
  const json& ref = reference();
  int n = 0;
  for (const auto& c : ref["clip"]) {
    const std::string dtype = c["dtype"];
    const ScalarType st = dtype == "float64" ? kDouble : kFloat;
    const double tol = st == kDouble ? 1e-12 : 1e-6;
    std::vector<Tensor> params;
    for (const char* g : {"g1", "g2", "g3"}) {
      Tensor grad = from_json(ref["clip_grads"][g], st);
      Tensor p = zeros_like(grad).requires_grad_();
      p.set_grad(grad);
      params.push_back(p);
    }
    SCOPED_TRACE(c.dump().substr(0, 80));
    if (c["kind"] == "norm") {
      params.push_back(zeros({2}, st).requires_grad_());  // no grad: ignored
      const double norm_type = c["norm_type"].is_string() ? INFINITY : c["norm_type"].get<double>();
      const double total = nn::utils::clip_grad_norm_(params, c["max_norm"].get<double>(), norm_type);
      EXPECT_LE(rel_diff(total, c["total_norm"].get<double>()), tol) << total;
    } else {
      nn::utils::clip_grad_value_(params, c["clip_value"].get<double>());
    }
    for (size_t i = 0; i < 3; ++i) {
      const auto got = values(params[i].grad());
      const auto& want = c["grads"][i];
      for (size_t k = 0; k < got.size(); ++k)
        EXPECT_NEAR(got[k], want[k].get<double>(), tol * std::max(1.0, std::abs(want[k].get<double>())));
    }
    ++n;
  }
  EXPECT_EQ(n, 14);
}

TEST(ClipGrad, NonFiniteAndEdgeCases) {
  Tensor a = zeros({3}).requires_grad_(), b = zeros({2}).requires_grad_();
  a.set_grad(tensor({1.0f, NAN, 2.0f}));
  b.set_grad(tensor({3.0f, 4.0f}));
  expect_error([&] { nn::utils::clip_grad_norm_({a, b}, 1.0, 2.0, true); }, {"non-finite", "error_if_nonfinite"});
  EXPECT_EQ(b.grad()[1].item<float>(), 4.0f);  // unchanged on error
  EXPECT_TRUE(std::isnan(nn::utils::clip_grad_norm_({a, b}, 1.0)));  // without the check: scaled by nan, as PyTorch

  Tensor c = zeros({2}).requires_grad_();
  EXPECT_EQ(nn::utils::clip_grad_norm_(c, 1.0), 0.0);  // no grads at all
  c.set_grad(tensor({3.0f, 4.0f}));
  EXPECT_NEAR(nn::utils::clip_grad_norm_(c, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(c.grad().norm().item<float>(), 1.0f, 1e-5);
  nn::utils::clip_grad_value_(c, 0.5);
  EXPECT_LE(c.grad().abs().max().item<float>(), 0.5f);
}

// The fused one-pass Adam/AdamW kernel (backend adam_step) is the tensor-op sequence, bit for bit:
// same parameters, moments and step counts after several steps, with and without decoupled decay,
// on a length that leaves a vector tail.
TEST(Optim, FusedAdamStepIsBitIdenticalToTheOpSequence) {
  ark::manual_seed(0);
  const int64_t n = 100003;
  for (const double decay : {1.0, 1 - 1e-3 * 0.05}) {
    ark::Tensor p_fused = ark::randn({n}), p_ops = p_fused.clone();
    ark::optim::AdamParamState s_fused, s_ops;
    s_fused.exp_avg(ark::zeros({n}));
    s_fused.exp_avg_sq(ark::zeros({n}));
    s_ops.exp_avg(ark::zeros({n}));
    s_ops.exp_avg_sq(ark::zeros({n}));
    for (int step = 1; step <= 4; ++step) {
      const ark::Tensor g = ark::randn({n}) * 0.1;
      s_fused.step() = s_ops.step() = step;
      ark::optim::detail::adam_update(p_fused, g, s_fused, 1e-3, 0.9, 0.999, 1e-8, false, decay, true);
      ark::optim::detail::adam_update(p_ops, g, s_ops, 1e-3, 0.9, 0.999, 1e-8, false, decay, false);
      ASSERT_TRUE(ark::equal(p_fused, p_ops)) << "step " << step << ", decay " << decay;
      ASSERT_TRUE(ark::equal(s_fused.exp_avg(), s_ops.exp_avg()));
      ASSERT_TRUE(ark::equal(s_fused.exp_avg_sq(), s_ops.exp_avg_sq()));
    }
  }
}
