// Parity of ark's nn layers with PyTorch 1.13: tools/reference/nn_reference.py builds each torch
// layer with a fixed seed, runs forward and backward and saves state, inputs, outputs and
// gradients; here the same layer is built in ark, the torch state is loaded with
// load_state_dict (strict), and outputs and gradients are compared element-wise:
// |ark - torch| <= tol * max(1, |torch|), tol = 1e-5 unless a case says why it needs more.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>

#include "ark/ark.h"

namespace nn = ark::nn;
using ark::Tensor;

namespace {

long long mtime(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_mtime) : -1;
}

// Generates the reference file once per build tree (again when the script is newer), under a
// file lock so parallel ctest processes wait for one writer. Empty when there is no Python.
std::string reference_path() {
  const std::string script = std::string(ARK_SOURCE_DIR) + "/tools/reference/nn_reference.py";
  const std::string out = std::string(ARK_TEST_DATA) + "/nn_reference.safetensors";
  if (::access(ARK_PYTHON, X_OK) != 0) return {};
  const std::string lock = out + ".lock";
  const int fd = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ARK_CHECK(fd >= 0, "cannot create ", lock);
  ::flock(fd, LOCK_EX);
  int rc = 0;
  std::string cmd;
  if (mtime(out) < mtime(script)) {
    cmd = std::string(ARK_PYTHON) + " -W ignore " + script + " " + out + " > /dev/null";
    rc = std::system(cmd.c_str());
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  ARK_CHECK(rc == 0, "reference generation failed (exit ", rc, "): ", cmd);
  return out;
}

const ark::io::SafetensorsFile* reference() {
  static std::unique_ptr<ark::io::SafetensorsFile> file = [] {
    const std::string path = reference_path();
    return path.empty() ? nullptr : std::make_unique<ark::io::SafetensorsFile>(ark::io::load_safetensors(path));
  }();
  return file.get();
}

Tensor ref_tensor(const std::string& key) {
  const Tensor* t = reference()->tensors.find(key);
  ARK_CHECK(t != nullptr, "reference file has no tensor '", key, "' (regenerate it: delete ", ARK_TEST_DATA,
            "/nn_reference.safetensors)");
  return t->clone();
}

bool has_ref(const std::string& key) { return reference()->tensors.contains(key); }

ark::OrderedDict<std::string, Tensor> ref_state(const std::string& c) {
  ark::OrderedDict<std::string, Tensor> sd;
  const auto it = reference()->metadata.find(c + ".state");
  ARK_CHECK(it != reference()->metadata.end(), "reference file has no case '", c, "'");
  std::stringstream keys(it->second);
  for (std::string k; std::getline(keys, k, ',');) sd.insert(k, ref_tensor(c + "." + k));
  return sd;
}

// Max over elements of |a - r| / max(1, |r|), in float64; prints the first values on failure.
double check_close(const std::string& what, const Tensor& actual, const Tensor& expected, double tol) {
  EXPECT_TRUE(actual.defined()) << what << ": ark produced no tensor";
  if (!actual.defined()) return INFINITY;
  EXPECT_EQ(actual.sizes(), expected.sizes()) << what;
  if (actual.sizes() != expected.sizes()) return INFINITY;
  Tensor a = actual.detach().to(ark::kDouble), r = expected.to(ark::kDouble);
  // Masked-out positions are -inf or NaN on both sides in some cases; compare those exactly.
  Tensor same_nonfinite = (a.isnan().logical_and(r.isnan())).logical_or(a.eq(r).logical_and(r.isinf()));
  Tensor err = ((a - r).abs() / r.abs().clamp_min(1.0)).masked_fill(same_nonfinite, 0.0);
  const double max_err = err.numel() ? err.max().item<double>() : 0.0;
  EXPECT_LE(max_err, tol) << what << ": max normalised diff " << max_err << " > " << tol << "\n  ark:   "
                          << a.reshape({-1}).slice(0, 0, 6) << "\n  torch: " << r.reshape({-1}).slice(0, 0, 6);
  return max_err;
}

using Inputs = std::map<std::string, Tensor>;
using Forward = std::function<std::tuple<Tensor, Tensor>(Inputs&)>;

// Runs one case: load the state, forward, compare, backward, compare gradients (and buffers).
template <class Holder>
void run_case(const std::string& c, Holder module, const Forward& forward, double tol = 1e-5,
              bool after_buffers = false) {
  if (!reference()) GTEST_SKIP() << "no " << ARK_PYTHON << " to generate the PyTorch reference";
  module->load_state_dict(ref_state(c));
  Inputs in;
  for (const char* name : {"input", "key", "value", "key_padding_mask", "attn_mask"}) {
    if (!has_ref(c + "." + name)) continue;
    Tensor t = ref_tensor(c + "." + name);
    const bool is_mask = std::string(name).find("mask") != std::string::npos;
    if (t.is_floating_point() && !is_mask) t.requires_grad_(true);
    in[name] = t;
  }
  auto [out, weights] = forward(in);
  double worst = check_close(c + ".output", out, ref_tensor(c + ".output"), tol);
  if (has_ref(c + ".weights")) worst = std::max(worst, check_close(c + ".weights", weights, ref_tensor(c + ".weights"), tol));
  out.backward(ref_tensor(c + ".grad_output"));
  double worst_grad = 0;
  for (const auto& [name, t] : in)
    if (t.requires_grad())
      worst_grad = std::max(worst_grad, check_close(c + "." + name + "_grad", t.grad(), ref_tensor(c + "." + name + "_grad"), tol));
  for (const auto& p : module->named_parameters()) {
    const std::string key = c + "." + p.key() + ".grad";
    ASSERT_TRUE(has_ref(key)) << "torch has no gradient for " << p.key();
    worst_grad = std::max(worst_grad, check_close(key, p.value().grad(), ref_tensor(key), tol));
  }
  if (after_buffers)
    for (const auto& b : module->named_buffers())
      worst = std::max(worst, check_close(c + ".after." + b.key(), b.value(), ref_tensor(c + ".after." + b.key()), tol));
  std::printf("[ nn-ref   ] %-36s tol %.0e  max diff: forward %.2e, gradients %.2e\n", c.c_str(), tol, worst, worst_grad);
}

// forward(input) for single-input layers.
template <class Holder>
Forward unary(Holder m) {
  return [m](Inputs& in) mutable -> std::tuple<Tensor, Tensor> { return {m->forward(in["input"]), Tensor()}; };
}

Forward mha(nn::MultiheadAttention m, bool need_weights = true) {
  return [m, need_weights](Inputs& in) mutable -> std::tuple<Tensor, Tensor> {
    const Tensor& q = in["input"];
    const Tensor& k = in.count("key") ? in["key"] : q;  // self-attention passes one tensor thrice
    const Tensor& v = in.count("value") ? in["value"] : k;
    return m->forward(q, k, v, in.count("key_padding_mask") ? in["key_padding_mask"] : Tensor(), need_weights,
                      in.count("attn_mask") ? in["attn_mask"] : Tensor());
  };
}

Forward encoder_layer(nn::TransformerEncoderLayer m) {
  return [m](Inputs& in) mutable -> std::tuple<Tensor, Tensor> {
    return {m->forward(in["input"], in.count("attn_mask") ? in["attn_mask"] : Tensor(),
                       in.count("key_padding_mask") ? in["key_padding_mask"] : Tensor()),
            Tensor()};
  };
}

template <class Holder>
void run_unary(const std::string& c, Holder m, double tol = 1e-5, bool after_buffers = false) {
  run_case(c, m, unary(m), tol, after_buffers);
}

// Attention and the encoder layer sum over heads and positions through other kernels than
// PyTorch's (bmm/softmax vs MKL), yet stay within 2e-6 here, so they keep the default 1e-5 too.
constexpr double kAttentionTol = 1e-5;

}  // namespace

TEST(NnReference, Linear) {
  run_unary("linear", nn::Linear(6, 5));
  run_unary("linear_nobias", nn::Linear(nn::LinearOptions(6, 5).bias(false)));
}

TEST(NnReference, Conv1d) {
  run_unary("conv1d", nn::Conv1d(nn::Conv1dOptions(4, 6, 3).stride(2).padding(1)));
  run_unary("conv1d_same", nn::Conv1d(nn::Conv1dOptions(3, 4, 4).padding(ark::kSame).dilation(2)));
}

TEST(NnReference, Conv2d) {
  run_unary("conv2d", nn::Conv2d(nn::Conv2dOptions(4, 6, 3).stride(2).padding(1)));
  run_unary("conv2d_groups_dilation", nn::Conv2d(nn::Conv2dOptions(4, 8, 3).padding(2).dilation(2).groups(2)));
  run_unary("conv2d_same", nn::Conv2d(nn::Conv2dOptions(3, 5, {3, 4}).padding(ark::kSame).dilation({1, 2})));
  run_unary("conv2d_valid_nobias", nn::Conv2d(nn::Conv2dOptions(3, 4, 2).padding(ark::kValid).bias(false)));
  run_unary("conv2d_reflect", nn::Conv2d(nn::Conv2dOptions(3, 4, 3).padding(1).padding_mode(ark::kReflect)));
  run_unary("conv2d_unbatched", nn::Conv2d(nn::Conv2dOptions(2, 3, 3).padding(1)));
  run_unary("conv2d_circular", nn::Conv2d(nn::Conv2dOptions(2, 3, 3).padding({1, 2}).padding_mode(ark::kCircular)));
}

TEST(NnReference, ConvTranspose2d) {
  run_unary("conv_transpose2d", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(4, 6, 3).stride(2).padding(1)
                                                        .output_padding(1)));
  run_unary("conv_transpose2d_groups", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(4, 6, {3, 2}).stride({2, 1})
                                                               .groups(2).dilation({1, 2}).bias(false)));
}

TEST(NnReference, BatchNorm) {
  // Training: batch statistics, running stats updated with momentum, num_batches_tracked += 1.
  run_unary("batchnorm2d_train", nn::BatchNorm2d(5), 1e-5, /*after_buffers=*/true);
  nn::BatchNorm2d eval_bn(nn::BatchNorm2dOptions(5).momentum(0.3));
  eval_bn->eval();
  run_unary("batchnorm2d_eval", eval_bn, 1e-5, /*after_buffers=*/true);
  run_unary("batchnorm1d_train_cumulative", nn::BatchNorm1d(nn::BatchNorm1dOptions(4).momentum(std::nullopt)), 1e-5,
            /*after_buffers=*/true);
  nn::BatchNorm1d no_stats(nn::BatchNorm1dOptions(4).affine(false).track_running_stats(false));
  no_stats->eval();  // without running stats, eval uses batch statistics
  run_unary("batchnorm1d_no_stats_eval", no_stats);
}

TEST(NnReference, LayerGroupRMSNorm) {
  run_unary("layernorm", nn::LayerNorm(nn::LayerNormOptions({4, 5})));
  run_unary("groupnorm", nn::GroupNorm(2, 6));
  run_unary("rmsnorm", nn::RMSNorm(nn::RMSNormOptions({8})));
  run_unary("rmsnorm_eps", nn::RMSNorm(nn::RMSNormOptions({3, 4}).eps(1e-6)));
}

TEST(NnReference, EmbeddingWithPaddingIdx) {
  nn::Embedding emb(nn::EmbeddingOptions(10, 4).padding_idx(-2));
  EXPECT_EQ(*emb->options.padding_idx(), 8);
  run_unary("embedding", emb);
  // The padding row gets no gradient even though index 8 is looked up twice.
  EXPECT_EQ(emb->weight.grad().select(0, 8).abs().sum().item<float>(), 0.f);
}

TEST(NnReference, MultiheadAttention) {
  auto check = [](const std::string& c, nn::MultiheadAttention m, bool need_weights = true) {
    run_case(c, m, mha(m, need_weights), kAttentionTol);
  };
  check("mha_seq_first", nn::MultiheadAttention(8, 2));
  check("mha_batch_first_kpm", nn::MultiheadAttention(nn::MultiheadAttentionOptions(8, 2).batch_first(true)));
  check("mha_cross_kdim", nn::MultiheadAttention(nn::MultiheadAttentionOptions(8, 4).kdim(6).vdim(5)));
  check("mha_cross_batch_first_float_mask",
        nn::MultiheadAttention(nn::MultiheadAttentionOptions(8, 2).batch_first(true)), /*need_weights=*/false);
  check("mha_unbatched", nn::MultiheadAttention(nn::MultiheadAttentionOptions(8, 2).batch_first(true)));
  check("mha_bias_kv_zero_attn",
        nn::MultiheadAttention(nn::MultiheadAttentionOptions(8, 2).add_bias_kv(true).add_zero_attn(true)));
}

TEST(NnReference, TransformerEncoderLayer) {
  auto check = [](const std::string& c, const nn::TransformerEncoderLayerOptions& o) {
    nn::TransformerEncoderLayer m(o);
    m->eval();  // the reference runs in eval mode: dropout off
    run_case(c, m, encoder_layer(m), kAttentionTol);
  };
  check("transformer_relu_postnorm", nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16));
  check("transformer_gelu_prenorm", nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16).activation(ark::kGELU)
                                        .norm_first(true).batch_first(true).layer_norm_eps(1e-6));
  check("transformer_relu_prenorm_batch_first",
        nn::TransformerEncoderLayerOptions(8, 4).dim_feedforward(12).norm_first(true).batch_first(true));
  check("transformer_gelu_postnorm", nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16).activation(ark::kGELU));
}
