#include "worker/model/state_io.h"

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <c10/core/GradMode.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <sstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/model/pickle_check.h"
#include "worker/model/torch_util.h"

// safetensors stores little-endian data, and this file copies tensor memory as it is.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "state_io.cc assumes a little-endian host");

namespace vertebra::worker {
namespace {

using Json = nlohmann::json;

// The safetensors header length is a little-endian uint64 in front of the JSON.
constexpr size_t kHeaderLengthBytes = sizeof(uint64_t);
// The safetensors writers pad the header so that the data buffer starts 8-byte aligned.
constexpr size_t kDataAlignment = 8;
// The reserved header key for free-form string metadata.
constexpr char kMetadataKey[] = "__metadata__";
// How a pickle's GLOBAL opcode names collections.OrderedDict (module and class, each
// newline-terminated).
constexpr char kOrderedDictGlobal[] = "collections\nOrderedDict\n";

struct DtypeName {
  at::ScalarType type;
  const char* name;
};

// The dtypes this module reads and writes, with their safetensors names.
constexpr DtypeName kDtypes[] = {
    {at::kFloat, "F32"}, {at::kHalf, "F16"},  {at::kBFloat16, "BF16"}, {at::kDouble, "F64"}, {at::kLong, "I64"},
    {at::kInt, "I32"},   {at::kShort, "I16"}, {at::kChar, "I8"},       {at::kByte, "U8"},    {at::kBool, "BOOL"},
};

const char* SafetensorsName(at::ScalarType type) {
  for (const DtypeName& d : kDtypes) {
    if (d.type == type) return d.name;
  }
  return nullptr;
}

bool ScalarTypeFromName(const std::string& name, at::ScalarType* type) {
  for (const DtypeName& d : kDtypes) {
    if (name == d.name) {
      *type = d.type;
      return true;
    }
  }
  return false;
}

std::string ShapeString(at::IntArrayRef sizes) { return absl::StrFormat("[%s]", absl::StrJoin(sizes, ", ")); }

// Runs `f`, turning an exception into a Status whose message starts with `context` (a path).
template <typename F>
auto Guarded(const std::string& context, F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    const absl::Status status = StatusFromException(e);
    return absl::Status(status.code(), absl::StrFormat("%s: %s", context, status.message()));
  }
}

// `t` detached on the CPU, contiguous and owning exactly its own bytes (a view of a larger
// storage would otherwise drag the whole storage into a pickle archive).
at::Tensor CompactCpu(const at::Tensor& t) {
  at::Tensor cpu = t.detach();
  if (!cpu.is_cpu() || !cpu.is_contiguous() || cpu.storage_offset() != 0 || cpu.storage().nbytes() != cpu.nbytes()) {
    cpu = cpu.to(at::TensorOptions().device(at::kCPU), /*non_blocking=*/false, /*copy=*/true,
                 at::MemoryFormat::Contiguous);
  }
  return cpu;
}

// Every defined parameter and buffer of `module` by name (live tensors, not copies).
TensorMap LiveState(const torch::nn::Module& module) {
  TensorMap live;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    if (p.value().defined()) live.emplace(p.key(), p.value());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    if (b.value().defined()) live.emplace(b.key(), b.value());
  }
  return live;
}

// Checks that `state` matches `live` exactly in names, dtypes and shapes.
absl::Status CheckCompatible(const TensorMap& live, const TensorMap& state) {
  for (const auto& [name, target] : live) {
    const auto it = state.find(name);
    if (it == state.end()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: missing from the state (the model has shape %s, %s)", name,
                                                        ShapeString(target.sizes()),
                                                        c10::toString(target.scalar_type())));
    }
    const at::Tensor& value = it->second;
    if (!value.defined()) return absl::InvalidArgumentError(absl::StrFormat("%s: undefined tensor in the state", name));
    if (value.sizes() != target.sizes()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: shape %s in the state, %s in the model", name,
                                                        ShapeString(value.sizes()), ShapeString(target.sizes())));
    }
    if (value.scalar_type() != target.scalar_type()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: dtype %s in the state, %s in the model", name,
                                                        c10::toString(value.scalar_type()),
                                                        c10::toString(target.scalar_type())));
    }
  }
  for (const auto& [name, value] : state) {
    if (live.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: in the state but not in the model", name));
    }
  }
  return absl::OkStatus();
}

// A non-negative JSON integer, or an error naming `what`.
absl::StatusOr<uint64_t> NonNegativeInteger(const Json& value, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  return absl::InvalidArgumentError(absl::StrFormat("%s: expected a non-negative integer, got %s", what, value.dump()));
}

// `a * b`, or false when it does not fit in int64 (shapes from a file are untrusted).
bool CheckedMultiply(uint64_t a, uint64_t b, uint64_t* product) {
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (a > kMax || b > kMax || (a != 0 && b > kMax / a)) return false;
  *product = a * b;
  return true;
}

// One header entry of `path` turned into a tensor whose bytes come from `data` (`data_size`
// bytes: everything after the header).
absl::StatusOr<at::Tensor> ReadSafetensorsEntry(const std::string& path, const std::string& name, const Json& entry,
                                                const char* data, uint64_t data_size) {
  const std::string where = absl::StrFormat("%s: tensor '%s'", path, name);
  if (!entry.is_object()) return absl::InvalidArgumentError(absl::StrFormat("%s: entry is not an object", where));
  const auto dtype = entry.find("dtype");
  const auto shape = entry.find("shape");
  const auto offsets = entry.find("data_offsets");
  if (dtype == entry.end() || shape == entry.end() || offsets == entry.end()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: needs dtype, shape and data_offsets", where));
  }
  at::ScalarType type;
  if (!dtype->is_string() || !ScalarTypeFromName(dtype->get<std::string>(), &type)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: unknown dtype %s", where, dtype->dump()));
  }
  if (!shape->is_array()) return absl::InvalidArgumentError(absl::StrFormat("%s: shape is not an array", where));
  std::vector<int64_t> sizes;
  uint64_t numel = 1;
  for (const Json& dim : *shape) {
    ASSIGN_OR_RETURN(const uint64_t d, NonNegativeInteger(dim, where + " shape"));
    if (!CheckedMultiply(numel, d, &numel)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: shape %s is too large", where, shape->dump()));
    }
    sizes.push_back(static_cast<int64_t>(d));
  }
  uint64_t nbytes = 0;
  if (!CheckedMultiply(numel, c10::elementSize(type), &nbytes)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: shape %s is too large", where, shape->dump()));
  }
  if (!offsets->is_array() || offsets->size() != 2) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: data_offsets must be [begin, end]", where));
  }
  ASSIGN_OR_RETURN(const uint64_t begin, NonNegativeInteger((*offsets)[0], where + " data_offsets"));
  ASSIGN_OR_RETURN(const uint64_t end, NonNegativeInteger((*offsets)[1], where + " data_offsets"));
  if (end < begin || end - begin != nbytes) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: data_offsets [%d, %d] do not hold %s %s (%d bytes)", where,
                                                      begin, end, ShapeString(sizes), dtype->get<std::string>(),
                                                      nbytes));
  }
  if (end > data_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: data_offsets end %d is beyond the %d-byte data buffer (truncated file?)", where, end, data_size));
  }
  at::Tensor tensor = at::empty(sizes, at::TensorOptions().dtype(type).device(at::kCPU));
  if (nbytes > 0) std::memcpy(tensor.data_ptr(), data + begin, nbytes);
  return tensor;
}

}  // namespace

TensorMap StateOf(const torch::nn::Module& module) {
  TensorMap state;
  // The contract has no error channel; the only failure is running out of host memory, for
  // which an empty state (which LoadState rejects) is returned rather than an exception.
  try {
    for (const auto& [name, t] : LiveState(module)) {
      state.emplace(name, t.detach().to(at::TensorOptions().device(at::kCPU), /*non_blocking=*/false,
                                        /*copy=*/true, at::MemoryFormat::Contiguous));
    }
  } catch (const std::exception&) {
    state.clear();
  }
  return state;
}

absl::Status LoadState(torch::nn::Module& module, const TensorMap& state) {
  return GuardTorch([&]() -> absl::Status {
    const TensorMap live = LiveState(module);
    RETURN_IF_ERROR(CheckCompatible(live, state));
    c10::NoGradGuard no_grad;
    for (const auto& [name, target] : live) target.copy_(state.at(name));  // Crosses devices as needed.
    return absl::OkStatus();
  });
}

absl::Status SaveTorchArchive(const TensorMap& state, const std::string& path) {
  return Guarded(path, [&]() -> absl::Status {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [name, t] : state) {
      if (!t.defined()) return absl::InvalidArgumentError(absl::StrFormat("%s: %s: undefined tensor", path, name));
      dict.insert(name, CompactCpu(t));
    }
    const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(dict));
    return WriteFileAtomically(path, std::string(bytes.begin(), bytes.end()));
  });
}

absl::StatusOr<TensorMap> LoadTorchArchive(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string contents, ReadFile(path));
  return Guarded(path, [&]() -> absl::StatusOr<TensorMap> {
    c10::IValue value;
    std::string pickle;  // The archive's data.pkl.
    try {
      // The unpickler trusts the lengths a pickle declares (pickle_check.h): its opcodes are
      // walked first.
      std::istringstream in(contents);
      caffe2::serialize::PyTorchStreamReader reader(&in);
      const auto [record, size] = reader.getRecord("data.pkl");
      pickle.assign(static_cast<const char*>(record.get()), size);
      if (const absl::Status checked = CheckPickle(pickle); !checked.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: not a torch archive (a torch.save file): data.pkl: %s", path, checked.message()));
      }
      value = torch::jit::pickle_load(std::vector<char>(contents.begin(), contents.end()));
    } catch (const std::exception& e) {
      // LibTorch's unpickler cannot fill a collections.OrderedDict, which is what Python's
      // state_dict() returns: the pickle's first object is then that class, named by a GLOBAL
      // opcode right after PROTO. (Every tensor's pickle names the class too, for its empty
      // backward hooks, so a match further in says nothing.)
      if (pickle.size() > 2 && pickle[0] == '\x80' && pickle.compare(2, 1, "c") == 0 &&
          pickle.compare(3, std::strlen(kOrderedDictGlobal), kOrderedDictGlobal) == 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: holds a Python OrderedDict (an unconverted state_dict()?), which LibTorch cannot read; "
            "save dict(state_dict) instead",
            path));
      }
      const absl::Status status = StatusFromException(e);
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: not a torch archive (a torch.save file): %s", path, status.message()));
    }
    if (!value.isGenericDict()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: holds a %s, not a dict of name to tensor", path, value.tagKind()));
    }
    TensorMap state;
    for (const auto& entry : value.toGenericDict()) {
      if (!entry.key().isString()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: a key is a %s, not a string", path, entry.key().tagKind()));
      }
      const std::string name = entry.key().toStringRef();
      if (!entry.value().isTensor()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: %s: holds a %s, not a tensor", path, name, entry.value().tagKind()));
      }
      state.emplace(name, entry.value().toTensor());
    }
    return state;
  });
}

absl::Status SaveSafetensors(const TensorMap& state, const std::string& path,
                             const std::map<std::string, std::string>& metadata) {
  return Guarded(path, [&]() -> absl::Status {
    Json header = Json::object();
    if (!metadata.empty()) header[kMetadataKey] = metadata;
    std::vector<at::Tensor> tensors;
    tensors.reserve(state.size());
    uint64_t offset = 0;
    for (const auto& [name, t] : state) {
      if (name == kMetadataKey) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: '%s' is reserved, not a tensor name", path, name));
      }
      if (!t.defined()) return absl::InvalidArgumentError(absl::StrFormat("%s: %s: undefined tensor", path, name));
      const char* dtype = SafetensorsName(t.scalar_type());
      if (dtype == nullptr) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: %s: dtype %s has no safetensors name here", path, name,
                                                          c10::toString(t.scalar_type())));
      }
      tensors.push_back(CompactCpu(t));
      const uint64_t nbytes = tensors.back().nbytes();
      header[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
      offset += nbytes;
    }
    std::string json;
    try {
      json = header.dump();
    } catch (const Json::exception& e) {  // Names or metadata that are not valid UTF-8.
      return absl::InvalidArgumentError(absl::StrFormat("%s: cannot write the header: %s", path, e.what()));
    }
    const size_t unaligned = (kHeaderLengthBytes + json.size()) % kDataAlignment;
    if (unaligned != 0) json.append(kDataAlignment - unaligned, ' ');

    std::string bytes;
    bytes.reserve(kHeaderLengthBytes + json.size() + offset);
    const uint64_t header_length = json.size();
    bytes.append(reinterpret_cast<const char*>(&header_length), kHeaderLengthBytes);
    bytes.append(json);
    for (const at::Tensor& t : tensors) {
      if (t.nbytes() > 0) bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
    }
    return WriteFileAtomically(path, bytes);
  });
}

absl::StatusOr<TensorMap> LoadSafetensors(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  return Guarded(path, [&]() -> absl::StatusOr<TensorMap> {
    if (bytes.size() < kHeaderLengthBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: %d bytes, too short for a safetensors file", path, bytes.size()));
    }
    uint64_t header_length = 0;
    std::memcpy(&header_length, bytes.data(), kHeaderLengthBytes);
    const uint64_t available = bytes.size() - kHeaderLengthBytes;
    if (header_length > available) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: header length %d is beyond the file's %d bytes after the length field (truncated or not safetensors)",
          path, header_length, available));
    }
    const char* header_begin = bytes.data() + kHeaderLengthBytes;
    const Json header = Json::parse(header_begin, header_begin + header_length, /*cb=*/nullptr,
                                    /*allow_exceptions=*/false);
    if (header.is_discarded() || !header.is_object()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: the header is not a JSON object", path));
    }
    const char* data = header_begin + header_length;
    const uint64_t data_size = available - header_length;
    TensorMap state;
    for (const auto& [name, entry] : header.items()) {
      if (name == kMetadataKey) {
        if (!entry.is_object()) {
          return absl::InvalidArgumentError(absl::StrFormat("%s: %s is not an object", path, kMetadataKey));
        }
        continue;
      }
      ASSIGN_OR_RETURN(at::Tensor tensor, ReadSafetensorsEntry(path, name, entry, data, data_size));
      state.emplace(name, std::move(tensor));
    }
    return state;
  });
}

}  // namespace vertebra::worker
