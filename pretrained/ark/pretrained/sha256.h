// SHA-256 through OpenSSL's EVP interface (SHA-NI/AVX2 code paths; ~2 GB/s where the CPU has
// SHA extensions), incremental so a download hashes as it writes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace ark::pretrained {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// 64 lower-case hex digits; the object is reset afterwards.
  std::string hex_digest();
  void reset();

 private:
  void* ctx_;  // EVP_MD_CTX
};

std::string sha256_hex(std::string_view bytes);
/// Hashes a file in 1 MiB reads; `size` (optional) receives its length. Throws ark::Error naming the path.
std::string sha256_file(const std::filesystem::path& path, uint64_t* size = nullptr);

}  // namespace ark::pretrained
