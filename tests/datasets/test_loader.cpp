// The fine-tuning Loader: seeded order, the same batches for any number of workers, exact resume,
// drop_last, bad samples skipped and counted up to the threshold, foreign exceptions, shutdown
// mid-epoch, the prefetch bound, serial ops in workers, and collation (images, dynamic padding).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ark/core/error.h"
#include "ark/core/parallel.h"
#include "ark/datasets/augment.h"
#include "ark/datasets/loader.h"
#include "ark/ops/ops.h"

namespace ark {
namespace {

using datasets::Batch;
using datasets::Item;
using datasets::Loader;
using datasets::LoaderOptions;

// A text item whose ids name the sample: [index, index + 1000, ...] of length 1 + index % 4.
Item text_item(int64_t index) {
  Item it;
  for (int64_t k = 0; k <= index % 4; ++k) it.input_ids.push_back(index + 1000 * k);
  it.label = index % 3;
  return it;
}

std::vector<Batch> drain(Loader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

std::vector<int64_t> concat_samples(const std::vector<Batch>& batches) {
  std::vector<int64_t> all;
  for (const Batch& b : batches) all.insert(all.end(), b.samples.begin(), b.samples.end());
  return all;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         equal(a.contiguous(), b.contiguous());
}

void expect_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].samples, b[i].samples);
    EXPECT_TRUE(same_tensor(a[i].inputs, b[i].inputs));
    EXPECT_TRUE(same_tensor(a[i].input_ids, b[i].input_ids));
    EXPECT_TRUE(same_tensor(a[i].attention_mask, b[i].attention_mask));
    EXPECT_TRUE(same_tensor(a[i].labels, b[i].labels));
  }
}

// A small uint8 image per sample, then the real training transform on the sample's stream.
datasets::LoadFn image_loader(uint64_t seed) {
  return [seed](int64_t index, int64_t epoch) {
    datasets::SplitMix64 pixels(static_cast<uint64_t>(index) * 77 + 1);
    Tensor img = empty({20 + index % 7, 24, 3}, kUInt8);
    uint8_t* p = img.data_ptr<uint8_t>();
    for (int64_t i = 0; i < img.numel(); ++i) p[i] = static_cast<uint8_t>(pixels.next() >> 56);
    datasets::TrainTransform t;
    t.preprocess.input_size = {3, 12, 12};
    t.hue = 0.05;
    datasets::SplitMix64 rng = datasets::sample_rng(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index));
    Item it;
    it.image = datasets::train_transform(img, t, rng);
    it.label = index;
    return it;
  };
}

TEST(Loader, OrderIsTheEpochPermutation) {
  Loader loader(23, [](int64_t i, int64_t) { return text_item(i); }, {.batch_size = 5, .seed = 7, .num_workers = 2});
  EXPECT_EQ(loader.num_batches(), 5);
  loader.start_epoch(3);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 5u);
  for (size_t b = 0; b < batches.size(); ++b) {
    EXPECT_EQ(batches[b].index, static_cast<int64_t>(b));
    EXPECT_EQ(batches[b].epoch, 3);
    EXPECT_EQ(batches[b].size(), b < 4 ? 5 : 3);
  }
  EXPECT_EQ(concat_samples(batches), datasets::epoch_permutation(23, 7, 3));
  EXPECT_FALSE(loader.next().has_value()) << "the epoch stays finished";

  Loader plain(7, [](int64_t i, int64_t) { return text_item(i); }, {.batch_size = 3, .shuffle = false, .num_workers = 1});
  plain.start_epoch(0);
  EXPECT_EQ(concat_samples(drain(plain)), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(Loader, SameBatchesForZeroOneAndThreeWorkers) {
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    Loader loader(21, image_loader(11), {.batch_size = 4, .seed = 5, .num_workers = workers, .prefetch = 1});
    loader.start_epoch(2);
    runs.push_back(drain(loader));
  }
  ASSERT_EQ(runs[0].size(), 6u);
  EXPECT_EQ(runs[0][0].inputs.sizes(), (std::vector<int64_t>{4, 3, 12, 12}));
  EXPECT_EQ(runs[0][5].inputs.sizes(), (std::vector<int64_t>{1, 3, 12, 12}));
  expect_same_batches(runs[0], runs[1]);
  expect_same_batches(runs[0], runs[2]);
  // Labels follow the samples.
  for (const Batch& b : runs[0])
    for (int64_t i = 0; i < b.size(); ++i) EXPECT_EQ(b.labels[i].item<int64_t>(), b.samples[static_cast<size_t>(i)]);
}

TEST(Loader, ResumeAtBatchKIsTheTailOfTheFullEpoch) {
  Loader full(30, image_loader(3), {.batch_size = 4, .seed = 9, .num_workers = 2});
  full.start_epoch(1);
  const auto all = drain(full);
  ASSERT_EQ(all.size(), 8u);
  for (int64_t k : {0, 1, 5, 7, 8}) {
    SCOPED_TRACE("resume at " + std::to_string(k));
    std::atomic<int64_t> loads{0};
    auto counted = [&loads, inner = image_loader(3)](int64_t i, int64_t e) {
      ++loads;
      return inner(i, e);
    };
    Loader resumed(30, counted, {.batch_size = 4, .seed = 9, .num_workers = 3});
    resumed.start_epoch(1, k);
    const auto tail = drain(resumed);
    expect_same_batches(std::vector<Batch>(all.begin() + k, all.end()), tail);
    EXPECT_EQ(loads.load(), std::max<int64_t>(0, 30 - 4 * k)) << "skipped batches are not loaded";
  }
  // start_epoch in the middle of an epoch restarts cleanly.
  Loader again(30, image_loader(3), {.batch_size = 4, .seed = 9, .num_workers = 2});
  again.start_epoch(1);
  (void)again.next();
  (void)again.next();
  again.start_epoch(1, 6);
  expect_same_batches(std::vector<Batch>(all.begin() + 6, all.end()), drain(again));
  EXPECT_THROW(again.start_epoch(1, 9), Error);
  EXPECT_THROW(again.start_epoch(-1), Error);
}

TEST(Loader, DropLast) {
  Loader loader(23, [](int64_t i, int64_t) { return text_item(i); },
                {.batch_size = 5, .drop_last = true, .seed = 1, .num_workers = 2});
  EXPECT_EQ(loader.num_batches(), 4);
  loader.start_epoch(0);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 4u);
  for (const Batch& b : batches) EXPECT_EQ(b.size(), 5);
  const auto perm = datasets::epoch_permutation(23, 1, 0);
  EXPECT_EQ(concat_samples(batches), std::vector<int64_t>(perm.begin(), perm.begin() + 20));
  Loader exact(20, [](int64_t i, int64_t) { return text_item(i); }, {.batch_size = 5, .drop_last = true});
  EXPECT_EQ(exact.num_batches(), 4);
  Loader tiny(3, [](int64_t i, int64_t) { return text_item(i); }, {.batch_size = 5, .drop_last = true});
  tiny.start_epoch(0);
  EXPECT_FALSE(tiny.next().has_value());
}

// Sample 7 cannot be decoded; the others can.
Item flaky(int64_t i, int64_t) {
  if (i == 7) ARK_ERROR("load_image: cannot decode photos/img7.jpg: not a JPEG file");
  return text_item(i);
}

TEST(Loader, FailingSampleIsSkippedAndCounted) {
  for (int workers : {0, 3}) {
    SCOPED_TRACE(std::to_string(workers) + " workers");
    std::vector<std::string> skipped;
    const std::thread::id consumer = std::this_thread::get_id();
    bool on_consumer = true;
    Loader loader(40, flaky,
                  {.batch_size = 6, .seed = 2, .num_workers = workers, .on_skip = [&](const std::string& m) {
                     skipped.push_back(m);
                     on_consumer = on_consumer && std::this_thread::get_id() == consumer;
                   }});
    for (int64_t epoch : {0, 1}) {
      loader.start_epoch(epoch);
      const auto batches = drain(loader);
      std::vector<int64_t> expected = datasets::epoch_permutation(40, 2, epoch);
      expected.erase(std::find(expected.begin(), expected.end(), 7));
      EXPECT_EQ(concat_samples(batches), expected);
      int short_batches = 0;
      for (size_t b = 0; b + 1 < batches.size(); ++b) short_batches += batches[b].size() == 5;
      EXPECT_LE(short_batches, 1);
    }
    EXPECT_EQ(loader.num_skipped(), 1) << "a sample failing in two epochs counts once";
    ASSERT_EQ(skipped.size(), 2u);
    EXPECT_EQ(skipped[0], "sample 7: load_image: cannot decode photos/img7.jpg: not a JPEG file");
    EXPECT_TRUE(on_consumer) << "on_skip runs on the consumer's thread";
  }
}

TEST(Loader, TooManyFailuresIsAnErrorNamingCountAndFirstFailure) {
  auto bad = [](int64_t i, int64_t) -> Item {
    if (i % 10 == 3) ARK_ERROR("cannot decode img", i, ".png");
    return text_item(i);
  };
  std::string first_message;
  for (int workers : {0, 1, 3}) {
    SCOPED_TRACE(std::to_string(workers) + " workers");
    // 40 samples at 5 %: two failures are tolerated, the third is an error.
    Loader loader(40, bad, {.batch_size = 4, .seed = 8, .num_workers = workers});
    loader.start_epoch(0);
    const auto perm = datasets::epoch_permutation(40, 8, 0);
    std::vector<int64_t> failing;
    for (int64_t s : perm)
      if (s % 10 == 3) failing.push_back(s);
    std::string message;
    int64_t delivered = 0;
    try {
      while (auto b = loader.next()) delivered += b->size();
    } catch (const Error& e) {
      message = e.what();
    }
    EXPECT_NE(message.find("3 of 40 samples failed to load"), std::string::npos) << message;
    EXPECT_NE(message.find("first failure: sample " + std::to_string(failing[0]) + ": cannot decode img" +
                           std::to_string(failing[0]) + ".png"),
              std::string::npos)
        << message;
    EXPECT_EQ(loader.num_skipped(), 3);
    if (first_message.empty()) first_message = message;
    EXPECT_EQ(message, first_message) << "the same error for any number of workers";
    EXPECT_THROW(loader.next(), Error) << "the error stays until start_epoch";
    // The batches before the one with the third failure were delivered, in full less the failures.
    const auto third = std::find(perm.begin(), perm.end(), failing[2]) - perm.begin();
    const auto before = perm.begin() + (third / 4) * 4;  // the positions of the delivered batches
    EXPECT_EQ(delivered, (third / 4) * 4 - std::count_if(perm.begin(), before, [](int64_t s) { return s % 10 == 3; }));
  }
  // At least one failure is tolerated however few the samples (10 at 5 % is 0.5).
  Loader small(10, flaky, {.batch_size = 4, .num_workers = 2});
  small.start_epoch(0);
  EXPECT_EQ(concat_samples(drain(small)).size(), 9u);
  // A fraction of 0 tolerates nothing.
  Loader strict(40, flaky, {.batch_size = 4, .num_workers = 2, .max_bad_fraction = 0});
  strict.start_epoch(0);
  EXPECT_THROW(drain(strict), Error);
  EXPECT_THROW(Loader(4, flaky, {.max_bad_fraction = 1.5}), Error);
}

TEST(Loader, BatchWhoseEverySampleFailedIsSkipped) {
  auto bad = [](int64_t i, int64_t) -> Item {
    if (i == 2 || i == 3) ARK_ERROR("broken sample ", i);
    return text_item(i);
  };
  for (int workers : {0, 2}) {
    Loader loader(6, bad, {.batch_size = 2, .shuffle = false, .num_workers = workers, .max_bad_fraction = 0.5});
    loader.start_epoch(0);
    const auto batches = drain(loader);
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[0].index, 0);
    EXPECT_EQ(batches[1].index, 2);
    EXPECT_EQ(batches[1].samples, (std::vector<int64_t>{4, 5}));
    EXPECT_EQ(loader.num_skipped(), 2);
  }
}

TEST(Loader, ForeignExceptionIsRethrownByNext) {
  auto throwing = [](int64_t i, int64_t) -> Item {
    if (i == 9) throw std::runtime_error("disk on fire");
    return text_item(i);
  };
  for (int workers : {0, 1, 3}) {
    SCOPED_TRACE(std::to_string(workers) + " workers");
    Loader loader(40, throwing, {.batch_size = 4, .shuffle = false, .num_workers = workers});
    loader.start_epoch(0);
    int64_t batches = 0;
    std::string what;
    try {
      while (loader.next()) ++batches;
    } catch (const Error&) {
      what = "ark::Error";
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    EXPECT_EQ(what, "disk on fire");
    EXPECT_EQ(batches, 2) << "batches before the failing one are delivered";
    EXPECT_THROW(loader.next(), std::runtime_error);
    EXPECT_EQ(loader.num_skipped(), 0);
    loader.start_epoch(1, 3);  // a fresh start works again
    EXPECT_TRUE(loader.next().has_value());
  }
}

TEST(Loader, DestroyedMidEpochWithoutDeadlock) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int64_t> loads{0};
  auto slow = [&](int64_t i, int64_t) {
    ++loads;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return text_item(i);
  };
  {
    Loader loader(1000, slow, {.batch_size = 4, .seed = 1, .num_workers = 3, .prefetch = 2});
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
    ASSERT_TRUE(loader.next().has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // workers fill the queue and wait
  }
  {
    Loader never_read(1000, slow, {.batch_size = 4, .num_workers = 2});
    never_read.start_epoch(0);
  }
  {
    Loader never_started(1000, slow, {.num_workers = 2});
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
  EXPECT_LT(loads.load(), 200) << "workers stop instead of loading the epoch";
}

TEST(Loader, PrefetchIsBounded) {
  std::atomic<int64_t> loads{0};
  auto counted = [&](int64_t i, int64_t) {
    ++loads;
    return text_item(i);
  };
  // Waits (up to 5 s on a busy machine) for the workers to reach `n` loads, then a little longer
  // to see that they stop there.
  auto settle = [&](int64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (loads.load() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return loads.load();
  };
  Loader loader(400, counted, {.batch_size = 5, .num_workers = 2, .prefetch = 3});
  loader.start_epoch(0);
  EXPECT_EQ(settle(2 * 3 * 5), 2 * 3 * 5) << "prefetch batches per worker, no more";
  ASSERT_TRUE(loader.next().has_value());
  EXPECT_EQ(settle(2 * 3 * 5 + 5), 2 * 3 * 5 + 5);
}

TEST(Loader, WorkerOpsRunSerially) {
  std::mutex mu;
  std::set<int> seen;
  auto probe = [&](int64_t i, int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    seen.insert(get_num_threads());
    return text_item(i);
  };
  Loader loader(12, probe, {.batch_size = 3, .num_workers = 2});
  loader.start_epoch(0);
  drain(loader);
  EXPECT_EQ(seen, (std::set<int>{1}));
  EXPECT_EQ(get_num_threads() >= 1, true);
}

TEST(Loader, TextCollationPadsDynamicallyWithMasks) {
  std::vector<Item> items(3);
  items[0].input_ids = {101, 7, 102};
  items[0].label = 1;
  items[1].input_ids = {101};
  items[1].label = 0;
  items[2].input_ids = {101, 5, 6, 102};
  items[2].token_type_ids = {0, 0, 1, 1};
  items[2].label = 2;
  const Batch b = datasets::collate(items, {4, 9, 2}, 99);
  EXPECT_EQ(b.samples, (std::vector<int64_t>{4, 9, 2}));
  EXPECT_FALSE(b.inputs.defined());
  EXPECT_TRUE(equal(b.input_ids, tensor({{101, 7, 102, 99}, {101, 99, 99, 99}, {101, 5, 6, 102}}, kLong)));
  EXPECT_TRUE(equal(b.attention_mask, tensor({{1, 1, 1, 0}, {1, 0, 0, 0}, {1, 1, 1, 1}}, kLong)));
  EXPECT_TRUE(equal(b.token_type_ids, tensor({{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 1, 1}}, kLong)));
  EXPECT_TRUE(equal(b.labels, tensor({1, 0, 2}, kLong)));

  // Through the loader: each batch is padded to its own longest text.
  Loader loader(10, [](int64_t i, int64_t) { return text_item(i); }, {.batch_size = 3, .shuffle = false, .num_workers = 2});
  loader.start_epoch(0);
  for (const Batch& batch : drain(loader)) {
    int64_t longest = 0;
    for (int64_t s : batch.samples) longest = std::max(longest, 1 + s % 4);
    EXPECT_EQ(batch.input_ids.size(1), longest);
    EXPECT_EQ(batch.attention_mask.sum().item<int64_t>(), [&] {
      int64_t n = 0;
      for (int64_t s : batch.samples) n += 1 + s % 4;
      return n;
    }());
  }
}

TEST(Loader, CollationErrorsNameTheSamples) {
  std::vector<Item> items(2);
  items[0].image = zeros({3, 8, 8});
  items[1].image = zeros({3, 8, 9});
  try {
    datasets::collate(items, {5, 6}, 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 6 has a float32 (3, 8, 9) image but sample 5 a float32 (3, 8, 8)"),
              std::string::npos)
        << e.what();
  }
  items[1] = text_item(1);
  EXPECT_THROW(datasets::collate(items, {5, 6}, 0), Error);
  EXPECT_THROW(datasets::collate(items, {5}, 0), Error);
  Item mismatched = text_item(3);
  mismatched.token_type_ids = {0};
  EXPECT_THROW(datasets::collate({mismatched}, {3}, 0), Error);
  // A collation error in a worker reaches next().
  Loader loader(4, [](int64_t i, int64_t) {
    Item it;
    it.image = zeros({3, 4, 4 + i});
    return it;
  }, {.batch_size = 2, .num_workers = 2});
  loader.start_epoch(0);
  EXPECT_THROW(loader.next(), Error);
}

TEST(Loader, BadOptionsThrow) {
  auto load = [](int64_t i, int64_t) { return text_item(i); };
  EXPECT_THROW(Loader(-1, load, {}), Error);
  EXPECT_THROW(Loader(4, nullptr, {}), Error);
  EXPECT_THROW(Loader(4, load, {.batch_size = 0}), Error);
  EXPECT_THROW(Loader(4, load, {.num_workers = -1}), Error);
  EXPECT_THROW(Loader(4, load, {.prefetch = 0}), Error);
  Loader empty_set(0, load, {});
  empty_set.start_epoch(0);
  EXPECT_FALSE(empty_set.next().has_value());
  // next() before start_epoch starts epoch 0.
  Loader implicit(5, load, {.batch_size = 5, .seed = 4, .num_workers = 1});
  auto b = implicit.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->samples, datasets::epoch_permutation(5, 4, 0));
}

}  // namespace
}  // namespace ark
