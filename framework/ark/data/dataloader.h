// The DataLoader of torch::data: make_data_loader(dataset, options) -> unique_ptr<StatelessDataLoader>,
// iterated with range-for; each begin() resets the sampler, i.e. starts a new epoch.
//
// Workers. With workers(n) > 0, n std::threads each own a copy of the dataset (cheap for
// datasets of tensor handles: the copies share storage) and turn batch requests into batches;
// the consumer keeps at most max_jobs (default 2n) requests in flight, so memory stays bounded.
// With enforce_ordering (the default) batches come out in sampler order, so a run with workers
// yields exactly the batches of a run without. An exception thrown while making a batch is
// caught in the worker and rethrown in the consumer when it reaches that batch; the epoch goes
// on after it. Destruction (or join()) stops the workers once their current batch is done.
//
// Threads and OpenMP. ark's kernels parallelise with OpenMP, and parallel_for runs serially only
// inside an OpenMP region, which a std::thread is not; a worker running big kernels would thus
// start a second OpenMP team beside the training loop's and oversubscribe the cores. The choice
// here: per-example work and collation stay below parallel_for's grain (an MNIST example is 784
// floats; ark::stack copies example by example), so the workers of the stock pipelines never
// open a team, and parallelism in the loader comes from the number of workers. Each worker also
// sets its own OpenMP thread count to 1, which OpenBLAS's and oneDNN's OpenMP builds read for
// calls made from that thread; ark's parallel_for sizes its team by the process-wide
// ark::get_num_threads() instead, so a custom transform that runs large ark kernels in workers
// should be paired with a lower ark::set_num_threads().
//
// Differences from libtorch: begin() while a previous epoch is still in flight is allowed (the
// old epoch's pending batches are dropped) where libtorch throws; no StatefulDataLoader.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ark/core/error.h"
#include "ark/data/samplers.h"

namespace ark::data {

struct DataLoaderOptions {
  DataLoaderOptions() = default;
  DataLoaderOptions(size_t batch_size) : batch_size_(batch_size) {}  // NOLINT: implicit, as libtorch

#define ARK_DATA_ARG(T, name)                         \
  DataLoaderOptions& name(const T& new_##name) {      \
    name##_ = new_##name;                             \
    return *this;                                     \
  }                                                   \
  const T& name() const noexcept { return name##_; }  \
  T& name() noexcept { return name##_; }
  ARK_DATA_ARG(size_t, batch_size)
  /// Threads that make batches in the background; 0 makes them on the consumer's thread.
  ARK_DATA_ARG(size_t, workers)
  /// Most batch requests in flight at once (default 2 * workers).
  ARK_DATA_ARG(std::optional<size_t>, max_jobs)
  /// Longest wait for one batch from the workers before throwing.
  ARK_DATA_ARG(std::optional<std::chrono::milliseconds>, timeout)
  /// Deliver batches in sampler order (else in the order workers finish them).
  ARK_DATA_ARG(bool, enforce_ordering)
  /// Drop the last batch of an epoch if it is smaller than batch_size.
  ARK_DATA_ARG(bool, drop_last)
#undef ARK_DATA_ARG

 private:
  size_t batch_size_ = 1;
  size_t workers_ = 0;
  std::optional<size_t> max_jobs_;
  std::optional<std::chrono::milliseconds> timeout_;
  bool enforce_ordering_ = true;
  bool drop_last_ = false;
};

/// The options with defaults resolved.
struct FullDataLoaderOptions {
  explicit FullDataLoaderOptions(const DataLoaderOptions& options)
      : batch_size(options.batch_size()),
        workers(options.workers()),
        max_jobs(options.max_jobs().value_or(2 * options.workers())),
        timeout(options.timeout()),
        enforce_ordering(options.enforce_ordering()),
        drop_last(options.drop_last()) {}

  size_t batch_size;
  size_t workers;
  size_t max_jobs;
  std::optional<std::chrono::milliseconds> timeout;
  bool enforce_ordering;
  bool drop_last;
};

/// An input iterator over the batches of one epoch. The batch is fetched lazily, on the first
/// comparison or dereference after construction or ++, so begin() itself does no work.
template <class Batch>
class Iterator {
 public:
  using difference_type = std::ptrdiff_t;
  using value_type = Batch;
  using pointer = Batch*;
  using reference = Batch&;
  using iterator_category = std::input_iterator_tag;

  Iterator() = default;  // the end sentinel
  explicit Iterator(std::function<std::optional<Batch>()> next) : next_(std::move(next)) {}

  Iterator& operator++() {
    fetch();
    ARK_CHECK(batch_.has_value(), "DataLoader: incremented an iterator that is past the end");
    batch_.reset();
    fetched_ = false;
    return *this;
  }
  Batch& operator*() {
    fetch();
    ARK_CHECK(batch_.has_value(), "DataLoader: dereferenced an iterator that is past the end");
    return *batch_;
  }
  Batch* operator->() { return &**this; }
  /// Only an iterator and the end sentinel compare meaningfully, as in libtorch.
  bool operator==(const Iterator& other) const {
    ARK_CHECK(!next_ || !other.next_, "DataLoader: cannot compare two iterators that are both not at the end");
    return exhausted() && other.exhausted();
  }

 private:
  void fetch() const {
    if (next_ && !fetched_) {
      batch_ = next_();
      fetched_ = true;
    }
  }
  bool exhausted() const {
    fetch();
    return !batch_.has_value();
  }

  std::function<std::optional<Batch>()> next_;  // empty: the end sentinel
  mutable std::optional<Batch> batch_;
  mutable bool fetched_ = false;
};

namespace detail {
inline void configure_worker_thread() {
#ifdef _OPENMP
  omp_set_num_threads(1);  // per-thread ICV: this worker's OpenBLAS/oneDNN calls stay serial
#endif
}
}  // namespace detail

template <class Dataset, class Sampler>
class StatelessDataLoader {
 public:
  using BatchType = typename Dataset::BatchType;
  using BatchRequestType = typename Sampler::BatchRequestType;

  StatelessDataLoader(Dataset dataset, Sampler sampler, DataLoaderOptions options)
      : options_(options), sampler_(std::move(sampler)) {
    ARK_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be positive");
    ARK_CHECK(options_.workers == 0 || options_.max_jobs > 0, "DataLoader: max_jobs must be positive with workers");
    try {
      for (size_t w = 0; w < options_.workers; ++w)
        workers_.emplace_back([this, dataset]() mutable { worker_thread(dataset); });  // each its own copy
    } catch (...) {
      join();
      throw;
    }
    if (options_.workers == 0) main_thread_dataset_ = std::make_unique<Dataset>(std::move(dataset));
  }
  StatelessDataLoader(const StatelessDataLoader&) = delete;
  StatelessDataLoader& operator=(const StatelessDataLoader&) = delete;
  ~StatelessDataLoader() { join(); }

  /// Starts a new epoch: resets the sampler and (with workers) queues the first max_jobs requests.
  Iterator<BatchType> begin() {
    reset();
    return Iterator<BatchType>([this] { return next(); });
  }
  Iterator<BatchType> end() { return Iterator<BatchType>(); }

  /// Stops the workers (after their current batch) and waits for them; the loader is unusable after.
  void join() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    job_cv_.notify_all();
    result_cv_.notify_all();
    for (std::thread& w : workers_)
      if (w.joinable()) w.join();
    workers_.clear();
  }

  const FullDataLoaderOptions& options() const noexcept { return options_; }

 private:
  struct Job {
    uint64_t epoch;
    uint64_t sequence;
    BatchRequestType request;
  };
  struct Result {
    std::optional<BatchType> batch;
    std::exception_ptr error;
  };

  std::optional<BatchRequestType> get_batch_request() {
    auto indices = sampler_.next(options_.batch_size);
    if (!indices || (indices->size() < options_.batch_size && options_.drop_last)) return std::nullopt;
    return indices;
  }

  void reset() {
    sampler_.reset(std::nullopt);
    if (options_.workers == 0) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ARK_CHECK(!stop_, "DataLoader: iterated after join()");
      ++epoch_;  // running jobs of the old epoch finish, and their results are dropped
      jobs_.clear();
      results_.clear();
      in_flight_ = 0;
      next_job_ = next_result_ = 0;
    }
    prefetch(options_.max_jobs);
  }

  /// Queues up to n more requests (consumer thread only: the sampler is not shared).
  void prefetch(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      auto request = get_batch_request();
      if (!request) return;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        jobs_.push_back(Job{epoch_, next_job_++, std::move(*request)});
        ++in_flight_;
      }
      job_cv_.notify_one();
    }
  }

  std::optional<BatchType> next() {
    if (options_.workers == 0) {
      auto request = get_batch_request();
      if (!request) return std::nullopt;
      return main_thread_dataset_->get_batch(std::move(*request));
    }
    Result result;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto ready = [&] {
        if (stop_ || in_flight_ == 0) return true;
        return options_.enforce_ordering ? results_.count(next_result_) > 0 : !results_.empty();
      };
      if (options_.timeout) {
        ARK_CHECK(result_cv_.wait_for(lock, *options_.timeout, ready), "DataLoader: timed out after ",
                  options_.timeout->count(), " ms waiting for a batch from the workers");
      } else {
        result_cv_.wait(lock, ready);
      }
      ARK_CHECK(!stop_, "DataLoader: iterated after join()");
      if (in_flight_ == 0) return std::nullopt;
      auto it = options_.enforce_ordering ? results_.find(next_result_) : results_.begin();
      result = std::move(it->second);
      results_.erase(it);
      --in_flight_;
      ++next_result_;
    }
    prefetch(1);
    if (result.error) std::rethrow_exception(result.error);
    return std::move(result.batch);
  }

  void worker_thread(Dataset& dataset) {
    detail::configure_worker_thread();
    for (;;) {
      std::optional<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        job_cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        job.emplace(std::move(jobs_.front()));
        jobs_.pop_front();
      }
      Result result;
      try {
        result.batch.emplace(dataset.get_batch(std::move(job->request)));
      } catch (...) {
        result.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (job->epoch != epoch_) continue;  // begin() started a new epoch meanwhile
        results_.emplace(job->sequence, std::move(result));
      }
      result_cv_.notify_all();
    }
  }

  FullDataLoaderOptions options_;
  Sampler sampler_;
  std::unique_ptr<Dataset> main_thread_dataset_;  // workers == 0 only

  std::mutex mutex_;
  std::condition_variable job_cv_, result_cv_;
  std::deque<Job> jobs_;                  // queued, not yet taken by a worker
  std::map<uint64_t, Result> results_;    // finished, by sequence number
  size_t in_flight_ = 0;                  // queued + running + finished but not yet consumed
  uint64_t epoch_ = 0, next_job_ = 0, next_result_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

/// The loader for `dataset` drawing batches of indices from `sampler`.
template <class Dataset, class Sampler>
  requires(!Dataset::is_stateful) && requires { typename Sampler::BatchRequestType; }
std::unique_ptr<StatelessDataLoader<Dataset, Sampler>> make_data_loader(Dataset dataset, Sampler sampler,
                                                                         DataLoaderOptions options) {
  return std::make_unique<StatelessDataLoader<Dataset, Sampler>>(std::move(dataset), std::move(sampler), options);
}

/// The loader for `dataset` with a Sampler built from the dataset's size (RandomSampler by default).
template <class Sampler = samplers::RandomSampler, class Dataset>
  requires(!Dataset::is_stateful) && std::is_constructible_v<Sampler, size_t>
std::unique_ptr<StatelessDataLoader<Dataset, Sampler>> make_data_loader(Dataset dataset,
                                                                         DataLoaderOptions options = {}) {
  const std::optional<size_t> size = dataset.size();
  ARK_CHECK(size.has_value(), "make_data_loader: the dataset must know its size to construct the sampler");
  return make_data_loader(std::move(dataset), Sampler(*size), options);
}

}  // namespace ark::data
