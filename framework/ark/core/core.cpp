// Small definitions of the core types: errors, dtype promotion, devices, storage, TensorImpl,
// the random generator and the thread-count settings.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>

#include "ark/core/device.h"
#include "ark/core/dtype.h"
#include "ark/core/error.h"
#include "ark/core/generator.h"
#include "ark/core/parallel.h"
#include "ark/core/storage.h"
#include "ark/core/tensor.h"
#include "ark/core/thread_limit.h"

#ifdef ARK_HAVE_OPENBLAS
extern "C" void openblas_set_num_threads(int);
#endif

namespace ark {

namespace detail {
void throw_error(const char* file, int line, std::string msg) {
  const char* base = std::strrchr(file, '/');
  throw Error(std::move(msg), std::string(base ? base + 1 : file) + ":" + std::to_string(line));
}
}  // namespace detail

ScalarType promote_types(ScalarType a, ScalarType b) {
  if (a == b) return a;
  // Order within categories: bool < uint8 < int32 < int64 < (float16, bfloat16) < float32 < float64.
  auto rank = [](ScalarType t) {
    switch (t) {
      case kBool: return 0; case kByte: return 1; case kInt: return 2; case kLong: return 3;
      case kHalf: return 4; case kBFloat16: return 4; case kFloat: return 5; case kDouble: return 6;
      default: ARK_ERROR("promote_types: undefined dtype");
    }
  };
  if ((a == kHalf && b == kBFloat16) || (a == kBFloat16 && b == kHalf)) return kFloat;
  return rank(a) >= rank(b) ? a : b;
}

Device::Device(const std::string& spec) : type_(kCPU), index_(-1) {
  std::string s = spec;
  const auto colon = s.find(':');
  std::string name = s.substr(0, colon);
  if (name == "cpu") type_ = kCPU;
  else if (name == "cuda") type_ = kCUDA;
  else ARK_ERROR("unknown device '", spec, "': expected 'cpu', 'cuda' or 'cuda:N'");
  if (colon != std::string::npos) {
    const std::string idx = s.substr(colon + 1);
    ARK_CHECK(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 3,
              "invalid device index in '", spec, "'");
    index_ = static_cast<int8_t>(std::stoi(idx));
  }
}

std::string Device::str() const {
  std::string s = is_cpu() ? "cpu" : "cuda";
  if (index_ >= 0) s.append(":").append(std::to_string(index_));
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter) {
  return std::make_shared<Storage>(data, nbytes, device, std::move(deleter));
}

namespace {
// Packing and unpacking are rare (once per weight and layout): one lock for all storages.
std::mutex& packing_mutex() {
  static std::mutex mu;
  return mu;
}
}  // namespace

std::shared_ptr<const void> Storage::packed_layout() const {
  std::lock_guard<std::mutex> lock(packing_mutex());
  return packed_layout_;
}

void Storage::pack(std::shared_ptr<const void> layout, const std::function<void(void*)>& pack,
                   std::function<void(void*)> unpack) {
  ARK_CHECK(packing_allowed_, "Storage::pack: packing was not allowed for this storage");
  std::lock_guard<std::mutex> lock(packing_mutex());
  if (packed_.load(std::memory_order_relaxed)) {  // another layout: back to plain first
    unpack_(data_);
    packed_.store(false, std::memory_order_release);
  }
  pack(data_);
  packed_layout_ = std::move(layout);
  unpack_ = std::move(unpack);
  packed_.store(true, std::memory_order_release);
}

void Storage::unpack() const {
  std::lock_guard<std::mutex> lock(packing_mutex());
  if (!packed_.load(std::memory_order_relaxed)) return;  // another thread got here first
  unpack_(data_);
  packed_layout_.reset();
  unpack_ = nullptr;
  packed_.store(false, std::memory_order_release);
}

TensorImpl::TensorImpl(std::shared_ptr<Storage> st, DimVector sz, DimVector str, int64_t off, ScalarType dt)
    : storage(std::move(st)), sizes(std::move(sz)), strides(std::move(str)), offset(off), dtype(dt) {
  refresh();
}

TensorImpl::~TensorImpl() = default;

AutogradMeta& TensorImpl::autograd_meta() {
  if (!autograd) autograd = std::make_unique<AutogradMeta>();
  return *autograd;
}

void TensorImpl::refresh() {
  numel = 1;
  for (int64_t s : sizes) numel *= s;
  contiguous = true;
  int64_t expected = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (sizes[i] == 1) continue;
    if (strides[i] != expected) { contiguous = false; break; }
    expected *= sizes[i];
  }
  if (numel == 0) contiguous = true;
}

// ---- random ----
double Generator::normal() {
  // Box-Muller, caching the second value.
  if (next_normal_valid_) {
    next_normal_valid_ = false;
    return next_normal_;
  }
  double u1 = uniform_double(), u2 = uniform_double();
  if (u1 < 1e-300) u1 = 1e-300;
  const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * 3.14159265358979323846 * u2;
  next_normal_ = r * std::sin(th);
  next_normal_valid_ = true;
  return r * std::cos(th);
}

std::string Generator::get_state() const {
  std::ostringstream os;
  os << seed_ << ' ' << engine_ << ' ' << next_normal_valid_ << ' ';
  os.precision(17);
  os << next_normal_;
  return os.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream is(state);
  uint64_t seed;
  std::mt19937_64 eng;
  bool valid;
  double nn;
  is >> seed >> eng >> valid >> nn;
  ARK_CHECK(!is.fail(), "Generator::set_state: malformed generator state");
  seed_ = seed;
  engine_ = eng;
  next_normal_valid_ = valid;
  next_normal_ = nn;
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}
void manual_seed(uint64_t seed) { default_generator().set_current_seed(seed); }

// ---- threads ----
namespace {
int initial_threads() {
  if (const char* env = std::getenv("ARK_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}
int& thread_setting() {
  static int n = [] {
    const int v = initial_threads();
#ifdef _OPENMP
    omp_set_num_threads(v);
#endif
#ifdef ARK_HAVE_OPENBLAS
    openblas_set_num_threads(v);
#endif
    return v;
  }();
  return n;
}
}  // namespace

void set_num_threads(int n) {
  ARK_CHECK(n > 0, "set_num_threads: expected a positive number of threads, got ", n);
  thread_setting() = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
#ifdef ARK_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#endif
}
// ThreadLimitGuard's cap for the calling thread (0: none).
static thread_local int thread_cap = 0;

int get_num_threads() { return thread_cap > 0 ? std::min(thread_cap, thread_setting()) : thread_setting(); }

ThreadLimitGuard::ThreadLimitGuard(int n) : previous_cap_(thread_cap), previous_omp_(0) {
  ARK_CHECK(n > 0, "ThreadLimitGuard: expected a positive number of threads, got ", n);
  thread_cap = n;
#ifdef _OPENMP
  previous_omp_ = omp_get_max_threads();
  omp_set_num_threads(std::min(n, previous_omp_));  // this thread's ICV only
#endif
}
ThreadLimitGuard::~ThreadLimitGuard() {
  thread_cap = previous_cap_;
#ifdef _OPENMP
  omp_set_num_threads(previous_omp_);
#endif
}
bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

}  // namespace ark
