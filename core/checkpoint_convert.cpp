#include "core/checkpoint_convert.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/torch_checkpoint.h"

namespace fluxion::core {

namespace {

using pickle::Kind;
using pickle::TensorRef;
using pickle::Value;
using pickle::ValuePtr;

const std::vector<std::string> kAutoKeys = {"ema", "model", "state_dict", "model_ema"};  // convert_checkpoint.py
const std::vector<std::string> kEmaKeys = {"ema", "model_ema", "model_ema1"};
const std::vector<std::string> kModelKeys = {"model", "state_dict"};
const std::vector<std::string> kInceptionRequired = {"Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight",
                                                     "fc.weight", "fc.bias"};

bool is_state_dict(const Value& v) {
  if (v.kind != Kind::dict || v.entries.empty()) return false;
  return std::all_of(v.entries.begin(), v.entries.end(), [](const auto& entry) {
    return entry.first->kind == Kind::string && entry.second->kind == Kind::tensor;
  });
}

std::string key_label(const Value& key) {
  switch (key.kind) {
    case Kind::string: return "'" + key.text + "'";
    case Kind::integer: return std::to_string(key.integer);
    case Kind::boolean: return key.boolean ? "True" : "False";
    case Kind::none: return "None";
    default: return std::string("<") + pickle::kind_name(key.kind) + ">";
  }
}

// Python's repr of list(d)[:10], or the type name of a non-dict.
std::string top_level(const Value& root) {
  if (root.kind != Kind::dict) return pickle::kind_name(root.kind);
  std::string out = "[";
  for (size_t i = 0; i < root.entries.size() && i < 10; ++i) out += (i ? ", " : "") + key_label(*root.entries[i].first);
  return out + (root.entries.size() > 10 ? ", ...]" : "]");
}

// Refuses the first Python object (a global, or anything built from one) inside `value`, which
// sits at `where` (e.g. "['ema']"). Depth-first in file order, iterative, each value once.
void refuse_objects(const std::string& path, const Value& value, const std::string& where) {
  struct Node {
    const Value* value;
    size_t parent;
    std::string label;
  };
  std::vector<Node> nodes{{&value, 0, where}};
  std::vector<size_t> todo{0};
  std::unordered_set<const Value*> seen{&value};
  while (!todo.empty()) {
    const size_t index = todo.back();
    todo.pop_back();
    const Value& v = *nodes[index].value;
    if (v.kind == Kind::global || v.kind == Kind::object) {
      std::string at;
      for (size_t i = index;; i = nodes[i].parent) {
        at = nodes[i].label + at;
        if (i == 0) break;
      }
      fail(path, ": ", at.empty() ? "the file" : at, " holds a Python object (", v.text,
           "), which fluxion convert does not unpickle where it needs the value: it reads tensors "
           "and plain containers (dict, OrderedDict, list, tuple, str, int, float, bool, None) only");
    }
    std::vector<std::pair<const Value*, std::string>> children;
    for (size_t i = 0; i < v.items.size(); ++i) children.emplace_back(v.items[i].get(), "[" + std::to_string(i) + "]");
    for (const auto& [key, item] : v.entries) {
      children.emplace_back(key.get(), "[" + key_label(*key) + " (key)]");
      children.emplace_back(item.get(), "[" + key_label(*key) + "]");
    }
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      if (!seen.insert(it->first).second) continue;
      nodes.push_back({it->first, index, it->second});
      todo.push_back(nodes.size() - 1);
    }
  }
}

struct Choice {
  const Value* state = nullptr;
  std::string key;
};

Choice choose_state_dict(const std::string& path, const Value& root, const ConvertOptions& options,
                         std::vector<std::string>& notes) {
  if (root.kind == Kind::global || root.kind == Kind::object)
    fail(path, ": holds a pickled Python object (", root.text,
         "), not a state dict; save model.state_dict() with torch.save and convert that");
  if (!options.key.empty()) {
    const ValuePtr* entry = root.kind == Kind::dict ? root.find(options.key) : nullptr;
    FLUXION_CHECK(entry, path, ": no entry '", options.key, "' in the checkpoint (top-level keys: ", top_level(root),
                  ")");
    refuse_objects(path, **entry, "['" + options.key + "']");
    FLUXION_CHECK(is_state_dict(**entry), path, ": entry '", options.key, "' is not a dict of tensors");
    return {entry->get(), options.key};
  }
  if (is_state_dict(root)) return {&root, ""};
  const auto& candidates = options.weights == "ema" ? kEmaKeys : options.weights == "model" ? kModelKeys : kAutoKeys;
  if (root.kind == Kind::dict) {
    for (const auto& candidate : candidates) {
      const ValuePtr* entry = root.find(candidate);
      if (!entry) continue;
      refuse_objects(path, **entry, "['" + candidate + "']");
      if (!is_state_dict(**entry)) continue;
      if (options.weights == "auto" && candidate == "model") {
        for (const auto& ema : kEmaKeys) {
          const ValuePtr* other = root.find(ema);
          if (other && is_state_dict(**other))
            notes.push_back(concat(path, " also holds EMA weights under '", ema, "'; --weights ema converts those"));
        }
      }
      return {entry->get(), candidate};
    }
  }
  std::string wanted;
  for (const auto& candidate : candidates) wanted += (wanted.empty() ? "" : ", ") + candidate;
  fail(path, ": no state dict found (a dict of tensors in ", wanted, "; top level: ", top_level(root), "); pass --key");
}

// json.dumps(s) with ensure_ascii, as convert_checkpoint.py writes the header. Pickled strs may
// hold surrogates (surrogatepass); command-line strings decode as Python's argv does, each
// undecodable byte becoming U+DC80..U+DCFF (surrogateescape).
void append_json_string(std::string& out, const std::string& s, bool from_command_line) {
  out += '"';
  char buffer[16];
  for (size_t i = 0; i < s.size();) {
    uint32_t c = 0;
    size_t length = pickle::decode_utf8(s, i, &c, !from_command_line);
    if (length == 0) {
      FLUXION_CHECK(from_command_line, "a tensor name is not valid UTF-8");
      c = 0xDC00 + static_cast<unsigned char>(s[i]);
      length = 1;
    }
    i += length;
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c >= 0x20 && c <= 0x7E) {
      out += static_cast<char>(c);
    } else if (c < 0x10000) {
      std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
      out += buffer;
    } else {
      const uint32_t v = c - 0x10000;
      std::snprintf(buffer, sizeof buffer, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 | (v >> 10)),
                    static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
      out += buffer;
    }
  }
  out += '"';
}

struct Planned {
  const TensorRef* ref;
  const char* dtype;
  uint64_t nbytes;
};

const char* dtype_name(const TensorRef& ref, bool inception) {
  if (!ref.storage->dtype) return nullptr;
  switch (*ref.storage->dtype) {
    case torch::kDouble: return "F64";
    case torch::kFloat: return "F32";
    case torch::kHalf: return "F16";
    case torch::kLong: return "I64";
    case torch::kBFloat16: return inception ? nullptr : "BF16";
    case torch::kInt: return inception ? nullptr : "I32";
    case torch::kShort: return inception ? nullptr : "I16";
    case torch::kChar: return inception ? nullptr : "I8";
    case torch::kByte: return inception ? nullptr : "U8";
    case torch::kBool: return inception ? nullptr : "BOOL";
    default: return nullptr;
  }
}

// safetensors exactly as the Python converters write it: {"__metadata__": ..., then the names in
// sorted order}, compact JSON, padded with spaces to 8 bytes; data in the same order.
void write_python_layout(TorchCheckpoint& checkpoint, const std::string& output,
                         const std::map<std::string, const TensorRef*>& tensors,
                         const std::vector<std::pair<std::string, std::string>>& metadata, bool inception) {
  std::vector<Planned> plan;
  std::string header = "{\"__metadata__\":{";
  for (size_t i = 0; i < metadata.size(); ++i) {
    if (i) header += ',';
    append_json_string(header, metadata[i].first, true);
    header += ':';
    append_json_string(header, metadata[i].second, true);
  }
  header += '}';
  uint64_t offset = 0;
  for (const auto& [name, ref] : tensors) {
    const char* dtype = dtype_name(*ref, inception);
    FLUXION_CHECK(dtype, checkpoint.path(), ": tensor ", name, " has unsupported dtype ", ref->storage->type_name);
    const uint64_t nbytes = static_cast<uint64_t>(ref->numel()) * static_cast<uint64_t>(ref->storage->element_size);
    header += ',';
    append_json_string(header, name, false);
    header += ":{\"dtype\":\"";
    header += dtype;
    header += "\",\"shape\":[";
    for (size_t d = 0; d < ref->sizes.size(); ++d) header += (d ? "," : "") + std::to_string(ref->sizes[d]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + nbytes) + "]}";
    plan.push_back({ref, dtype, nbytes});
    offset += nbytes;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  write_file_atomically(output, [&](std::ostream& out) {
    char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xFF);
    out.write(length, 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& item : plan) {
      const auto values = checkpoint.read(*item.ref);
      FLUXION_CHECK(static_cast<uint64_t>(values.numel()) * values.element_size() == item.nbytes, checkpoint.path(),
                    ": a tensor's size changed while reading");
      out.write(static_cast<const char*>(values.data_ptr()), static_cast<std::streamsize>(item.nbytes));
    }
  });
}

std::string basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

ConvertSummary convert_inception(TorchCheckpoint& checkpoint, const ConvertOptions& options) {
  const auto& path = checkpoint.path();
  const Value* state = checkpoint.root().get();
  if (state->kind == Kind::dict) {
    if (const ValuePtr* inner = state->find("state_dict")) state = inner->get();
  }
  if (state->kind == Kind::global || state->kind == Kind::object)
    fail(path, ": holds a pickled Python object (", state->text, "), not the FID Inception state dict");
  FLUXION_CHECK(state->kind == Kind::dict, path, ": holds a ", pickle::kind_name(state->kind),
                ", not the FID Inception state dict");
  // As convert_inception.py: tensors are kept, any other entry is dropped unread.
  std::map<std::string, const TensorRef*> tensors;
  for (const auto& [key, value] : state->entries) {
    if (value->kind != Kind::tensor) continue;
    FLUXION_CHECK(key->kind == Kind::string, path, ": a tensor under a ", pickle::kind_name(key->kind), " key");
    tensors[key->text] = value->tensor.get();
  }
  std::string missing;
  for (const auto& name : kInceptionRequired)
    if (!tensors.count(name)) missing += (missing.empty() ? "" : ", ") + name;
  FLUXION_CHECK(missing.empty(), path, ": not the FID Inception state dict (missing ", missing, ")");
  const auto& fc = tensors.at("fc.weight")->sizes;
  FLUXION_CHECK(fc == std::vector<int64_t>({1008, 2048}), path, ": fc.weight has shape ", c10::IntArrayRef(fc),
                ", expected [1008, 2048]");
  write_python_layout(checkpoint, options.output, tensors,
                      {{"source", basename(options.input)}, {"format", "pytorch-fid InceptionV3"}}, true);
  ConvertSummary summary;
  summary.tensors = static_cast<int64_t>(tensors.size());
  for (const auto& [name, ref] : tensors) summary.values += ref->numel();
  return summary;
}

}  // namespace

ConvertSummary convert_torch_checkpoint(const ConvertOptions& options) {
  FLUXION_CHECK(options.weights == "auto" || options.weights == "ema" || options.weights == "model", "--weights ",
                options.weights, ": expected auto, ema or model");
  FLUXION_CHECK(options.key.empty() || options.weights == "auto", "give --key or --weights, not both");
  FLUXION_CHECK(!options.inception || (options.key.empty() && options.weights == "auto" &&
                                       options.strip_prefixes.empty() && options.model.empty()),
                "--inception converts pytorch-fid's weights as they are: no --key, --weights, "
                "--strip-prefix or --model");
  TorchCheckpoint checkpoint(options.input);
  if (options.inception) {
    auto summary = convert_inception(checkpoint, options);
    summary.format = checkpoint.format();
    return summary;
  }
  ConvertSummary summary;
  summary.format = checkpoint.format();
  const auto choice = choose_state_dict(options.input, *checkpoint.root(), options, summary.notes);
  std::map<std::string, const TensorRef*> tensors;
  for (const auto& [key, value] : choice.state->entries) {
    std::string name = key->text;
    for (const auto& prefix : options.strip_prefixes)
      if (name.compare(0, prefix.size(), prefix) == 0) name.erase(0, prefix.size());
    FLUXION_CHECK(name != "__metadata__", options.input, ": a tensor is named __metadata__");
    FLUXION_CHECK(tensors.emplace(name, value->tensor.get()).second, options.input, ": two tensors named ", name,
                  " after stripping prefixes");
    summary.values += value->tensor->numel();
  }
  std::vector<std::pair<std::string, std::string>> metadata = {{"source", basename(options.input)}, {"format", "pt"}};
  if (!choice.key.empty()) metadata.emplace_back("source_key", choice.key);
  if (!options.model.empty()) metadata.emplace_back("model", options.model);
  write_python_layout(checkpoint, options.output, tensors, metadata, false);
  summary.tensors = static_cast<int64_t>(tensors.size());
  summary.source_key = choice.key;
  return summary;
}

}  // namespace fluxion::core
