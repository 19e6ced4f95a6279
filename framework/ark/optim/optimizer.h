// The optimizer base, as torch::optim::Optimizer: param groups that each carry their own options,
// per-parameter state keyed like libtorch's (the TensorImpl address as a string), step(closure),
// zero_grad, and a state_dict that flattens to named tensors so it can be written as safetensors.
//
// state_dict layout (every value a tensor; PyTorch's nested dict, flattened):
//   param_groups.<g>.params   int64 [n]   global indices of the group's params (PyTorch's ids)
//   param_groups.<g>.<key>    float64 []  each hyperparameter (bools as bool [], betas as float64 [2])
//   param_groups.<g>.initial_lr           only when an LR scheduler set it
//   state.<i>.<name>          the state of param i (tensors as the param; counters int64 [])
// Loading is strict and transactional: all problems are reported at once and nothing changes on error.
// Not here: sparse gradients, complex params, multi-tensor (foreach) and fused kernels.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "ark/core/error.h"
#include "ark/core/ordered_dict.h"
#include "ark/core/tensor.h"

/// Declares a fluent option as TORCH_ARG: `opts.name(v)` sets and returns *this, `opts.name()` reads.
#define ARK_OPTIM_ARG(T, name)                                                  \
 public:                                                                        \
  inline auto name(const T& new_##name)->decltype(*this) {                      \
    this->name##_ = new_##name;                                                 \
    return *this;                                                               \
  }                                                                             \
  inline const T& name() const noexcept { return this->name##_; }              \
  inline T& name() noexcept { return this->name##_; }                          \
                                                                                \
 private:                                                                       \
  T name##_

namespace ark::optim {

/// What state_dict() returns and load_state_dict() takes (the same type as io::TensorDict).
using StateDict = OrderedDict<std::string, Tensor>;

/// Hyperparameters of one param group. lr lives here so schedulers can read and write it through
/// the base class (`group.options().lr()`, `set_lr`); everything else is a field of the subclass.
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;

  double lr() const noexcept { return lr_; }
  double get_lr() const noexcept { return lr_; }
  void set_lr(double lr) noexcept { lr_ = lr; }

  /// Hyperparameters by PyTorch's param_group key ("lr", "momentum", "betas", ...), for
  /// serialisation and schedulers. A bool reads as 0/1 and "betas" as two values.
  std::vector<std::string> hyperparameter_names() const;
  bool has_hyperparameter(const std::string& key) const;
  std::vector<double> hyperparameter(const std::string& key) const;
  void set_hyperparameter(const std::string& key, const std::vector<double>& value);

  using FieldRef = std::variant<double*, bool*, std::tuple<double, double>*>;
  /// (key, address) of every hyperparameter, lr first.
  virtual std::vector<std::pair<const char*, FieldRef>> fields() = 0;
  std::vector<std::pair<const char*, FieldRef>> fields() const {
    return const_cast<OptimizerOptions*>(this)->fields();
  }

 protected:
  explicit OptimizerOptions(double lr) : lr_(lr) {}
  OptimizerOptions(const OptimizerOptions&) = default;
  OptimizerOptions& operator=(const OptimizerOptions&) = default;
  double lr_;
};

template <class Derived>
class OptimizerCloneableOptions : public OptimizerOptions {
 public:
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }

 protected:
  using OptimizerOptions::OptimizerOptions;
};

/// Per-parameter state (momentum buffers, moment estimates, step counters).
class OptimizerParamState {
 public:
  virtual ~OptimizerParamState() = default;
  virtual std::unique_ptr<OptimizerParamState> clone() const = 0;
  using FieldRef = std::variant<Tensor*, int64_t*>;
  /// (PyTorch state key, address) of every entry; an undefined tensor is an absent entry.
  virtual std::vector<std::pair<const char*, FieldRef>> fields() = 0;
  std::vector<std::pair<const char*, FieldRef>> fields() const {
    return const_cast<OptimizerParamState*>(this)->fields();
  }
};

template <class Derived>
class OptimizerCloneableParamState : public OptimizerParamState {
 public:
  std::unique_ptr<OptimizerParamState> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
};

/// A list of params and the options they are optimised with (nullptr: the optimizer's defaults).
class OptimizerParamGroup {
 public:
  OptimizerParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}  // NOLINT
  OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
      : params_(std::move(params)), options_(std::move(options)) {}
  /// The options are copied, so each group owns its own (as libtorch).
  OptimizerParamGroup(std::vector<Tensor> params, const OptimizerOptions& options)
      : params_(std::move(params)), options_(options.clone()) {}
  OptimizerParamGroup(const OptimizerParamGroup& other);
  OptimizerParamGroup& operator=(const OptimizerParamGroup& other);
  OptimizerParamGroup(OptimizerParamGroup&&) = default;
  OptimizerParamGroup& operator=(OptimizerParamGroup&&) = default;

  bool has_options() const { return options_ != nullptr; }
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }
  void set_options(const OptimizerOptions& options) { options_ = options.clone(); }
  std::vector<Tensor>& params() { return params_; }
  const std::vector<Tensor>& params() const { return params_; }
  /// The lr an LR scheduler started from (PyTorch's group['initial_lr']); set by the first scheduler.
  std::optional<double>& initial_lr() { return initial_lr_; }
  const std::optional<double>& initial_lr() const { return initial_lr_; }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
  std::optional<double> initial_lr_;
};

class Optimizer {
 public:
  using LossClosure = std::function<Tensor()>;
  using StateMap = std::unordered_map<std::string, std::unique_ptr<OptimizerParamState>>;

  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(Optimizer&&) = default;
  virtual ~Optimizer() = default;

  /// One update of every param that has a gradient. `closure` (run with grad mode on) re-evaluates
  /// the loss; its result is returned, otherwise an undefined tensor.
  virtual Tensor step(LossClosure closure = nullptr) = 0;
  /// Clears the grads of all params: drops them (set_to_none) or zeroes them in place.
  void zero_grad(bool set_to_none = true);

  /// Adds a group; params must be leaves and in no other group; missing options are the defaults.
  void add_param_group(const OptimizerParamGroup& param_group);
  /// Adds params to the first group.
  void add_parameters(const std::vector<Tensor>& parameters);
  /// All params, in group order.
  std::vector<Tensor> parameters() const;
  size_t size() const noexcept;

  OptimizerOptions& defaults() noexcept { return *defaults_; }
  const OptimizerOptions& defaults() const noexcept { return *defaults_; }
  std::vector<OptimizerParamGroup>& param_groups() noexcept { return param_groups_; }
  const std::vector<OptimizerParamGroup>& param_groups() const noexcept { return param_groups_; }
  /// Per-param state keyed by param_key(param); created at a param's first update.
  StateMap& state() noexcept { return state_; }
  const StateMap& state() const noexcept { return state_; }

  /// The optimizer's class name ("SGD", "Adam", ...), recorded by ark::optim::save.
  virtual const char* name() const = 0;
  /// The state as named tensors (layout in the file comment). Tensors alias the live state.
  StateDict state_dict() const;
  /// Restores state_dict() output of an optimizer with the same groups and param shapes. Tensors
  /// are copied (to each param's dtype and device). Throws ark::Error listing every mismatch.
  void load_state_dict(const StateDict& state_dict);

 protected:
  explicit Optimizer(std::unique_ptr<OptimizerOptions> defaults) : defaults_(std::move(defaults)) {}
  /// Checks the defaults and adds the groups. Subclass constructors call it, so check_options dispatches.
  void init(std::vector<OptimizerParamGroup> param_groups);
  /// The state of `param` as the optimizer creates it at its first update; load_state_dict requires
  /// every tensor this leaves defined (SGD's buffer is created lazily, so it leaves it undefined).
  virtual std::unique_ptr<OptimizerParamState> make_state(const Tensor& param, const OptimizerOptions& group) const = 0;
  /// The state of `param`, created by make_state on first use.
  OptimizerParamState& param_state(const Tensor& param, const OptimizerOptions& group);
  /// Checks a group's options before it is accepted (PyTorch's constructor checks, per group).
  virtual void check_options(const OptimizerOptions& options) const { (void)options; }
  /// `options` as the optimizer's own options type. step() static_casts each group's options, so
  /// check_options refuses, through this, a group given another optimizer's options.
  template <class Options>
  static const Options& options_as(const OptimizerOptions& options, const char* optimizer, const char* type) {
    const auto* o = dynamic_cast<const Options*>(&options);
    ARK_CHECK(o != nullptr, optimizer, ": param group options must be ", type);
    return *o;
  }
  /// step()'s loss: `closure` run with grad mode on (step itself runs under no-grad), or an
  /// undefined tensor without one.
  static Tensor evaluate(const LossClosure& closure);

  std::vector<OptimizerParamGroup> param_groups_;
  StateMap state_;
  std::unique_ptr<OptimizerOptions> defaults_;
};

/// The key of `param` in Optimizer::state(): its TensorImpl address, as libtorch.
std::string param_key(const Tensor& param);

}  // namespace ark::optim
