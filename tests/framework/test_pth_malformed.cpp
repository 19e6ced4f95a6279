// The .pth reader on malformed and hostile input: cases B30-B44 of shared/RELIABILITY.md, each a
// hand-assembled file that must be refused with an ark::Error naming the file and the problem,
// never a crash, an allocation of what the file claims, or anything run. Where the issue is
// newer than RELIABILITY.md it wins: legacy (pre-1.6) pickles load (B31 refuses only the tar
// format), and FRAME / STACK_GLOBAL / MEMOIZE load because torch.save(pickle_protocol=4) writes
// them (B41 keeps INST, OBJ, EXT*, BINUNICODE8 and BUILD on plain objects refused).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "test_pth_helpers.h"

namespace fs = std::filesystem;
using namespace ark;
using namespace pth_test;

namespace {

const std::string kOkPickle = sd_pickle({{"w", "FloatStorage", "0", 4, 0, {4}, {1}}});

// A valid checkpoint whose data.pkl is replaced by `pickle` (one 16-byte storage "0").
void expect_pickle_error(const Pickle& p, const std::string& fragment) { expect_error(with_pickle(p.bytes()), fragment); }

}  // namespace

TEST(PthMalformed, B30_NotACheckpoint) {
  expect_error("", "not a PyTorch zip checkpoint");
  std::string random(4096, '\0');
  uint32_t x = 12345;
  for (char& c : random) c = static_cast<char>((x = x * 1103515245u + 12345u) >> 24);
  expect_error(random, "not a PyTorch zip checkpoint");
  expect_error(std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(100, '\0'), "not a PyTorch zip checkpoint");
  expect_error(std::string("\x80\x02}q\x00.", 6), "without torch.save's magic number");
  // A zip that is not torch.save's: no folder, no data.pkl, no version.
  expect_error(make_zip({{"model.json", "{}"}}), "not inside a folder");
  expect_error(make_zip({{"archive/other", "x"}, {"archive/version", "3"}}), "no archive/data.pkl record");
  expect_error(make_zip({{"archive/data.pkl", kOkPickle}}), "no archive/version record");
  expect_error(make_zip({{"archive/data.pkl", kOkPickle}, {"other/version", "3"}}), "two folders");
  // A file on disk: the error names its path.
  const std::string path = (fs::temp_directory_path() / ("ark_pth_b30_" + std::to_string(::getpid()) + ".pth")).string();
  std::ofstream(path, std::ios::binary) << std::string("\x89PNG\r\n\x1a\n", 8);
  EXPECT_THROW(
      {
        try {
          io::load_pth(path);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
          throw;
        }
      },
      Error);
  std::ofstream(path, std::ios::binary | std::ios::trunc);
  EXPECT_THROW(io::load_pth(path), Error);  // empty
  fs::remove(path);
  EXPECT_THROW(io::load_pth(path), Error);  // missing
}

TEST(PthMalformed, B31_LegacyTarIsRefused) {
  std::string tar(1024, '\0');
  tar.replace(0, 7, "storages");
  tar.replace(257, 6, std::string("ustar\0", 6));
  expect_error(tar, "legacy tar format");
  // (pre-1.6 pickle files load: see Pth.LegacyFormatFromPyTorch.)
}

TEST(PthMalformed, B32_TorchScriptArchive) {
  expect_error(make_zip({{"archive/data.pkl", kOkPickle}, {"archive/constants.pkl", "x"}, {"archive/version", "3"}}),
               "TorchScript archives are not weights");
  expect_error(make_zip({{"m/data/0", ""}, {"m/code/__torch__/m.py", "x"}, {"m/data.pkl", kOkPickle}, {"m/version", "3"}}),
               "TorchScript archives are not weights");
}

TEST(PthMalformed, B33_CompressedEntryDeclaring40GB) {
  // safetensors' torch_dos_create.py: a DEFLATE record whose ZIP64 size says 40 GB.
  Record bomb{"archive/data/0", std::string(64, '\x03'), 8, 40ull << 30};
  const std::string bytes = make_zip({{"archive/data.pkl", kOkPickle}, bomb, {"archive/version", "3"}}, /*zip64=*/true);
  const auto t0 = std::chrono::steady_clock::now();
  expect_error(bytes, "compressed entries not allowed");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  // data.pkl compressed too.
  Record pkl{"archive/data.pkl", kOkPickle, 8};
  expect_error(make_zip({pkl, {"archive/version", "3"}}), "compressed entries not allowed");
}

TEST(PthMalformed, B34_HostileEntryNames) {
  for (const char* name : {"../x", "/x", "archive/../../x", "C:x", "archive\\x", "archive/\x01"})
    expect_error(make_zip({{"archive/data.pkl", kOkPickle}, {name, "x"}, {"archive/version", "3"}}), "invalid entry name");
  expect_error(make_zip({{"archive/data.pkl", kOkPickle}, {"archive/version", "3"}, {"archive/version", "3"}}),
               "duplicate entry name");
  Record lie{"archive/version", "3"};
  lie.local_name = "archive/versioX";
  expect_error(make_zip({{"archive/data.pkl", kOkPickle}, lie}), "local header name differs");
  // Two entries sharing bytes: the second's central-directory entry points inside the first.
  Record host{"archive/data/0", local_header("archive/data/1", "0123456789abcdef", 0, 16, false)};
  Record inner{"archive/data/1", "0123456789abcdef"};
  inner.point_into = 1;
  expect_error(make_zip({{"archive/data.pkl", kOkPickle}, host, inner, {"archive/version", "3"}}), "overlapping entries");
  // Nothing is ever extracted: no file named x appeared beside the test.
  EXPECT_FALSE(fs::exists("x"));
  EXPECT_FALSE(fs::exists("../x"));
}

TEST(PthMalformed, B35_TruncatedArchive) {
  for (bool zip64 : {false, true}) {
    const std::string good = make_pth(kOkPickle, {{"0", std::string(16, '\0')}}, "", zip64);
    EXPECT_NO_THROW(io::parse_pth(good.data(), good.size(), "case.pth"));
    expect_error(good.substr(0, good.size() - 1), "truncated or corrupted archive");
    expect_error(good.substr(0, good.size() - 30), "truncated or corrupted archive");
    // Every prefix is refused cleanly (an error, never a crash), and so is every single-byte flip
    // in the central directory and end records.
    for (size_t n = 0; n < good.size(); ++n) EXPECT_THROW(io::parse_pth(good.data(), n, "case.pth"), Error) << n;
    for (size_t i = good.find(std::string("PK\x01\x02", 4)); i < good.size(); ++i) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      try {
        io::parse_pth(bad.data(), bad.size(), "case.pth");
      } catch (const Error&) {
      }
    }
  }
  // A CRC mismatch in a record (a corrupted download) is caught.
  std::string good = make_pth(kOkPickle, {{"0", std::string(16, '\0')}});
  good[good.find(std::string(16, '\0'))] = 1;
  expect_error(good, "CRC-32 mismatch");
}

TEST(PthMalformed, B36_DisallowedGlobalsRunNothing) {
  const std::string canary = (fs::temp_directory_path() / ("ark_canary_" + std::to_string(::getpid()))).string();
  fs::remove(canary);
  const std::string cmd = "touch " + canary;
  struct Case {
    const char* module;
    const char* name;
  };
  for (Case c : {Case{"posix", "system"}, Case{"os", "system"}, Case{"builtins", "eval"}, Case{"__builtin__", "eval"},
                 Case{"subprocess", "Popen"}, Case{"__main__", "Net"}, Case{"torch", "load"}, Case{"builtins", "getattr"}}) {
    Pickle p;
    p.proto().global(c.module, c.name).mark().str(cmd).tuple().reduce().stop();
    expect_pickle_error(p, std::string("disallowed global ") + c.module + "." + c.name);
    // The same through STACK_GLOBAL (protocol 4).
    Pickle q;
    q.proto(4).op(0x8c).op(static_cast<unsigned char>(std::strlen(c.module))).raw(c.module);
    q.op(0x8c).op(static_cast<unsigned char>(std::strlen(c.name))).raw(c.name).op(0x93);
    q.mark().str(cmd).tuple().reduce().stop();
    expect_pickle_error(q, std::string("disallowed global ") + c.module + "." + c.name);
  }
  // The payload hidden inside an otherwise valid state dict, after a real tensor.
  Pickle p;
  p.proto().empty_dict().mark().str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  p.str("evil").global("posix", "system").mark().str(cmd).tuple().reduce().setitems().stop();
  expect_pickle_error(p, "disallowed global posix.system");
  EXPECT_FALSE(fs::exists(canary));
}

TEST(PthMalformed, B37_WrongArgumentsToAllowedGlobals) {
  auto call = [](const std::string& m, const std::string& n, const std::function<void(Pickle&)>& args) {
    Pickle p;
    p.proto().global(m, n).mark();
    args(p);
    p.tuple().reduce().stop();
    return p;
  };
  expect_pickle_error(call("torch._utils", "_rebuild_tensor_v2", [](Pickle& p) { p.i(1).i(2); }),
                      "wrong arguments for torch._utils._rebuild_tensor_v2: expected 6 or 7 arguments, got 2");
  expect_pickle_error(call("torch._utils", "_rebuild_tensor_v2", [](Pickle& p) {
                        p.str("not a storage").i(0).ints({1}).ints({1}).boolean(false).none();
                      }),
                      "the first argument must be a storage");
  expect_pickle_error(call("torch._utils", "_rebuild_tensor_v2", [](Pickle& p) {
                        p.storage("FloatStorage", "0", 4).str("0").ints({1}).ints({1}).boolean(false).none();
                      }),
                      "storage_offset must be an int");
  expect_pickle_error(call("collections", "OrderedDict", [](Pickle& p) { p.i(1); }), "only OrderedDict() is supported");
  expect_pickle_error(call("_codecs", "encode", [](Pickle& p) { p.i(1); }), "expected encode(str, encoding)");
  expect_pickle_error(call("torch", "device", [](Pickle& p) { p.i(1); }), "expected device(type[, index])");
  expect_pickle_error(call("torch._utils", "_rebuild_parameter", [](Pickle& p) { p.i(1).boolean(true).empty_dict(); }),
                      "data must be a tensor");
  expect_pickle_error(call("torch", "FloatStorage", [](Pickle& p) { p.i(1); }), "calling torch.FloatStorage is not supported");
  expect_pickle_error(call("torch._utils", "_rebuild_sparse_tensor", [](Pickle& p) { p.i(1); }), "sparse");
  // REDUCE whose arguments are not a tuple, or whose callee is not a global.
  Pickle p;
  p.proto().global("collections", "OrderedDict").empty_list().reduce().stop();
  expect_pickle_error(p, "arguments must be a tuple");
  Pickle q;
  q.proto().str("f").empty_tuple().reduce().stop();
  expect_pickle_error(q, "cannot call a str");
}

TEST(PthMalformed, B38_ContainerConfusion) {
  expect_pickle_error(Pickle().proto().empty_list().i(0).i(1).setitem().stop(), "SETITEM on a list");
  expect_pickle_error(Pickle().proto().empty_tuple().mark().i(0).i(1).setitems().stop(), "SETITEMS on a tuple");
  expect_pickle_error(Pickle().proto().empty_dict().i(1).append().stop(), "APPEND to a dict");
  expect_pickle_error(Pickle().proto().empty_dict().mark().i(1).op('e').stop(), "APPENDS to a dict");
  expect_pickle_error(Pickle().proto().empty_dict().empty_list().i(1).setitem().stop(), "unhashable type 'list'");
}

TEST(PthMalformed, B39_BadPersistentIdsAndStorages) {
  expect_pickle_error(Pickle().proto().mark().str("module").str("x").tuple().persid().stop(),
                      "persistent id tag must be 'storage', got module");
  expect_pickle_error(Pickle().proto().i(3).persid().stop(), "persistent id must be a tuple");
  expect_pickle_error(Pickle().proto().mark().str("storage").global("torch", "FloatStorage").tuple().persid().stop(),
                      "2 fields, expected 5 or 6");
  expect_pickle_error(Pickle().proto().storage("FloatStorage", "0", -1).stop(), "storage size must be a non-negative int");
  expect_pickle_error(Pickle().proto().mark().str("storage").global("collections", "OrderedDict").str("0").str("cpu").i(1)
                          .tuple().persid().stop(),
                      "storage type must be a torch storage class");
  // A key with no data/<key> record.
  expect_error(make_pth(sd_pickle({{"w", "FloatStorage", "7", 4, 0, {4}, {1}}}), {{"0", std::string(16, '\0')}}),
               "storage '7' has no record archive/data/7");
  // numel x element size differs from the record's size.
  expect_error(make_pth(sd_pickle({{"w", "FloatStorage", "0", 5, 0, {4}, {1}}}), {{"0", std::string(16, '\0')}}),
               "has 16 bytes but its 5 float32 elements need 20");
  // One storage used with two dtypes.
  expect_error(make_pth(sd_pickle({{"a", "FloatStorage", "0", 4, 0, {4}, {1}}, {"b", "IntStorage", "0", 4, 0, {4}, {1}}}),
                        {{"0", std::string(16, '\0')}}),
               "storage '0' is used as torch.FloatStorage");
  // A bool that is neither 0 nor 1 would be undefined behaviour to read.
  expect_error(make_pth(sd_pickle({{"z", "BoolStorage", "0", 2, 0, {2}, {1}}}), {{"0", std::string("\x01\x02", 2)}}),
               "bool storage '0' holds the byte 2 at element 1");
  // Legacy storage views (pre-0.4) are refused.
  expect_pickle_error(Pickle().proto().mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").i(4)
                          .mark().str("1").i(0).i(2).tuple().tuple().persid().stop(),
                      "storage views of legacy checkpoints");
}

TEST(PthMalformed, B40_TensorGeometry) {
  auto tensor_case = [](int64_t numel, int64_t offset, std::vector<int64_t> sizes, std::vector<int64_t> strides) {
    return make_pth(sd_pickle({{"w", "FloatStorage", "0", numel, offset, std::move(sizes), std::move(strides)}}),
                    {{"0", std::string(static_cast<size_t>(numel) * 4, '\0')}});
  };
  expect_error(tensor_case(4, 1, {4}, {1}), "out of bounds for storage '0' of 4 elements");
  expect_error(tensor_case(4, 0, {2, 2}, {3, 1}), "out of bounds");
  expect_error(tensor_case(4, 0, {2}, {-1}), "negative stride");
  expect_error(tensor_case(4, 0, {-2}, {1}), "negative size");
  expect_error(tensor_case(4, -1, {1}, {1}), "negative storage offset");
  expect_error(tensor_case(4, 5, {0}, {1}), "out of bounds");
  expect_error(tensor_case(4, 0, {1LL << 62, 8}, {1, 1}), "size overflows");
  expect_error(tensor_case(4, 0, {2, 2}, {1LL << 62, 1LL << 62}), "overflow");
  expect_error(tensor_case(4, 0, {2}, {1, 1}), "1 sizes but 2 strides");
  expect_error(tensor_case(4, 0, std::vector<int64_t>(1000, 1), std::vector<int64_t>(1000, 0)),
               "limit exceeded: tensor rank 1000");
  // Overlapping and zero strides inside the storage are fine (expand-style views).
  const std::string ok = tensor_case(4, 0, {3, 4}, {0, 1});
  EXPECT_EQ(io::parse_pth(ok.data(), ok.size(), "case.pth").tensors["w"].sizes().vec(), (std::vector<int64_t>{3, 4}));
}

TEST(PthMalformed, B41_UnsupportedOpcodes) {
  expect_pickle_error(Pickle().proto().mark().raw("i__main__\nNet\n").stop(), "unsupported pickle opcode INST (0x69)");
  expect_pickle_error(Pickle().proto().mark().global("collections", "OrderedDict").op('o').stop(), "unsupported pickle opcode OBJ");
  expect_pickle_error(Pickle().proto().op(0x82).op(1).stop(), "unsupported pickle opcode EXT1");
  expect_pickle_error(Pickle().proto(4).op(0x8d).raw(std::string(8, '\0')).stop(), "unsupported pickle opcode BINUNICODE8");
  expect_pickle_error(Pickle().proto().raw("S'x'\n").stop(), "unsupported pickle opcode STRING");
  expect_pickle_error(Pickle().proto().i(1).op('0').stop(), "unsupported pickle opcode POP");
  expect_pickle_error(Pickle().proto().op(0xff).stop(), "unsupported pickle opcode (unknown) (0xff)");
  expect_pickle_error(Pickle().proto().empty_list().empty_dict().build().stop(), "BUILD of a list");
  expect_pickle_error(Pickle().proto(6).empty_dict().stop(), "unsupported pickle protocol 6");
  // FRAME, MEMOIZE, SHORT_BINUNICODE and STACK_GLOBAL load (torch.save(pickle_protocol=4)).
  Pickle p;
  p.proto(4).op(0x95).raw(std::string("\x05\0\0\0\0\0\0\0", 8)).empty_dict().op(0x94).op(0x8c).op(1).raw("a").op(0x94);
  p.op(0x8c).op(11).raw("collections").op(0x8c).op(11).raw("OrderedDict").op(0x93).empty_tuple().reduce().setitem().stop();
  const std::string ok = with_pickle(p.bytes());
  EXPECT_NO_THROW(io::parse_pth(ok.data(), ok.size(), "case.pth"));
  Pickle f;  // a FRAME longer than the pickle
  f.proto(4).op(0x95).raw(std::string("\xff\xff\0\0\0\0\0\0", 8)).empty_dict().stop();
  expect_pickle_error(f, "frame of 65535 bytes runs past the end");
}

TEST(PthMalformed, B42_CorruptedPickles) {
  expect_pickle_error(Pickle().proto().reduce().stop(), "corrupted pickle: stack underflow");
  expect_pickle_error(Pickle().proto().empty_list().i(1).op('e').stop(), "corrupted pickle: no MARK to pop to");
  expect_pickle_error(Pickle().proto().empty_dict().mark().stop(), "corrupted pickle: STOP inside an unclosed MARK");
  expect_pickle_error(Pickle().proto().get(7).stop(), "corrupted pickle: memo key 7 is not set");
  expect_pickle_error(Pickle().proto().raw("J\x01\x02"), "corrupted pickle: truncated");
  expect_pickle_error(Pickle().proto().stop(), "corrupted pickle: 0 items on the stack");
  expect_pickle_error(Pickle().proto().empty_dict(), "corrupted pickle: truncated: no STOP");
  expect_pickle_error(Pickle().proto().mark().op(0x85).stop(), "corrupted pickle: stack underflow");  // TUPLE1 sees only above the mark
  expect_pickle_error(Pickle().proto().op('X').u32(3).raw("\xff\xfe\xfd").stop(), "corrupted pickle: string is not valid UTF-8");
  expect_pickle_error(Pickle().proto().raw("cposix\nsys"), "corrupted pickle: truncated GLOBAL name");
  expect_pickle_error(Pickle().proto().empty_dict().mark().i(1).setitems().stop(), "SETITEMS with an odd number of items");
}

TEST(PthMalformed, B43_NewobjAndTrailingBytes) {
  expect_pickle_error(Pickle().proto().global("collections", "OrderedDict").empty_tuple().op(0x81).stop(),
                      "NEWOBJ of collections.OrderedDict (only torch.nn.Parameter may be instantiated)");
  expect_pickle_error(Pickle().proto().global("torch.nn.parameter", "Parameter").mark().i(1).tuple().op(0x81).stop(),
                      "data must be a tensor");
  expect_pickle_error(Pickle().proto().empty_dict().stop().raw("extra"), "corrupted pickle: 5 bytes after STOP");
  expect_pickle_error(Pickle().proto().empty_dict().empty_dict().stop(), "2 items on the stack at STOP");
  // NEWOBJ Parameter(tensor) is what it should be.
  Pickle p;
  p.proto().empty_dict().mark().str("p").global("torch.nn.parameter", "Parameter").mark();
  p.tensor("FloatStorage", "0", 4, 0, {4}, {1}).tuple().op(0x81).setitems().stop();
  const std::string ok = with_pickle(p.bytes());
  EXPECT_EQ(io::parse_pth(ok.data(), ok.size(), "case.pth").tensors["p"].numel(), 4);
}

TEST(PthMalformed, B44_PickleBombs) {
  const io::pickle::Limits limits;
  auto bomb = [](const std::string& body, const std::string& fragment) {
    const auto t0 = std::chrono::steady_clock::now();
    expect_error(with_pickle(body), fragment);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  };
  // 10^6 nested lists need 10^6 stack slots.
  bomb(std::string("\x80\x02", 2) + std::string(1'000'000, ']') + std::string(999'999, 'a') + ".", "limit exceeded: stack deeper");
  bomb(std::string("\x80\x02", 2) + std::string(1'000'000, '(') + ".", "limit exceeded: stack deeper");
  // A memo larger than the cap (10^7 in the plan; the cap is lower).
  {
    std::string p("\x80\x02]", 3);
    p.reserve(p.size() + 5 * (limits.max_memo + 2));
    for (uint32_t i = 0; i <= limits.max_memo; ++i) {
      p.push_back('r');
      put32(p, i);
    }
    bomb(p + ".", "limit exceeded: memo larger than");
  }
  // BINUNICODE declaring 2^32-1 bytes: refused before reading or allocating.
  bomb(std::string("\x80\x02X\xff\xff\xff\xff", 7) + "abc.", "limit exceeded: string of 4294967295 bytes");
  // Nesting within the stack cap but beyond the walker's depth cap (a dict of dicts, 200 deep).
  Pickle p;
  p.proto();
  for (int i = 0; i < 200; ++i) p.empty_dict().str("k");
  p.none();
  for (int i = 0; i < 200; ++i) p.setitem();
  bomb(p.stop().bytes(), "limit exceeded: containers nested deeper than 64");
  // Shared substructure: 40 levels of {a: x, b: x} is 2^40 paths from a few hundred bytes.
  Pickle q;
  q.proto();
  std::function<void(uint32_t)> level = [&](uint32_t l) {
    if (l == 0) {
      q.i(7).put(0);
      return;
    }
    q.empty_dict().put(l).mark().str("a");
    level(l - 1);
    q.str("b").get(l - 1).setitems();
  };
  level(40);
  bomb(q.stop().bytes(), "limit exceeded: more than");
  // The same with empty dicts at the bottom: containers count as visits too.
  Pickle e;
  e.proto();
  std::function<void(uint32_t)> empty_level = [&](uint32_t l) {
    if (l == 0) {
      e.empty_dict().put(0);
      return;
    }
    e.empty_dict().put(l).mark().str("a");
    empty_level(l - 1);
    e.str("b").get(l - 1).setitems();
  };
  empty_level(40);
  bomb(e.stop().bytes(), "limit exceeded: more than");
  // 4 KB keys on every level: 2^20 paths of 80 KB each hit the path budget, not the visit cap.
  Pickle w;
  w.proto();
  std::function<void(uint32_t)> wide_level = [&](uint32_t l) {
    if (l == 0) {
      w.none().put(0);
      return;
    }
    w.empty_dict().put(l).mark().str("a" + std::string(4000, 'k'));
    wide_level(l - 1);
    w.str("b" + std::string(4000, 'k')).get(l - 1).setitems();
  };
  wide_level(20);
  bomb(w.stop().bytes(), "limit exceeded: more than 268435456 bytes of key paths");
  // A memoised 4 KB key set again and again: each SETITEM hashes it, within a budget.
  Pickle k;
  k.proto().empty_dict().str(std::string(4000, 'k')).put(0).none().setitem();
  for (int i = 0; i < 70'000; ++i) k.get(0).none().setitem();
  bomb(k.stop().bytes(), "limit exceeded: more than 268435456 bytes of dict keys and copies");
  expect_pickle_error(Pickle().proto().empty_dict().str(std::string(5000, 'k')).none().setitem().stop(),
                      "dict key longer than 4096 bytes");
  // set(big_list) over and over: each call copies the list, within the same budget (lowered
  // here to keep the test's memory small).
  Pickle copy_bomb;
  copy_bomb.proto().empty_list();      // the outer list the sets go into
  copy_bomb.empty_list().put(0);       // the big list: 200k items
  for (int batch = 0; batch < 4; ++batch) {
    copy_bomb.mark();
    for (int i = 0; i < 50'000; ++i) copy_bomb.none();
    copy_bomb.op('e');
  }
  copy_bomb.append().global("builtins", "set").put(1).append();
  for (int i = 0; i < 1000; ++i) copy_bomb.get(1).mark().get(0).tuple().reduce().append();
  io::PthOptions small;
  small.limits.max_copied_bytes = size_t{16} << 20;
  const std::string copy_bytes = with_pickle(copy_bomb.stop().bytes());
  try {
    io::parse_pth(copy_bytes.data(), copy_bytes.size(), "case.pth", small);
    ADD_FAILURE() << "set() copies were not bounded";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("limit exceeded: more than 16777216 bytes of dict keys and copies"),
              std::string::npos) << err.what();
  }
  // A list that contains itself.
  bomb(Pickle().proto().empty_list().put(0).get(0).append().stop().bytes(), "contains itself");
}
