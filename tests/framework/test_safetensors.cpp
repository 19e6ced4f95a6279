// safetensors reader/writer: round trips for every dtype, byte-identical output, and the
// malformed-file cases B1-B22 of shared/RELIABILITY.md (each must be a clear ark::Error).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "ark/ark.h"
#include "support/scratch_dir.h"

namespace fs = std::filesystem;
using namespace ark;

namespace {

std::string tmp_path(const std::string& name) { return test::scratch_file("ark_st_", name); }

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file image: header JSON (as given) + data bytes.
std::string image(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

void expect_error(const std::string& bytes, const std::string& fragment) {
  try {
    io::parse_safetensors(bytes.data(), bytes.size(), "case.safetensors");
    FAIL() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("case.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  manual_seed(3);
  io::TensorDict d;
  d.insert("f32", randn({3, 4}));
  d.insert("f64", randn({2}, kDouble));
  d.insert("f16", randn({5}).to(kHalf));
  d.insert("bf16", randn({2, 2}).to(kBFloat16));
  d.insert("i64", arange(7));
  d.insert("i32", arange(3, TensorOptions().dtype(kInt)));
  d.insert("u8", arange(4, TensorOptions().dtype(kByte)));
  d.insert("b", tensor({true, false, true}));
  d.insert("empty", zeros({2, 0}));
  d.insert("scalar", tensor(2.5));
  d.insert("noncontig", randn({4, 3}).t());
  const std::string path = tmp_path("all.safetensors");
  io::save_safetensors(path, d, {{"format", "pt"}, {"note", "x\"y"}});
  auto f = io::load_safetensors(path);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.metadata.at("note"), "x\"y");
  ASSERT_EQ(f.tensors.size(), d.size());
  for (const auto& kv : d) {
    const Tensor& got = f.tensors[kv.key()];
    EXPECT_EQ(got.dtype(), kv.value().dtype()) << kv.key();
    EXPECT_EQ(got.sizes(), kv.value().sizes()) << kv.key();
    EXPECT_TRUE(equal(got, kv.value())) << kv.key();
  }
  // Loaded tensors are writable (a private mapping) without touching the file.
  Tensor t = f.tensors["f32"];
  t.add_(1);
  auto again = io::load_safetensors(path);
  EXPECT_TRUE(equal(again.tensors["f32"], d["f32"]));
}

TEST(Safetensors, BytesMatchTheReferenceWriter) {
  // B24: the reference library sorts by dtype (I64 before F32) then name, writes compact JSON
  // with __metadata__ first and pads the header with spaces to a multiple of 8.
  io::TensorDict d;
  d.insert("a", tensor({1.0f, 2.0f}));
  d.insert("b", tensor({int64_t{7}}));
  const std::string got = io::serialize_safetensors(d, {{"format", "pt"}});
  std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string data(16, '\0');
  const int64_t seven = 7;
  const float ab[2] = {1.0f, 2.0f};
  std::memcpy(data.data(), &seven, 8);
  std::memcpy(data.data() + 8, ab, 8);
  EXPECT_EQ(got, image(header, data));
}

// save_safetensors streams each tensor from its own memory: the file holds exactly the bytes
// serialize_safetensors builds, for views (made contiguous on the way), every width and empty tensors.
TEST(Safetensors, SaveStreamsTheSerializedBytes) {
  manual_seed(4);
  io::TensorDict d;
  d.insert("t", randn({5, 3}).t());
  d.insert("half", randn({7}).to(kHalf));
  d.insert("ids", randint(0, 100, {4, 2}));
  d.insert("empty", zeros({0, 3}));
  d.insert("flag", tensor({true, false, true}));
  const std::string path = tmp_path("streamed.safetensors");
  io::save_safetensors(path, d, {{"format", "pt"}});
  std::ifstream in(path, std::ios::binary);
  const std::string written{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(written, io::serialize_safetensors(d, {{"format", "pt"}}));
  const auto back = io::load_safetensors(path);
  EXPECT_TRUE(equal(back.tensors["t"], d["t"].contiguous()));
  EXPECT_EQ(back.tensors["empty"].sizes(), d["empty"].sizes());
}

TEST(Safetensors, ReadsWhatPyTorchSideWrites) {
  const std::string path = std::string(ARK_TEST_DATA) + "/st_python.safetensors";
  const std::string cmd = std::string(ARK_PYTHON) + " -c \"import sys; sys.path.insert(0, '" ARK_SOURCE_DIR
                          "/tools/reference'); import torch, safetensors_py as st; torch.manual_seed(0); "
                          "st.save('" + path + "', {'w': torch.arange(6.).reshape(2, 3), 'h': torch.tensor([1.5]).half(), "
                          "'bf': torch.tensor([-2.0, 0.25]).bfloat16()}, {'format': 'pt'})\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto f = io::load_safetensors(path);
  EXPECT_TRUE(equal(f.tensors["w"], arange(6, kFloat).reshape({2, 3})));
  EXPECT_EQ(f.tensors["h"].item<float>(), 1.5f);
  EXPECT_TRUE(equal(f.tensors["bf"].to(kFloat), tensor({-2.0f, 0.25f})));
}

TEST(Safetensors, MalformedHeaders) {
  expect_error("", "header too small");                                       // B1
  expect_error(std::string(7, '\0'), "header too small");                     // B1
  expect_error(le64(100'000'001) + "{}", "header too large");                // B2
  expect_error(le64(~uint64_t{0}), "header too large");                      // B2
  expect_error(le64(60), "invalid header length");                           // B3
  expect_error(image("\xff", ""), "not valid UTF-8");                         // B4
  expect_error(image("{", ""), "not valid JSON");                             // B5
  expect_error(image("[]", ""), "not a JSON object");                         // B5
  expect_error(image("123", ""), "not a JSON object");                        // B5
  const std::string t = R"("dtype":"F32","shape":[1],"data_offsets":[0,4])";
  expect_error(image("{\"a\":{" + t + "},\"a\":{" + t + "}}", std::string(4, '\0')), "duplicate tensor name");  // B7
  expect_error(image(R"({"__metadata__":{"x":1}})", ""), "__metadata__");  // B8
  expect_error(image(R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
               "unknown dtype");  // B9
  expect_error(image(R"({"a":{"dtype":"I16","shape":[1],"data_offsets":[0,2]}})", std::string(2, '\0')),
               "not supported");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0')),
               "non-negative integers");  // B10
  expect_error(image(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", std::string(4, '\0')),
               "non-negative integers");  // B10
  expect_error(image(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", std::string(4, '\0')),
               "rank 9");  // B10
  expect_error(image(R"({"a":{"dtype":"F32","shape":[2,18446744073709551614],"data_offsets":[0,4]}})", ""),
               "overflow");  // B11
  expect_error(image(R"({"a":{"dtype":"F32","shape":[2,9223372036854775807],"data_offsets":[0,4]}})", ""),
               "overflow");  // B11
  expect_error(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", std::string(16, '\0')),
               "invalid offset");  // B12
  expect_error(image(R"({"a":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}})", std::string(4, '\0')),
               "tensor size mismatch");  // B15
}

TEST(Safetensors, OffsetsMustTileTheData) {
  // B13: ten tensors all at [0, 16]: rejected (sorting makes this O(n log n)).
  std::string h = "{";
  for (int i = 0; i < 10; ++i) {
    if (i) h += ',';
    h.append("\"t").append(std::to_string(i)).append(R"(":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})");
  }
  h += "}";
  expect_error(image(h, std::string(16, '\0')), "invalid offset");
  // B14: a hole, and a first tensor not at 0.
  expect_error(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                     std::string(12, '\0')),
               "invalid offset");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')),
               "invalid offset");
  // B16: trailing bytes, and missing bytes.
  expect_error(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(6, '\0')),
               "not fully covered");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(6, '\0')),
               "not fully covered");
}

TEST(Safetensors, AcceptsEdgeCases) {
  // B6: leading and trailing whitespace; B17: zero-size and 0-dim tensors.
  auto f = io::parse_safetensors(image("  {}   ", "").data(), 15, "ws");
  EXPECT_EQ(f.tensors.size(), 0u);
  const std::string img = image(
      R"({"z":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})",
      std::string(8, '\0'));
  auto g = io::parse_safetensors(img.data(), img.size(), "edge");
  EXPECT_EQ(g.tensors["z"].sizes(), IntArrayRef({2, 0}));
  EXPECT_EQ(g.tensors["s"].dim(), 0);
  // B20: NaN and Inf load unchanged.
  io::TensorDict d;
  d.insert("x", tensor({NAN, INFINITY, -INFINITY}));
  const std::string bytes = io::serialize_safetensors(d);
  auto h = io::parse_safetensors(bytes.data(), bytes.size());
  EXPECT_TRUE(std::isnan(h.tensors["x"][0].item<float>()));
  EXPECT_TRUE(std::isinf(h.tensors["x"][1].item<float>()));
}

TEST(Safetensors, UnalignedDataIsReadCorrectly) {
  // B19: a header length that is not a multiple of 8 puts the data at an odd address.
  const std::string header = R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})";  // 57 bytes
  ASSERT_NE(header.size() % 8, 0u);
  const double v[2] = {1.25, -3.5};
  std::string data(16, '\0');
  std::memcpy(data.data(), v, 16);
  const std::string path = tmp_path("unaligned.safetensors");
  std::ofstream(path, std::ios::binary) << image(header, data);
  auto f = io::load_safetensors(path);
  EXPECT_EQ(f.tensors["a"][0].item<double>(), 1.25);
  EXPECT_EQ(f.tensors["a"][1].item<double>(), -3.5);
}

TEST(Safetensors, FileErrorsNameThePath) {
  try {
    io::load_safetensors("/nonexistent/dir/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.safetensors"), std::string::npos);
  }
  const std::string path = tmp_path("truncated.safetensors");
  std::ofstream(path, std::ios::binary) << le64(100) << "{}";
  try {
    io::load_safetensors(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("invalid header length"), std::string::npos);
  }
}

TEST(Safetensors, AtomicWriteLeavesNoTempFiles) {
  const std::string path = tmp_path("atomic.safetensors");
  io::TensorDict d;
  d.insert("a", ones({3}));
  io::save_safetensors(path, d);
  io::save_safetensors(path, d);
  int others = 0;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    if (e.path().string().find("atomic.safetensors.tmp") != std::string::npos) ++others;
  EXPECT_EQ(others, 0);
  // Writing into a missing directory fails with the path and leaves nothing behind.
  EXPECT_THROW(io::save_safetensors("/nonexistent/x.safetensors", d), Error);
}
