// The .pth reader on real checkpoints (case B45 of shared/RELIABILITY.md): files PyTorch 1.13
// writes (tools/reference/pth_fixtures.py) in the zip, legacy and protocol-4 forms, compared value
// by value with the reference, with the views' strides, offsets and shared storage as PyTorch has
// them; nested training checkpoints, Parameters, OrderedDicts, every dtype; and hand-assembled
// big-endian, unaligned, ZIP64 and legacy files. The malformed inputs are in test_pth_malformed.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/pth_fixtures.h"
#include "support/reference.h"
#include "test_pth_helpers.h"

namespace fs = std::filesystem;
using namespace ark;
using namespace pth_test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every tensor equals the reference's value and has PyTorch's shape, strides and offset.
void expect_reference_state_dict(const io::PthFile& f, const std::string& what) {
  const auto expected = io::load_safetensors(test::pth_fixture("expected.safetensors")).tensors;
  ASSERT_EQ(f.tensors.size(), expected.size()) << what;
  for (const auto& item : f.tensors) {
    const std::string& k = item.key();
    const Tensor& t = item.value();
    const auto& m = test::pth_manifest()["tensors"][k];
    ASSERT_TRUE(expected.contains(k)) << what << ": " << k;
    EXPECT_EQ(std::string(dtype_name(t.dtype())), m["dtype"].get<std::string>()) << what << ": " << k;
    EXPECT_EQ(t.sizes().vec(), m["shape"].get<std::vector<int64_t>>()) << what << ": " << k;
    EXPECT_EQ(t.strides().vec(), m["stride"].get<std::vector<int64_t>>()) << what << ": " << k;
    EXPECT_EQ(t.storage_offset(), m["offset"].get<int64_t>()) << what << ": " << k;
    EXPECT_TRUE(equal(t, expected[k])) << what << ": " << k << "\n" << t << "\n" << expected[k];
  }
  // File order is the state dict's order.
  std::vector<std::string> keys;
  for (const auto& kv : test::pth_manifest()["tensors"].items()) keys.push_back(kv.key());
  std::vector<std::string> got = f.tensors.keys();
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, keys);
  EXPECT_EQ(got.front(), "f32");
  EXPECT_EQ(got.back(), "tied");
}

void expect_views_share(const io::PthFile& f) {
  for (const auto& group : test::pth_manifest()["shares"])
    for (const auto& k : group) EXPECT_TRUE(f.tensors[k.get<std::string>()].is_alias_of(f.tensors["f32"])) << k;
  EXPECT_FALSE(f.tensors["f64"].is_alias_of(f.tensors["f32"]));
  // Writing through the base shows through every view (the mapping is private: the file keeps its bytes).
  Tensor base = f.tensors["f32"];
  base.index_put_({1, 2}, 100.0);
  EXPECT_EQ(f.tensors["f32_row"][2].item<float>(), 100.0f);
  EXPECT_EQ(f.tensors["f32_t"].index({2, 1}).item<float>(), 100.0f);
  EXPECT_EQ(f.tensors["f32_every_other"].index({1, 1}).item<float>(), 100.0f);
  EXPECT_EQ(f.tensors["tied"].index({1, 2}).item<float>(), 100.0f);
}

}  // namespace

TEST(Pth, ZipFormatFromPyTorch) {
  const io::PthFile f = io::load_pth(test::pth_fixture("zip.pth"));
  expect_reference_state_dict(f, "zip.pth");
  EXPECT_EQ(f.metadata.at("pth.format"), "zip");
  EXPECT_EQ(f.metadata.at("pth.version"), "3");
  EXPECT_EQ(f.metadata.at("pth.byteorder"), "little");
  EXPECT_EQ(f.metadata.at("pth.archive"), "zip");  // torch.save names the folder after the file
  EXPECT_EQ(f.metadata.at("pth.state_dict"), "");
  expect_views_share(f);
  // The file itself is untouched by the write above.
  EXPECT_TRUE(equal(io::load_pth(test::pth_fixture("zip.pth")).tensors["f32"],
                    io::load_safetensors(test::pth_fixture("expected.safetensors")).tensors["f32"]));
}

TEST(Pth, LegacyFormatFromPyTorch) {
  const io::PthFile f = io::load_pth(test::pth_fixture("legacy.pth"));
  expect_reference_state_dict(f, "legacy.pth");
  EXPECT_EQ(f.metadata.at("pth.format"), "legacy");
  expect_views_share(f);
}

TEST(Pth, Protocol4FromPyTorch) {
  // pickle_protocol=4: FRAME, MEMOIZE, SHORT_BINUNICODE and STACK_GLOBAL (same allowlist).
  const io::PthFile f = io::load_pth(test::pth_fixture("proto4.pth"));
  expect_reference_state_dict(f, "proto4.pth");
  expect_views_share(f);
}

TEST(Pth, ParseFromMemoryEqualsLoadFromFile) {
  for (const char* name : {"zip.pth", "legacy.pth"}) {
    const std::string bytes = slurp(test::pth_fixture(name));
    const io::PthFile f = io::parse_pth(bytes.data(), bytes.size(), name);
    expect_reference_state_dict(f, name);
    expect_views_share(f);
  }
}

TEST(Pth, NestedTrainingCheckpoint) {
  for (const char* name : {"nested.pth", "nested_legacy.pth"}) {
    const io::PthFile f = io::load_pth(test::pth_fixture(name));
    const auto expected = io::load_safetensors(test::pth_fixture("expected.safetensors")).tensors;
    for (const char* k : {"f32", "f32_t", "i64", "param"})
      EXPECT_TRUE(equal(f.tensors[std::string("state_dict.") + k], expected[k])) << name << " " << k;
    EXPECT_TRUE(f.tensors["state_dict.f32_t"].is_alias_of(f.tensors["state_dict.f32"]));
    // The SGD state: momentum buffers under integer keys, hyper-parameters as metadata.
    EXPECT_EQ(f.tensors["optimizer.state.0.momentum_buffer"].sizes().vec(), (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(f.tensors["optimizer.state.1.momentum_buffer"].sizes().vec(), (std::vector<int64_t>{2}));
    EXPECT_EQ(f.tensors.size(), 6u);
    EXPECT_EQ(f.metadata.at("epoch"), "3");
    EXPECT_EQ(f.metadata.at("best_acc"), "0.75");
    EXPECT_EQ(f.metadata.at("arch"), "tiny");
    EXPECT_EQ(f.metadata.at("optimizer.param_groups.0.lr"), "0.1");
    EXPECT_EQ(f.metadata.at("optimizer.param_groups.0.nesterov"), "False");
    EXPECT_EQ(f.metadata.at("pth.state_dict"), "state_dict");
  }
}

TEST(Pth, ModuleStateDictWithMetadataBuild) {
  // nn.Module.state_dict() pickles its _metadata attribute with BUILD on the OrderedDict.
  const io::PthFile f = io::load_pth(test::pth_fixture("model.pth"));
  EXPECT_EQ(f.tensors.keys(), test::pth_manifest()["model_keys"].get<std::vector<std::string>>());
  EXPECT_EQ(f.tensors["1.num_batches_tracked"].item<int64_t>(), 7);
  EXPECT_EQ(f.tensors["1.num_batches_tracked"].dim(), 0);
  // Hugging Face's pytorch_model.bin is the same format.
  const io::PthFile hf = io::load_pth(test::pth_fixture("pytorch_model.bin"));
  EXPECT_EQ(hf.metadata.at("pth.archive"), "pytorch_model");
  for (const auto& item : f.tensors) EXPECT_TRUE(equal(item.value(), hf.tensors[item.key()])) << item.key();
  EXPECT_EQ(io::load_pth(test::pth_fixture("model_nested.pth")).metadata.at("pth.state_dict"), "model");
}

TEST(Pth, ZeroCopyOverTheMapping) {
  // torch.save aligns records to 64 bytes: tensors view the mapping, their data is 64-byte aligned.
  const io::PthFile f = io::load_pth(test::pth_fixture("zip.pth"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.tensors["f32"].data_ptr()) % 64, 0u);
  // Tensors outlive the PthFile and keep the mapping alive.
  Tensor t = f.tensors["f64"];
  const io::PthFile g = io::load_pth(test::pth_fixture("zip.pth"));
  (void)g;
  EXPECT_TRUE(equal(t, io::load_safetensors(test::pth_fixture("expected.safetensors")).tensors["f64"]));
}

TEST(Pth, HandMadeZipEveryDtypeUnalignedAndShared) {
  // Records right after their headers (not 64-aligned): read by memcpy, values intact.
  const std::vector<float> f32{1.5f, -2.f, 3.25f, 4.f, 5.f, 6.f};
  const std::vector<int64_t> i64{-1, 1LL << 40, 7};
  const std::vector<uint16_t> f16{0x3c00, 0xc000};  // 1, -2
  const std::vector<uint16_t> bf16{0x3f80, 0x4040};  // 1, 3
  const std::string pickle = sd_pickle({
      {"a", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
      {"a_t", "FloatStorage", "0", 6, 0, {3, 2}, {1, 3}},
      {"a_tail", "FloatStorage", "0", 6, 4, {2}, {1}},
      {"l", "LongStorage", "1", 3, 0, {3}, {1}},
      {"h", "HalfStorage", "2", 2, 0, {2}, {1}},
      {"b", "BFloat16Storage", "3", 2, 0, {2}, {1}},
      {"u", "ByteStorage", "4", 3, 1, {2}, {1}},
      {"z", "BoolStorage", "5", 2, 0, {2}, {1}},
      {"n", "FloatStorage", "6", 0, 0, {0, 3}, {3, 1}},
  });
  const std::string bytes = make_pth(pickle, {{"0", bytes_of(f32)}, {"1", bytes_of(i64)},
                                              {"2", bytes_of(f16)}, {"3", bytes_of(bf16)}, {"4", std::string("\x01\x02\xff", 3)},
                                              {"5", std::string("\x01\x00", 2)}, {"6", ""}});
  const io::PthFile f = io::parse_pth(bytes.data(), bytes.size(), "hand.pth");
  EXPECT_TRUE(equal(f.tensors["a"], tensor({1.5f, -2.f, 3.25f, 4.f, 5.f, 6.f}).reshape({2, 3})));
  EXPECT_TRUE(equal(f.tensors["a_t"], f.tensors["a"].t()));
  EXPECT_TRUE(f.tensors["a_t"].is_alias_of(f.tensors["a"]));
  EXPECT_TRUE(equal(f.tensors["a_tail"], tensor({5.f, 6.f})));
  EXPECT_TRUE(equal(f.tensors["l"], tensor(std::vector<int64_t>{-1, 1LL << 40, 7})));
  EXPECT_TRUE(equal(f.tensors["h"].to(kFloat), tensor({1.f, -2.f})));
  EXPECT_TRUE(equal(f.tensors["b"].to(kFloat), tensor({1.f, 3.f})));
  EXPECT_TRUE(equal(f.tensors["u"].to(kLong), tensor(std::vector<int64_t>{2, 255})));
  EXPECT_TRUE(equal(f.tensors["z"], tensor({true, false})));
  EXPECT_EQ(f.tensors["n"].sizes().vec(), (std::vector<int64_t>{0, 3}));
}

TEST(Pth, BigEndianByteorderIsConverted) {
  // PyTorch >= 2.1 writes a byteorder record; "big" files have every element byte-swapped.
  auto swap = [](std::string s, size_t elem) {
    for (size_t i = 0; i + elem <= s.size(); i += elem) std::reverse(s.begin() + static_cast<long>(i), s.begin() + static_cast<long>(i + elem));
    return s;
  };
  const std::string pickle = sd_pickle({{"f", "FloatStorage", "0", 3, 0, {3}, {1}},
                                        {"l", "LongStorage", "1", 2, 0, {2}, {1}},
                                        {"h", "HalfStorage", "2", 2, 0, {2}, {1}}});
  const std::string bytes = make_pth(pickle, {{"0", swap(bytes_of(std::vector<float>{1.f, -2.5f, 1e30f}), 4)},
                                              {"1", swap(bytes_of(std::vector<int64_t>{-3, 1LL << 50}), 8)},
                                              {"2", swap(bytes_of(std::vector<uint16_t>{0x3c00, 0xc000}), 2)}},
                                     "big");
  const io::PthFile f = io::parse_pth(bytes.data(), bytes.size(), "be.pth");
  EXPECT_EQ(f.metadata.at("pth.byteorder"), "big");
  EXPECT_TRUE(equal(f.tensors["f"], tensor({1.f, -2.5f, 1e30f})));
  EXPECT_TRUE(equal(f.tensors["l"], tensor(std::vector<int64_t>{-3, 1LL << 50})));
  EXPECT_TRUE(equal(f.tensors["h"].to(kFloat), tensor({1.f, -2.f})));
  // "little" is the default; anything else is refused.
  const std::string le = make_pth(sd_pickle({{"f", "FloatStorage", "0", 1, 0, {1}, {1}}}), {{"0", bytes_of(std::vector<float>{2.f})}}, "little");
  EXPECT_EQ(io::parse_pth(le.data(), le.size(), "le.pth").tensors["f"].item<float>(), 2.f);
  expect_error(make_pth(sd_pickle({}), {}, "middle"), "invalid byteorder record");
}

TEST(Pth, Zip64Archive) {
  const std::string bytes = make_pth(sd_pickle({{"f", "FloatStorage", "0", 2, 0, {2}, {1}}}),
                                     {{"0", bytes_of(std::vector<float>{7.f, 8.f})}}, "", /*zip64=*/true);
  EXPECT_TRUE(equal(io::parse_pth(bytes.data(), bytes.size(), "z64.pth").tensors["f"], tensor({7.f, 8.f})));
}

TEST(Pth, HandMadeLegacyBigEndian) {
  // Legacy files record their byte order in sys_info; counts and elements are then big-endian.
  Pickle magic, version, info, obj, keys;
  magic.proto().op(0x8a).op(10).raw(std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)).stop();
  version.proto().i(1001).stop();
  info.proto().empty_dict().mark().str("protocol_version").i(1001).str("little_endian").boolean(false).setitems().stop();
  obj.proto().empty_dict().mark().str("w");
  obj.global("torch._utils", "_rebuild_tensor_v2").mark();
  obj.mark().str("storage").global("torch", "FloatStorage").str("k1").str("cpu").i(2).none().tuple().persid();
  obj.i(0).ints({2}).ints({1}).boolean(false).global("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce();
  obj.setitems().stop();
  keys.proto().empty_list().mark().str("k1").op('e').stop();
  std::string data = magic.bytes() + version.bytes() + info.bytes() + obj.bytes() + keys.bytes();
  data += std::string("\0\0\0\0\0\0\0\x02", 8);
  data += std::string("\x3f\x80\x00\x00\xc0\x20\x00\x00", 8);  // 1.0, -2.5 big-endian
  const io::PthFile f = io::parse_pth(data.data(), data.size(), "legacy_be.pth");
  EXPECT_EQ(f.metadata.at("pth.byteorder"), "big");
  EXPECT_TRUE(equal(f.tensors["w"], tensor({1.f, -2.5f})));
  // One trailing byte after the last storage is refused (a polyglot).
  const std::string longer = data + "x";
  expect_error(longer, "1 bytes after the last storage");
}

TEST(Pth, Int8AndInt16AreRefusedClearly) {
  for (const char* name : {"int16.pth", "int8.pth"}) {
    try {
      io::load_pth(test::pth_fixture(name));
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not support"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(Pth, MaliciousFilesFromPyTorchRunNothing) {
  // B36 with files torch.save wrote: the payload would run os.system('touch <canary>').
  const std::string canary = test::pth_manifest()["canary"].get<std::string>();
  fs::remove(canary);
  for (const char* name : {"malicious.pth", "malicious_legacy.pth"}) {
    try {
      io::load_pth(test::pth_fixture(name));
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("disallowed global posix.system"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(canary)) << name;
  }
}
