#pragma once
// A data-only unpickler for the pickles inside torch.save files (zip and legacy formats).
//
// It never imports or calls anything. GLOBAL / STACK_GLOBAL only record a name; the few torch
// callables that rebuild tensors (torch._utils._rebuild_tensor_v2, _rebuild_parameter, ...),
// collections.OrderedDict and torch.Size are interpreted by name. Every other global, and whatever
// a pickle builds from one (REDUCE, NEWOBJ, BUILD, APPEND/SETITEM into it), is an inert `object`
// value that keeps the global's name and nothing else; its arguments and state are dropped. So an
// argparse.Namespace or a numpy scalar costs nothing to skip, and callers decide where such a
// value is acceptable (fluxion convert refuses one only where it needs the value).
//
// LibTorch 1.13's own torch::jit::Unpickler (torch::jit::pickle_load, readArchiveAndTensors) is
// not used: it turns collections.OrderedDict into None, so `torch.save(model.state_dict())` fails
// with "Expected GenericDict but got None"; it treats BUILD as a call of a global it registered
// itself, so an argparse.Namespace or an OrderedDict's _metadata cannot be skipped; and it reads
// no legacy-format file.
//
// Tensors are references (storage key, dtype, offset, sizes, strides), validated against their
// storage's element count; their bytes are read later, only for the tensors a caller keeps.
// Errors are fluxion::Error, one line, naming `where` and the byte offset in the pickle.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fluxion::core::pickle {

// A torch storage: `numel` elements of `dtype` under `key` (zip: record data/<key>; legacy: the
// key's slot after the pickles). Legacy views see [view_offset, view_offset + view_numel).
struct StorageRef {
  std::string key;
  std::string type_name;                   // "FloatStorage", "BFloat16Storage", ...
  std::optional<torch::ScalarType> dtype;  // nullopt: a storage type fluxion cannot read
  int64_t element_size = 0;
  int64_t numel = 0;
  int64_t view_offset = 0;
  int64_t view_numel = -1;  // -1: the whole storage
  int64_t visible_numel() const { return view_numel < 0 ? numel : view_numel; }
};

struct TensorRef {
  std::shared_ptr<const StorageRef> storage;
  int64_t offset = 0;  // in elements, relative to the (view) storage
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  int64_t numel() const;
};

enum class Kind {
  none,
  boolean,
  integer,
  big_integer,
  floating,
  string,
  bytes,
  list,
  tuple,
  dict,
  tensor,
  storage,
  global,  // a class or function named by GLOBAL / STACK_GLOBAL (text: "module.name")
  object,  // anything built from a global that is not interpreted (text: the global's name)
};
const char* kind_name(Kind kind);

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  explicit Value(Kind k) : kind(k) {}
  ~Value();  // iterative: a deeply nested pickle cannot overflow the stack while being freed
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;

  Kind kind;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  std::string text;             // string and bytes content; big_integer: little-endian two's complement;
                                // global / object: "module.name"
  std::vector<ValuePtr> items;  // list, tuple
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // dict, in insertion order
  std::unordered_map<std::string, size_t> index;       // dict: key identity -> entry
  std::shared_ptr<TensorRef> tensor;
  std::shared_ptr<const StorageRef> storage;

  // Dict entry under the str key, or nullptr.
  const ValuePtr* find(const std::string& key) const;
  // Inserts or replaces (keeping the position, as Python's dict does).
  void set_item(const ValuePtr& key, const ValuePtr& value);
};

ValuePtr make_value(Kind kind);
ValuePtr make_string(const std::string& text);

// Where the pickle's bytes come from. read() throws when fewer than n bytes remain.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t remaining() const = 0;
  virtual uint64_t position() const = 0;
  virtual void read(char* dest, size_t n) = 0;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const char* data, size_t size) : data_(data), size_(size) {}
  uint64_t remaining() const override { return size_ - pos_; }
  uint64_t position() const override { return pos_; }
  void read(char* dest, size_t n) override;

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Turns a BINPERSID id into a value (a storage). Supplied by the archive format.
using PersistentLoad = std::function<ValuePtr(const ValuePtr& pid)>;

// Runs one pickle from the source's current position up to and including STOP.
ValuePtr unpickle(ByteSource& source, const PersistentLoad& persistent_load, const std::string& where);

// The storage class torch pickles for a dtype ("FloatStorage" -> float32, "UntypedStorage" ->
// bytes); dtype nullopt with the element size for quantized/complex-half types; nullopt for names
// that are not storage classes.
struct StorageType {
  std::optional<torch::ScalarType> dtype;
  int64_t element_size = 0;
};
std::optional<StorageType> storage_type(const std::string& class_name);

// Decodes the code point at s[i]: its byte length, or 0 when the bytes there are not well-formed
// UTF-8. Encoded surrogates (U+D800..U+DFFF) count as well-formed only with allow_surrogates
// (Python's "surrogatepass", which pickle uses for str).
size_t decode_utf8(const std::string& s, size_t i, uint32_t* code_point, bool allow_surrogates);

}  // namespace fluxion::core::pickle
