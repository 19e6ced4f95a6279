// The weights-only pickle VM. Opcode semantics follow CPython's Lib/pickle.py (_Unpickler) and
// the subset torch/_weights_only_unpickler.py accepts, widened to the protocol-4 framing opcodes
// (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL) that torch.save(pickle_protocol=4) writes, and
// to BINFLOAT, bytes and sets. The stack is one vector with a list of mark positions; an opcode
// sees only the items above the innermost mark, as CPython's metastack gives it.
#include "ark/io/unpickler.h"

#include <cstring>
#include <unordered_set>

#include "ark/io/unpickler_machine.h"

namespace ark::io::pickle {

namespace detail {

const char* opcode_name(unsigned char op) {
  switch (op) {
    case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP"; case '1': return "POP_MARK";
    case '2': return "DUP"; case 'F': return "FLOAT"; case 'I': return "INT"; case 'J': return "BININT";
    case 'K': return "BININT1"; case 'L': return "LONG"; case 'M': return "BININT2"; case 'N': return "NONE";
    case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 'R': return "REDUCE"; case 'S': return "STRING";
    case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING"; case 'V': return "UNICODE";
    case 'X': return "BINUNICODE"; case 'a': return "APPEND"; case 'b': return "BUILD"; case 'c': return "GLOBAL";
    case 'd': return "DICT"; case '}': return "EMPTY_DICT"; case 'e': return "APPENDS"; case 'g': return "GET";
    case 'h': return "BINGET"; case 'i': return "INST"; case 'j': return "LONG_BINGET"; case 'l': return "LIST";
    case ']': return "EMPTY_LIST"; case 'o': return "OBJ"; case 'p': return "PUT"; case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT"; case 's': return "SETITEM"; case 't': return "TUPLE"; case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS"; case 'G': return "BINFLOAT"; case 0x80: return "PROTO"; case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1"; case 0x83: return "EXT2"; case 0x84: return "EXT4"; case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2"; case 0x87: return "TUPLE3"; case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1"; case 0x8b: return "LONG4"; case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX"; case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE"; case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8"; case 0x97: return "NEXT_BUFFER"; case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 120)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (s.size() > 120) out += "...";
  return out;
}

}  // namespace detail

using detail::opcode_name;
using detail::printable;


const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None"; case Kind::Bool: return "bool"; case Kind::Int: return "int";
    case Kind::BigInt: return "int"; case Kind::Float: return "float"; case Kind::Str: return "str";
    case Kind::Bytes: return "bytes"; case Kind::Tuple: return "tuple"; case Kind::List: return "list";
    case Kind::Dict: return "dict"; case Kind::Set: return "set"; case Kind::Global: return "global";
    case Kind::Storage: return "storage"; case Kind::Tensor: return "tensor"; case Kind::Device: return "torch.device";
  }
  return "?";
}

const Object* Object::get(std::string_view key) const {
  if (kind != Kind::Dict) return nullptr;
  for (size_t k = 0; k < dict_size(); ++k)
    if (dict_key(k)->kind == Kind::Str && dict_key(k)->s == key) return dict_value(k);
  return nullptr;
}

// The canonical text of a hashable dict key (so equal keys replace, as in Python). Keys are
// short in any real checkpoint; the cap is checked before a string is appended so a huge key
// costs nothing.
void Unpickler::Machine::canonical(const Object* o, std::string& out, int depth) {
  constexpr size_t kMaxKeyText = 4096;
  if (out.size() > kMaxKeyText || depth > 16 || o->s.size() > kMaxKeyText - out.size())
    limit("dict key longer than " + std::to_string(kMaxKeyText) + " bytes or nested deeper than 16");
  switch (o->kind) {
    case Kind::Str: out += 's'; out += std::to_string(o->s.size()); out += ':'; out += o->s; return;
    case Kind::Bytes: out += 'b'; out += std::to_string(o->s.size()); out += ':'; out += o->s; return;
    case Kind::Int: case Kind::Bool: out += 'i'; out += std::to_string(o->i); out += ';'; return;
    case Kind::BigInt: out += 'B'; out += std::to_string(o->s.size()); out += ':'; out += o->s; return;
    case Kind::Float: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "f%.17g;", o->f);
      out += buf;
      return;
    }
    case Kind::None: out += 'n'; return;
    case Kind::Global: case Kind::Device: out += 'g'; out += o->s; out += ';'; return;
    case Kind::Storage: case Kind::Tensor: {  // hashed by identity, as in Python
      char buf[32];
      std::snprintf(buf, sizeof buf, "@%p;", static_cast<const void*>(o));
      out += buf;
      return;
    }
    case Kind::Tuple:
      out += '(';
      for (const Object* it : o->items) canonical(it, out, depth + 1);
      out += ')';
      return;
    default: fail(std::string("unhashable type '") + kind_name(o->kind) + "' used as a dict key");
  }
}

void Unpickler::Machine::set_item(Object* dict, Object* key, Object* value) {
  if (dict->kind != Kind::Dict)
    fail(std::string(opcode_name(op)) + " on a " + kind_name(dict->kind) + " (only dicts take items)");
  std::string k;
  canonical(key, k, 0);
  spend(k.size());
  if (!dict->dict_index) dict->dict_index = std::make_unique<std::unordered_map<std::string, size_t>>();
  auto [it, fresh] = dict->dict_index->emplace(std::move(k), dict->dict_size());
  if (fresh) {
    dict->items.push_back(key);
    dict->items.push_back(value);
  } else {
    dict->items[2 * it->second + 1] = value;
  }
}

std::string Unpickler::Machine::read_line() {
  const size_t start = pos;
  while (pos < size && pos - start <= 256 && data[pos] != '\n') ++pos;
  if (pos - start > 256) limit("GLOBAL name longer than 256 bytes");
  if (pos >= size) corrupt("truncated GLOBAL name");
  std::string s(reinterpret_cast<const char*>(data + start), pos - start);
  ++pos;
  if (!valid_utf8(reinterpret_cast<const unsigned char*>(s.data()), s.size(), /*allow_surrogates=*/true))
    corrupt("GLOBAL name is not valid UTF-8");
  return s;
}

const Object* Unpickler::Machine::run(size_t* consumed) {
  if (size > up.limits_.max_pickle_bytes && !consumed)
    limit("pickle of " + std::to_string(size) + " bytes (at most " + std::to_string(up.limits_.max_pickle_bytes) + ")");
  const size_t end = std::min(size, up.limits_.max_pickle_bytes);
  while (true) {
    op_pos = pos;
    if (pos >= end) {
      op = 0;
      if (pos >= up.limits_.max_pickle_bytes) limit("pickle longer than " + std::to_string(up.limits_.max_pickle_bytes) + " bytes");
      corrupt("truncated: no STOP opcode");
    }
    op = data[pos++];
    switch (op) {
      case 0x80: {  // PROTO
        const unsigned v = *take(1);
        if (v < 2 || v > 5) fail("unsupported pickle protocol " + std::to_string(v));
        break;
      }
      case 0x95: {  // FRAME: a length prefix for buffered reading; only its bound matters here
        const uint64_t n = le(8);
        if (n > size - pos) corrupt("frame of " + std::to_string(n) + " bytes runs past the end");
        break;
      }
      case '.': {  // STOP
        if (!marks.empty()) corrupt("STOP inside an unclosed MARK");
        if (stack.size() != 1) corrupt(std::to_string(stack.size()) + " items on the stack at STOP, expected 1");
        if (consumed) *consumed = pos;
        else if (pos != size) corrupt(std::to_string(size - pos) + " bytes after STOP");
        return stack.back();
      }
      case '(':
        if (stack.size() + marks.size() >= up.limits_.max_stack)
          limit("stack deeper than " + std::to_string(up.limits_.max_stack) + " items");
        marks.push_back(stack.size());
        break;
      case '}': push(make(Kind::Dict)); break;
      case ']': push(make(Kind::List)); break;
      case ')': push(make(Kind::Tuple)); break;
      case 0x8f: push(make(Kind::Set)); break;
      case 'N': push(make(Kind::None)); break;
      case 0x88: case 0x89: { Object* b = make(Kind::Bool); b->i = op == 0x88; push(b); break; }
      case 'J': push(make_int(static_cast<int32_t>(static_cast<uint32_t>(le(4))))); break;
      case 'K': push(make_int(static_cast<int64_t>(le(1)))); break;
      case 'M': push(make_int(static_cast<int64_t>(le(2)))); break;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const size_t n = *take(1);
        const unsigned char* p = take(n);
        if (n <= 8) {
          uint64_t v = 0;
          for (size_t k = n; k-- > 0;) v = (v << 8) | p[k];
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push(make_int(static_cast<int64_t>(v)));
        } else {
          Object* o = make(Kind::BigInt);
          o->s.assign(reinterpret_cast<const char*>(p), n);
          push(o);
        }
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        uint64_t bits = 0;
        const unsigned char* p = take(8);
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];
        Object* o = make(Kind::Float);
        std::memcpy(&o->f, &bits, 8);
        push(o);
        break;
      }
      case 'X': { const size_t n = le(4); push(make_str(Kind::Str, n, true)); break; }
      case 0x8c: { const size_t n = le(1); push(make_str(Kind::Str, n, true)); break; }
      // Python 2 str (legacy checkpoints): torch.load decodes it as UTF-8 by default.
      case 'U': { const size_t n = le(1); push(make_str(Kind::Str, n, true)); break; }
      case 'T': {
        const int32_t n = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
        if (n < 0) corrupt("negative string length");
        push(make_str(Kind::Str, static_cast<size_t>(n), true));
        break;
      }
      case 'B': { const size_t n = le(4); push(make_str(Kind::Bytes, n, false)); break; }
      case 'C': { const size_t n = le(1); push(make_str(Kind::Bytes, n, false)); break; }
      case 't': { Object* t = make(Kind::Tuple); t->items = pop_mark(); push(t); break; }
      case 0x85: case 0x86: case 0x87: {
        const size_t n = op - 0x84u;
        Object* t = make(Kind::Tuple);
        t->items.resize(n);
        for (size_t k = n; k-- > 0;) t->items[k] = pop();
        push(t);
        break;
      }
      case 'a': {
        Object* v = pop();
        Object* l = top();
        if (l->kind != Kind::List) fail(std::string("APPEND to a ") + kind_name(l->kind) + " (only lists take APPEND)");
        l->items.push_back(v);
        break;
      }
      case 'e': {
        std::vector<Object*> items = pop_mark();
        Object* l = top();
        if (l->kind != Kind::List) fail(std::string("APPENDS to a ") + kind_name(l->kind) + " (only lists take APPENDS)");
        l->items.insert(l->items.end(), items.begin(), items.end());
        break;
      }
      case 0x90: {
        std::vector<Object*> items = pop_mark();
        Object* s = top();
        if (s->kind != Kind::Set) fail(std::string("ADDITEMS to a ") + kind_name(s->kind));
        s->items.insert(s->items.end(), items.begin(), items.end());
        break;
      }
      case 's': {
        Object* v = pop();
        Object* k = pop();
        set_item(top(), k, v);
        break;
      }
      case 'u': {
        std::vector<Object*> items = pop_mark();
        if (items.size() % 2) corrupt("SETITEMS with an odd number of items");
        Object* d = top();
        for (size_t k = 0; k < items.size(); k += 2) set_item(d, items[k], items[k + 1]);
        break;
      }
      case 'q': memo_put(static_cast<uint32_t>(le(1))); break;
      case 'r': memo_put(static_cast<uint32_t>(le(4))); break;
      case 0x94: memo_put(static_cast<uint32_t>(memo.size())); break;
      case 'h': push(memo_get(static_cast<uint32_t>(le(1)))); break;
      case 'j': push(memo_get(static_cast<uint32_t>(le(4)))); break;
      case 'c': {
        const std::string module = read_line();
        const std::string name = read_line();
        push(global(module, name));
        break;
      }
      case 0x93: {
        Object* name = pop();
        Object* module = pop();
        if (module->kind != Kind::Str || name->kind != Kind::Str) corrupt("STACK_GLOBAL needs two strings");
        push(global(module->s, name->s));
        break;
      }
      case 'R': case 0x81: {  // REDUCE f(*args); NEWOBJ cls.__new__(cls, *args): Parameter only
        Object* args = pop();
        Object* f = op == 'R' ? top() : pop();
        if (args->kind != Kind::Tuple) fail(std::string("arguments must be a tuple, got ") + kind_name(args->kind));
        if (f->kind != Kind::Global) fail(std::string("cannot call a ") + kind_name(f->kind));
        Object* r = call(f, args->items);  // refuses NEWOBJ of anything but Parameter
        if (op == 'R') stack.back() = r;
        else push(r);
        break;
      }
      case 'b': build(); break;
      case 'Q': push(persistent_load(pop())); break;
      default: {
        const char* n = opcode_name(op);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("unsupported pickle opcode ") + (n ? n : "(unknown)") + " (" + hex + ")");
      }
    }
  }
}

Unpickler::Unpickler(std::string name, Limits limits) : name_(std::move(name)), limits_(limits) {}
Unpickler::~Unpickler() = default;

const Object* Unpickler::load(const void* data, size_t size, size_t* consumed) {
  Machine m(*this, static_cast<const unsigned char*>(data), size);
  return m.run(consumed);
}

namespace {

struct Walker {
  Walker(const std::function<void(const std::string&, const Object&)>& f, const std::string& n, size_t depth, size_t leaves)
      : fn(f), name(n), max_depth(depth), max_leaves(leaves) {}
  const std::function<void(const std::string&, const Object&)>& fn;
  const std::string& name;
  size_t max_depth, max_leaves;
  size_t visited = 0;     // every value, containers included: a shared empty dict costs a visit too
  size_t path_bytes = 0;  // the paths built so far: long keys times many visits is the other blow-up
  static constexpr size_t kMaxPathBytes = size_t{256} << 20;
  std::unordered_set<const Object*> active;  // containers on the current path

  std::string join(const std::string& prefix, const std::string& part) {
    path_bytes += prefix.size() + part.size() + 1;
    if (path_bytes > kMaxPathBytes)
      throw Error(name + ": limit exceeded: more than " + std::to_string(kMaxPathBytes) + " bytes of key paths");
    return prefix.empty() ? part : prefix + "." + part;
  }
  void walk(const Object* o, const std::string& path, size_t depth) {
    if (++visited > max_leaves) throw Error(name + ": limit exceeded: more than " + std::to_string(max_leaves) + " values");
    const bool container = o->kind == Kind::Dict || o->kind == Kind::List || o->kind == Kind::Tuple;
    if (!container) {
      if (o->kind != Kind::Set) fn(path, *o);
      return;
    }
    if (depth >= max_depth)
      throw Error(name + ": limit exceeded: containers nested deeper than " + std::to_string(max_depth) + " levels at '" +
                  printable(path) + "'");
    if (!active.insert(o).second) throw Error(name + ": a " + kind_name(o->kind) + " contains itself at '" + printable(path) + "'");
    if (o->kind == Kind::Dict) {
      for (size_t k = 0; k < o->dict_size(); ++k) {
        const Object* key = o->dict_key(k);
        std::string part;
        if (key->kind == Kind::Str) part = key->s;
        else if (key->kind == Kind::Int) part = std::to_string(key->i);
        else if (key->kind == Kind::Bool) part = key->i ? "True" : "False";
        else continue;
        walk(o->dict_value(k), join(path, part), depth + 1);
      }
    } else {
      for (size_t k = 0; k < o->items.size(); ++k) walk(o->items[k], join(path, std::to_string(k)), depth + 1);
    }
    active.erase(o);
  }
};

}  // namespace

void for_each_leaf(const Object* root, const std::function<void(const std::string&, const Object&)>& fn,
                   const std::string& name, size_t max_depth, size_t max_leaves) {
  Walker w(fn, name, max_depth, max_leaves);
  w.walk(root, "", 0);
}

}  // namespace ark::io::pickle
