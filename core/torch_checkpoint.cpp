#include "core/torch_checkpoint.h"

#include <fstream>
#include <map>

#include "core/error.h"
#include "core/zip_archive.h"

namespace fluxion::core {

namespace {

using pickle::Kind;
using pickle::StorageRef;
using pickle::Value;
using pickle::ValuePtr;

// The legacy format's first pickle: torch.serialization.MAGIC_NUMBER, 0x1950a86a20f9469cfc6c, as
// the little-endian two's complement bytes of pickle's LONG1.
const std::string kLegacyMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr int64_t kLegacyProtocol = 1001;

class FileSource : public pickle::ByteSource {
 public:
  FileSource(std::ifstream& in, uint64_t size, const std::string& path) : in_(in), size_(size), path_(path) {}
  uint64_t remaining() const override { return size_ - pos_; }
  uint64_t position() const override { return pos_; }
  void read(char* dest, size_t n) override {
    FLUXION_CHECK(n <= remaining(), path_, ": ends early at byte ", pos_, " (truncated file?)");
    in_.read(dest, static_cast<std::streamsize>(n));
    FLUXION_CHECK(in_.good(), path_, ": read error at byte ", pos_);
    pos_ += n;
  }
  void seek(uint64_t pos) {
    in_.seekg(static_cast<std::streamoff>(pos));
    pos_ = pos;
  }

 private:
  std::ifstream& in_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

// pid[i] as text (py2-era legacy files pickle some of these as bytes).
bool text_at(const Value& pid, size_t i, std::string* out) {
  if (i >= pid.items.size()) return false;
  const auto& v = *pid.items[i];
  if (v.kind != Kind::string && v.kind != Kind::bytes) return false;
  *out = v.text;
  return true;
}

bool int_at(const Value& pid, size_t i, int64_t* out) {
  if (i >= pid.items.size() || pid.items[i]->kind != Kind::integer) return false;
  *out = pid.items[i]->integer;
  return true;
}

}  // namespace

struct TorchCheckpoint::Impl {
  std::string path;
  bool legacy = false;
  ValuePtr root;
  // zip
  std::unique_ptr<ZipReader> zip;
  std::string prefix;  // "<archive name>/"
  // legacy
  std::ifstream file;
  uint64_t file_size = 0;
  std::map<std::string, uint64_t> data_offsets;  // storage key -> first byte of its data
  // storages by key, so that every tensor of one storage shares its StorageRef
  std::map<std::string, std::shared_ptr<StorageRef>> storages;
  // the storage read last (tensors of one storage usually come together)
  std::string cached_key;
  torch::Tensor cached;

  [[noreturn]] void malformed_pid(const std::string& what) {
    fail(path, ": a tensor's storage reference is malformed (", what, ")");
  }

  ValuePtr storage_value(const std::string& type_global, const std::string& key, int64_t numel) {
    const std::string type_name = type_global.substr(type_global.rfind('.') + 1);
    const auto type = pickle::storage_type(type_name);
    if (type_global.rfind("torch.", 0) != 0 || !type) malformed_pid("unknown storage type " + type_global);
    if (numel < 0 || numel > (int64_t{1} << 58)) malformed_pid("impossible size " + std::to_string(numel));
    auto& ref = storages[key];
    if (!ref) {
      ref = std::make_shared<StorageRef>();
      ref->key = key;
      ref->type_name = type_name;
      ref->dtype = type->dtype;
      ref->element_size = type->element_size;
      ref->numel = numel;
    } else if (ref->type_name != type_name || ref->numel != numel) {
      fail(path, ": storage ", key, " is referenced as ", ref->type_name, "[", ref->numel, "] and as ", type_name, "[",
           numel, "]");
    }
    auto v = pickle::make_value(Kind::storage);
    v->storage = ref;
    return v;
  }

  // ('storage', storage_type, key, location, numel)
  ValuePtr zip_persistent_load(const ValuePtr& pid) {
    std::string tag, key, location;
    int64_t numel = 0;
    if (pid->kind != Kind::tuple || !text_at(*pid, 0, &tag) || tag != "storage") return nullptr;
    if (pid->items.size() < 5 || pid->items[1]->kind != Kind::global || !text_at(*pid, 2, &key) ||
        !text_at(*pid, 3, &location) || !int_at(*pid, 4, &numel))
      malformed_pid("expected ('storage', type, key, location, numel)");
    return storage_value(pid->items[1]->text, key, numel);
  }

  // ('storage', storage_type, root_key, location, numel, view_metadata) or ('module', type, ...)
  ValuePtr legacy_persistent_load(const ValuePtr& pid) {
    std::string tag, key, location;
    int64_t numel = 0;
    if (pid->kind != Kind::tuple || !text_at(*pid, 0, &tag)) return nullptr;
    if (tag == "module" && pid->items.size() >= 2) {  // a pickled nn.Module's class
      auto v = pickle::make_value(Kind::object);
      v->text = pid->items[1]->kind == Kind::global ? pid->items[1]->text : "an nn.Module";
      return v;
    }
    if (tag != "storage") return nullptr;
    if (pid->items.size() < 6 || pid->items[1]->kind != Kind::global || !text_at(*pid, 2, &key) ||
        !text_at(*pid, 3, &location) || !int_at(*pid, 4, &numel))
      malformed_pid("expected ('storage', type, key, location, numel, view)");
    auto value = storage_value(pid->items[1]->text, key, numel);
    const auto& view = *pid->items[5];
    if (view.kind == Kind::none) return value;
    std::string view_key;
    int64_t offset = 0, view_numel = 0;
    if (view.kind != Kind::tuple || !text_at(view, 0, &view_key) || !int_at(view, 1, &offset) ||
        !int_at(view, 2, &view_numel) || offset < 0 || view_numel < 0 || offset > numel - view_numel)
      malformed_pid("bad storage view");
    auto ref = std::make_shared<StorageRef>(*value->storage);
    ref->view_offset = offset;
    ref->view_numel = view_numel;
    value->storage = std::move(ref);
    return value;
  }

  void open_zip() {
    zip = std::make_unique<ZipReader>(path);
    const ZipEntry* pickle_entry = nullptr;
    for (const auto& entry : zip->entries()) {
      const auto slash = entry.name.find('/');
      if (slash != std::string::npos && entry.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
        pickle_entry = &entry;
        prefix = entry.name.substr(0, slash + 1);
        break;
      }
    }
    FLUXION_CHECK(pickle_entry, path, ": a zip archive without data.pkl, not a torch.save file");
    FLUXION_CHECK(!zip->find(prefix + "constants.pkl"), path,
                  ": a TorchScript archive (torch.jit.save), not torch.save output; save the model's "
                  "state_dict() with torch.save and convert that");
    if (const auto* order = zip->find(prefix + "byteorder")) {
      const auto text = zip->read_all(*order);
      FLUXION_CHECK(text == "little", path, ": tensors stored in '", text,
                    "' byte order; only little-endian files are read");
    }
    const std::string bytes = zip->read_all(*pickle_entry);
    pickle::MemorySource source(bytes.data(), bytes.size());
    root = pickle::unpickle(
        source, [this](const ValuePtr& pid) { return zip_persistent_load(pid); }, path + ": " + pickle_entry->name);
  }

  void open_legacy() {
    file.open(path, std::ios::binary);
    FileSource source(file, file_size, path);
    const pickle::PersistentLoad none = [](const ValuePtr&) { return ValuePtr(); };
    const auto magic = pickle::unpickle(source, none, path);
    FLUXION_CHECK(magic->kind == Kind::big_integer && magic->text == kLegacyMagic, path,
                  ": a pickle, but not a torch.save file (no torch magic number)");
    const auto protocol = pickle::unpickle(source, none, path);
    FLUXION_CHECK(protocol->kind == Kind::integer && protocol->integer == kLegacyProtocol, path,
                  ": unknown legacy torch.save protocol version");
    const auto sys_info = pickle::unpickle(source, none, path);
    if (sys_info->kind == Kind::dict) {
      const auto* little = sys_info->find("little_endian");
      FLUXION_CHECK(!little || (*little)->kind != Kind::boolean || (*little)->boolean, path,
                    ": written on a big-endian machine; only little-endian files are read");
    }
    root = pickle::unpickle(
        source, [this](const ValuePtr& pid) { return legacy_persistent_load(pid); }, path);
    const auto keys = pickle::unpickle(source, none, path);
    FLUXION_CHECK(keys->kind == Kind::list, path, ": the storage key list is a ", pickle::kind_name(keys->kind));
    uint64_t offset = source.position();
    for (const auto& key_value : keys->items) {
      FLUXION_CHECK(key_value->kind == Kind::string, path, ": a storage key is a ", pickle::kind_name(key_value->kind));
      const auto it = storages.find(key_value->text);
      FLUXION_CHECK(it != storages.end(), path, ": storage ", key_value->text, " is stored but never used");
      FLUXION_CHECK(file_size - offset >= 8, path, ": ends early in storage ", key_value->text, " (truncated file?)");
      char count_bytes[8];
      source.seek(offset);
      source.read(count_bytes, 8);
      int64_t count = 0;
      for (int i = 7; i >= 0; --i) count = (count << 8) | static_cast<unsigned char>(count_bytes[i]);
      const auto& ref = *it->second;
      FLUXION_CHECK(count == ref.numel, path, ": storage ", ref.key, " holds ", count, " elements, its tensors expect ",
                    ref.numel);
      const uint64_t nbytes = static_cast<uint64_t>(count) * static_cast<uint64_t>(ref.element_size);
      FLUXION_CHECK(file_size - offset - 8 >= nbytes, path, ": ends early in storage ", ref.key, " (truncated file?)");
      data_offsets[ref.key] = offset + 8;
      offset += 8 + nbytes;
    }
  }

  // The whole storage as a 1-D tensor.
  torch::Tensor storage(const StorageRef& ref) {
    if (ref.key == cached_key && cached.defined()) return cached;
    FLUXION_CHECK(ref.dtype.has_value(), path, ": tensors of ", ref.type_name, " cannot be read");
    const uint64_t nbytes = static_cast<uint64_t>(ref.numel) * static_cast<uint64_t>(ref.element_size);
    const ZipEntry* entry = nullptr;
    if (nbytes > 0 && !legacy) {  // sizes are checked before anything is allocated
      entry = zip->find(prefix + "data/" + ref.key);
      FLUXION_CHECK(entry, path, ": the record of storage ", ref.key, " is missing");
      FLUXION_CHECK(entry->uncompressed_size == nbytes, path, ": storage ", ref.key, " holds ",
                    entry->uncompressed_size, " bytes, its tensors need ", nbytes);
    }
    auto values = torch::empty({ref.numel}, torch::TensorOptions().dtype(*ref.dtype));
    if (entry) {
      ZipEntryStream stream(*zip, *entry);
      stream.read(values.data_ptr(), static_cast<size_t>(nbytes));
      stream.finish();
    } else if (nbytes > 0) {
      const auto it = data_offsets.find(ref.key);
      FLUXION_CHECK(it != data_offsets.end(), path, ": the data of storage ", ref.key, " is missing");
      file.clear();
      file.seekg(static_cast<std::streamoff>(it->second));
      file.read(static_cast<char*>(values.data_ptr()), static_cast<std::streamsize>(nbytes));
      FLUXION_CHECK(file.good(), path, ": cannot read storage ", ref.key);
    }
    cached_key = ref.key;
    cached = values;
    return values;
  }
};

TorchCheckpoint::TorchCheckpoint(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  std::ifstream probe(path, std::ios::binary | std::ios::ate);
  FLUXION_CHECK(probe.good(), path, ": cannot open");
  impl_->file_size = static_cast<uint64_t>(probe.tellg());
  std::string head(512, '\0');
  probe.seekg(0);
  probe.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(probe.gcount()));
  FLUXION_CHECK(!head.empty(), path, ": empty file");
  if (head.compare(0, 4, "PK\x03\x04") == 0) {
    impl_->open_zip();
  } else if (head.size() >= 262 && head.compare(257, 5, "ustar") == 0) {
    fail(path,
         ": the tar format of PyTorch < 0.4 is not read; load it with PyTorch and save it again "
         "(torch.save writes the zip format)");
  } else if (static_cast<unsigned char>(head[0]) == 0x80 && head.size() >= 2 && head[1] >= 2 && head[1] <= 5) {
    impl_->legacy = true;
    impl_->open_legacy();
  } else {
    fail(path, ": not a torch.save file (neither a zip archive nor a pickle)");
  }
}

TorchCheckpoint::~TorchCheckpoint() = default;

const std::string& TorchCheckpoint::path() const { return impl_->path; }
const char* TorchCheckpoint::format() const { return impl_->legacy ? "legacy" : "zip"; }
const pickle::ValuePtr& TorchCheckpoint::root() const { return impl_->root; }

torch::Tensor TorchCheckpoint::read(const pickle::TensorRef& ref) {
  auto values = impl_->storage(*ref.storage);
  // Bounds were checked against the storage's size when the tensor was unpickled.
  return values.as_strided(ref.sizes, ref.strides, ref.storage->view_offset + ref.offset).contiguous();
}

}  // namespace fluxion::core
