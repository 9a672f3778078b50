// A model's state out and in: as a name-to-tensor archive that Python's torch.load reads (a
// pickled dict, LibTorch's pickle format), and as safetensors (a JSON header plus raw
// little-endian data; readable by the safetensors libraries for Python and Rust).
//
// The state is every parameter and buffer under its dotted name (named_parameters() and
// named_buffers()), so a file written by one build of a spec loads into any other.
#ifndef VERTEBRA_WORKER_MODEL_STATE_IO_H_
#define VERTEBRA_WORKER_MODEL_STATE_IO_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace vertebra::worker {

// Name -> tensor, ordered by name.
using TensorMap = std::map<std::string, at::Tensor>;

// Every parameter and buffer of `module`, detached, on the CPU.
TensorMap StateOf(const torch::nn::Module& module);

// Copies `state` into `module`'s parameters and buffers (on their devices). Strict:
// InvalidArgument naming the first missing, unexpected or wrongly shaped entry; the module is
// left unchanged on error.
absl::Status LoadState(torch::nn::Module& module, const TensorMap& state);

// Pickle archive (the format of torch.save for a dict of tensors). Written atomically.
absl::Status SaveTorchArchive(const TensorMap& state, const std::string& path);
absl::StatusOr<TensorMap> LoadTorchArchive(const std::string& path);

// safetensors: float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8 and bool
// tensors; `metadata` goes into the header's "__metadata__". Written atomically.
absl::Status SaveSafetensors(const TensorMap& state, const std::string& path,
                             const std::map<std::string, std::string>& metadata = {});
// InvalidArgument naming the file and the entry for a malformed header, an unknown dtype, data
// offsets that do not match the shape, or a truncated file.
absl::StatusOr<TensorMap> LoadSafetensors(const std::string& path);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_MODEL_STATE_IO_H_
