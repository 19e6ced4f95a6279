// Grad-CAM and attention rollout. ref: pytorch-grad-cam (jacobgil, base_cam.py / grad_cam.py) and
// vit-explain (jacobgil, vit_rollout.py); the departures are listed in cam.h.
#include "ark/models/cam.h"

#include <functional>
#include <utility>
#include <vector>

#include "ark/models/registry.h"
#include "ark/models/vit.h"

namespace ark::models {

namespace {

// Puts the model in eval mode and restores every module's own flag on exit: model.train(was)
// would flatten a mixed state (a fine-tuning loop that keeps frozen BatchNorms in eval mode).
class EvalModeGuard {
 public:
  explicit EvalModeGuard(nn::Module& model) : model_(model) {
    model_.apply([this](nn::Module& m) { flags_.push_back(m.is_training()); });
    model_.eval();
  }
  ~EvalModeGuard() {
    // apply() is pre-order and train() recurses, so each module's own flag is written last.
    size_t i = 0;
    model_.apply([&](nn::Module& m) {
      if (i < flags_.size()) m.train(flags_[i++]);
    });
  }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  nn::Module& model_;
  std::vector<bool> flags_;
};

// Removes a forward hook when it goes out of scope, also when the forward throws.
struct HookGuard {
  nn::RemovableHandle handle;
  ~HookGuard() { handle.remove(); }
};

void check_input(const Tensor& input, const char* fn) {
  ARK_CHECK(input.defined(), fn, ": the input tensor is undefined");
  ARK_CHECK(input.dim() == 4 && input.size(0) == 1 && input.size(2) > 0 && input.size(3) > 0, fn,
            ": expected one image (1, C, H, W), got ", input.sizes());
  ARK_CHECK(is_floating_point(input.scalar_type()), fn, ": expected a floating-point image, got ", input.scalar_type());
}

// The classifier's output for one image, (1, num_classes); checks `target` or picks the top-1 class.
int64_t resolve_target(const Tensor& logits, std::optional<int64_t> target, const VisionModel& model, const char* fn) {
  ARK_CHECK(logits.defined() && logits.dim() == 2 && logits.size(0) == 1 && model.num_classes() > 0, fn, ": ",
            model.name(),
            " has no classifier (num_classes = ", model.num_classes(), ", output ", logits.sizes(),
            "): a class map needs (1, num_classes) logits");
  const int64_t n = logits.size(1);
  if (!target) return logits.argmax(1).item<int64_t>();
  ARK_CHECK(*target >= 0 && *target < n, fn, ": target class ", *target, " is out of range for ", n, " classes");
  return *target;
}

// (h, w) map -> float32 (H, W): bilinear (align_corners=False, as pytorch-grad-cam's cv2.resize),
// then min-max scaled to [0, 1]; a constant map (no evidence anywhere) becomes all zeros.
Tensor to_heatmap(const Tensor& map, int64_t H, int64_t W) {
  Tensor up = ark::upsample_bilinear2d(map.to(kFloat).reshape({1, 1, map.size(0), map.size(1)}), {H, W}, false)
                  .reshape({H, W});
  const double lo = up.min().item<double>(), hi = up.max().item<double>();
  if (!(hi > lo)) return ark::zeros({H, W});
  return (up - lo) / (hi - lo);
}

// " (did you mean 'layer1', 'layer2', 'layer3' or 'layer4'?)": every module name at the smallest
// edit distance, since sibling stages tie (layer5 is one edit from each of layer1..layer4).
std::string did_you_mean(const std::vector<std::string>& names, const std::string& name) {
  size_t best_d = name.size() / 2 + 2;  // beyond that a suggestion is noise
  std::vector<std::string> best;
  for (const auto& n : names) {
    const size_t d = edit_distance(n, name);
    if (d < best_d) best_d = d, best.clear();
    if (d == best_d && best.size() < 6) best.push_back(n);
  }
  if (best.empty()) return "";
  std::string s = " (did you mean ";
  for (size_t i = 0; i < best.size(); ++i)
    s += (i == 0 ? "'" : i + 1 == best.size() ? " or '" : ", '") + best[i] + "'";
  return s + "?)";
}

}  // namespace

CamResult grad_cam(VisionModel& model, const Tensor& input, std::optional<int64_t> target, const std::string& layer) {
  check_input(input, "grad_cam");
  std::string name = layer;
  if (name.empty()) {
    const auto info = model.feature_info();
    ARK_CHECK(!info.empty(), "grad_cam: ", model.name(), " lists no feature maps (feature_info); name the layer");
    name = info.back().module;
  }
  nn::Module* module = nullptr;
  std::vector<std::string> names;
  model.apply([&](const std::string& n, nn::Module& m) {
    if (n.empty()) return;  // the model itself: its output is the logits, never a feature map
    names.push_back(n);
    if (n == name) module = &m;
  });
  ARK_CHECK(module, "grad_cam: ", model.name(), " has no module '", name, "'", did_you_mean(names, name));

  EvalModeGuard eval(model);
  // The layer's output is swapped for a detached leaf that requires grad, so autograd::grad(logit,
  // A) stops at A and accumulates into no parameter's .grad(). Below the layer nothing is
  // differentiated, so the forward runs without recording up to it (no activations saved for a
  // backward that never comes) and the hook turns recording on for the rest. A module run more
  // than once (a shared activation) is explained at its last call, the one nearest the classifier.
  Tensor A, logits;
  int calls = 0;
  {
    AutoGradMode recording(false);  // restores the caller's mode (which may be no-grad) on exit
    HookGuard hook{module->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) -> Tensor {
      ++calls;
      GradMode::set_enabled(true);
      if (!out.defined() || !is_floating_point(out.scalar_type())) return A = out;  // rejected below
      A = out.detach();
      A.requires_grad_(true);
      return A;
    })};
    logits = model.forward(input);
  }

  ARK_CHECK(calls > 0 && A.defined(), "grad_cam: module '", name, "' of ", model.name(),
            " did not run in the forward (its output is computed another way), so it has no activation to explain");
  ARK_CHECK(A.dim() == 4 && A.size(0) == 1 && is_floating_point(A.scalar_type()), "grad_cam: module '", name,
            "' outputs ", A.sizes(), " ", A.scalar_type(),
            ", not a floating-point spatial feature map (1, C, h, w); Grad-CAM needs a convolutional layer (for a "
            "VisionTransformer, use attention_rollout)");
  const int64_t t = resolve_target(logits, target, model, "grad_cam");

  std::vector<Tensor> grads;
  if (logits.requires_grad()) {
    AutoGradMode recording(true);
    grads = autograd::grad({logits.select(0, 0).select(0, t)}, {A}, {}, false, false, /*allow_unused=*/true);
  }
  NoGradGuard no_grad;
  Tensor act = A.detach();
  Tensor cam;
  if (grads.empty() || !grads[0].defined()) {
    cam = ark::zeros({A.size(2), A.size(3)});  // the logit does not depend on this layer: no evidence
  } else {
    Tensor weights = grads[0].mean({2, 3}, true);                  // (1, K, 1, 1): global-average-pooled dA
    cam = (weights * act).sum({1}).select(0, 0).clamp_min(0.0);    // relu(sum_k w_k A_k), (h, w)
  }
  return {to_heatmap(cam, input.size(2), input.size(3)), t, logits.detach(), name};
}

CamResult attention_rollout(VisionModel& model, const Tensor& input, HeadFusion fusion, double discard_ratio) {
  check_input(input, "attention_rollout");
  auto* vit = dynamic_cast<VisionTransformer*>(&model);
  ARK_CHECK(vit, "attention_rollout: needs a VisionTransformer (models/vit.h), got ", model.name(),
            "; use grad_cam for convolutional models");
  ARK_CHECK(discard_ratio >= 0.0 && discard_ratio < 1.0, "attention_rollout: discard_ratio must be in [0, 1), got ",
            discard_ratio);

  auto& blocks = vit->encoder->blocks;
  ARK_CHECK(!blocks.empty(), "attention_rollout: ", model.name(), " has no encoder blocks");

  EvalModeGuard eval(model);
  NoGradGuard no_grad;
  std::vector<Tensor> probs;
  // Chains to (and afterwards restores) a callback the caller may have set, also when the forward throws.
  struct CaptureGuard {
    std::vector<EncoderBlock>& blocks;
    std::vector<std::function<void(const Tensor&)>> saved;
    ~CaptureGuard() {
      for (size_t i = 0; i < saved.size(); ++i) blocks[i]->on_attention_probs = std::move(saved[i]);
    }
  } capture{blocks, {}};
  for (auto& b : blocks) {
    capture.saved.push_back(b->on_attention_probs);
    b->on_attention_probs = [&probs, outer = b->on_attention_probs](const Tensor& p) {
      probs.push_back(p);
      if (outer) outer(p);
    };
  }
  Tensor logits = model.forward(input);
  ARK_CHECK(probs.size() == blocks.size(), "attention_rollout: captured ", probs.size(), " attention maps from ",
            blocks.size(), " encoder blocks");

  const int64_t T = probs.front().size(-1);
  Tensor eye = ark::eye(T, TensorOptions().dtype(kDouble));
  Tensor result = eye;
  for (const Tensor& p : probs) {  // (1, heads, T, T)
    Tensor heads = p.select(0, 0).to(kFloat);
    Tensor fused = fusion == HeadFusion::kMean  ? heads.mean({0})
                   : fusion == HeadFusion::kMax ? heads.amax({0})
                                                : heads.amin({0});
    fused = fused.contiguous().clone();  // (T, T), written below
    // Drop the lowest discard_ratio of the T*T entries, never the class token's attention to
    // itself (vit-explain's flat index 0). Chosen in float32, as the reference picks them.
    const auto k = static_cast<int64_t>(static_cast<double>(T * T) * discard_ratio);
    if (k > 0) {
      Tensor idx = std::get<1>(fused.view({T * T}).topk(k, -1, /*largest=*/false)).contiguous();
      float* f = fused.data_ptr<float>();
      const int64_t* ix = idx.data_ptr<int64_t>();
      for (int64_t i = 0; i < k; ++i)
        if (ix[i] != 0) f[ix[i]] = 0.0f;
    }
    Tensor a = (fused.to(kDouble) + eye) * 0.5;  // the residual connection, as half the flow
    a = a / a.sum({1}, true);                     // each row a distribution again
    result = ark::matmul(a, result);
  }
  const int64_t G = vit->grid_size();
  ARK_CHECK(T == 1 + G * G, "attention_rollout: ", T, " tokens for a ", G, "x", G, " patch grid");
  Tensor mask = result.select(0, 0).narrow(0, 1, G * G).reshape({G, G});  // class token -> patches
  const int64_t t = model.num_classes() > 0 ? resolve_target(logits, std::nullopt, model, "attention_rollout") : -1;
  return {to_heatmap(mask, input.size(2), input.size(3)), t, logits, ""};
}

CamResult explain(VisionModel& model, const Tensor& input, std::optional<int64_t> target) {
  if (!dynamic_cast<VisionTransformer*>(&model)) return grad_cam(model, input, target);
  CamResult r = attention_rollout(model, input);
  if (target) r.target = resolve_target(r.logits, target, model, "explain");
  return r;
}

}  // namespace ark::models
