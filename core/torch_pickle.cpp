#include "core/torch_pickle.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace fluxion::core::pickle {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 62;

// Python's identity of a dict key: equal keys (1 == 1.0 == True, equal strs, tuples of equal
// items) share one. Appends a prefix-free encoding to `id`; false for unhashable or exotic keys
// and for keys past the size budget (a tuple of shared tuples has exponentially many leaves),
// which are then identified by their address.
bool append_identity(const Value& key, std::string& id, int depth) {
  if (depth > 32 || id.size() > 4096) return false;
  switch (key.kind) {
    case Kind::none: id += "n;"; return true;
    case Kind::boolean: id += key.boolean ? "i1;" : "i0;"; return true;
    case Kind::integer: id += "i" + std::to_string(key.integer) + ";"; return true;
    case Kind::floating: {
      const double f = key.floating;
      if (std::isfinite(f) && f == std::floor(f) && std::fabs(f) < 9.2e18) {
        id += "i" + std::to_string(static_cast<int64_t>(f)) + ";";
        return true;
      }
      if (std::isnan(f)) return false;  // NaN != NaN: every NaN key is its own
      uint64_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      id += "f" + std::to_string(bits) + ";";
      return true;
    }
    case Kind::big_integer:
    case Kind::string:
    case Kind::bytes:
      id += (key.kind == Kind::string  ? "s"
             : key.kind == Kind::bytes ? "b"
                                       : "I") +
            std::to_string(key.text.size()) + ":" + key.text;
      return true;
    case Kind::tuple:
      id += "t" + std::to_string(key.items.size()) + ":";
      for (const auto& item : key.items)
        if (!append_identity(*item, id, depth + 1)) return false;
      return true;
    default: return false;
  }
}

std::string key_identity(const Value& key) {
  std::string id;
  if (append_identity(key, id, 0)) return id;
  return "p" + std::to_string(reinterpret_cast<uintptr_t>(&key));
}

}  // namespace

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer:
    case Kind::big_integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::bytes: return "bytes";
    case Kind::list: return "list";
    case Kind::tuple: return "tuple";
    case Kind::dict: return "dict";
    case Kind::tensor: return "tensor";
    case Kind::storage: return "storage";
    case Kind::global: return "global";
    case Kind::object: return "object";
  }
  return "?";
}

int64_t TensorRef::numel() const {
  int64_t n = 1;
  for (auto s : sizes) n *= s;
  return n;
}

Value::~Value() {
  if (items.empty() && entries.empty()) return;
  std::vector<ValuePtr> pending;
  auto take_children = [&pending](Value& v) {
    for (auto& item : v.items)
      if (item) pending.push_back(std::move(item));
    v.items.clear();
    for (auto& [key, value] : v.entries) {
      if (key) pending.push_back(std::move(key));
      if (value) pending.push_back(std::move(value));
    }
    v.entries.clear();
  };
  take_children(*this);
  while (!pending.empty()) {
    ValuePtr last = std::move(pending.back());
    pending.pop_back();
    if (last.use_count() == 1) take_children(*last);
  }
}

const ValuePtr* Value::find(const std::string& key) const {
  const auto it = index.find("s" + std::to_string(key.size()) + ":" + key);
  return it == index.end() ? nullptr : &entries[it->second].second;
}

void Value::set_item(const ValuePtr& key, const ValuePtr& value) {
  auto [it, inserted] = index.emplace(key_identity(*key), entries.size());
  if (inserted)
    entries.emplace_back(key, value);
  else
    entries[it->second].second = value;
}

ValuePtr make_value(Kind kind) { return std::make_shared<Value>(kind); }

ValuePtr make_string(const std::string& text) {
  auto v = make_value(Kind::string);
  v->text = text;
  return v;
}

void MemorySource::read(char* dest, size_t n) {
  FLUXION_CHECK(n <= size_ - pos_, "read past the end of a pickle buffer");
  std::memcpy(dest, data_ + pos_, n);
  pos_ += n;
}

std::optional<StorageType> storage_type(const std::string& class_name) {
  static const std::unordered_map<std::string, StorageType> table = {
      {"FloatStorage", {torch::kFloat, 4}},
      {"DoubleStorage", {torch::kDouble, 8}},
      {"HalfStorage", {torch::kHalf, 2}},
      {"BFloat16Storage", {torch::kBFloat16, 2}},
      {"LongStorage", {torch::kLong, 8}},
      {"IntStorage", {torch::kInt, 4}},
      {"ShortStorage", {torch::kShort, 2}},
      {"CharStorage", {torch::kChar, 1}},
      {"ByteStorage", {torch::kByte, 1}},
      {"BoolStorage", {torch::kBool, 1}},
      {"ComplexFloatStorage", {torch::kComplexFloat, 8}},
      {"ComplexDoubleStorage", {torch::kComplexDouble, 16}},
      {"UntypedStorage", {torch::kByte, 1}},
      {"ComplexHalfStorage", {std::nullopt, 4}},
      {"QInt8Storage", {std::nullopt, 1}},
      {"QUInt8Storage", {std::nullopt, 1}},
      {"QInt32Storage", {std::nullopt, 4}},
      {"QUInt4x2Storage", {std::nullopt, 1}},
      {"QUInt2x4Storage", {std::nullopt, 1}},
  };
  const auto it = table.find(class_name);
  if (it == table.end()) return std::nullopt;
  return it->second;
}

size_t decode_utf8(const std::string& s, size_t i, uint32_t* code_point, bool allow_surrogates) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *code_point = c;
    return 1;
  }
  size_t length;
  uint32_t value;
  uint32_t minimum;
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2, value = c & 0x1Fu, minimum = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3, value = c & 0x0Fu, minimum = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4, value = c & 0x07u, minimum = 0x10000;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    value = (value << 6) | (d & 0x3Fu);
  }
  if (value < minimum || value > 0x10FFFF) return 0;
  if (!allow_surrogates && value >= 0xD800 && value <= 0xDFFF) return 0;
  *code_point = value;
  return length;
}

namespace {

class Unpickler {
 public:
  Unpickler(ByteSource& source, const PersistentLoad& persistent_load, const std::string& where)
      : source_(source), persistent_load_(persistent_load), where_(where) {}

  ValuePtr run() {
    while (true) {
      op_position_ = source_.position();
      const uint8_t op = u8();
      if (op == '.') {  // STOP
        FLUXION_CHECK(stack_.size() > fence(), where_, ": malformed pickle: STOP on an empty stack");
        return pop();
      }
      step(op);
    }
  }

 private:
  template <typename... Parts>
  [[noreturn]] void malformed(const Parts&... parts) {
    fail(where_, ": malformed pickle at byte ", op_position_, ": ", parts...);
  }

  void need(uint64_t n) {
    if (source_.remaining() < n)
      fail(where_, ": the pickle ends early at byte ", source_.position(), " (truncated or corrupt file)");
  }
  std::string bytes(uint64_t n) {
    need(n);
    std::string out(static_cast<size_t>(n), '\0');
    if (n) source_.read(out.data(), static_cast<size_t>(n));
    return out;
  }
  uint64_t little_endian(size_t n) {
    const std::string b = bytes(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{static_cast<unsigned char>(b[i])} << (8 * i);
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(little_endian(1)); }
  std::string line() {
    std::string out;
    while (true) {
      need(1);
      char c;
      source_.read(&c, 1);
      if (c == '\n') return out;
      out.push_back(c);
    }
  }

  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    if (stack_.size() <= fence()) malformed("stack underflow");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const ValuePtr& top() {
    if (stack_.size() <= fence()) malformed("stack underflow");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) malformed("no MARK on the stack");
    const size_t start = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(start)),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(start);
    return items;
  }
  ValuePtr object(const std::string& name) {
    auto v = make_value(Kind::object);
    v->text = name;
    return v;
  }
  ValuePtr sequence(Kind kind, std::vector<ValuePtr> items) {
    auto v = make_value(kind);
    v->items = std::move(items);
    return v;
  }
  std::string text(uint64_t n, bool allow_surrogates) {
    std::string s = bytes(n);
    uint32_t code_point;
    for (size_t i = 0; i < s.size();) {
      const size_t length = decode_utf8(s, i, &code_point, allow_surrogates);
      if (length == 0) malformed("a string that is not valid UTF-8");
      i += length;
    }
    return s;
  }
  void push_string(uint64_t n, bool allow_surrogates = true) { push(make_string(text(n, allow_surrogates))); }
  void push_bytes(uint64_t n) {
    auto v = make_value(Kind::bytes);
    v->text = bytes(n);
    push(std::move(v));
  }
  void push_long(uint64_t n) {
    const std::string b = bytes(n);
    if (n > 8) {
      auto v = make_value(Kind::big_integer);
      v->text = b;
      push(std::move(v));
      return;
    }
    uint64_t u = 0;
    for (size_t i = 0; i < n; ++i) u |= uint64_t{static_cast<unsigned char>(b[i])} << (8 * i);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
    push_integer(static_cast<int64_t>(u));
  }
  void push_integer(int64_t i) {
    auto v = make_value(Kind::integer);
    v->integer = i;
    push(std::move(v));
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) malformed("memo entry ", index, " is read before it is written");
    push(it->second);
  }

  void append_items(const ValuePtr& target, std::vector<ValuePtr> items) {
    if (target->kind == Kind::list) {
      for (auto& item : items) target->items.push_back(std::move(item));
    } else if (target->kind != Kind::object && target->kind != Kind::global) {
      malformed("APPEND to a ", kind_name(target->kind));
    }
  }
  void set_items(const ValuePtr& target, const std::vector<ValuePtr>& items) {
    if (items.size() % 2) malformed("a dict item without a value");
    if (target->kind == Kind::dict) {
      for (size_t i = 0; i < items.size(); i += 2) target->set_item(items[i], items[i + 1]);
    } else if (target->kind != Kind::object && target->kind != Kind::global) {
      malformed("SETITEM on a ", kind_name(target->kind));
    }
  }

  // Tuple (or list) of ints -> vector; malformed otherwise.
  std::vector<int64_t> int_list(const Value& v, const char* what) {
    if (v.kind != Kind::tuple && v.kind != Kind::list) malformed(what, " is a ", kind_name(v.kind));
    std::vector<int64_t> out;
    for (const auto& item : v.items) {
      if (item->kind != Kind::integer) malformed(what, " holds a ", kind_name(item->kind));
      out.push_back(item->integer);
    }
    return out;
  }

  const std::vector<ValuePtr>& arguments(const ValuePtr& args, size_t minimum, const std::string& fn) {
    if (args->kind != Kind::tuple || args->items.size() < minimum)
      malformed(fn, " needs at least ", minimum, " arguments");
    return args->items;
  }

  // torch._utils._rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...)
  ValuePtr rebuild_tensor(const ValuePtr& args, const std::string& fn) {
    const auto& a = arguments(args, 4, fn);
    if (a[0]->kind != Kind::storage)
      malformed(fn, ": its first argument is a ", kind_name(a[0]->kind), ", not a storage");
    if (a[1]->kind != Kind::integer) malformed(fn, ": the storage offset is a ", kind_name(a[1]->kind));
    auto ref = std::make_shared<TensorRef>();
    ref->storage = a[0]->storage;
    ref->offset = a[1]->integer;
    ref->sizes = int_list(*a[2], "a tensor's size");
    ref->strides = int_list(*a[3], "a tensor's stride");
    if (ref->sizes.size() != ref->strides.size()) malformed(fn, ": size and stride differ in length");
    if (ref->offset < 0) malformed(fn, ": negative storage offset");
    int64_t numel = 1;
    int64_t last = ref->offset;
    for (size_t d = 0; d < ref->sizes.size(); ++d) {
      const int64_t size = ref->sizes[d];
      const int64_t stride = ref->strides[d];
      if (size < 0 || stride < 0) malformed(fn, ": negative size or stride");
      if (size > 0 && numel > kMaxElements / size) malformed(fn, ": the tensor is impossibly large");
      numel *= size;
      if (size > 1 && stride > 0) {
        if (stride > kMaxElements / (size - 1) || last > kMaxElements - stride * (size - 1))
          malformed(fn, ": the tensor's strides are impossibly large");
        last += stride * (size - 1);
      }
    }
    if (numel > 0 && last >= ref->storage->visible_numel())
      malformed(fn, ": the tensor reaches element ", last, " of a storage of ", ref->storage->visible_numel());
    auto v = make_value(Kind::tensor);
    v->tensor = std::move(ref);
    return v;
  }

  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args) {
    if (callable->kind == Kind::object) return object(callable->text);
    if (callable->kind != Kind::global) malformed("REDUCE calls a ", kind_name(callable->kind));
    const std::string& fn = callable->text;
    if (fn == "torch._utils._rebuild_tensor_v2" || fn == "torch._utils._rebuild_tensor")
      return rebuild_tensor(args, fn);
    if (fn == "torch._utils._rebuild_parameter" || fn == "torch._utils._rebuild_parameter_with_state") {
      const auto& a = arguments(args, 1, fn);
      if (a[0]->kind != Kind::tensor) malformed(fn, ": its data is a ", kind_name(a[0]->kind));
      return a[0];
    }
    if (fn == "torch._tensor._rebuild_from_type_v2") {  // (func, new_type, args, state)
      const auto& a = arguments(args, 3, fn);
      const bool plain =
          a[1]->kind == Kind::global && (a[1]->text == "torch.Tensor" || a[1]->text == "torch.nn.parameter.Parameter");
      if (!plain) return object(a[1]->kind == Kind::global ? a[1]->text : fn);
      return reduce(a[0], a[2]);
    }
    if (fn == "collections.OrderedDict") {
      auto dict = make_value(Kind::dict);
      const auto& a = arguments(args, 0, fn);
      if (!a.empty() && (a[0]->kind == Kind::list || a[0]->kind == Kind::tuple)) {
        for (const auto& pair : a[0]->items) {
          if (pair->kind != Kind::tuple || pair->items.size() != 2) malformed(fn, ": an item is not a pair");
          dict->set_item(pair->items[0], pair->items[1]);
        }
      } else if (!a.empty()) {
        return object(fn);
      }
      return dict;
    }
    if (fn == "torch.Size") {
      const auto& a = arguments(args, 1, fn);
      int_list(*a[0], "torch.Size");
      return sequence(Kind::tuple, a[0]->items);
    }
    return object(fn);
  }

  ValuePtr new_object(const ValuePtr& cls, const ValuePtr& args) {
    if (cls->kind != Kind::global && cls->kind != Kind::object) malformed("NEWOBJ of a ", kind_name(cls->kind));
    if (cls->kind == Kind::global) {
      if (cls->text == "torch.nn.parameter.Parameter" && args->kind == Kind::tuple && !args->items.empty() &&
          args->items[0]->kind == Kind::tensor)
        return args->items[0];
      if (cls->text == "collections.OrderedDict") return make_value(Kind::dict);
    }
    return object(cls->text);
  }

  void build(const ValuePtr& target, const ValuePtr& state) {
    switch (target->kind) {
      case Kind::dict:    // an OrderedDict's attributes (state_dict()'s _metadata)
      case Kind::tensor:  // a parameter's or tensor's Python attributes
      case Kind::global: return;
      case Kind::object:
        // torch.Tensor.__new__ then BUILD with (storage, offset, size, stride): a plain tensor.
        if (target->text == "torch.Tensor" && state->kind == Kind::tuple && state->items.size() == 4 &&
            state->items[0]->kind == Kind::storage) {
          auto rebuilt = rebuild_tensor(state, "torch.Tensor.set_");
          target->kind = Kind::tensor;
          target->tensor = rebuilt->tensor;
        }
        return;
      default: malformed("BUILD on a ", kind_name(target->kind));
    }
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        const int protocol = u8();
        if (protocol > 5) malformed("pickle protocol ", protocol, " is newer than 5");
        break;
      }
      case 0x95: little_endian(8); break;                // FRAME
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0':                                          // POP
        if (stack_.size() > fence())
          stack_.pop_back();
        else
          pop_mark();
        break;
      case '1': pop_mark(); break;   // POP_MARK
      case '2': push(top()); break;  // DUP
      case 'N': push(make_value(Kind::none)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        auto v = make_value(Kind::boolean);
        v->boolean = op == 0x88;
        push(std::move(v));
        break;
      }
      case 'J': push_integer(static_cast<int32_t>(static_cast<uint32_t>(little_endian(4)))); break;  // BININT
      case 'K': push_integer(static_cast<int64_t>(little_endian(1))); break;                         // BININT1
      case 'M': push_integer(static_cast<int64_t>(little_endian(2))); break;                         // BININT2
      case 0x8a: push_long(u8()); break;                                                             // LONG1
      case 0x8b: {                                                                                   // LONG4
        const auto n = static_cast<int32_t>(static_cast<uint32_t>(little_endian(4)));
        if (n < 0) malformed("negative LONG4 length");
        push_long(static_cast<uint64_t>(n));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const std::string b = bytes(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(b[i]);
        auto v = make_value(Kind::floating);
        std::memcpy(&v->floating, &bits, sizeof bits);
        push(std::move(v));
        break;
      }
      case 'X': push_string(little_endian(4)); break;   // BINUNICODE
      case 0x8c: push_string(u8()); break;              // SHORT_BINUNICODE
      case 0x8d: push_string(little_endian(8)); break;  // BINUNICODE8
      case 'U': push_string(u8(), false); break;        // SHORT_BINSTRING (decoded as UTF-8 by torch.load)
      case 'T': {                                       // BINSTRING
        const auto n = static_cast<int32_t>(static_cast<uint32_t>(little_endian(4)));
        if (n < 0) malformed("negative BINSTRING length");
        push_string(static_cast<uint64_t>(n), false);
        break;
      }
      case 'B': push_bytes(little_endian(4)); break;             // BINBYTES
      case 'C': push_bytes(u8()); break;                         // SHORT_BINBYTES
      case 0x8e: push_bytes(little_endian(8)); break;            // BINBYTES8
      case 0x96: push_bytes(little_endian(8)); break;            // BYTEARRAY8
      case ')': push(sequence(Kind::tuple, {})); break;          // EMPTY_TUPLE
      case 't': push(sequence(Kind::tuple, pop_mark())); break;  // TUPLE
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84u;
        if (stack_.size() < fence() + n) malformed("stack underflow");
        std::vector<ValuePtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        push(sequence(Kind::tuple, std::move(items)));
        break;
      }
      case ']': push(make_value(Kind::list)); break;            // EMPTY_LIST
      case 'l': push(sequence(Kind::list, pop_mark())); break;  // LIST
      case 'a': {                                               // APPEND
        auto item = pop();
        append_items(top(), {std::move(item)});
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        append_items(top(), std::move(items));
        break;
      }
      case '}': push(make_value(Kind::dict)); break;  // EMPTY_DICT
      case 'd': {                                     // DICT
        auto dict = make_value(Kind::dict);
        set_items(dict, pop_mark());
        push(std::move(dict));
        break;
      }
      case 's': {  // SETITEM
        auto value = pop();
        auto key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        auto items = pop_mark();
        set_items(top(), items);
        break;
      }
      case 0x8f: push(object("builtins.set")); break;  // EMPTY_SET
      case 0x90: {                                     // ADDITEMS
        pop_mark();
        if (top()->kind != Kind::object) malformed("ADDITEMS to a ", kind_name(top()->kind));
        break;
      }
      case 0x91:
        pop_mark();
        push(object("builtins.frozenset"));
        break;     // FROZENSET
      case 'c': {  // GLOBAL
        auto module = line();
        auto name = line();
        auto v = make_value(Kind::global);
        v->text = module + "." + name;
        push(std::move(v));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (name->kind != Kind::string || module->kind != Kind::string) malformed("STACK_GLOBAL of non-strings");
        auto v = make_value(Kind::global);
        v->text = module->text + "." + name->text;
        push(std::move(v));
        break;
      }
      case 'R': {  // REDUCE
        auto args = pop();
        auto result = reduce(top(), args);
        stack_.back() = std::move(result);
        break;
      }
      case 0x81: {  // NEWOBJ
        auto args = pop();
        auto cls = pop();
        push(new_object(cls, args));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        pop();      // kwargs
        auto args = pop();
        auto cls = pop();
        push(new_object(cls, args));
        break;
      }
      case 'b': {  // BUILD
        auto state = pop();
        build(top(), state);
        break;
      }
      case 'Q': {  // BINPERSID
        auto pid = pop();
        auto value = persistent_load_(pid);
        if (!value) malformed("a persistent id that is not a storage");
        push(std::move(value));
        break;
      }
      case 'h': memo_get(u8()); break;              // BINGET
      case 'j': memo_get(little_endian(4)); break;  // LONG_BINGET
      case 'q': memo_put(u8()); break;              // BINPUT
      case 'r': memo_put(little_endian(4)); break;  // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;     // MEMOIZE
      default:
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(op));
        malformed("unsupported opcode ", hex,
                  " (fluxion reads the binary pickle protocols 2-5 that torch.save writes)");
    }
  }

  ByteSource& source_;
  const PersistentLoad& persistent_load_;
  std::string where_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  uint64_t op_position_ = 0;
};

}  // namespace

ValuePtr unpickle(ByteSource& source, const PersistentLoad& persistent_load, const std::string& where) {
  return Unpickler(source, persistent_load, where).run();
}

}  // namespace fluxion::core::pickle
