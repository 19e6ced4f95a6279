#include "ark/io/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "ark/core/error.h"

namespace ark::io {

namespace {
std::string errno_str() { return std::strerror(errno); }
}  // namespace

namespace {

// A temp file beside `path` that becomes `path` on commit() (fsync, rename, fsync of the folder)
// and is removed if it never does.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)) {
    std::random_device rd;
    tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot write " + path_ + ": " + errno_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  void write(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t w = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail();
      done += static_cast<size_t>(w);
    }
  }

  void commit() {
    const int fd = std::exchange(fd_, -1);
    if (::fsync(fd) != 0) {
      const std::string e = errno_str();
      ::close(fd);
      throw Error("cannot write " + path_ + ": " + e);
    }
    if (::close(fd) != 0 || ::rename(tmp_.c_str(), path_.c_str()) != 0) fail();
    committed_ = true;
    const auto slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  [[noreturn]] void fail() const { throw Error("cannot write " + path_ + ": " + errno_str()); }

  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  AtomicFile f(path);
  for (const std::string_view bytes : pieces) f.write(bytes);
  f.commit();
}

void copy_file_atomic(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw Error("cannot open " + from + ": " + errno_str());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } close_in{in};
  AtomicFile f(to);
  std::vector<char> chunk(size_t{1} << 20);
  for (;;) {
    const ssize_t r = ::read(in, chunk.data(), chunk.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error("cannot read " + from + ": " + errno_str());
    if (r == 0) break;
    f.write(std::string_view(chunk.data(), static_cast<size_t>(r)));
  }
  f.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path + ": " + errno_str());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + path + ": " + errno_str());
  return ss.str();
}

MappedFile map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read " + path + ": not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return {};
  }
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot map " + path + ": " + std::strerror(errno));
  return {std::shared_ptr<void>(map, [size](void* p) { ::munmap(p, size); }), size};
}

}  // namespace ark::io
