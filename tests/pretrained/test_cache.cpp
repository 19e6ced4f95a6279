// The content-addressed cache without a network: manifests (written last, atomically; A33),
// verify, remove, prune (orphans, temp files of dead processes, held locks), SHA-256 against the
// FIPS 180-2 vectors, and the HTTP header parsers the downloader trusts (Content-Range,
// Retry-After, X-Linked-Etag).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "ark/io/file.h"
#include "ark/pretrained/cache.h"
#include "ark/pretrained/download.h"
#include "ark/pretrained/http.h"
#include "ark/pretrained/sha256.h"

namespace fs = std::filesystem;
using namespace ark::pretrained;

namespace {

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root = fs::temp_directory_path() / ("ark-cache-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(root);
    cache.emplace(root);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  // Puts `bytes` in as a blob (as fetch() would) and returns its sha256.
  std::string put(const std::string& bytes) {
    const std::string sha = sha256_hex(bytes);
    fs::create_directories(cache->blob_path(sha).parent_path());
    ark::io::write_file_atomic(cache->blob_path(sha).string(), bytes);
    return sha;
  }
  fs::path root;
  std::optional<Cache> cache;
};

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;  // a million 'a's, fed in uneven pieces
  const std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    const size_t n = std::min(left, chunk.size());
    h.update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(h.hex_digest(), sha256_hex(""));  // reset after a digest
}

TEST(HttpHeaders, ContentRange) {
  auto r = http::parse_content_range("bytes 100-199/1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 100u);
  EXPECT_EQ(r->last, 199u);
  EXPECT_EQ(r->total, 1000u);
  r = http::parse_content_range("bytes 0-0/*");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->total);
  for (const char* bad : {"", "bytes", "bytes 5-4/10", "bytes 0-9/5", "bytes -1-5/10", "items 0-1/2", "bytes 0-1/",
                          "bytes 99999999999999999999999-1/2", "bytes */100", "bytes 0x1-2/3"})
    EXPECT_FALSE(http::parse_content_range(bad)) << bad;
}

TEST(HttpHeaders, RetryAfter) {
  EXPECT_EQ(http::parse_retry_after("120", 0), 120.0);
  EXPECT_EQ(http::parse_retry_after(" 0 ", 0), 0.0);
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  EXPECT_EQ(http::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30), 30.0);
  EXPECT_EQ(http::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30), 0.0);
  for (const char* bad : {"", "soon", "-5", "1.5", "Sun, 06 Nov 1994"}) EXPECT_FALSE(http::parse_retry_after(bad, 0)) << bad;
}

TEST(HttpHeaders, EtagsAndUrls) {
  EXPECT_TRUE(http::is_strong_etag("\"abc\""));
  EXPECT_FALSE(http::is_strong_etag("W/\"abc\""));
  EXPECT_FALSE(http::is_strong_etag("abc"));
  const std::string sha = sha256_hex("x");
  EXPECT_EQ(http::linked_sha256("\"" + sha + "\""), sha);
  std::string upper = sha;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  EXPECT_EQ(http::linked_sha256(upper), sha);
  EXPECT_FALSE(http::linked_sha256("\"4f1c5b0f\""));  // a git blob id, not a sha256
  EXPECT_EQ(http::redact_url("https://user:secret@host/a/b?token=1#x"), "https://host/a/b");
  http::Headers h;
  http::parse_header_line("HTTP/1.1 302 Found\r\n", h);
  http::parse_header_line("X-Linked-Etag: \"abc\"\r\n", h);
  http::parse_header_line("x-linked-etag: second\r\n", h);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h["x-linked-etag"], "\"abc\"");
}

TEST(Names, ShaAndFilenameValidation) {
  EXPECT_EQ(normalize_sha256("ABCDEF01"), "abcdef01");
  EXPECT_THROW(normalize_sha256("abc"), DownloadError);
  EXPECT_THROW(normalize_sha256("zzzzzzzzz"), DownloadError);
  EXPECT_THROW(normalize_sha256(std::string(65, 'a')), DownloadError);
  EXPECT_NO_THROW(validate_filename("model.safetensors"));
  EXPECT_NO_THROW(validate_filename("onnx/model.onnx"));
  EXPECT_NO_THROW(validate_filename("weird name %20 é.bin"));
  EXPECT_EQ(exit_code(ErrorKind::Network), 3);
  EXPECT_EQ(exit_code(ErrorKind::Integrity), 4);
  EXPECT_EQ(exit_code(ErrorKind::BadFile), 5);
  EXPECT_EQ(exit_code(ErrorKind::Io), 6);
  EXPECT_EQ(exit_code(ErrorKind::Interrupted), 130);
}

TEST_F(CacheTest, DefaultRootFollowsEnvironment) {
  // Restores the variables on every exit (other tests in this process may rely on them).
  struct Saved {
    std::map<std::string, std::optional<std::string>> v;
    Saved() {
      for (const char* n : {"ARK_HOME", "XDG_CACHE_HOME"}) v[n] = std::getenv(n) ? std::optional<std::string>(std::getenv(n)) : std::nullopt;
    }
    ~Saved() {
      for (const auto& [n, val] : v) val ? ::setenv(n.c_str(), val->c_str(), 1) : ::unsetenv(n.c_str());
    }
  } saved;
  ::setenv("ARK_HOME", "/x/ark-home", 1);
  EXPECT_EQ(Cache::default_root(), fs::path("/x/ark-home"));
  ::unsetenv("ARK_HOME");
  ::setenv("XDG_CACHE_HOME", "/x/xdg", 1);
  EXPECT_EQ(Cache::default_root(), fs::path("/x/xdg/ark"));
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(Cache::default_root(), fs::path(std::getenv("HOME")) / ".cache" / "ark");
}

TEST_F(CacheTest, ManifestRoundTripAndList) {
  const std::string a = put("aaaa"), b = put("bbbbbb");
  cache->write_manifest("hf:org/name@main", {{"config.json", 4, a}, {"weights/model.safetensors", 6, b}},
                        {{"commit", "0123"}});
  cache->write_manifest("resnet50.tv_in1k", {{"resnet50-0676ba61.pth", 4, a}});
  const auto m = cache->read_manifest("hf:org/name@main");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->entry, "hf:org/name@main");
  ASSERT_EQ(m->files.size(), 2u);
  EXPECT_EQ(m->file("weights/model.safetensors")->sha256, b);
  EXPECT_EQ(m->meta.at("commit"), "0123");
  EXPECT_FALSE(m->created.empty());
  EXPECT_EQ(cache->entry_file("hf:org/name@main", "config.json"), cache->blob_path(a));
  EXPECT_FALSE(cache->entry_file("hf:org/name@main", "nope"));
  EXPECT_FALSE(cache->read_manifest("missing"));
  // The entry name never becomes a path.
  EXPECT_EQ(cache->manifest_path("hf:org/name@main").parent_path(), root / "manifests");
  EXPECT_EQ(cache->manifest_path("../../etc/passwd").parent_path(), root / "manifests");
  const auto all = cache->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].entry, "hf:org/name@main");
  EXPECT_EQ(all[1].entry, "resnet50.tv_in1k");
  EXPECT_EQ(cache->size_bytes(), 10u);
  // A manifest can only point at blobs that are there, with their sizes.
  EXPECT_THROW(cache->write_manifest("x", {{"f", 5, a}}), DownloadError);
  EXPECT_THROW(cache->write_manifest("x", {{"f", 1, sha256_hex("absent")}}), DownloadError);
  EXPECT_THROW(cache->write_manifest("x", {{"f", 4, a}, {"f", 4, a}}), DownloadError);
  EXPECT_FALSE(cache->read_manifest("x"));
}

TEST_F(CacheTest, A33_HalfWrittenManifestIsNotAnEntry) {
  const std::string a = put("aaaa");
  fs::create_directories(root / "manifests");
  { std::ofstream(cache->manifest_path("half")) << "{\"entry\": \"half\", \"files\": [{\"name\": \"f\", "; }
  { std::ofstream(cache->manifest_path("empty")); }
  for (const char* e : {"half", "empty"}) {
    try {
      cache->read_manifest(e);
      ADD_FAILURE() << "no error for " << e;
    } catch (const DownloadError& err) {
      EXPECT_EQ(err.kind(), ErrorKind::BadFile);
      EXPECT_NE(err.msg().find("malformed cache manifest"), std::string::npos) << err.msg();
    }
  }
  EXPECT_TRUE(cache->list().empty());
  const VerifyReport r = cache->verify();
  EXPECT_EQ(r.problems.size(), 2u);
  // An empty or half-written prefix ref is treated as missing.
  fs::create_directories(root / "refs" / "sha256-prefix");
  { std::ofstream(root / "refs" / "sha256-prefix" / a.substr(0, 8)) << a.substr(0, 30); }
  EXPECT_FALSE(cache->resolve_prefix(a.substr(0, 8)));
  EXPECT_FALSE(cache->find(FileSpec{"f", 4, a.substr(0, 8), {}}));
}

TEST_F(CacheTest, A33_KilledWriterLeavesOldOrNewManifest) {
  const std::string a = put("aaaa"), b = put("bbbbbbbb");
  cache->write_manifest("e", {{"f", 4, a}});
  const pid_t child = ::fork();
  if (child == 0) {
    for (int i = 0; i < 100000; ++i) {
      if (i % 2)
        cache->write_manifest("e", {{"f", 4, a}});
      else
        cache->write_manifest("e", {{"f", 8, b}});
    }
    ::_exit(0);
  }
  ::usleep(30000);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  const auto m = cache->read_manifest("e");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->files.size(), 1u);
  EXPECT_TRUE(m->files[0].sha256 == a || m->files[0].sha256 == b);
  cache->prune();  // removes the dead writer's temp file, if it left one
  for (const auto& de : fs::directory_iterator(root / "manifests"))
    EXPECT_EQ(de.path().filename().string().find(".tmp."), std::string::npos) << de.path();
}

TEST_F(CacheTest, RemoveKeepsSharedBlobs) {
  const std::string a = put("aaaa"), b = put("bbbb-only-in-one");
  cache->write_manifest("one", {{"x", 4, a}, {"y", 16, b}});
  cache->write_manifest("two", {{"x", 4, a}});
  cache->remove("one");
  EXPECT_FALSE(cache->read_manifest("one"));
  EXPECT_TRUE(fs::exists(cache->blob_path(a)));
  EXPECT_FALSE(fs::exists(cache->blob_path(b)));
  cache->remove("one");  // no-op
  cache->remove("two");
  EXPECT_FALSE(fs::exists(cache->blob_path(a)));
  EXPECT_TRUE(cache->list().empty());
}

TEST_F(CacheTest, PruneRemovesOrphansAndDeadTempFilesOnly) {
  const std::string kept = put("kept"), orphan = put("orphan"), busy = put("downloading");
  cache->write_manifest("e", {{"k", 4, kept}});
  fs::create_directories(cache->temp_dir());
  // A temp file of a process that is gone (fork, exit, reap: its pid is free) and one of ours.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const fs::path stale = cache->temp_dir() / (orphan + "." + std::to_string(dead) + ".1.part");
  const fs::path live = cache->temp_dir() / (orphan + "." + std::to_string(::getpid()) + ".2.part");
  { std::ofstream(stale) << "partial"; }
  { std::ofstream(live) << "partial"; }
  const VerifyReport before = cache->verify();
  EXPECT_TRUE(before.ok());
  EXPECT_EQ(before.orphans.size(), 2u);
  ASSERT_EQ(before.temp_files.size(), 1u);
  EXPECT_EQ(before.temp_files[0], stale);
  PruneReport r;
  {
    CacheLock lock(*cache, busy, 1);  // a download in progress keeps its blob
    r = cache->prune();
  }
  EXPECT_TRUE(fs::exists(cache->blob_path(kept)));
  EXPECT_FALSE(fs::exists(cache->blob_path(orphan)));
  EXPECT_TRUE(fs::exists(cache->blob_path(busy)));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_GE(r.removed.size(), 2u);
  EXPECT_EQ(r.bytes_freed, 6u + 7u);  // "orphan" + "partial"
  // Now the lock is free: its blob and lock file go too.
  cache->prune();
  EXPECT_FALSE(fs::exists(cache->blob_path(busy)));
  EXPECT_TRUE(fs::is_empty(cache->lock_dir()));
}

TEST_F(CacheTest, VerifyReportsMissingShortAndCorruptBlobs) {
  const std::string a = put("aaaa"), b = put("bbbb"), c = put("cccc");
  cache->write_manifest("e", {{"a", 4, a}, {"b", 4, b}, {"c", 4, c}});
  fs::remove(cache->blob_path(a));
  fs::resize_file(cache->blob_path(b), 2);
  { std::ofstream(cache->blob_path(c), std::ios::binary | std::ios::trunc) << "CCCC"; }
  const VerifyReport r = cache->verify("e");
  ASSERT_EQ(r.problems.size(), 3u);
  EXPECT_NE(r.problems[0].problem.find("missing"), std::string::npos);
  EXPECT_NE(r.problems[1].problem.find("2 bytes, expected 4"), std::string::npos);
  EXPECT_NE(r.problems[2].problem.find("sha256 mismatch"), std::string::npos);
  EXPECT_EQ(r.files_checked, 3u);
  EXPECT_FALSE(cache->verify("nope").ok());
}

}  // namespace
