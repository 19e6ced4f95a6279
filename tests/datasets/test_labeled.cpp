// The labelled-data readers (labeled.h): ImageFolder listing against torchvision 0.14, text
// folders, CSV/TSV/JSONL manifests, IDX (the real Fashion-MNIST files against a numpy reading, and
// broken files), HDF5 written by h5py, the data hash against hashlib, stratified splits, subsets,
// and every bad-data error the issue lists. Reference data: tools/reference/labeled_reference.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ark/core/error.h"
#include "ark/datasets/labeled.h"
#include "ark/ops/ops.h"
#include "support/reference.h"

namespace ark {
namespace {

namespace fs = std::filesystem;
using datasets::DataKind;
using datasets::LabeledData;
using datasets::read_labeled;
using datasets::ReadOptions;
using datasets::Sample;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.msg();
  }
  return "";
}

#define EXPECT_ERROR_HAS(stmt, ...)                                                           \
  do {                                                                                        \
    const std::string msg_ = error_of([&] { (void)(stmt); });                                 \
    ASSERT_FALSE(msg_.empty()) << #stmt " did not throw";                                     \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})                    \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << msg_; \
  } while (0)

const nlohmann::json& reference() {
  static const nlohmann::json ref =
      nlohmann::json::parse(std::ifstream(test::reference_file("labeled_reference.py", "labeled_reference.json")));
  return ref;
}

// Where the reference script wrote its files (beside its JSON).
std::string ref_path(const std::string& rel) {
  (void)reference();
  return (fs::path(ARK_TEST_DATA) / "labeled" / rel).string();
}

// A per-process folder for the files the tests write, removed at exit.
fs::path scratch() {
  struct Dir {
    fs::path path = fs::path(ARK_TEST_DATA) / ("labeled_tests_" + std::to_string(::getpid()));
    Dir() { fs::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

std::string put(const std::string& rel, const std::string& bytes) {
  const fs::path p = scratch() / rel;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

// The pixel pattern of the reference script's IDX and HDF5 files.
uint8_t pattern(int64_t i, int64_t y, int64_t x, int64_t c = 0) {
  return static_cast<uint8_t>((i * 7 + y * 3 + x * 5 + c * 11) % 256);
}

std::vector<std::string> labels_of(const LabeledData& d) {
  std::vector<std::string> out;
  for (const Sample& s : d.samples) out.push_back(d.classes[static_cast<size_t>(s.label)]);
  return out;
}

// ---- image and text folders ----

TEST(LabeledFolder, MatchesTorchvisionImageFolder) {
  const auto& ref = reference()["photos"];
  const std::string root = ref_path("photos");
  const LabeledData d = read_labeled(root);
  EXPECT_EQ(d.kind, DataKind::kImage);
  EXPECT_EQ(d.source, root);
  EXPECT_EQ(d.classes, ref["classes"].get<std::vector<std::string>>());  // hidden '.cache' is no class
  ASSERT_EQ(d.samples.size(), ref["samples"].size());  // hidden files, notes.txt, README.md left out
  for (size_t i = 0; i < d.samples.size(); ++i) {
    EXPECT_EQ(fs::path(d.samples[i].path).lexically_relative(root).generic_string(),
              ref["samples"][i][0].get<std::string>());
    EXPECT_EQ(d.samples[i].label, ref["samples"][i][1].get<int64_t>());
    EXPECT_EQ(d.samples[i].index, -1);
  }
  EXPECT_EQ(d.class_counts(), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(d.sha256, ref["sha256"].get<std::string>());  // hashlib over the documented fields
  EXPECT_EQ(datasets::data_hash(d), d.sha256);
  EXPECT_FALSE(d.pixels.defined());
  // image(i) decodes the file: cat/a.png is 4x3 with pixel (y, x) = (40x, 60y, 100).
  const auto it = std::find_if(d.samples.begin(), d.samples.end(),
                               [](const Sample& s) { return fs::path(s.path).filename() == "a.png"; });
  ASSERT_NE(it, d.samples.end());
  const Tensor img = d.image(it - d.samples.begin());
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{3, 4, 3}));
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 4; ++x) {
      EXPECT_EQ(img[y][x][0].item<int64_t>(), 40 * x);
      EXPECT_EQ(img[y][x][1].item<int64_t>(), 60 * y);
      EXPECT_EQ(img[y][x][2].item<int64_t>(), 100);
    }
  EXPECT_ERROR_HAS(d.image(7), "out of range");
  // max_samples keeps the first samples in listing order.
  ReadOptions o;
  o.max_samples = 3;
  const LabeledData few = read_labeled(root, o);
  ASSERT_EQ(few.samples.size(), 3u);
  EXPECT_EQ(few.samples[2].path, d.samples[2].path);
}

TEST(LabeledFolder, FixedClassListKeepsItsOrder) {
  ReadOptions o;
  o.classes = {"dog", "bird", "cat"};
  const LabeledData d = read_labeled(ref_path("photos"), o);
  EXPECT_EQ(d.classes, o.classes);
  EXPECT_EQ(d.class_counts(), (std::vector<int64_t>{2, 0, 5}));
  o.classes = {"cat", "bird"};
  EXPECT_ERROR_HAS(read_labeled(ref_path("photos"), o), "class folder 'dog'", "not one of the 2 classes");
}

TEST(LabeledFolder, BadFolders) {
  put("one/cats/a.jpg", "x");
  put("one/cats/b.png", "y");
  EXPECT_ERROR_HAS(read_labeled((scratch() / "one").string()), "one", "needs at least two classes, found 1: 'cats'");
  put("emptyclass/cats/a.jpg", "x");
  put("emptyclass/dogs/notes.md", "no images");
  fs::create_directories(scratch() / "emptyclass/dogs/.thumbs");
  put("emptyclass/dogs/.hidden.jpg", "hidden");
  EXPECT_ERROR_HAS(read_labeled((scratch() / "emptyclass").string()), "emptyclass", "class folder 'dogs'",
                   "holds no images");
  put("flat/a.jpg", "x");
  EXPECT_ERROR_HAS(read_labeled((scratch() / "flat").string()), "no class folders", "directly in it");
  EXPECT_ERROR_HAS(read_labeled((scratch() / "nothing-here").string()), "nothing-here", "No such file");
  put("notdata.bin", "abc");
  EXPECT_ERROR_HAS(read_labeled((scratch() / "notdata.bin").string()), "notdata.bin", "not labelled data");
}

TEST(LabeledFolder, TextFolders) {
  put("texts/pos/b.txt", "\xEF\xBB\xBFgreat film\n");
  put("texts/pos/a.txt", "loved it");
  put("texts/neg/x/y.txt", "dull");
  put("texts/neg/.draft.txt", "hidden");
  const LabeledData d = read_labeled((scratch() / "texts").string());
  EXPECT_EQ(d.kind, DataKind::kText);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"neg", "pos"}));
  ASSERT_EQ(d.samples.size(), 3u);
  EXPECT_EQ(d.samples[0].text, "dull");
  EXPECT_EQ(d.samples[1].text, "loved it");
  EXPECT_EQ(d.samples[2].text, "great film\n");  // the content as written, without the BOM
  EXPECT_EQ(labels_of(d), (std::vector<std::string>{"neg", "pos", "pos"}));
  EXPECT_EQ(datasets::data_hash(d), d.sha256);
  EXPECT_ERROR_HAS(d.image(0), "texts, not images");

  put("badtext/pos/a.txt", "fine");
  const std::string bad = put("badtext/neg/b.txt", "caf\xC3");
  EXPECT_ERROR_HAS(read_labeled((scratch() / "badtext").string()), bad, "invalid UTF-8");
  put("emptytext/pos/a.txt", "fine");
  const std::string empty = put("emptytext/neg/b.txt", "");
  EXPECT_ERROR_HAS(read_labeled((scratch() / "emptytext").string()), empty, "empty text");
}

TEST(LabeledHash, FollowsTheDataNotItsLocation) {
  const fs::path a = scratch() / "hash_a", b = scratch() / "hash_b";
  put("hash_a/cat/1.png", "one");
  put("hash_a/cat/2.png", "two");
  put("hash_a/dog/3.png", "three");
  fs::create_directories(b);
  fs::copy(a, b, fs::copy_options::recursive);
  const std::string h = read_labeled(a.string()).sha256;
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(read_labeled(a.string()).sha256, h);
  EXPECT_EQ(read_labeled(b.string()).sha256, h);  // same data elsewhere
  EXPECT_EQ(read_labeled(b.string() + "/").sha256, h);
  EXPECT_EQ(read_labeled((b / "." / "cat" / "..").string()).sha256, h);
  put("hash_b/cat/2.png", "twO");                 // one byte
  EXPECT_NE(read_labeled(b.string()).sha256, h);
  put("hash_b/cat/2.png", "two");
  EXPECT_EQ(read_labeled(b.string()).sha256, h);
  fs::rename(b / "cat/2.png", b / "cat/4.png");  // a name
  EXPECT_NE(read_labeled(b.string()).sha256, h);
  fs::rename(b / "cat/4.png", b / "cat/2.png");
  fs::rename(b / "dog", b / "dug");  // a label
  EXPECT_NE(read_labeled(b.string()).sha256, h);
}

// ---- manifests ----

TEST(LabeledManifest, ImagePaths) {
  put("man/img/a.jpg", "a");
  put("man/img/b.jpg", "b");
  put("man/c.png", "c");
  const std::string abs = put("elsewhere/d.png", "d");
  const std::string csv = put("man/data.csv",
                              "path,label,split,group\n"
                              "img/a.jpg,10,train,g1\n"
                              "img/b.jpg,2,val,g2\n"
                              "./c.png,10,train,g1\n" +
                                  abs + ",2,test,\n");
  const LabeledData d = read_labeled(csv);
  EXPECT_EQ(d.kind, DataKind::kImage);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"2", "10"}));  // integers sort as numbers
  ASSERT_EQ(d.samples.size(), 4u);
  EXPECT_EQ(fs::path(d.samples[0].path), scratch() / "man/img/a.jpg");
  EXPECT_EQ(fs::path(d.samples[3].path), fs::path(abs));
  EXPECT_EQ(labels_of(d), (std::vector<std::string>{"10", "2", "10", "2"}));
  EXPECT_EQ(d.samples[1].split, "val");
  EXPECT_EQ(d.samples[1].group, "g2");
  EXPECT_EQ(d.samples[3].group, "");
  EXPECT_EQ(datasets::split_indices(d, "train"), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(datasets::split_indices(d, "valid"), (std::vector<int64_t>{}));
  EXPECT_EQ(datasets::split_names(d), (std::vector<std::string>{"train", "val", "test"}));
  EXPECT_EQ(datasets::data_hash(d), d.sha256);
  // The same samples through a JSONL manifest in the same folder hash the same.
  const std::string jl = put("man/data.jsonl",
                             "{\"path\": \"img/a.jpg\", \"label\": 10}\n{\"path\": \"img/b.jpg\", \"label\": 2}\n"
                             "{\"path\": \"c.png\", \"label\": 10}\n{\"path\": \"" + abs + "\", \"label\": 2}\n");
  EXPECT_EQ(read_labeled(jl).sha256, d.sha256);
  // Non-integer labels sort bytewise.
  const LabeledData words = read_labeled(put("man/w.csv", "path,label\nimg/a.jpg,b\nimg/b.jpg,B\nc.png,a\n"));
  EXPECT_EQ(words.classes, (std::vector<std::string>{"B", "a", "b"}));
}

TEST(LabeledManifest, Texts) {
  const std::string jl = put("texts.jsonl",
                             "{\"text\": \"a man sleeps\", \"text_pair\": \"a person rests\", \"label\": \"entail\"}\n"
                             "{\"text\": \"a dog runs\", \"text_pair\": \"a cat sleeps\", \"label\": \"contra\"}\n"
                             "{\"text\": \"hi\", \"label\": \"entail\"}\n");
  const LabeledData d = read_labeled(jl);
  EXPECT_EQ(d.kind, DataKind::kText);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"contra", "entail"}));
  ASSERT_EQ(d.samples.size(), 3u);
  EXPECT_EQ(d.samples[0].text_pair, "a person rests");
  EXPECT_EQ(d.samples[2].text_pair, "");
  EXPECT_EQ(d.samples[1].label, 0);
  EXPECT_TRUE(d.samples[0].path.empty());
  EXPECT_EQ(datasets::data_hash(d), d.sha256);
  const std::string other = put("texts2.jsonl",
                                "{\"text\": \"a man sleeps\", \"text_pair\": \"a person rests\", \"label\": \"entail\"}\n"
                                "{\"text\": \"a dog runs\", \"text_pair\": \"a cat sleeps\", \"label\": \"contra\"}\n"
                                "{\"text\": \"hi!\", \"label\": \"entail\"}\n");
  EXPECT_NE(read_labeled(other).sha256, d.sha256);
  // TSV with other column names.
  ReadOptions o;
  o.text_column = "sentence";
  o.label_column = "y";
  const LabeledData t = read_labeled(put("s.tsv", "sentence\ty\n\"fine, \"\"really\"\"\"\t1\nbad\t0\n"), o);
  EXPECT_EQ(t.samples[0].text, "fine, \"really\"");
  EXPECT_EQ(labels_of(t), (std::vector<std::string>{"1", "0"}));
}

TEST(LabeledManifest, BadManifests) {
  put("bad/a.jpg", "a");
  put("bad/b.jpg", "b");
  // Bad quoting and invalid UTF-8 come from the table reader with file and line.
  const std::string quoting = put("bad/quoting.csv", "path,label\na.jpg,cat\nb.jpg,\"dog\"x\n");
  EXPECT_ERROR_HAS(read_labeled(quoting), quoting + ":3:", "bad quoting");
  const std::string utf = put("bad/utf.csv", "path,label\na.jpg,cat\nb.jpg,d\xF8g\n");
  EXPECT_ERROR_HAS(read_labeled(utf), utf + ":3:", "invalid UTF-8");
  // Missing columns name the column and list those present.
  const std::string nolabel = put("bad/nolabel.csv", "path,class\na.jpg,cat\n");
  EXPECT_ERROR_HAS(read_labeled(nolabel), nolabel, "no column 'label'", "'path', 'class'");
  const std::string nopath = put("bad/nopath.csv", "file,label\na.jpg,cat\n");
  EXPECT_ERROR_HAS(read_labeled(nopath), nopath, "no 'path' column", "no 'text' column", "'file', 'label'");
  // Unknown labels against a fixed class list name the label and the line.
  ReadOptions o;
  o.classes = {"cat", "dog"};
  const std::string unknown = put("bad/unknown.csv", "path,label\na.jpg,cat\nb.jpg,dgo\n");
  EXPECT_ERROR_HAS(read_labeled(unknown, o), unknown + ":3:", "unknown label 'dgo'", "'cat', 'dog'");
  const LabeledData fixed = read_labeled(put("bad/onlycats.csv", "path,label\na.jpg,cat\nb.jpg,cat\n"), o);
  EXPECT_EQ(fixed.classes, o.classes);  // one class present, two known: fine
  EXPECT_EQ(fixed.class_counts(), (std::vector<int64_t>{2, 0}));
  const std::string one = put("bad/one.csv", "path,label\na.jpg,cat\nb.jpg,cat\n");
  EXPECT_ERROR_HAS(read_labeled(one), one, "needs at least two classes, found 1: 'cat'");
  const std::string missing = put("bad/missing.csv", "path,label\na.jpg,cat\nnope.jpg,dog\n");
  EXPECT_ERROR_HAS(read_labeled(missing), missing + ":3:", "'nope.jpg' does not exist");
  const std::string nolab = put("bad/emptylabel.csv", "path,label\na.jpg,cat\nb.jpg,\n");
  EXPECT_ERROR_HAS(read_labeled(nolab), nolab + ":3:", "empty 'label'");
  const std::string emptytext = put("bad/emptytext.jsonl", "{\"text\": \"ok\", \"label\": 1}\n\n{\"text\": \"\", \"label\": 0}\n");
  EXPECT_ERROR_HAS(read_labeled(emptytext), emptytext + ":3:", "empty 'text'");
  const std::string count = put("bad/count.csv", "path,label\na.jpg,cat,extra\n");
  EXPECT_ERROR_HAS(read_labeled(count), count + ":2:", "3 fields");
}

// ---- IDX ----

TEST(LabeledIdx, SmallFilesPlainAndGzipped) {
  const std::string images = ref_path("idx/good-images-idx3-ubyte");  // labels beside it are .gz
  const LabeledData d = read_labeled(images);
  EXPECT_EQ(d.kind, DataKind::kImage);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"0", "1", "3"}));
  EXPECT_EQ(labels_of(d), (std::vector<std::string>{"3", "1", "3", "0", "1", "3"}));
  ASSERT_EQ(d.pixels.sizes(), (std::vector<int64_t>{6, 3, 4, 1}));
  EXPECT_EQ(d.pixels.dtype(), kByte);
  const uint8_t* p = static_cast<const uint8_t*>(d.pixels.data_ptr());
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 4; ++x) ASSERT_EQ(p[(i * 3 + y) * 4 + x], pattern(i, y, x)) << i << " " << y << " " << x;
  for (size_t i = 0; i < d.samples.size(); ++i) EXPECT_EQ(d.samples[i].index, static_cast<int64_t>(i));
  // Grey rows come out as RGB (the channel repeated), contiguous.
  const Tensor img = d.image(4);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{3, 4, 3}));
  EXPECT_TRUE(img.is_contiguous());
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(img[2][1][c].item<int64_t>(), pattern(4, 2, 1));
  EXPECT_EQ(datasets::data_hash(d), d.sha256);
  // A fixed class list maps the values by name.
  ReadOptions o;
  o.classes = {"3", "1", "0", "7"};
  EXPECT_EQ(read_labeled(images, o).samples[0].label, 0);
  o.classes = {"0", "1"};
  EXPECT_ERROR_HAS(read_labeled(images, o), "good-images-idx3-ubyte", "sample 0 has label 3");
}

TEST(LabeledIdx, BrokenFiles) {
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/trunc-images-idx3-ubyte.gz")), "trunc-images", "truncated",
                   "announces 6 images");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/shortlabels-images-idx3-ubyte")), "shortlabels-labels", "truncated");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/count-images-idx3-ubyte")), "holds 6 images", "holds 5 labels");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/extra-images-idx3-ubyte")), "extra-images", "unexpected bytes");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/nolabels-images-idx3-ubyte")), "labels file is missing",
                   "nolabels-labels-idx1-ubyte");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/badmagic-images-idx3-ubyte")), "bad IDX magic number 0x00000802");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/header-images-idx3-ubyte")), "header-images", "truncated IDX header");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/cut-images-idx3-ubyte.gz")), "cut-images", "truncated");
  EXPECT_ERROR_HAS(read_labeled(ref_path("idx/good-labels-idx1-ubyte.gz")), "labels file", "name the images file");
  // Reading only the first samples reads only what they need: the cut-off tail is never reached.
  ReadOptions o;
  o.max_samples = 3;
  const LabeledData d = read_labeled(ref_path("idx/trunc-images-idx3-ubyte.gz"), o);
  EXPECT_EQ(d.pixels.size(0), 3);
  EXPECT_EQ(labels_of(d), (std::vector<std::string>{"3", "1", "3"}));
}

TEST(LabeledIdx, FashionMnist) {
  const auto& ref = reference()["fashion"];
  if (ref.is_null()) GTEST_SKIP() << "no Fashion-MNIST in /usr/share/datasets/fashion-mnist";
  ReadOptions o;
  o.max_samples = 100;
  const LabeledData d = read_labeled("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", o);
  ASSERT_EQ(d.pixels.sizes(), (std::vector<int64_t>{100, 28, 28, 1}));
  const auto labels = ref["train_labels"].get<std::vector<int64_t>>();
  const auto sums = ref["train_sums"].get<std::vector<int64_t>>();
  ASSERT_EQ(d.samples.size(), labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    EXPECT_EQ(d.classes[static_cast<size_t>(d.samples[i].label)], std::to_string(labels[i])) << i;
    EXPECT_EQ(d.pixels[static_cast<int64_t>(i)].to(kLong).sum().item<int64_t>(), sums[i]) << i;
  }
  EXPECT_EQ(d.classes, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  // The whole test set: every byte read and checked, trailing data included.
  const LabeledData t = read_labeled("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(static_cast<int64_t>(t.samples.size()), ref["t10k_count"].get<int64_t>());
  EXPECT_EQ(t.class_counts(), ref["t10k_class_counts"].get<std::vector<int64_t>>());
  EXPECT_EQ(t.image(0).sizes(), (std::vector<int64_t>{28, 28, 3}));
}

// ---- HDF5 ----

TEST(LabeledHdf5, ChunkedGreyImages) {
  const LabeledData d = read_labeled(ref_path("h5/grey.h5"));
  ASSERT_EQ(d.pixels.sizes(), (std::vector<int64_t>{1000, 64, 64, 1}));
  EXPECT_EQ(d.classes, (std::vector<std::string>{"-2", "3", "8"}));  // int16 labels, numeric order
  const uint8_t* p = static_cast<const uint8_t*>(d.pixels.data_ptr());
  int64_t wrong = 0;
  for (int64_t i = 0; i < 1000; ++i)
    for (int64_t y = 0; y < 64; ++y)
      for (int64_t x = 0; x < 64; ++x) wrong += p[(i * 64 + y) * 64 + x] != pattern(i, y, x);
  EXPECT_EQ(wrong, 0);
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(d.classes[d.samples[i].label], std::to_string(i % 3 * 5 - 2)) << i;
  EXPECT_EQ(d.class_counts(), (std::vector<int64_t>{334, 333, 333}));
  EXPECT_EQ(datasets::data_hash(d), d.sha256);
  ReadOptions o;
  o.max_samples = 7;
  const LabeledData few = read_labeled(ref_path("h5/grey.h5"), o);
  EXPECT_EQ(few.pixels.size(0), 7);
  EXPECT_EQ(few.image(6)[5][9][2].item<int64_t>(), pattern(6, 5, 9));
}

TEST(LabeledHdf5, RgbImagesUnderOtherNames) {
  ReadOptions o;
  o.hdf5_inputs = "x";
  o.hdf5_labels = "y";
  const LabeledData d = read_labeled(ref_path("h5/rgb.h5"), o);
  ASSERT_EQ(d.pixels.sizes(), (std::vector<int64_t>{10, 4, 5, 3}));
  EXPECT_EQ(d.classes, (std::vector<std::string>{"0", "1"}));
  const Tensor img = d.image(9);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{4, 5, 3}));
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(img[3][4][c].item<int64_t>(), pattern(9, 3, 4, c));
  EXPECT_ERROR_HAS(read_labeled(ref_path("h5/rgb.h5")), "rgb.h5", "no dataset 'images'", "'x', 'y'");
}

TEST(LabeledHdf5, BadDatasets) {
  const std::string bad = ref_path("h5/bad.h5");
  auto with = [](const std::string& inputs, const std::string& labels) {
    ReadOptions o;
    o.hdf5_inputs = inputs;
    o.hdf5_labels = labels;
    return o;
  };
  EXPECT_NO_THROW(read_labeled(bad, with("images", "labels")));
  EXPECT_ERROR_HAS(read_labeled(bad, with("float_images", "labels")), "bad.h5", "'float_images'", "float32",
                   "expected uint8");
  EXPECT_ERROR_HAS(read_labeled(bad, with("int8_images", "labels")), "'int8_images'", "int8");
  EXPECT_ERROR_HAS(read_labeled(bad, with("images_c2", "labels")), "'images_c2'", "(5, 4, 4, 2)");
  EXPECT_ERROR_HAS(read_labeled(bad, with("images_2d", "labels")), "'images_2d'", "(5, 4)");
  EXPECT_ERROR_HAS(read_labeled(bad, with("images", "labels_2d")), "'labels_2d'", "(5, 1)");
  EXPECT_ERROR_HAS(read_labeled(bad, with("images", "labels_short")), "holds 5 images", "holds 4 labels");
  EXPECT_ERROR_HAS(read_labeled(bad, with("images", "float_labels")), "'float_labels'", "expected integer labels");
  EXPECT_ERROR_HAS(read_labeled(bad, with("images", "nope")), "bad.h5", "no dataset 'nope'", "'group'");
  EXPECT_ERROR_HAS(read_labeled(bad, with("group", "labels")), "'group'", "not a dataset");
  EXPECT_ERROR_HAS(read_labeled(put("fake.h5", "not hdf5 at all")), "fake.h5", "not an HDF5 file");
}

// ---- splits and subsets ----

LabeledData synthetic(const std::vector<int64_t>& counts) {
  LabeledData d;
  d.source = "synthetic";
  for (size_t c = 0; c < counts.size(); ++c) d.classes.push_back("class" + std::to_string(c));
  // Interleaved so that a class's samples are spread over the index range.
  for (int64_t k = 0, added = 1; added;) {
    added = 0;
    for (size_t c = 0; c < counts.size(); ++c)
      if (k < counts[c]) {
        Sample s;
        s.label = static_cast<int64_t>(c);
        s.text = "t";
        d.samples.push_back(s);
        added = 1;
      }
    ++k;
  }
  return d;
}

TEST(LabeledSplit, StratifiedProportionsAndDeterminism) {
  const std::vector<int64_t> counts = {100, 50, 7, 2, 1, 3};
  const LabeledData d = synthetic(counts);
  const auto [train, val] = datasets::stratified_split(d, 0.2, 42);
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
  EXPECT_TRUE(std::is_sorted(val.begin(), val.end()));
  std::vector<int64_t> all = train;
  all.insert(all.end(), val.begin(), val.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), d.samples.size());
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<int64_t>(i));  // a partition
  std::vector<int64_t> val_counts(counts.size(), 0);
  for (int64_t i : val) ++val_counts[static_cast<size_t>(d.samples[static_cast<size_t>(i)].label)];
  // round(0.2 * n): 20, 10, 1 (1.4), at least 1 for 2, none for a single sample, 1 (0.6).
  EXPECT_EQ(val_counts, (std::vector<int64_t>{20, 10, 1, 1, 0, 1}));
  // Deterministic for the seed; another seed picks other samples in the same proportions.
  EXPECT_EQ(datasets::stratified_split(d, 0.2, 42), std::make_pair(train, val));
  const auto other = datasets::stratified_split(d, 0.2, 43);
  EXPECT_NE(other.second, val);
  EXPECT_EQ(other.second.size(), val.size());
  // One class's samples do not move another's: class0's validation picks survive adding to class1.
  const LabeledData more = synthetic({100, 80, 7, 2, 1, 3});
  auto class0 = [](const LabeledData& data, const std::vector<int64_t>& idx) {
    std::vector<int64_t> rank;  // position within class0
    std::map<int64_t, int64_t> pos;
    for (size_t i = 0, k = 0; i < data.samples.size(); ++i)
      if (data.samples[i].label == 0) pos[static_cast<int64_t>(i)] = static_cast<int64_t>(k++);
    for (int64_t i : idx)
      if (pos.count(i)) rank.push_back(pos[i]);
    return rank;
  };
  EXPECT_EQ(class0(more, datasets::stratified_split(more, 0.2, 42).second), class0(d, val));
  // Edge fractions.
  EXPECT_TRUE(datasets::stratified_split(d, 0.0, 1).second.empty());
  const auto most = datasets::stratified_split(d, 0.99, 1);
  EXPECT_EQ(most.first.size(), counts.size());  // every class keeps one training sample
  EXPECT_ERROR_HAS(datasets::stratified_split(d, 1.0, 1), "[0, 1)");
  EXPECT_ERROR_HAS(datasets::stratified_split(d, -0.1, 1), "[0, 1)");
  EXPECT_ERROR_HAS(datasets::stratified_split(d, std::nan(""), 1), "[0, 1)");
}

TEST(LabeledSplit, FashionMnistClassProportions) {
  if (reference()["fashion"].is_null()) GTEST_SKIP() << "no Fashion-MNIST";
  const LabeledData t = read_labeled("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  const auto [train, val] = datasets::stratified_split(t, 0.15, 7);
  EXPECT_EQ(val.size(), 1500u);
  std::vector<int64_t> per(10, 0);
  for (int64_t i : val) ++per[static_cast<size_t>(t.samples[static_cast<size_t>(i)].label)];
  EXPECT_EQ(per, std::vector<int64_t>(10, 150));  // 1000 per class in t10k
}

TEST(LabeledSubset, SharesPixelsAndKeepsIndices) {
  const LabeledData d = read_labeled(ref_path("idx/good-images-idx3-ubyte"));
  const LabeledData s = datasets::subset(d, {5, 1});
  ASSERT_EQ(s.samples.size(), 2u);
  EXPECT_EQ(s.pixels.data_ptr(), d.pixels.data_ptr());
  EXPECT_EQ(s.samples[0].index, 5);
  EXPECT_EQ(s.classes, d.classes);
  EXPECT_EQ(s.image(0)[1][2][0].item<int64_t>(), pattern(5, 1, 2));
  EXPECT_EQ(s.sha256.size(), 64u);
  EXPECT_NE(s.sha256, d.sha256);
  EXPECT_EQ(datasets::subset(d, {5, 1}).sha256, s.sha256);
  EXPECT_NE(datasets::subset(d, {1, 5}).sha256, s.sha256);
  EXPECT_ERROR_HAS(datasets::subset(d, {6}), "index 6 out of range");
  EXPECT_ERROR_HAS(datasets::subset(d, {-1}), "out of range");
  EXPECT_TRUE(datasets::split_names(d).empty());
}

}  // namespace
}  // namespace ark
