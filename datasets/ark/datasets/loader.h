// The fine-tuning DataLoader: a fixed list of samples, batched in the epoch's seeded order
// (augment.h), loaded by worker threads ahead of the consumer, collated into tensors.
//
//   ark::datasets::Loader loader(n, load_item, {.batch_size = 32, .seed = 7, .num_workers = 2});
//   loader.start_epoch(epoch, first_batch);
//   while (auto batch = loader.next()) { ... }
//
// - Order: epoch_permutation(n, seed, epoch) with shuffle, else 0..n-1; batch b holds positions
//   [b * batch_size, (b + 1) * batch_size); drop_last drops a short last batch. start_epoch's
//   first_batch skips batches already consumed (exact resume) without loading them.
// - Workers: num_workers threads each load whole batches (from first_batch on, batch
//   first_batch + k + j * workers goes to worker k), at most `prefetch` batches per worker ahead of
//   the consumer; batches come out in order. num_workers = 0 loads on the calling thread. The
//   result never depends on the number of workers. Worker threads run their ops single-threaded
//   (ThreadLimitGuard), so W workers beside the training loop do not each open a full OpenMP team.
// - Bad samples: a LoadFn that throws ark::Error for a sample (an undecodable image) has it
//   skipped: the batch is collated without it, on_skip is called with "sample <i>: <message>", and
//   the loader counts it. When the skipped samples exceed max_bad_fraction of n (floored, but at
//   least one when the fraction is not 0), next() throws ark::Error saying how many failed, with
//   the first message. A batch whose every sample failed is skipped as a whole. Any other
//   exception from the LoadFn (or collation) is rethrown by next() when its batch is due; next()
//   then keeps rethrowing the error until start_epoch.
// - next() before any start_epoch starts epoch 0.
// - Collation: items with an image give inputs (B, C, H, W) float32; items with token ids give
//   input_ids / attention_mask / token_type_ids (B, T) int64, padded on the right with pad_id to
//   the longest in the batch (dynamic padding); labels (B,) int64.
// The loader is threads + a bounded queue; destroying it (or start_epoch) stops the workers after
// their current sample.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ark/core/tensor.h"

namespace ark::datasets {

/// One loaded sample.
struct Item {
  Tensor image;                      // float32 (C, H, W), or undefined for text
  std::vector<int64_t> input_ids;    // text
  std::vector<int64_t> token_type_ids;  // text; empty: zeros
  int64_t label = -1;
};

struct Batch {
  int64_t epoch = 0;
  int64_t index = 0;                 // batch number within the epoch
  std::vector<int64_t> samples;      // the sample indices collated (failed ones left out)
  Tensor inputs;                     // images
  Tensor input_ids, attention_mask, token_type_ids;  // texts
  Tensor labels;                     // (B,) int64
  int64_t size() const { return static_cast<int64_t>(samples.size()); }
};

/// Loads sample `index` for `epoch` (the epoch lets augmentations draw sample_rng(seed, epoch,
/// index)). Called from worker threads: must be thread-safe.
using LoadFn = std::function<Item(int64_t index, int64_t epoch)>;

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int num_workers = 2;
  int prefetch = 2;                  // batches ready ahead, per worker
  double max_bad_fraction = 0.05;
  int64_t pad_id = 0;
  // Called on the consumer's thread. ({}: GCC 12 would warn of it missing from designated initializers.)
  std::function<void(const std::string&)> on_skip{};
};

class Loader {
 public:
  Loader(int64_t num_samples, LoadFn load, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t num_samples() const { return n_; }
  int64_t num_batches() const;
  /// Starts (or restarts) an epoch at batch `first_batch`.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the epoch, or nullopt at its end.
  std::optional<Batch> next();
  /// Samples skipped so far (over all epochs; a sample failing in two epochs counts once).
  int64_t num_skipped() const;

 private:
  struct State;
  struct Pending;
  void stop_workers();
  void worker(int64_t first);
  bool load_batch(int64_t b, Pending& out);

  int64_t n_;
  LoadFn load_;
  LoaderOptions options_;
  std::unique_ptr<State> state_;
};

/// Collates items (all images or all texts) into a batch; exposed for eval and tests.
Batch collate(std::vector<Item> items, std::vector<int64_t> samples, int64_t pad_id);

}  // namespace ark::datasets
