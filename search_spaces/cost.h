// The cost model: exact trainable parameters and conv multiply-adds of a resolved graph, alone
// and with a RetinaNet head. Counts what the builder instantiates, to the unit: conv weights
// (no conv biases in the backbone), BN gamma and beta (running statistics are buffers, not
// parameters). Multiply-adds count convolutions only (k*k*c_in*c_out per output pixel); pooling,
// upsampling, additions, BN and activations are not counted. Thread-safe: pure.
#ifndef VERTEBRA_SEARCH_SPACES_COST_H_
#define VERTEBRA_SEARCH_SPACES_COST_H_

#include <cstdint>
#include <optional>

#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {

// Normalization after each 3x3 conv of the RetinaNet subnets.
enum class HeadNorm {
  kNone,
  kBatchNormPerLevel,  // The reference head: a BN of its own per level (gamma/beta counted 5x).
  kGroupNorm,          // One GroupNorm per conv, shared across levels like the conv weights.
};

// A RetinaNet head (detection.md §3): a class subnet and a box subnet, each `num_convs` 3x3
// convs of `width` channels with biases, then a 3x3 conv to anchors x classes (or x 4). The conv
// weights are shared across P3..P7. The builder (worker/) instantiates exactly this.
struct HeadOptions {
  int width = 256;
  int num_convs = 4;
  int num_classes = 91;
  int anchors_per_location = 9;
  HeadNorm norm = HeadNorm::kBatchNormPerLevel;
};

// GroupNorm groups for a head of `width` channels: 32 when it divides the width (the usual
// choice), else the largest divisor of the width below 32.
int HeadGroupNormGroups(int width);

struct Cost {
  // Parameters.
  int64_t stem_params = 0;
  int64_t resample_params = 0;
  int64_t block_params = 0;
  int64_t endpoint_params = 0;
  int64_t backbone_params = 0;  // Sum of the four above.
  int64_t head_params = 0;      // 0 without a head.
  int64_t total_params = 0;
  // Multiply-adds at the resolved input size.
  int64_t stem_macs = 0;
  int64_t resample_macs = 0;
  int64_t block_macs = 0;
  int64_t endpoint_macs = 0;
  int64_t backbone_macs = 0;    // Sum of the four above (P3..P7 included).
  int64_t head_macs = 0;
  int64_t total_macs = 0;
};

Cost CountCost(const ResolvedGraph& graph, const std::optional<HeadOptions>& head = std::nullopt);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_COST_H_
