// The fine-tuning DataLoader; see loader.h for the contract.
//
// Design: start_epoch starts num_workers threads; worker k loads batches first + k, first + k + W,
// ... (W workers), each one whole (its samples, then collation), and parks it in a map keyed by
// batch number. next() takes batch `cursor` from the map, waiting for it, so delivery is in order
// whatever thread finished first. A worker waits before starting batch b until b < cursor +
// prefetch * W, which bounds the memory held to prefetch batches per worker. Everything a worker
// learns (failed samples, a foreign exception) travels with its batch and is acted on by next() on
// the consumer's thread, in batch order: the skip count, on_skip calls and errors are then the
// same for any number of workers.
//
// Shutdown: a stop flag checked between samples and in every wait, then join. Nothing waits on the
// consumer except the bounded queue, whose wait also wakes on stop, so destroying a loader whose
// consumer stopped early, or restarting the epoch, cannot deadlock.
#include "ark/datasets/loader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <set>
#include <utility>

#include "ark/core/error.h"
#include "ark/core/thread_limit.h"
#include "ark/datasets/augment.h"
#include "ark/ops/ops.h"

namespace ark::datasets {

namespace {

std::string shape_str(const Tensor& t) {
  std::string s = "(";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + ")";
}

}  // namespace

// A loaded batch on its way to the consumer.
struct Loader::Pending {
  Batch batch;
  std::vector<std::pair<int64_t, std::string>> failures;  // (sample, message) of skipped samples
  std::exception_ptr error;                               // anything but ark::Error: rethrown by next()
};

struct Loader::State {
  std::mutex mu;
  std::condition_variable ready;  // a batch was parked (consumer waits)
  std::condition_variable space;  // the consumer took one, or stop (workers wait)
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};

  bool started = false;
  int64_t epoch = 0;
  int64_t cursor = 0;  // the next batch next() delivers
  int64_t end = 0;     // batches in the epoch
  std::vector<int64_t> order;
  std::map<int64_t, Pending> parked;
  std::exception_ptr failed;  // sticky until start_epoch: next() rethrows it

  std::set<int64_t> skipped;  // over all epochs
  std::string first_failure;
};

Loader::Loader(int64_t num_samples, LoadFn load, LoaderOptions options)
    : n_(num_samples), load_(std::move(load)), options_(std::move(options)), state_(std::make_unique<State>()) {
  ARK_CHECK(n_ >= 0, "Loader: expected a non-negative number of samples, got ", n_);
  ARK_CHECK(static_cast<bool>(load_), "Loader: no load function");
  ARK_CHECK(options_.batch_size > 0, "Loader: batch_size must be positive, got ", options_.batch_size);
  ARK_CHECK(options_.num_workers >= 0, "Loader: num_workers must be non-negative, got ", options_.num_workers);
  ARK_CHECK(options_.prefetch >= 1, "Loader: prefetch must be at least 1, got ", options_.prefetch);
  ARK_CHECK(options_.max_bad_fraction >= 0 && options_.max_bad_fraction <= 1,
            "Loader: max_bad_fraction must be in [0, 1], got ", options_.max_bad_fraction);
}

Loader::~Loader() { stop_workers(); }

int64_t Loader::num_batches() const {
  return options_.drop_last ? n_ / options_.batch_size : (n_ + options_.batch_size - 1) / options_.batch_size;
}

int64_t Loader::num_skipped() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return static_cast<int64_t>(state_->skipped.size());
}

void Loader::stop_workers() {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop = true;
  }
  s.space.notify_all();
  for (std::thread& t : s.threads)
    if (t.joinable()) t.join();
  s.threads.clear();
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  ARK_CHECK(epoch >= 0, "Loader::start_epoch: epoch must be non-negative, got ", epoch);
  const int64_t batches = num_batches();
  ARK_CHECK(first_batch >= 0 && first_batch <= batches, "Loader::start_epoch: first_batch must be in [0, ", batches,
            "], got ", first_batch);
  stop_workers();
  State& s = *state_;
  s.stop = false;
  s.started = true;
  s.epoch = epoch;
  s.cursor = first_batch;
  s.end = batches;
  s.parked.clear();
  s.failed = nullptr;
  if (options_.shuffle) {
    s.order = epoch_permutation(n_, options_.seed, epoch);
  } else {
    s.order.resize(static_cast<size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) s.order[static_cast<size_t>(i)] = i;
  }
  for (int k = 0; k < options_.num_workers && first_batch + k < batches; ++k)
    s.threads.emplace_back([this, k, first_batch] { worker(first_batch + k); });
}

// Loads and collates batch b of the current epoch. Returns false when stopped before the end.
bool Loader::load_batch(int64_t b, Pending& out) {
  State& s = *state_;
  const int64_t begin = b * options_.batch_size, stop_at = std::min(n_, begin + options_.batch_size);
  std::vector<Item> items;
  std::vector<int64_t> samples;
  items.reserve(static_cast<size_t>(stop_at - begin));
  for (int64_t pos = begin; pos < stop_at; ++pos) {
    if (s.stop) return false;
    const int64_t index = s.order[static_cast<size_t>(pos)];
    try {
      items.push_back(load_(index, s.epoch));
      samples.push_back(index);
    } catch (const Error& e) {
      out.failures.emplace_back(index, e.msg());
    } catch (...) {
      out.error = std::current_exception();
      return true;
    }
  }
  try {
    if (!items.empty()) out.batch = collate(std::move(items), std::move(samples), options_.pad_id);
  } catch (...) {
    out.error = std::current_exception();
  }
  out.batch.epoch = s.epoch;
  out.batch.index = b;
  return true;
}

void Loader::worker(int64_t first) {
  // One thread per worker already: its ops (resize, to_tensor, ...) run serially instead of
  // each worker opening an OpenMP team as large as the pool.
  ThreadLimitGuard serial(1);
  State& s = *state_;
  const int64_t stride = options_.num_workers;
  const int64_t ahead = static_cast<int64_t>(options_.prefetch) * stride;
  for (int64_t b = first; b < s.end; b += stride) {
    {
      std::unique_lock<std::mutex> lock(s.mu);
      s.space.wait(lock, [&] { return s.stop || b < s.cursor + ahead; });
      if (s.stop) return;
    }
    Pending p;
    bool done;
    try {
      done = load_batch(b, p);
    } catch (...) {  // collation is caught inside; this is bad_alloc and the like
      p.error = std::current_exception();
      done = true;
    }
    if (!done) return;
    const bool fatal = static_cast<bool>(p.error);
    {
      std::lock_guard<std::mutex> lock(s.mu);
      if (s.stop) return;
      s.parked.emplace(b, std::move(p));
    }
    s.ready.notify_all();
    if (fatal) return;  // next() rethrows at this batch; later ones would never be read
  }
}

std::optional<Batch> Loader::next() {
  State& s = *state_;
  if (!s.started) start_epoch(0);
  for (;;) {
    if (s.failed) std::rethrow_exception(s.failed);
    Pending p;
    {
      std::unique_lock<std::mutex> lock(s.mu);
      if (s.cursor >= s.end) return std::nullopt;
      if (options_.num_workers > 0) {
        s.ready.wait(lock, [&] { return s.parked.count(s.cursor) > 0; });
        auto it = s.parked.find(s.cursor);
        p = std::move(it->second);
        s.parked.erase(it);
      }
      ++s.cursor;
    }
    if (options_.num_workers > 0) {
      s.space.notify_all();
    } else {
      load_batch(s.cursor - 1, p);  // on the calling thread
    }
    if (p.error) {
      s.failed = p.error;
      stop_workers();
      std::rethrow_exception(p.error);
    }
    if (!p.failures.empty()) {
      int64_t count;
      {
        std::lock_guard<std::mutex> lock(s.mu);
        for (const auto& [sample, message] : p.failures) {
          if (s.first_failure.empty()) s.first_failure = "sample " + std::to_string(sample) + ": " + message;
          s.skipped.insert(sample);
        }
        count = static_cast<int64_t>(s.skipped.size());
      }
      if (options_.on_skip)
        for (const auto& [sample, message] : p.failures) options_.on_skip("sample " + std::to_string(sample) + ": " + message);
      // The tolerance: max_bad_fraction of the samples, at least one unless the fraction is 0.
      const double fraction = options_.max_bad_fraction * static_cast<double>(n_);
      const int64_t allowed = options_.max_bad_fraction > 0 ? std::max<int64_t>(1, static_cast<int64_t>(std::floor(fraction))) : 0;
      if (count > allowed) {
        try {
          ARK_ERROR("Loader: ", count, " of ", n_, " samples failed to load, more than max_bad_fraction = ",
                    options_.max_bad_fraction, " allows (", allowed, "); first failure: ", s.first_failure);
        } catch (...) {
          s.failed = std::current_exception();
        }
        stop_workers();
        std::rethrow_exception(s.failed);
      }
    }
    if (p.batch.size() == 0) continue;  // every sample failed: the batch is skipped
    return std::move(p.batch);
  }
}

Batch collate(std::vector<Item> items, std::vector<int64_t> samples, int64_t pad_id) {
  ARK_CHECK(items.size() == samples.size(), "collate: ", items.size(), " items but ", samples.size(), " sample indices");
  Batch batch;
  const auto b = static_cast<int64_t>(items.size());
  batch.samples = std::move(samples);
  batch.labels = empty({b}, kLong);
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) labels[i] = items[static_cast<size_t>(i)].label;
  if (b == 0) return batch;
  auto sample = [&](int64_t i) { return batch.samples[static_cast<size_t>(i)]; };

  const bool images = items[0].image.defined();
  for (int64_t i = 1; i < b; ++i)
    ARK_CHECK(items[static_cast<size_t>(i)].image.defined() == images, "collate: sample ", sample(0),
              images ? " has an image and sample " : " has no image and sample ", sample(i),
              images ? " has none (a batch is all images or all texts)" : " has one (a batch is all images or all texts)");
  if (images) {
    const Tensor& first = items[0].image;
    ARK_CHECK(first.scalar_type() == kFloat && first.dim() == 3, "collate: sample ", sample(0),
              ": expected a float32 (C, H, W) image, got ", dtype_name(first.scalar_type()), " ", shape_str(first));
    const int64_t c = first.size(0), h = first.size(1), w = first.size(2), plane = c * h * w;
    batch.inputs = empty({b, c, h, w}, kFloat);
    float* dst = batch.inputs.data_ptr<float>();
    for (int64_t i = 0; i < b; ++i) {
      const Tensor& img = items[static_cast<size_t>(i)].image;
      ARK_CHECK(img.scalar_type() == kFloat && img.dim() == 3 && img.size(0) == c && img.size(1) == h && img.size(2) == w,
                "collate: sample ", sample(i), " has a ", dtype_name(img.scalar_type()), " ", shape_str(img),
                " image but sample ", sample(0), " a float32 ", shape_str(first),
                " one (every image of a batch must have the same size)");
      const Tensor src = img.contiguous();
      std::copy_n(src.data_ptr<float>(), plane, dst + i * plane);
    }
    return batch;
  }

  int64_t t = 0;
  for (int64_t i = 0; i < b; ++i) {
    const Item& it = items[static_cast<size_t>(i)];
    ARK_CHECK(it.token_type_ids.empty() || it.token_type_ids.size() == it.input_ids.size(), "collate: sample ",
              sample(i), " has ", it.token_type_ids.size(), " token_type_ids for ", it.input_ids.size(), " input_ids");
    t = std::max<int64_t>(t, static_cast<int64_t>(it.input_ids.size()));
  }
  batch.input_ids = full({b, t}, pad_id, kLong);
  batch.attention_mask = zeros({b, t}, kLong);
  batch.token_type_ids = zeros({b, t}, kLong);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* mask = batch.attention_mask.data_ptr<int64_t>();
  int64_t* types = batch.token_type_ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const Item& it = items[static_cast<size_t>(i)];
    const auto len = static_cast<int64_t>(it.input_ids.size());
    std::copy_n(it.input_ids.data(), len, ids + i * t);
    std::fill_n(mask + i * t, len, int64_t{1});
    if (!it.token_type_ids.empty()) std::copy_n(it.token_type_ids.data(), len, types + i * t);
  }
  return batch;
}

}  // namespace ark::datasets
