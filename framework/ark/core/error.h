// ark::Error and the checking macros every library uses.
// ARK_CHECK is for anything a user can cause (message: what was expected, what was got);
// ARK_ASSERT is for internal invariants. Libraries never print or exit: they throw.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ark {

class Error : public std::runtime_error {
 public:
  Error(std::string msg, std::string where)
      : std::runtime_error(msg + (where.empty() ? "" : " (" + where + ")")), msg_(std::move(msg)) {}
  explicit Error(std::string msg) : Error(std::move(msg), "") {}
  /// The message without the source location (libtorch's c10::Error::msg()).
  const std::string& msg() const noexcept { return msg_; }

 private:
  std::string msg_;
};

namespace detail {
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
inline std::string str_cat() { return {}; }
[[noreturn]] void throw_error(const char* file, int line, std::string msg);
}  // namespace detail

}  // namespace ark

#define ARK_CHECK(cond, ...)                                                                 \
  do {                                                                                       \
    if (!(cond)) [[unlikely]]                                                                \
      ::ark::detail::throw_error(__FILE__, __LINE__, ::ark::detail::str_cat(__VA_ARGS__));    \
  } while (0)

#define ARK_ERROR(...) ::ark::detail::throw_error(__FILE__, __LINE__, ::ark::detail::str_cat(__VA_ARGS__))

#define ARK_ASSERT(cond)                                                                      \
  do {                                                                                       \
    if (!(cond)) [[unlikely]]                                                                \
      ::ark::detail::throw_error(__FILE__, __LINE__, "internal assertion failed: " #cond);    \
  } while (0)
