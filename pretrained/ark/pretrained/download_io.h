// The disk side of one transfer, used only by download.cpp (not installed): the unique temp
// file an attempt writes (writeback started as it fills, fsync'ed, published by rename) and the
// SHA-256 computed beside the transfer on a worker thread.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/download.h"
#include "ark/pretrained/sha256.h"

namespace ark::pretrained::detail {

namespace fs = std::filesystem;

// ---- the temp file of one download ----

class TempFile {
 public:
  TempFile(const fs::path& dir, const std::string& key) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw DownloadError(ErrorKind::Io, "cannot create cache folder " + dir.string() + ": " + ec.message());
    std::random_device rd;
    for (int i = 0; i < 16 && fd_ < 0; ++i) {
      path_ = dir / (key + "." + std::to_string(::getpid()) + "." + std::to_string(rd()) + ".part");
      fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    if (fd_ < 0) throw DownloadError(ErrorKind::Io, "cannot create " + path_.string() + ": " + std::strerror(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const fs::path& path() const { return path_; }

  // Throws Io naming the path (ENOSPC, EFBIG, EIO...).
  void write(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw DownloadError(ErrorKind::Io, "write failed: " + path_.string() + ": " + std::strerror(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
      size_ += static_cast<uint64_t>(w);
    }
    // Start the disk writeback of each finished 16 MB as the transfer goes on, so the fsync before
    // publishing waits for the last stretch only, not for the whole file (1 GB: 0.6 s).
    if (size_ - started_ >= kWritebackChunk) {
      ::sync_file_range(fd_, static_cast<off_t>(started_), static_cast<off_t>(size_ - started_), SYNC_FILE_RANGE_WRITE);
      started_ = size_;
    }
  }

  void truncate() {
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0)
      throw DownloadError(ErrorKind::Io, "cannot truncate " + path_.string() + ": " + std::strerror(errno));
    size_ = 0;
    started_ = 0;
  }

  // fsync, rename over `dest`, fsync the folder; the temp file is gone afterwards.
  void publish(const fs::path& dest) {
    if (::fsync(fd_) != 0) throw DownloadError(ErrorKind::Io, "fsync failed: " + path_.string() + ": " + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    fs::create_directories(dest.parent_path(), ec);
    if (::rename(path_.c_str(), dest.c_str()) != 0)
      throw DownloadError(ErrorKind::Io, "cannot move " + path_.string() + " to " + dest.string() + ": " + std::strerror(errno));
    path_.clear();
    const int dfd = ::open(dest.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  static constexpr uint64_t kWritebackChunk = uint64_t{16} << 20;
  fs::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t started_ = 0;  // bytes whose writeback has been started
};

// Temp files of `key` left by processes that are gone (a SIGKILLed pull). Called under the key's lock.
inline void remove_stale_temp(const Cache& cache, const std::string& key) {
  std::error_code ec;
  if (!fs::is_directory(cache.temp_dir(), ec)) return;
  for (const auto& de : fs::directory_iterator(cache.temp_dir(), ec)) {
    const std::string n = de.path().filename().string();
    if (n.rfind(key + ".", 0) != 0 || n.size() < 5 || n.compare(n.size() - 5, 5, ".part") != 0) continue;
    const std::string rest = n.substr(key.size() + 1);
    const pid_t pid = static_cast<pid_t>(std::atol(rest.c_str()));
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(de.path().c_str());
  }
}

// ---- sha256 beside the transfer ----
// The receiving thread copies each chunk into one of a few 1 MiB buffers and goes back to the
// socket; a worker hashes the buffers in order. On a 1 GB file this takes the hash (~0.5 s of a
// core with SHA-NI) off the transfer's critical path for the price of one memcpy.
class HashPipe {
 public:
  HashPipe() = default;
  ~HashPipe() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }
  HashPipe(const HashPipe&) = delete;
  HashPipe& operator=(const HashPipe&) = delete;

  void update(const char* p, size_t n) {
    while (n > 0) {
      if (!cur_) cur_ = take_free();
      const size_t k = std::min(n, kBuf - cur_->size);
      std::memcpy(cur_->data.get() + cur_->size, p, k);
      cur_->size += k;
      p += k;
      n -= k;
      if (cur_->size == kBuf) submit();
    }
  }
  /// Waits for every byte to be hashed; the hash is reset afterwards.
  std::string hex_digest() {
    if (cur_ && cur_->size > 0) submit();
    drain();
    return hash_.hex_digest();
  }
  void reset() {
    if (cur_) {
      cur_->size = 0;
      std::lock_guard<std::mutex> g(m_);
      free_.push_back(std::move(cur_));
    }
    drain();
    hash_.reset();
  }

 private:
  static constexpr size_t kBuf = 1u << 20, kCount = 8;
  struct Buf {
    std::unique_ptr<char[]> data{new char[kBuf]};
    size_t size = 0;
  };
  std::unique_ptr<Buf> take_free() {
    std::unique_lock<std::mutex> l(m_);
    if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
    if (free_.empty() && made_ < kCount) {
      ++made_;
      return std::make_unique<Buf>();
    }
    cv_.wait(l, [this] { return !free_.empty(); });
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void submit() {
    {
      std::lock_guard<std::mutex> g(m_);
      full_.push_back(std::move(cur_));
    }
    cv_.notify_all();
  }
  void drain() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [this] { return full_.empty() && !busy_; });
  }
  void run() {
    std::unique_lock<std::mutex> l(m_);
    for (;;) {
      cv_.wait(l, [this] { return stop_ || !full_.empty(); });
      if (full_.empty()) return;  // stop_
      auto b = std::move(full_.front());
      full_.pop_front();
      busy_ = true;
      l.unlock();
      hash_.update(b->data.get(), b->size);
      b->size = 0;
      l.lock();
      busy_ = false;
      free_.push_back(std::move(b));
      cv_.notify_all();
    }
  }

  Sha256 hash_;
  std::unique_ptr<Buf> cur_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Buf>> full_;
  std::vector<std::unique_ptr<Buf>> free_;
  size_t made_ = 0;
  bool busy_ = false, stop_ = false;
  std::thread worker_;
};

}  // namespace ark::pretrained::detail
