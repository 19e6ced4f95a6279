// The pickle VM's machine state, shared by unpickler.cpp (opcodes, stack, memo) and
// unpickler_globals.cpp (the allowlist and what "calling" an allowlisted name builds). Internal:
// not part of the API.
#pragma once
#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ark/core/error.h"
#include "ark/io/unpickler.h"
#include "ark/io/utf8.h"

namespace ark::io::pickle {

namespace detail {
const char* opcode_name(unsigned char op);
/// An untrusted string made safe for a message (escapes, truncated).
std::string printable(std::string_view s);
}  // namespace detail

// One run of the VM over one pickle (its stack and memo); objects go to the Unpickler's arena.
struct Unpickler::Machine {
  Machine(Unpickler& u, const unsigned char* d, size_t n) : up(u), data(d), size(n) {}
  Unpickler& up;
  const unsigned char* data;
  size_t size;
  size_t pos = 0;
  size_t op_pos = 0;
  unsigned char op = 0;
  std::vector<Object*> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint32_t, Object*> memo;

  [[noreturn]] void fail(const std::string& what) const {
    const char* n = detail::opcode_name(op);
    throw Error("pickle " + up.name_ + ": " + what + " (at offset " + std::to_string(op_pos) +
                (n ? std::string(", ") + n : std::string()) + ")");
  }
  [[noreturn]] void corrupt(const std::string& what) const { fail("corrupted pickle: " + what); }
  [[noreturn]] void limit(const std::string& what) const { fail("limit exceeded: " + what); }

  const unsigned char* take(size_t n) {
    if (size - pos < n) corrupt("truncated: needs " + std::to_string(n) + " more bytes, " + std::to_string(size - pos) + " left");
    const unsigned char* p = data + pos;
    pos += n;
    return p;
  }
  uint64_t le(size_t n) {
    const unsigned char* p = take(n);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | p[k];
    return v;
  }

  Object* make(Kind k) {
    if (up.arena_.size() >= up.limits_.max_objects)
      limit("more than " + std::to_string(up.limits_.max_objects) + " objects");
    up.arena_.emplace_back();
    up.arena_.back().kind = k;
    return &up.arena_.back();
  }
  size_t floor() const { return marks.empty() ? 0 : marks.back(); }
  void push(Object* o) {
    if (stack.size() + marks.size() >= up.limits_.max_stack)
      limit("stack deeper than " + std::to_string(up.limits_.max_stack) + " items");
    stack.push_back(o);
  }
  Object* pop() {
    if (stack.size() <= floor()) corrupt("stack underflow");
    Object* o = stack.back();
    stack.pop_back();
    return o;
  }
  Object* top() {
    if (stack.size() <= floor()) corrupt("stack underflow");
    return stack.back();
  }
  std::vector<Object*> pop_mark() {
    if (marks.empty()) corrupt("no MARK to pop to");
    std::vector<Object*> items(stack.begin() + static_cast<std::ptrdiff_t>(marks.back()), stack.end());
    stack.resize(marks.back());
    marks.pop_back();
    return items;
  }
  Object* make_str(Kind k, size_t n, bool check_utf8) {
    if (n > up.limits_.max_string_bytes)
      limit("string of " + std::to_string(n) + " bytes (at most " + std::to_string(up.limits_.max_string_bytes) + ")");
    const unsigned char* p = take(n);
    if (check_utf8 && !valid_utf8(p, n, /*allow_surrogates=*/true)) corrupt("string is not valid UTF-8");
    Object* o = make(k);
    o->s.assign(reinterpret_cast<const char*>(p), n);
    return o;
  }
  // Accounts for `n` bytes copied from existing objects (Limits::max_copied_bytes).
  void spend(size_t n) {
    if (n > up.limits_.max_copied_bytes - std::min(up.copied_bytes_, up.limits_.max_copied_bytes) ||
        (up.copied_bytes_ += n) > up.limits_.max_copied_bytes)
      limit("more than " + std::to_string(up.limits_.max_copied_bytes) + " bytes of dict keys and copies");
  }
  Object* make_int(int64_t v) {
    Object* o = make(Kind::Int);
    o->i = v;
    return o;
  }
  void memo_put(uint32_t idx) {
    Object* o = top();
    auto it = memo.find(idx);
    if (it == memo.end()) {
      if (memo.size() >= up.limits_.max_memo) limit("memo larger than " + std::to_string(up.limits_.max_memo) + " entries");
      memo.emplace(idx, o);
    } else {
      it->second = o;
    }
  }
  Object* memo_get(uint32_t idx) {
    auto it = memo.find(idx);
    if (it == memo.end()) corrupt("memo key " + std::to_string(idx) + " is not set");
    return it->second;
  }

  // unpickler.cpp: the opcode loop, dict keys, GLOBAL lines.
  const Object* run(size_t* consumed);
  void canonical(const Object* o, std::string& out, int depth);
  void set_item(Object* dict, Object* key, Object* value);
  std::string read_line();

  // unpickler_globals.cpp: the allowlist and its calls.
  Object* global(const std::string& module, const std::string& name);
  Object* call(const Object* f, const std::vector<Object*>& a);  // REDUCE and NEWOBJ
  void build();                                                 // BUILD
  Object* persistent_load(Object* pid);                         // BINPERSID
  Object* rebuild_tensor(const Object* f, const std::vector<Object*>& a);
  Object* as_parameter(const Object* f, const Object* data, const Object* requires_grad);
  [[noreturn]] void bad_args(const Object* f, const std::string& what);
  int64_t int_arg(const Object* f, const Object* a, const char* what);
  DimVector int_tuple(const Object* f, const Object* a, const char* what);
};

}  // namespace ark::io::pickle
