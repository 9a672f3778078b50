// State out and in: StateOf/LoadState, the torch archive and safetensors round trips (a loaded
// detector computes bit for bit what the saved one did), every safetensors dtype, the errors for
// malformed files, and Python reading what C++ wrote (and the reverse).
#include "worker/model/state_io.h"
#include "tests/testing/proxy_model.h"

#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"
#include "worker/model/pickle_check.h"
#include "worker/model/retinanet.h"

namespace vertebra::worker {
namespace {

namespace ss = search_spaces;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::string_view_literals;
using ::vertebra::test_util::ProxyHead;
using ::vertebra::test_util::ProxyScaling;

// The interpreter the cross-language test runs; Debian's python3-torch installs into it.
constexpr char kPython[] = "/usr/bin/python3";
// Small enough to keep a forward pass in milliseconds; P7 is still 1x1.
constexpr int kImageSize = 64;

// SpineNet-49 at proxy scaling with a small head, initialized from `seed`.
Detector MakeDetector(uint64_t seed) {
  v1::ArchSpec spec = ss::SpineNet49();
  *spec.mutable_scaling() = ProxyScaling();
  const ss::ResolvedGraph graph = *ss::Resolve(spec, kImageSize, kImageSize);
  DetectorOptions options;
  options.head = ProxyHead();
  torch::manual_seed(seed);
  return Detector(graph, options);
}

// Every output of `detector` on `images` in eval mode, pyramid then head.
std::vector<at::Tensor> EvalOutputs(Detector& detector, const at::Tensor& images) {
  torch::NoGradGuard no_grad;
  detector->eval();
  DetectorOutput out = detector->forward(images);
  std::vector<at::Tensor> all = out.pyramid;
  all.push_back(out.head.class_logits);
  all.push_back(out.head.box_deltas);
  return all;
}

double MaxAbsDiff(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, (a[i] - b[i]).abs().max().item<double>());
  }
  return diff;
}

// Same dtype, shape and bytes (so NaN payloads and -0.0 count).
bool SameBytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == cb.nbytes() &&
         (ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0);
}

void ExpectSameState(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const auto it = b.find(name);
    ASSERT_NE(it, b.end()) << name;
    EXPECT_TRUE(SameBytes(t, it->second)) << name;
  }
}

// A path in the test's temporary folder, unique to this process.
std::string TempPath(const std::string& name) {
  return absl::StrFormat("%sstate_io_test_%d_%s", testing::TempDir(), getpid(), name);
}

// A safetensors file written by hand: the length field, `header`, then `data`.
std::string WriteRawSafetensors(const std::string& name, const std::string& header, const std::string& data) {
  const uint64_t length = header.size();
  std::string bytes(reinterpret_cast<const char*>(&length), sizeof(length));
  bytes += header + data;
  const std::string path = TempPath(name);
  EXPECT_TRUE(WriteFileAtomically(path, bytes).ok());
  return path;
}

// A conv without bias (an undefined parameter, which the state leaves out) and a BN.
struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl()
      : conv(register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).bias(false)))),
        bn(register_module("bn", torch::nn::BatchNorm2d(4))) {}
  torch::nn::Conv2d conv;
  torch::nn::BatchNorm2d bn;
};
TORCH_MODULE(TinyNet);

TinyNet MakeTinyNet(uint64_t seed) {
  torch::manual_seed(seed);
  TinyNet net;
  torch::NoGradGuard no_grad;
  net->bn->weight.uniform_(0.5, 1.5);
  net->bn->running_mean.normal_();
  net->bn->num_batches_tracked.fill_(static_cast<int64_t>(seed) + 3);
  return net;
}

TEST(StateIoTest, StateOfHasEveryParameterAndBufferAsDetachedCopies) {
  TinyNet net = MakeTinyNet(1);
  const TensorMap state = StateOf(*net);
  std::vector<std::string> names;
  for (const auto& [name, t] : state) names.push_back(name);
  EXPECT_THAT(names, ::testing::ElementsAre("bn.bias", "bn.num_batches_tracked", "bn.running_mean", "bn.running_var",
                                            "bn.weight", "conv.weight"));
  EXPECT_EQ(state.at("bn.num_batches_tracked").scalar_type(), at::kLong);
  for (const auto& [name, t] : state) {
    EXPECT_FALSE(t.requires_grad()) << name;
    EXPECT_TRUE(t.is_cpu()) << name;
    EXPECT_TRUE(t.is_contiguous()) << name;
  }
  const at::Tensor before = state.at("conv.weight").clone();
  {
    torch::NoGradGuard no_grad;
    net->conv->weight.add_(1.0);
    net->bn->num_batches_tracked.add_(1);
  }
  EXPECT_TRUE(torch::equal(state.at("conv.weight"), before));  // A copy, not an alias.
  EXPECT_EQ(state.at("bn.num_batches_tracked").item<int64_t>(), 4);
}

TEST(StateIoTest, LoadStateCopiesEveryEntry) {
  TinyNet source = MakeTinyNet(1);
  TinyNet target = MakeTinyNet(2);
  ASSERT_TRUE(LoadState(*target, StateOf(*source)).ok());
  ExpectSameState(StateOf(*target), StateOf(*source));
  EXPECT_TRUE(target->conv->weight.requires_grad());  // Still a trainable parameter.
}

// LoadState with `state` fails with InvalidArgument mentioning every string in `expected`, and
// leaves the module as it was.
void ExpectRejected(const TensorMap& state, const std::vector<std::string>& expected) {
  TinyNet net = MakeTinyNet(2);
  const TensorMap before = StateOf(*net);
  const absl::Status status = LoadState(*net, state);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (const std::string& s : expected) EXPECT_THAT(std::string(status.message()), HasSubstr(s));
  ExpectSameState(StateOf(*net), before);
}

TEST(StateIoTest, LoadStateRejectsAMissingEntry) {
  TensorMap state = StateOf(*MakeTinyNet(1));
  state.erase("bn.running_var");
  ExpectRejected(state, {"bn.running_var", "missing"});
}

TEST(StateIoTest, LoadStateRejectsAnUnexpectedEntry) {
  TensorMap state = StateOf(*MakeTinyNet(1));
  state["bn.extra"] = torch::zeros({4});
  ExpectRejected(state, {"bn.extra", "not in the model"});
}

TEST(StateIoTest, LoadStateRejectsAWrongShape) {
  TensorMap state = StateOf(*MakeTinyNet(1));
  state["conv.weight"] = torch::zeros({4, 3, 5, 5});
  ExpectRejected(state, {"conv.weight", "[4, 3, 5, 5]", "[4, 3, 3, 3]"});
}

TEST(StateIoTest, LoadStateRejectsAWrongDtype) {
  TensorMap state = StateOf(*MakeTinyNet(1));
  state["bn.num_batches_tracked"] = torch::zeros({}, at::kFloat);
  ExpectRejected(state, {"bn.num_batches_tracked", "dtype"});
}

// Saves a trained-for-one-step detector with `save`, loads it with `load` into a detector built
// from another seed, and expects bit-identical outputs.
void ExpectDetectorRoundTrip(const std::function<absl::Status(const TensorMap&)>& save,
                             const std::function<absl::StatusOr<TensorMap>()>& load) {
  Detector source = MakeDetector(1);
  {
    // One train-mode pass so that the BN running statistics and counters are not the defaults.
    torch::NoGradGuard no_grad;
    source->train();
    source->forward(torch::randn({2, 3, kImageSize, kImageSize}));
  }
  Detector target = MakeDetector(2);
  const at::Tensor images = torch::randn({2, 3, kImageSize, kImageSize});
  const std::vector<at::Tensor> expected = EvalOutputs(source, images);
  ASSERT_GT(MaxAbsDiff(EvalOutputs(target, images), expected), 0);  // The seeds do differ.

  ASSERT_TRUE(save(StateOf(*source)).ok());
  absl::StatusOr<TensorMap> loaded = load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(LoadState(*target, *loaded).ok());
  EXPECT_EQ(MaxAbsDiff(EvalOutputs(target, images), expected), 0);
  ExpectSameState(StateOf(*target), StateOf(*source));
}

TEST(StateIoTest, DetectorRoundTripsThroughTheTorchArchive) {
  const std::string path = TempPath("detector.pt");
  ExpectDetectorRoundTrip([&](const TensorMap& state) { return SaveTorchArchive(state, path); },
                          [&] { return LoadTorchArchive(path); });
  std::remove(path.c_str());
}

TEST(StateIoTest, DetectorRoundTripsThroughSafetensors) {
  const std::string path = TempPath("detector.safetensors");
  ExpectDetectorRoundTrip([&](const TensorMap& state) { return SaveSafetensors(state, path); },
                          [&] { return LoadSafetensors(path); });
  std::remove(path.c_str());
}

// One tensor of every dtype, special float values, a 0-dim scalar, an empty tensor and a
// non-contiguous view.
TensorMap EveryDtype() {
  torch::manual_seed(3);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  TensorMap state;
  state["f32"] = torch::tensor({1.5f, -0.0f, kInf, -kInf, std::nanf(""), 1e-42f});
  state["f16"] = torch::randn({2, 3}).to(at::kHalf);
  state["bf16"] = torch::randn({3, 2}).to(at::kBFloat16);
  state["f64"] = torch::randn({2, 2}, at::kDouble);
  state["i64"] = torch::tensor(
      {std::numeric_limits<int64_t>::min(), int64_t{-1}, int64_t{0}, std::numeric_limits<int64_t>::max()});
  state["i32"] = torch::tensor({std::numeric_limits<int32_t>::min(), -7, 0, std::numeric_limits<int32_t>::max()});
  state["i16"] = torch::tensor({-32768, -1, 32767}).to(at::kShort);
  state["i8"] = torch::tensor({-128, 0, 127}).to(at::kChar);
  state["u8"] = torch::tensor({0, 1, 255}).to(at::kByte);
  state["bool"] = torch::tensor({true, false, true});
  state["scalar"] = torch::scalar_tensor(2.25, at::kFloat);
  state["empty"] = torch::empty({0, 3});
  state["transposed"] = torch::randn({3, 5}).t();
  return state;
}

TEST(StateIoTest, SafetensorsRoundTripsEveryDtypeExactly) {
  const TensorMap state = EveryDtype();
  ASSERT_EQ(state.at("scalar").dim(), 0);
  const std::string path = TempPath("dtypes.safetensors");
  ASSERT_TRUE(SaveSafetensors(state, path, {{"format", "pt"}}).ok());
  absl::StatusOr<TensorMap> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameState(*loaded, state);
  std::remove(path.c_str());
}

TEST(StateIoTest, TorchArchiveRoundTripsEveryDtypeExactly) {
  const TensorMap state = EveryDtype();
  const std::string path = TempPath("dtypes.pt");
  ASSERT_TRUE(SaveTorchArchive(state, path).ok());
  absl::StatusOr<TensorMap> loaded = LoadTorchArchive(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameState(*loaded, state);
  std::remove(path.c_str());
}

TEST(StateIoTest, SafetensorsLayout) {
  TensorMap state;
  state["b"] = torch::tensor({int64_t{1}, int64_t{2}, int64_t{3}});
  state["a"] = torch::tensor({0.5f, 2.0f});
  const std::string path = TempPath("layout.safetensors");
  ASSERT_TRUE(SaveSafetensors(state, path, {{"format", "pt"}}).ok());
  const std::string bytes = *ReadFile(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), sizeof(n));
  EXPECT_EQ((8 + n) % 8, 0u);  // The data buffer starts 8-byte aligned.
  ASSERT_EQ(bytes.size(), 8 + n + 8 + 24);
  const std::string header = bytes.substr(8, n);
  EXPECT_THAT(header, HasSubstr(R"("__metadata__":{"format":"pt"})"));
  EXPECT_THAT(header, HasSubstr(R"("data_offsets":[0,8])"));   // "a" first: name order.
  EXPECT_THAT(header, HasSubstr(R"("data_offsets":[8,32])"));  // then "b".
  float a[2];
  std::memcpy(a, bytes.data() + 8 + n, sizeof(a));
  EXPECT_EQ(a[0], 0.5f);
  EXPECT_EQ(a[1], 2.0f);
  std::remove(path.c_str());
}

TEST(StateIoTest, SafetensorsRejectsNamesItCannotWrite) {
  const std::string path = TempPath("bad_name.safetensors");
  EXPECT_EQ(SaveSafetensors({{"__metadata__", torch::zeros({1})}}, path).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SaveSafetensors({{"c", torch::zeros({1}, at::kComplexFloat)}}, path).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SaveSafetensors({{"bad\xff", torch::zeros({1})}}, path).code(), absl::StatusCode::kInvalidArgument);
}

TEST(StateIoTest, LoadSafetensorsRejectsATruncatedFile) {
  const std::string whole = TempPath("whole.safetensors");
  ASSERT_TRUE(SaveSafetensors(StateOf(*MakeTinyNet(1)), whole).ok());
  const std::string bytes = *ReadFile(whole);
  const std::string path = TempPath("truncated.safetensors");
  ASSERT_TRUE(WriteFileAtomically(path, bytes.substr(0, bytes.size() - 10)).ok());
  const absl::StatusOr<TensorMap> loaded = LoadSafetensors(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("conv.weight"));  // Last in name order.
  std::remove(whole.c_str());
  std::remove(path.c_str());
}

TEST(StateIoTest, LoadSafetensorsRejectsAHeaderLongerThanTheFile) {
  const std::string path = TempPath("long_header.safetensors");
  std::string bytes(8, '\0');
  const uint64_t n = 1000;
  std::memcpy(bytes.data(), &n, sizeof(n));
  bytes += "{}      ";
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  const absl::StatusOr<TensorMap> loaded = LoadSafetensors(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("1000"));

  ASSERT_TRUE(WriteFileAtomically(path, "abc").ok());  // Not even a length field.
  EXPECT_THAT(std::string(LoadSafetensors(path).status().message()), HasSubstr(path));
  std::remove(path.c_str());
}

TEST(StateIoTest, LoadSafetensorsRejectsMalformedHeaders) {
  const std::string data(16, '\0');
  struct Case {
    std::string header;
    std::string expected;  // Besides the path.
  };
  const std::vector<Case> cases = {
      {"not json", "JSON"},
      {"[1, 2]", "JSON object"},
      {R"({"w": {"dtype": "F8", "shape": [2], "data_offsets": [0, 2]}})", "'w': unknown dtype \"F8\""},
      {R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", "'w' shape"},
      {R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", "'w': data_offsets [0, 8]"},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})", "'w': data_offsets end 20"},
      {R"({"w": {"dtype": "F32", "shape": [2]}})", "'w': needs"},
      {R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", "too large"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = WriteRawSafetensors(absl::StrFormat("malformed_%d.safetensors", i), cases[i].header, data);
    const absl::StatusOr<TensorMap> loaded = LoadSafetensors(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << cases[i].header;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path)) << cases[i].header;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(cases[i].expected)) << cases[i].header;
    std::remove(path.c_str());
  }
}

TEST(StateIoTest, LoadTorchArchiveRejectsWhatIsNotADictOfTensors) {
  const std::string path = TempPath("not_archive.pt");
  ASSERT_TRUE(WriteFileAtomically(path, "this is not a pickle").ok());
  absl::StatusOr<TensorMap> loaded = LoadTorchArchive(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path));

  const std::vector<char> tensor_only = torch::pickle_save(c10::IValue(torch::zeros({2})));
  ASSERT_TRUE(WriteFileAtomically(path, std::string(tensor_only.begin(), tensor_only.end())).ok());
  loaded = LoadTorchArchive(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("not a dict"));

  c10::Dict<std::string, int64_t> numbers;
  numbers.insert("steps", 3);
  const std::vector<char> dict_of_ints = torch::pickle_save(c10::IValue(numbers));
  ASSERT_TRUE(WriteFileAtomically(path, std::string(dict_of_ints.begin(), dict_of_ints.end())).ok());
  loaded = LoadTorchArchive(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("steps"));
  std::remove(path.c_str());
}

// A pickle that declares a string longer than the file made LibTorch's unpickler allocate what
// it declared (1.5 GB for a 1,000-byte file) before it failed; it is refused from its opcodes.
TEST(StateIoTest, LoadTorchArchiveRefusesLengthsBeyondTheFile) {
  const std::string path = TempPath("long_string.pt");
  c10::Dict<std::string, at::Tensor> state;
  state.insert("abcdefgh", torch::zeros({2}));
  const std::vector<char> saved = torch::pickle_save(c10::IValue(state));
  std::string bytes(saved.begin(), saved.end());
  // The key as BINUNICODE: 'X', a 4-byte little-endian length, the characters.
  const size_t key = bytes.find(std::string("X\x08\x00\x00\x00", 5) + "abcdefgh");
  ASSERT_NE(key, std::string::npos);
  bytes.replace(key + 1, 4, "\x08\x00\x5a\x5a"sv);  // 0x5a5a0008 bytes
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  const absl::StatusOr<TensorMap> loaded = LoadTorchArchive(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("data.pkl: byte "));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("BINUNICODE declares 1515847688 bytes"));

  // Whole opcodes, a class the unpickler does not know: its own error, not the advice for a
  // Python OrderedDict (every tensor's pickle names that class for its backward hooks).
  bytes.assign(saved.begin(), saved.end());
  const size_t rebuild = bytes.find("_rebuild_tensor_v2");
  ASSERT_NE(rebuild, std::string::npos);
  bytes[rebuild + std::strlen("_rebuild_tensor_v")] = '9';
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  const absl::Status unknown = LoadTorchArchive(path).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("not a torch archive"));
  EXPECT_THAT(std::string(unknown.message()), Not(HasSubstr("OrderedDict")));
  std::remove(path.c_str());
}

TEST(PickleCheckTest, WalksWhatPicklersWriteAndNamesWhatIsWrong) {
  // What torch's pickler writes passes, tensors and all.
  c10::Dict<std::string, at::Tensor> state;
  state.insert("w", torch::ones({2, 3}));
  state.insert("b", torch::zeros({3}, torch::kBFloat16));
  const std::vector<char> saved = torch::pickle_save(c10::IValue(state));
  const std::string path = TempPath("walk.pt");
  ASSERT_TRUE(WriteFileAtomically(path, std::string(saved.begin(), saved.end())).ok());
  EXPECT_TRUE(LoadTorchArchive(path).ok());
  std::remove(path.c_str());
  // protocol 2, {}, memo 0, GET 0, a text GLOBAL, STOP.
  EXPECT_TRUE(CheckPickle("\x80\x02}q\x00h\x00" "ccollections\nOrderedDict\n."sv).ok());

  auto message = [](std::string_view pickle) { return std::string(CheckPickle(pickle).message()); };
  EXPECT_EQ(message("\x80\x02X\xff\xff\xff\x7f" "ab."sv), "byte 2: BINUNICODE declares 2147483647 bytes, 7 remain");
  EXPECT_EQ(message("\x80\x02\x8e\x00\x00\x00\x00\x00\x00\x00\x01."sv),
            "byte 2: BINBYTES8 declares 72057594037927936 bytes, 9 remain");
  EXPECT_EQ(message("\x80\x02}j\x05\x00\x00\x00."sv), "byte 3: LONG_BINGET names memo entry 5; 0 are stored");
  EXPECT_EQ(message("\x80\x02}r\xff\xff\xff\xff."sv),
            "byte 3: LONG_BINPUT names memo entry 4294967295; 0 are stored");
  EXPECT_EQ(message("\x80\x02\xff."sv), "byte 2: 0xff is not a pickle opcode");
  EXPECT_EQ(message("\x80\x02}"sv), "byte 3: the pickle ends without STOP");
  EXPECT_EQ(message("\x80\x02" "ccollections"sv), "byte 2: GLOBAL has no end of line");
  EXPECT_EQ(message("\x80"sv), "byte 0: PROTO declares 1 bytes, 0 remain");
}

TEST(StateIoTest, MissingFilesAreNotFound) {
  const std::string path = TempPath("does_not_exist");
  EXPECT_EQ(LoadTorchArchive(path).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadSafetensors(path).status().code(), absl::StatusCode::kNotFound);
}

// Reads both files that C++ wrote, checks them against each other (safetensors parsed with no
// library but struct and json), then writes the same small state as a dict and as an
// OrderedDict (what state_dict() returns) for C++ to read. Prints NO TORCH without torch.
constexpr char kPythonCheck[] = R"PY(
import collections, json, struct, sys
try:
    import torch
except ImportError:
    print('NO TORCH')
    sys.exit(0)

archive, safetensors, plain_out, ordered_out = sys.argv[1:5]
a = torch.load(archive)
assert type(a) is dict, type(a)
raw = open(safetensors, 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert (8 + n) % 8 == 0, n
header = json.loads(raw[8:8 + n])
assert header.pop('__metadata__') == {'written_by': 'state_io_test'}
data = raw[8 + n:]
dtypes = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'F64': torch.float64,
          'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8,
          'U8': torch.uint8, 'BOOL': torch.bool}
assert sorted(header) == sorted(a), (sorted(header), sorted(a))
for name, entry in header.items():
    begin, end = entry['data_offsets']
    dtype, shape = dtypes[entry['dtype']], entry['shape']
    if end > begin:
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(shape)
    else:
        t = torch.empty(shape, dtype=dtype)
    ref = a[name]
    assert ref.dtype == dtype and list(ref.shape) == shape, name
    assert torch.equal(t, ref), name
back = [('x', torch.arange(6.).reshape(2, 3)), ('n', torch.tensor(7)), ('h', torch.ones(2, dtype=torch.float16))]
torch.save(dict(back), plain_out)
torch.save(collections.OrderedDict(back), ordered_out)
print('OK', len(header))
)PY";

TEST(StateIoTest, PythonReadsBothFormatsAndWritesOneBack) {
  if (access(kPython, X_OK) != 0) GTEST_SKIP() << "no " << kPython;
  TensorMap state = StateOf(*MakeDetector(1));
  for (const auto& [name, t] : EveryDtype()) {
    if (name != "f32") state["extra." + name] = t;  // NaN != NaN in torch.equal.
  }
  const std::string archive = TempPath("py.pt"), safetensors = TempPath("py.safetensors");
  const std::string script = TempPath("check.py"), plain = TempPath("plain.pt"), ordered = TempPath("ordered.pt");
  ASSERT_TRUE(SaveTorchArchive(state, archive).ok());
  ASSERT_TRUE(SaveSafetensors(state, safetensors, {{"written_by", "state_io_test"}}).ok());
  ASSERT_TRUE(WriteFileAtomically(script, kPythonCheck).ok());

  const std::string command =
      absl::StrFormat("%s %s %s %s %s %s 2>&1", kPython, script, archive, safetensors, plain, ordered);
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  ASSERT_EQ(pclose(pipe), 0) << output;
  if (output == "NO TORCH\n") GTEST_SKIP() << kPython << " cannot import torch";
  EXPECT_EQ(output, absl::StrFormat("OK %d\n", state.size()));

  absl::StatusOr<TensorMap> loaded = LoadTorchArchive(plain);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 3u);
  EXPECT_TRUE(torch::equal(loaded->at("x"), torch::arange(6.0, at::kFloat).reshape({2, 3})));
  EXPECT_EQ(loaded->at("n").dim(), 0);
  EXPECT_EQ(loaded->at("n").item<int64_t>(), 7);
  EXPECT_TRUE(torch::equal(loaded->at("h"), torch::ones({2}, at::kHalf)));
  // LibTorch 1.13 cannot read an OrderedDict with data; the error says what to do instead.
  const absl::Status ordered_status = LoadTorchArchive(ordered).status();
  EXPECT_EQ(ordered_status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ordered_status.message()), HasSubstr("dict(state_dict)"));
  for (const std::string& p : {archive, safetensors, script, plain, ordered}) std::remove(p.c_str());
}

}  // namespace
}  // namespace vertebra::worker
