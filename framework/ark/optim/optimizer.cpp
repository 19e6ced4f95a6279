// Optimizer base: groups, state map, zero_grad, and the flattened state_dict (layout in optimizer.h).
#include "ark/optim/optimizer.h"

#include <charconv>
#include <cstdint>
#include <map>
#include <sstream>
#include <unordered_set>

#include "ark/autograd/grad_mode.h"
#include "ark/ops/ops.h"

namespace ark::optim {

// ---- OptimizerOptions ----
namespace {
std::vector<double> read_field(const OptimizerOptions::FieldRef& ref) {
  if (auto* d = std::get_if<double*>(&ref)) return {**d};
  if (auto* b = std::get_if<bool*>(&ref)) return {**b ? 1.0 : 0.0};
  const auto& t = *std::get<std::tuple<double, double>*>(ref);
  return {std::get<0>(t), std::get<1>(t)};
}

size_t field_size(const OptimizerOptions::FieldRef& ref) {
  return std::holds_alternative<std::tuple<double, double>*>(ref) ? 2 : 1;
}

void write_field(const OptimizerOptions::FieldRef& ref, const std::vector<double>& v) {
  if (auto* d = std::get_if<double*>(&ref)) **d = v[0];
  else if (auto* b = std::get_if<bool*>(&ref)) **b = v[0] != 0.0;
  else *std::get<std::tuple<double, double>*>(ref) = {v[0], v[1]};
}
}  // namespace

std::vector<std::string> OptimizerOptions::hyperparameter_names() const {
  std::vector<std::string> names;
  for (const auto& [key, ref] : fields()) names.emplace_back(key);
  return names;
}

bool OptimizerOptions::has_hyperparameter(const std::string& key) const {
  for (const auto& [k, ref] : fields())
    if (key == k) return true;
  return false;
}

std::vector<double> OptimizerOptions::hyperparameter(const std::string& key) const {
  for (const auto& [k, ref] : fields())
    if (key == k) return read_field(ref);
  ARK_ERROR("optimizer options have no hyperparameter '", key, "'");
}

void OptimizerOptions::set_hyperparameter(const std::string& key, const std::vector<double>& value) {
  for (const auto& [k, ref] : fields()) {
    if (key != k) continue;
    ARK_CHECK(value.size() == field_size(ref), "hyperparameter '", key, "' takes ", field_size(ref),
              " value(s), got ", value.size());
    write_field(ref, value);
    return;
  }
  ARK_ERROR("optimizer options have no hyperparameter '", key, "'");
}

// ---- OptimizerParamGroup ----
OptimizerParamGroup::OptimizerParamGroup(const OptimizerParamGroup& other)
    : params_(other.params_),
      options_(other.options_ ? other.options_->clone() : nullptr),
      initial_lr_(other.initial_lr_) {}

OptimizerParamGroup& OptimizerParamGroup::operator=(const OptimizerParamGroup& other) {
  if (this != &other) {
    params_ = other.params_;
    options_ = other.options_ ? other.options_->clone() : nullptr;
    initial_lr_ = other.initial_lr_;
  }
  return *this;
}

OptimizerOptions& OptimizerParamGroup::options() {
  ARK_CHECK(options_ != nullptr, "OptimizerParamGroup has no options");
  return *options_;
}

const OptimizerOptions& OptimizerParamGroup::options() const {
  ARK_CHECK(options_ != nullptr, "OptimizerParamGroup has no options");
  return *options_;
}

// ---- Optimizer ----
std::string param_key(const Tensor& param) {
  // libtorch formats the pointer with operator<<; to_chars gives the same "0x..." text without a stream.
  char buf[2 + 2 * sizeof(void*)] = {'0', 'x'};
  auto r = std::to_chars(buf + 2, buf + sizeof(buf), reinterpret_cast<uintptr_t>(param.unsafeGetTensorImpl()), 16);
  return std::string(buf, r.ptr);
}

Tensor Optimizer::evaluate(const LossClosure& closure) {
  if (!closure) return {};
  AutoGradMode enable_grad(true);
  return closure();
}

void Optimizer::init(std::vector<OptimizerParamGroup> param_groups) {
  check_options(*defaults_);
  for (const auto& g : param_groups) add_param_group(g);
}

void Optimizer::add_param_group(const OptimizerParamGroup& param_group) {
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : param_groups_)
    for (const auto& p : g.params()) seen.insert(p.unsafeGetTensorImpl());
  for (const auto& p : param_group.params()) {
    ARK_CHECK(p.defined(), "optimizer got an undefined tensor as a parameter");
    ARK_CHECK(p.is_leaf(), "can't optimize a non-leaf Tensor");
    ARK_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, "some parameters appear in more than one parameter group");
  }
  OptimizerParamGroup group(param_group.params(),
                            param_group.has_options() ? param_group.options().clone() : defaults_->clone());
  group.initial_lr() = param_group.initial_lr();
  check_options(group.options());
  param_groups_.push_back(std::move(group));
}

void Optimizer::add_parameters(const std::vector<Tensor>& parameters) {
  ARK_CHECK(!param_groups_.empty(), "add_parameters: the optimizer has no param group to add to");
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : param_groups_)
    for (const auto& p : g.params()) seen.insert(p.unsafeGetTensorImpl());
  for (const auto& p : parameters) {
    ARK_CHECK(p.defined() && p.is_leaf(), "can't optimize a non-leaf Tensor");
    ARK_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, "some parameters appear in more than one parameter group");
  }
  auto& params = param_groups_.front().params();
  params.insert(params.end(), parameters.begin(), parameters.end());
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> all;
  for (const auto& g : param_groups_) all.insert(all.end(), g.params().begin(), g.params().end());
  return all;
}

size_t Optimizer::size() const noexcept {
  size_t n = 0;
  for (const auto& g : param_groups_) n += g.params().size();
  return n;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (auto& group : param_groups_) {
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      Tensor& grad = p.mutable_grad();
      if (set_to_none) {
        grad = Tensor();
        continue;
      }
      if (grad.grad_fn()) grad.detach_();
      else grad.requires_grad_(false);
      grad.zero_();
    }
  }
}

OptimizerParamState& Optimizer::param_state(const Tensor& param, const OptimizerOptions& group) {
  auto& slot = state_[param_key(param)];
  if (!slot) slot = make_state(param, group);
  return *slot;
}

// ---- state_dict ----
namespace {
Tensor field_tensor(const OptimizerOptions::FieldRef& ref) {
  if (auto* d = std::get_if<double*>(&ref)) return scalar_tensor(**d, kDouble);
  if (auto* b = std::get_if<bool*>(&ref)) return scalar_tensor(**b, kBool);
  const auto& t = *std::get<std::tuple<double, double>*>(ref);
  return tensor(std::vector<double>{std::get<0>(t), std::get<1>(t)}, kDouble);
}

std::vector<double> tensor_values(const Tensor& t) {
  Tensor d = t.to(Device(kCPU)).to(kDouble).contiguous();
  const double* p = d.data_ptr<double>();
  return std::vector<double>(p, p + d.numel());
}

std::string join(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

// Splits "state.<i>.<name>" into (i, name); false for any other key.
bool parse_state_key(const std::string& key, int64_t& index, std::string& name) {
  constexpr std::string_view kPrefix = "state.";
  if (key.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  const char* first = key.data() + kPrefix.size();
  const char* last = key.data() + key.size();
  auto r = std::from_chars(first, last, index);
  if (r.ec != std::errc() || r.ptr == first || r.ptr == last || *r.ptr != '.' || index < 0) return false;
  name.assign(r.ptr + 1, last);
  return !name.empty();
}
}  // namespace

StateDict Optimizer::state_dict() const {
  StateDict sd("optimizer state key");
  int64_t index = 0;
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const auto& group = param_groups_[g];
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    std::vector<int64_t> ids(group.params().size());
    for (auto& id : ids) id = index++;
    sd.insert(prefix + "params", tensor(ids, kLong));
    for (const auto& [key, ref] : group.options().fields()) sd.insert(prefix + key, field_tensor(ref));
    if (group.initial_lr()) sd.insert(prefix + "initial_lr", scalar_tensor(*group.initial_lr(), kDouble));
  }
  index = 0;
  for (const auto& group : param_groups_) {
    for (const auto& p : group.params()) {
      const std::string prefix = "state." + std::to_string(index++) + ".";
      auto it = state_.find(param_key(p));
      if (it == state_.end()) continue;
      for (const auto& [key, ref] : it->second->fields()) {
        if (auto* t = std::get_if<Tensor*>(&ref)) {
          if ((*t)->defined()) sd.insert(prefix + key, **t);
        } else {
          sd.insert(prefix + key, scalar_tensor(*std::get<int64_t*>(ref), kLong));
        }
      }
    }
  }
  return sd;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  NoGradGuard no_grad;
  size_t n_groups = 0;
  while (sd.contains("param_groups." + std::to_string(n_groups) + ".params")) ++n_groups;
  ARK_CHECK(n_groups == param_groups_.size(), name(), "::load_state_dict: loaded state dict has ", n_groups,
            " parameter group(s), the optimizer has ", param_groups_.size());

  std::vector<std::string> missing, unexpected, mismatch;
  std::unordered_set<std::string> used;
  auto take = [&](const std::string& key) -> const Tensor* {
    const Tensor* t = sd.find(key);
    if (t) used.insert(key);
    return t;
  };

  // Groups: the saved ids of each group map, in order, onto the optimizer's params (as PyTorch).
  std::vector<std::unique_ptr<OptimizerOptions>> options;
  std::vector<std::optional<double>> initial_lrs;
  std::map<int64_t, std::pair<Tensor, size_t>> by_id;  // saved id -> (param, group)
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const auto& group = param_groups_[g];
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    const Tensor* ids = take(prefix + "params");
    const std::vector<double> id_values = tensor_values(*ids);
    if (ids->dim() != 1 || id_values.size() != group.params().size()) {
      mismatch.push_back(prefix + "params: the loaded group has " + std::to_string(id_values.size()) +
                         " params, the optimizer's has " + std::to_string(group.params().size()));
    } else {
      for (size_t k = 0; k < id_values.size(); ++k)
        by_id[static_cast<int64_t>(id_values[k])] = {group.params()[k], g};
    }
    auto opts = group.options().clone();
    for (const auto& [key, ref] : opts->fields()) {
      const Tensor* t = take(prefix + key);
      if (!t) {
        missing.push_back(prefix + key);
        continue;
      }
      const std::vector<double> v = tensor_values(*t);
      if (v.size() != field_size(ref)) {
        mismatch.push_back(detail::str_cat(prefix, key, ": expected ", field_size(ref), " value(s), got ", v.size()));
        continue;
      }
      write_field(ref, v);
    }
    std::optional<double> initial_lr;
    if (const Tensor* t = take(prefix + "initial_lr")) initial_lr = tensor_values(*t).at(0);
    options.push_back(std::move(opts));
    initial_lrs.push_back(initial_lr);
  }

  // Per-param state: rebuilt from scratch, each entry as make_state would create it, then filled.
  std::map<int64_t, std::vector<std::string>> state_keys;
  for (const auto& item : sd) {
    int64_t index;
    std::string field;
    if (parse_state_key(item.key(), index, field)) state_keys[index].push_back(field);
  }
  StateMap state;
  for (const auto& [index, fields] : state_keys) {
    const std::string prefix = "state." + std::to_string(index) + ".";
    auto it = by_id.find(index);
    if (it == by_id.end()) continue;  // reported as unexpected below
    const Tensor& param = it->second.first;
    auto st = make_state(param, *options[it->second.second]);
    for (const auto& [key, ref] : st->fields()) {
      const Tensor* t = take(prefix + key);
      if (auto* dst = std::get_if<Tensor*>(&ref)) {
        if (!t) {
          if ((*dst)->defined()) missing.push_back(prefix + key);
          continue;
        }
        if (t->sizes() != param.sizes()) {
          mismatch.push_back(detail::str_cat(prefix, key, " expected ", param.sizes(), " got ", t->sizes()));
          continue;
        }
        Tensor copy = empty_like(param);
        copy.copy_(*t);  // own memory: the source may view a mapped file, and state is updated in place
        **dst = copy;
      } else if (!t) {
        missing.push_back(prefix + key);
      } else {
        *std::get<int64_t*>(ref) = static_cast<int64_t>(tensor_values(*t).at(0));
      }
    }
    state[param_key(param)] = std::move(st);
  }
  for (const auto& item : sd)
    if (!used.count(item.key())) unexpected.push_back(item.key());

  if (!missing.empty() || !unexpected.empty() || !mismatch.empty()) {
    std::string msg = std::string(name()) + "::load_state_dict: the state does not fit this optimizer:";
    if (!missing.empty()) msg += " missing: " + join(missing) + ";";
    if (!unexpected.empty()) msg += " unexpected: " + join(unexpected) + ";";
    if (!mismatch.empty()) msg += " mismatch: " + join(mismatch) + ";";
    msg.pop_back();
    ARK_ERROR(msg);
  }
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    param_groups_[g].set_options(std::move(options[g]));
    param_groups_[g].initial_lr() = initial_lrs[g];
  }
  state_ = std::move(state);
}

}  // namespace ark::optim
