// An architecture in the form the TensorFlow Model Garden's SpineNet builder takes
// (official/vision/modeling/backbones/spinenet.py): its `block_specs` list of
// (level, block_fn, (input_offset0, input_offset1), is_output) rows and the scaling arguments of
// its constructor (endpoints_num_filters, resample_alpha, block_repeats, filter_size_scale).
//
// The two conventions agree on what an offset means: the builder keeps a list of every feature
// built so far, the stem's two level-2 bottleneck blocks first (offsets 0 and 1), then one entry
// per row; a row's offsets index that list. That is our parent numbering (arch.proto), so the
// conversion keeps offsets as they are. For SpineNet-49 it gives the builder's own
// SPINENET_BLOCK_SPECS: all 15 rows of the TF1 reference, which are the first 15 of the Keras
// version (that one appends a 16th, level-2 output row for min_level 2).
//
// Thread-safe: pure.
#ifndef VERTEBRA_INSPECT_MODEL_GARDEN_H_
#define VERTEBRA_INSPECT_MODEL_GARDEN_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::inspect {

// One row of the builder's block_specs.
struct ModelGardenBlock {
  int level = 0;
  std::string block_fn;                // "bottleneck" or "residual".
  std::array<int, 2> input_offsets{};  // In the spec's parent order.
  bool is_output = false;
  bool operator==(const ModelGardenBlock& o) const {
    return level == o.level && block_fn == o.block_fn && input_offsets == o.input_offsets && is_output == o.is_output;
  }
};

// The block_specs rows of a spec. InvalidArgument (naming the block or field) when the spec is
// not valid (search_spaces::ValidateArchSpec).
absl::StatusOr<std::vector<ModelGardenBlock>> ToModelGardenBlocks(const v1::ArchSpec& spec);

// One JSON object: {"block_specs": [[level, block_fn, [offset0, offset1], is_output], ...],
// "endpoints_num_filters", "resample_alpha", "block_repeats", "filter_size_scale", "min_level",
// "max_level", "name", "hash"}: the builder's keyword arguments plus where they came from.
// InvalidArgument as ToModelGardenBlocks.
absl::StatusOr<std::string> ModelGardenJson(const v1::ArchSpec& spec);

// The same as Python source to paste next to the builder: BLOCK_SPECS = [(2, 'bottleneck',
// (0, 1), False), ...] and SCALING = {...}, to be passed as
// SpineNet(block_specs=build_block_specs(BLOCK_SPECS), **SCALING).
absl::StatusOr<std::string> ModelGardenPython(const v1::ArchSpec& spec);

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_MODEL_GARDEN_H_
