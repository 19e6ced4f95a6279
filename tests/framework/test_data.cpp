// Tests of ark::data: MNIST reading (real Fashion-MNIST, synthetic plain/gzip IDX files, every
// malformed-file case), transforms, samplers and the DataLoader (ordering, workers, errors,
// epochs), plus the libtorch MNIST example compiled against ark through `namespace torch = ark`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ark/ark.h"

namespace fs = std::filesystem;
using namespace ark;
using data::Example;
using data::datasets::MNIST;

namespace {

const char* kFashionRoot = "/usr/share/datasets/fashion-mnist";

// ---- synthetic IDX files ----

fs::path fresh_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  fs::path dir = fs::temp_directory_path() /
                 ("ark_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

// Pixel (i, r, c) of the synthetic images; labels are i % 10.
uint8_t pixel(uint32_t i, uint32_t r, uint32_t c) { return static_cast<uint8_t>((i * 31 + r * 7 + c * 3) % 256); }

std::vector<uint8_t> image_file(uint32_t n, uint32_t rows = 28, uint32_t cols = 28, uint32_t magic = 0x803) {
  std::vector<uint8_t> out;
  put_be32(out, magic);
  put_be32(out, n);
  put_be32(out, rows);
  put_be32(out, cols);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t r = 0; r < rows; ++r)
      for (uint32_t c = 0; c < cols; ++c) out.push_back(pixel(i, r, c));
  return out;
}

std::vector<uint8_t> label_file(uint32_t n, uint32_t magic = 0x801) {
  std::vector<uint8_t> out;
  put_be32(out, magic);
  put_be32(out, n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(i % 10));
  return out;
}

void write_file(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

// Writes path + ".gz" with the gzip tool (the test does not link zlib itself).
void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
  write_file(path, bytes);
  const std::string cmd = "gzip -f '" + path.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

/// A complete synthetic MNIST folder: train (n_train) plain, t10k (n_test) gzip.
fs::path synthetic_mnist(const std::string& name, uint32_t n_train, uint32_t n_test) {
  fs::path dir = fresh_dir(name);
  write_file(dir / "train-images-idx3-ubyte", image_file(n_train));
  write_file(dir / "train-labels-idx1-ubyte", label_file(n_train));
  write_gz(dir / "t10k-images-idx3-ubyte", image_file(n_test));
  write_gz(dir / "t10k-labels-idx1-ubyte", label_file(n_test));
  return dir;
}

/// Expects MNIST(root, mode) to throw an ark::Error whose message holds every one of `parts`.
void expect_mnist_error(const fs::path& root, MNIST::Mode mode, const std::vector<std::string>& parts) {
  try {
    MNIST ds(root.string(), mode);
    ADD_FAILURE() << "no error for " << root;
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fashion-MNIST (Debian package dataset-fashion-mnist). Expected numbers were computed once with
// /usr/bin/python3 (numpy 1.24) from the same .gz files:
//   img = np.frombuffer(gzip.open(p).read(), np.uint8, offset=16).reshape(-1, 28, 28)
//   lbl = np.frombuffer(gzip.open(q).read(), np.uint8, offset=8)
//   int(img.astype(np.int64).sum()), [int(img[i].astype(np.int64).sum()) for i in idx], lbl[idx]
class DataMnistFashion : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kFashionRoot)) return;
    const auto t0 = std::chrono::steady_clock::now();
    train_ = new MNIST(kFashionRoot);
    const auto t1 = std::chrono::steady_clock::now();
    test_ = new MNIST(kFashionRoot, MNIST::Mode::kTest);
    const auto t2 = std::chrono::steady_clock::now();
    std::printf("[ timing ] Fashion-MNIST read: train %.0f ms, test %.0f ms\n",
                std::chrono::duration<double, std::milli>(t1 - t0).count(),
                std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  static void TearDownTestSuite() {
    delete train_;
    delete test_;
    train_ = test_ = nullptr;
  }
  void SetUp() override {
    if (!train_) GTEST_SKIP() << kFashionRoot << " not present";
  }
  static int64_t pixel_sum(const Tensor& images) {  // exact: every value is k/255
    const Tensor c = images.contiguous();
    const float* p = c.data_ptr<float>();
    int64_t total = 0;
    for (int64_t i = 0; i < c.numel(); ++i) total += std::lround(p[i] * 255.0f);
    return total;
  }
  static MNIST* train_;
  static MNIST* test_;
};
MNIST* DataMnistFashion::train_ = nullptr;
MNIST* DataMnistFashion::test_ = nullptr;

TEST_F(DataMnistFashion, SizesShapesAndDtypes) {
  EXPECT_EQ(train_->size().value(), 60000u);
  EXPECT_EQ(test_->size().value(), 10000u);
  EXPECT_TRUE(train_->is_train());
  EXPECT_FALSE(test_->is_train());
  EXPECT_EQ(train_->images().sizes().vec(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(train_->targets().sizes().vec(), (std::vector<int64_t>{60000}));
  EXPECT_EQ(train_->images().dtype(), kFloat);
  EXPECT_EQ(train_->targets().dtype(), kLong);
  Example<> e = train_->get(0);
  EXPECT_EQ(e.data.sizes().vec(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(e.target.dim(), 0);
  EXPECT_THROW(train_->get(60000), Error);
}

TEST_F(DataMnistFashion, ValueRangeAndPixels) {
  for (MNIST* ds : {train_, test_}) {
    EXPECT_EQ(ds->images().min().item<float>(), 0.0f);
    EXPECT_EQ(ds->images().max().item<float>(), 1.0f);
  }
  // Exactly byte / 255 in float32, as torchvision's ToTensor.
  EXPECT_EQ(train_->images()[0][0][14][14].item<float>(), 217.0f / 255.0f);
  EXPECT_EQ(test_->images()[0][0][14][14].item<float>(), 110.0f / 255.0f);
}

TEST_F(DataMnistFashion, PixelSumsAndLabelsMatchNumpy) {
  EXPECT_EQ(pixel_sum(train_->images()), 3431114169LL);
  EXPECT_EQ(pixel_sum(test_->images()), 573469082LL);
  const std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> train_known = {
      {0, {76247, 9}}, {1, {84598, 0}}, {2, {28662, 0}}, {1234, {75588, 8}}, {59999, {16684, 5}}};
  for (const auto& [i, want] : train_known) {
    EXPECT_EQ(pixel_sum(train_->images()[i]), want.first) << "train " << i;
    EXPECT_EQ(train_->targets()[i].item<int64_t>(), want.second) << "train " << i;
  }
  const std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> test_known = {
      {0, {33456, 9}}, {1, {100994, 2}}, {2, {51520, 1}}, {1234, {63457, 4}}, {9999, {24390, 5}}};
  for (const auto& [i, want] : test_known) {
    EXPECT_EQ(pixel_sum(test_->images()[i]), want.first) << "test " << i;
    EXPECT_EQ(test_->targets()[i].item<int64_t>(), want.second) << "test " << i;
  }
  // Every class appears 6000 (train) / 1000 (test) times.
  for (int64_t c = 0; c < 10; ++c) {
    EXPECT_EQ(train_->targets().eq(c).sum().item<int64_t>(), 6000) << c;
    EXPECT_EQ(test_->targets().eq(c).sum().item<int64_t>(), 1000) << c;
  }
}

// The libtorch MNIST example's data pipeline, one full epoch, with and without workers.
TEST_F(DataMnistFashion, LoaderThroughput) {
  auto ds = train_->map(data::transforms::Normalize<>(0.1307, 0.3081)).map(data::transforms::Stack<>());
  for (size_t workers : {0, 1, 2}) {
    auto loader = data::make_data_loader<data::samplers::RandomSampler>(ds, data::DataLoaderOptions(64).workers(workers));
    const auto t0 = std::chrono::steady_clock::now();
    int64_t n = 0, batches = 0;
    double checksum = 0;
    for (auto& batch : *loader) {
      n += batch.data.size(0);
      ++batches;
      checksum += batch.target.sum().item<double>();
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ timing ] Fashion-MNIST train epoch, batch 64, workers %zu: %.0f ms (%.0f images/s)\n", workers, ms,
                n / ms * 1e3);
    EXPECT_EQ(n, 60000);
    EXPECT_EQ(batches, 938);
    EXPECT_EQ(checksum, 270000.0);  // sum of all labels (6000 of each class)
  }
}

// ---------------------------------------------------------------------------------------------
// Synthetic IDX files.

TEST(DataMnistIdx, PlainAndGzipBothRead) {
  const fs::path dir = synthetic_mnist("ok", 12, 7);
  MNIST train(dir.string());  // plain files
  MNIST test(dir.string(), MNIST::Mode::kTest);  // .gz files
  ASSERT_EQ(train.size().value(), 12u);
  ASSERT_EQ(test.size().value(), 7u);
  for (MNIST* ds : {&train, &test}) {
    const int64_t n = ds->images().size(0);
    const float* p = ds->images().data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(ds->targets()[i].item<int64_t>(), i % 10);
      for (int64_t r = 0; r < 28; ++r)
        for (int64_t c = 0; c < 28; ++c)
          ASSERT_EQ(p[(i * 28 + r) * 28 + c], pixel(i, r, c) / 255.0f) << i << " " << r << " " << c;
    }
  }
  fs::remove_all(dir);
}

TEST(DataMnistIdx, MissingFilesNamePaths) {
  const fs::path dir = fresh_dir("missing");
  expect_mnist_error(dir, MNIST::Mode::kTrain, {(dir / "train-images-idx3-ubyte").string(), ".gz"});
  write_file(dir / "t10k-images-idx3-ubyte", image_file(3));
  expect_mnist_error(dir, MNIST::Mode::kTest, {(dir / "t10k-labels-idx1-ubyte").string()});
  fs::remove_all(dir);
}

TEST(DataMnistIdx, BadMagic) {
  const fs::path dir = fresh_dir("magic");
  write_file(dir / "train-images-idx3-ubyte", image_file(3, 28, 28, 0x802));
  write_file(dir / "train-labels-idx1-ubyte", label_file(3));
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-images-idx3-ubyte", "magic", "0x00000802"});
  write_file(dir / "train-images-idx3-ubyte", image_file(3));
  write_file(dir / "train-labels-idx1-ubyte", label_file(3, 0x1234));
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-labels-idx1-ubyte", "magic", "0x00001234"});
  // Image and label files swapped.
  write_file(dir / "train-images-idx3-ubyte", label_file(3));
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-images-idx3-ubyte", "swapped"});
  fs::remove_all(dir);
}

TEST(DataMnistIdx, Truncated) {
  const fs::path dir = fresh_dir("truncated");
  auto images = image_file(4);
  images.resize(images.size() - 100);
  write_file(dir / "train-images-idx3-ubyte", images);
  write_file(dir / "train-labels-idx1-ubyte", label_file(4));
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-images-idx3-ubyte", "truncated", "4 images"});
  // Header cut short.
  images = image_file(4);
  images.resize(10);
  write_file(dir / "train-images-idx3-ubyte", images);
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-images-idx3-ubyte", "truncated header"});
  write_file(dir / "train-images-idx3-ubyte", image_file(4));
  auto labels = label_file(4);
  labels.pop_back();
  write_file(dir / "train-labels-idx1-ubyte", labels);
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-labels-idx1-ubyte", "truncated", "4 labels"});
  // Empty file.
  write_file(dir / "train-labels-idx1-ubyte", {});
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-labels-idx1-ubyte", "truncated header"});
  // Extra bytes after the data are a defect too.
  labels = label_file(4);
  labels.push_back(0);
  write_file(dir / "train-labels-idx1-ubyte", labels);
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-labels-idx1-ubyte", "unexpected bytes"});
  fs::remove_all(dir);
}

TEST(DataMnistIdx, CountMismatchNamesBothFiles) {
  const fs::path dir = fresh_dir("count");
  write_file(dir / "train-images-idx3-ubyte", image_file(5));
  write_file(dir / "train-labels-idx1-ubyte", label_file(4));
  expect_mnist_error(dir, MNIST::Mode::kTrain,
                     {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "5 images", "4 labels"});
  fs::remove_all(dir);
}

TEST(DataMnistIdx, WrongDims) {
  const fs::path dir = fresh_dir("dims");
  write_file(dir / "train-images-idx3-ubyte", image_file(2, 27, 28));
  write_file(dir / "train-labels-idx1-ubyte", label_file(2));
  expect_mnist_error(dir, MNIST::Mode::kTrain, {"train-images-idx3-ubyte", "28x28", "27x28"});
  fs::remove_all(dir);
}

TEST(DataMnistIdx, CorruptGzip) {
  const fs::path dir = fresh_dir("gzip");
  const fs::path images = dir / "t10k-images-idx3-ubyte.gz";
  // Bytes that do not compress, so the gzip file holds them nearly verbatim: a flipped byte is then
  // caught by the CRC check, not only by the deflate decoder.
  std::vector<uint8_t> noisy = image_file(20);
  uint32_t s = 12345;
  for (size_t i = 16; i < noisy.size(); ++i) noisy[i] = static_cast<uint8_t>((s = s * 1103515245u + 12345u) >> 24);
  write_gz(dir / "t10k-images-idx3-ubyte", noisy);
  write_gz(dir / "t10k-labels-idx1-ubyte", label_file(20));
  ASSERT_NO_THROW(MNIST(dir.string(), MNIST::Mode::kTest));
  const std::vector<uint8_t> good = read_bytes(images);

  std::vector<uint8_t> flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  write_file(images, flipped);
  expect_mnist_error(dir, MNIST::Mode::kTest, {images.string(), "gzip"});

  std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  write_file(images, cut);
  expect_mnist_error(dir, MNIST::Mode::kTest, {images.string(), "gzip"});

  std::vector<uint8_t> bad_crc = good;
  bad_crc[bad_crc.size() - 6] ^= 0xff;  // the trailer: CRC32, then the length
  write_file(images, bad_crc);
  expect_mnist_error(dir, MNIST::Mode::kTest, {images.string(), "gzip"});

  write_file(images, image_file(20));  // plain bytes under a .gz name
  expect_mnist_error(dir, MNIST::Mode::kTest, {images.string(), "not gzip"});
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Transforms.

TEST(DataTransforms, NormalizeScalarAndPerChannel) {
  data::transforms::Normalize<> norm(0.5, 0.25);
  Example<> e = norm.apply({ark::full({1, 2, 2}, 0.75), ark::tensor(int64_t{3})});
  EXPECT_TRUE(e.data.allclose(ark::ones({1, 2, 2})));
  EXPECT_EQ(e.target.item<int64_t>(), 3);

  const std::vector<double> mean = {0.1, 0.2, 0.3}, stddev = {1.0, 2.0, 4.0};
  data::transforms::Normalize<> per_channel(mean, stddev);
  Tensor x = ark::arange(12, kFloat).reshape({3, 2, 2});
  Tensor want = x.clone();
  for (int64_t c = 0; c < 3; ++c) want[c].sub_(mean[c]).div_(stddev[c]);
  EXPECT_TRUE(per_channel(x).allclose(want));
}

TEST(DataTransforms, StackCollates) {
  std::vector<Example<>> batch;
  for (int64_t i = 0; i < 3; ++i) batch.push_back({ark::full({2, 3}, double(i)), ark::tensor(i)});
  Example<> out = data::transforms::Stack<>().apply_batch(batch);
  EXPECT_EQ(out.data.sizes().vec(), (std::vector<int64_t>{3, 2, 3}));
  EXPECT_EQ(out.target.sizes().vec(), (std::vector<int64_t>{3}));
  EXPECT_TRUE(out.target.equal(ark::arange(3, kLong)));
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(out.data[i].equal(ark::full({2, 3}, double(i))));

  std::vector<data::TensorExample> plain = {ark::ones({2}), ark::zeros({2})};
  data::TensorExample stacked = data::transforms::Stack<data::TensorExample>().apply_batch(plain);
  EXPECT_EQ(stacked.data.sizes().vec(), (std::vector<int64_t>{2, 2}));
}

TEST(DataTransforms, LambdasAndMapChain) {
  data::datasets::TensorDataset ds(ark::arange(10, kFloat).reshape({5, 2}));
  ASSERT_EQ(ds.size().value(), 5u);
  auto mapped = ds.map(data::transforms::Lambda<data::TensorExample>([](data::TensorExample e) {
                    e.data = e.data * 2;
                    return e;
                  }))
                    .map(data::transforms::Stack<data::TensorExample>());
  data::TensorExample b = mapped.get_batch(std::vector<size_t>{1, 3});
  EXPECT_TRUE(b.data.equal(ark::tensor({{4.0f, 6.0f}, {12.0f, 14.0f}})));

  auto sum_targets = data::transforms::BatchLambda<std::vector<Example<>>, Tensor>([](std::vector<Example<>> v) {
    Tensor s = ark::zeros({}, kLong);
    for (auto& e : v) s = s + e.target;
    return s;
  });
  EXPECT_EQ(sum_targets.apply_batch({{Tensor(), ark::tensor(int64_t{2})}, {Tensor(), ark::tensor(int64_t{5})}}).item<int64_t>(), 7);
  data::transforms::TensorLambda<> twice([](Tensor t) { return t * 2; });
  EXPECT_EQ(twice.apply({ark::ones({1}), ark::tensor(int64_t{1})}).data.item<float>(), 2.0f);
}

// ---------------------------------------------------------------------------------------------
// Samplers and the loader, on a dataset whose example i is (full({2}, i), i).

namespace {
struct IndexDataset : data::datasets::Dataset<IndexDataset> {
  explicit IndexDataset(size_t n, int64_t fail_at = -1, int sleep_ms = 0) : n(n), fail_at(fail_at), sleep_ms(sleep_ms) {}
  Example<> get(size_t index) override {
    ARK_CHECK(static_cast<int64_t>(index) != fail_at, "IndexDataset: example ", index, " is broken");
    // Uneven work per example makes workers finish out of order.
    if (sleep_ms) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms * static_cast<int>(index % 3)));
    return {ark::full({2}, static_cast<double>(index)), ark::tensor(static_cast<int64_t>(index))};
  }
  std::optional<size_t> size() const override { return n; }
  size_t n;
  int64_t fail_at;
  int sleep_ms;
};

/// The targets of every batch of one pass, batch by batch.
template <class Loader>
std::vector<std::vector<int64_t>> one_epoch(Loader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (auto& batch : loader) {
    EXPECT_EQ(batch.data.size(0), batch.target.size(0));
    EXPECT_TRUE(batch.data.select(1, 0).to(kLong).equal(batch.target));
    const Tensor t = batch.target.contiguous();
    out.emplace_back(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  }
  return out;
}

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> v;
  for (const auto& b : batches) v.insert(v.end(), b.begin(), b.end());
  return v;
}

bool is_permutation_of_range(std::vector<int64_t> v, int64_t n) {
  std::sort(v.begin(), v.end());
  std::vector<int64_t> want(static_cast<size_t>(n));
  std::iota(want.begin(), want.end(), 0);
  return v == want;
}
}  // namespace

TEST(DataSampler, SequentialAndRandom) {
  data::samplers::SequentialSampler seq(5);
  EXPECT_EQ(seq.next(3).value(), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(seq.next(3).value(), (std::vector<size_t>{3, 4}));
  EXPECT_FALSE(seq.next(3).has_value());
  seq.reset(7);
  EXPECT_EQ(seq.next(10).value().size(), 7u);

  Generator gen(7);
  data::samplers::RandomSampler rnd(50, &gen);
  std::vector<int64_t> all;
  while (auto b = rnd.next(8)) all.insert(all.end(), b->begin(), b->end());
  EXPECT_TRUE(is_permutation_of_range(all, 50));
  gen.set_current_seed(7);
  data::samplers::RandomSampler again(50, &gen);
  std::vector<int64_t> all2;
  while (auto b = again.next(50)) all2.insert(all2.end(), b->begin(), b->end());
  EXPECT_EQ(all, all2);
  data::samplers::RandomSampler narrow(50, kInt);
  EXPECT_EQ(narrow.next(100).value().size(), 50u);
}

TEST(DataLoader, BatchShapesPartialBatchAndDropLast) {
  auto ds = IndexDataset(10).map(data::transforms::Stack<>());
  auto loader = data::make_data_loader<data::samplers::SequentialSampler>(ds, 4);
  std::vector<std::vector<int64_t>> batches;
  for (auto& batch : *loader) {
    EXPECT_EQ(batch.data.dim(), 2);
    EXPECT_EQ(batch.data.size(1), 2);
    EXPECT_EQ(batch.target.dim(), 1);
    batches.push_back({batch.target.size(0)});
  }
  EXPECT_EQ(batches, (std::vector<std::vector<int64_t>>{{4}, {4}, {2}}));
  auto dropping =
      data::make_data_loader<data::samplers::SequentialSampler>(ds, data::DataLoaderOptions(4).drop_last(true));
  EXPECT_EQ(one_epoch(*dropping), (std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  EXPECT_EQ(loader->options().batch_size, 4u);
}

TEST(DataLoader, SequentialOrderAndTwoEpochs) {
  auto loader = data::make_data_loader<data::samplers::SequentialSampler>(IndexDataset(7).map(data::transforms::Stack<>()),
                                                                          data::DataLoaderOptions(3));
  const auto first = one_epoch(*loader), second = one_epoch(*loader);
  EXPECT_EQ(first, (std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}, {6}}));
  EXPECT_EQ(second, first);
}

TEST(DataLoader, RandomSamplerReproducibleUnderManualSeed) {
  auto ds = IndexDataset(100).map(data::transforms::Stack<>());
  auto run = [&](uint64_t seed) {
    ark::manual_seed(seed);
    auto loader = data::make_data_loader(ds, 16);  // RandomSampler by default
    auto e1 = one_epoch(*loader);
    auto e2 = one_epoch(*loader);
    return std::make_pair(e1, e2);
  };
  const auto [a1, a2] = run(42);
  const auto [b1, b2] = run(42);
  const auto [c1, c2] = run(43);
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, c1);
  EXPECT_NE(a1, a2);  // each pass is a new epoch with a new permutation
  EXPECT_TRUE(is_permutation_of_range(flat(a1), 100));
  EXPECT_TRUE(is_permutation_of_range(flat(a2), 100));
  EXPECT_EQ(a1.size(), 7u);
  EXPECT_EQ(a1.back().size(), 4u);
}

TEST(DataLoader, WorkersGiveTheSameBatchesAsNone) {
  auto ds = IndexDataset(60, -1, /*sleep_ms=*/1).map(data::transforms::Stack<>());
  std::vector<std::vector<std::vector<int64_t>>> runs;
  for (size_t workers : {0, 2, 3}) {
    ark::manual_seed(5);
    auto loader = data::make_data_loader(ds, data::DataLoaderOptions(4).workers(workers));
    auto e1 = one_epoch(*loader);
    auto e2 = one_epoch(*loader);
    e1.insert(e1.end(), e2.begin(), e2.end());
    runs.push_back(e1);
  }
  EXPECT_EQ(runs[1], runs[0]);
  EXPECT_EQ(runs[2], runs[0]);
  // Without ordering, the same batches in some order.
  auto unordered = data::make_data_loader<data::samplers::SequentialSampler>(
      ds, data::DataLoaderOptions(4).workers(3).enforce_ordering(false).max_jobs(6));
  auto got = one_epoch(*unordered);
  std::sort(got.begin(), got.end());
  auto seq = data::make_data_loader<data::samplers::SequentialSampler>(ds, 4);
  EXPECT_EQ(got, one_epoch(*seq));
}

TEST(DataLoader, WorkerExceptionReachesConsumer) {
  for (size_t workers : {0, 2}) {
    auto loader = data::make_data_loader<data::samplers::SequentialSampler>(
        IndexDataset(20, /*fail_at=*/9).map(data::transforms::Stack<>()), data::DataLoaderOptions(4).workers(workers));
    int64_t before = 0;
    try {
      for (auto& batch : *loader) before += batch.target.size(0);
      ADD_FAILURE() << "no error with workers " << workers;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("example 9 is broken"), std::string::npos) << e.what();
    }
    EXPECT_EQ(before, 8) << "batches before the broken one, workers " << workers;
    // The loader stays usable: a failing transform fails the same batch again.
    EXPECT_THROW(one_epoch(*loader), Error);
  }
}

TEST(DataLoader, DestructionAndRestartWhileWorkersAreBusy) {
  auto ds = IndexDataset(64, -1, /*sleep_ms=*/10).map(data::transforms::Stack<>());
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto loader = data::make_data_loader<data::samplers::SequentialSampler>(ds, data::DataLoaderOptions(8).workers(2));
    auto it = loader->begin();
    EXPECT_EQ(it->target[0].item<int64_t>(), 0);  // jobs are now queued and running
  }
  { auto idle = data::make_data_loader(ds, data::DataLoaderOptions(8).workers(2)); }  // never iterated
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);

  // Leaving an epoch early and starting another drops the old epoch's pending batches.
  auto loader = data::make_data_loader<data::samplers::SequentialSampler>(ds, data::DataLoaderOptions(8).workers(2));
  for (auto& batch : *loader) {
    EXPECT_EQ(batch.target[0].item<int64_t>(), 0);
    break;
  }
  EXPECT_EQ(flat(one_epoch(*loader)).size(), 64u);
}

TEST(DataLoader, Timeout) {
  auto loader = data::make_data_loader<data::samplers::SequentialSampler>(
      IndexDataset(4, -1, /*sleep_ms=*/200).map(data::transforms::Stack<>()),
      data::DataLoaderOptions(4).workers(1).timeout(std::chrono::milliseconds(20)));
  try {
    one_epoch(*loader);
    ADD_FAILURE() << "no timeout";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// The data part of libtorch's examples/cpp/mnist/mnist.cpp, verbatim but for the data root (a
// small synthetic set, so the test stays fast) and the device.
namespace torch = ark;

TEST(DataLoader, LibtorchMnistExampleCompiles) {
  const fs::path dir = synthetic_mnist("example", 150, 40);
  const std::string kDataRoot = dir.string();
  const int64_t kTrainBatchSize = 64;
  const int64_t kTestBatchSize = 1000;
  torch::Device device(torch::kCPU);

  auto train_dataset = torch::data::datasets::MNIST(kDataRoot)
                           .map(torch::data::transforms::Normalize<>(0.1307, 0.3081))
                           .map(torch::data::transforms::Stack<>());
  const size_t train_dataset_size = train_dataset.size().value();
  auto train_loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      std::move(train_dataset), kTrainBatchSize);

  auto test_dataset = torch::data::datasets::MNIST(kDataRoot, torch::data::datasets::MNIST::Mode::kTest)
                          .map(torch::data::transforms::Normalize<>(0.1307, 0.3081))
                          .map(torch::data::transforms::Stack<>());
  const size_t test_dataset_size = test_dataset.size().value();
  auto test_loader = torch::data::make_data_loader(std::move(test_dataset), kTestBatchSize);

  size_t seen = 0, batch_idx = 0;
  for (auto& batch : *train_loader) {
    auto data = batch.data.to(device), targets = batch.target.to(device);
    EXPECT_EQ(data.sizes().vec(), (std::vector<int64_t>{batch_idx < 2 ? 64 : 22, 1, 28, 28}));
    EXPECT_EQ(targets.dtype(), torch::kLong);
    // Normalize: (pixel / 255 - 0.1307) / 0.3081, example by example.
    const int64_t i = static_cast<int64_t>(seen);
    EXPECT_NEAR(data[0][0][3][5].item<float>(), (pixel(i, 3, 5) / 255.0f - 0.1307f) / 0.3081f, 1e-5);
    seen += data.size(0);
    ++batch_idx;
  }
  EXPECT_EQ(seen, train_dataset_size);
  size_t test_seen = 0;
  for (const auto& batch : *test_loader) test_seen += batch.data.size(0);
  EXPECT_EQ(test_seen, test_dataset_size);
  fs::remove_all(dir);
}
