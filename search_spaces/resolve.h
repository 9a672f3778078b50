// Resolve: the pure function from an ArchSpec to the graph that a builder instantiates.
//
// Every number a builder needs (levels, widths, channels, spatial sizes, the resampling of each
// parent edge, the extra parents of output blocks) is computed here, so that the LibTorch
// builder does no architecture arithmetic of its own and the cost model (cost.h) counts exactly
// what is built. Thread-safe: pure.
#ifndef VERTEBRA_SEARCH_SPACES_RESOLVE_H_
#define VERTEBRA_SEARCH_SPACES_RESOLVE_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vertebra/v1/arch.pb.h"

namespace vertebra::search_spaces {

// Spatial size of a feature map.
struct Size2 {
  int height = 0;
  int width = 0;
  bool operator==(const Size2& o) const { return height == o.height && width == o.width; }
};

// A feature map: a stem feature (index 0, 1) or a block's output (index k + 2).
struct Feature {
  int index = 0;
  int level = 0;
  v1::BlockType type = v1::BOTTLENECK;
  int inner_width = 0;  // Width of the 3x3 convs: int(base(level) * filter_scale).
  int channels = 0;     // 4 x inner_width for a bottleneck, inner_width for a residual block.
  Size2 size;           // ceil(input / 2^level) in each dimension.
  bool is_output = false;
};

// How one parent feature is brought to a block's level and channel count (spinenet.md §3.1):
// 1x1 conv in_channels -> squeeze_channels + BN + act; then, going down, one 3x3 stride-2 conv
// (squeeze -> squeeze) + BN + act followed by `max_pools` 3x3 stride-2 max-pools (padding 1),
// or, going up, nearest-neighbour upsampling to exactly `out_size`; then 1x1 conv
// squeeze_channels -> out_channels + BN (no activation).
struct ResampleEdge {
  int parent = 0;            // Feature index.
  int in_channels = 0;
  int squeeze_channels = 0;  // int(parent inner width * resample_alpha).
  int out_channels = 0;      // The target block's channel count.
  int level_delta = 0;       // target level - parent level.
  bool strided_conv = false; // level_delta > 0.
  int max_pools = 0;         // level_delta - 1 when level_delta > 1, else 0.
  bool upsample = false;     // level_delta < 0.
  Size2 in_size;
  Size2 out_size;
};

// One spec row: sum of its two resampled parents plus its extra parents, activation, then
// `repeats` chained blocks of `type` at stride 1 without projection shortcuts.
struct ResolvedBlock {
  int row = 0;                       // Index in spec.blocks.
  Feature feature;                   // What it produces (index row + 2).
  std::array<ResampleEdge, 2> edges; // In the spec's parent order.
  // Output blocks only: earlier features with no outgoing connection at the time the block is
  // built, of the same size and channel count, added to the sum without resampling (§3.3).
  std::vector<int> extra_parents;
  int repeats = 1;
  bool reaches_endpoint = true;      // False: dead compute (no path to P3..P7).
};

// A 1x1 conv + BN + act from an output block to P<level> with `filters` channels.
struct Endpoint {
  int level = 0;
  int feature = 0;
  int in_channels = 0;
  int filters = 0;
  Size2 size;
};

// The fixed stem: 7x7/2 conv (3 -> 64) + BN + act, 3x3/2 max-pool, then two level-2 bottleneck
// groups of `repeats` blocks each (features 0 and 1). Only the first block of the first group
// may have a projection shortcut: when 64 differs from its 4 x inner_width output channels.
struct Stem {
  static constexpr int kNumGroups = 2;   // Features 0 and 1.
  static constexpr int kInChannels = 3;
  static constexpr int kConvFilters = 64;  // Not scaled by filter_scale (spinenet.md §1.1).
  static constexpr int kConvKernel = 7;
  Size2 conv_size;   // After the 7x7/2 conv: ceil(input / 2).
  Size2 pool_size;   // After the max-pool: ceil(input / 4).
  int inner_width = 0;
  int repeats = 1;
  bool projection = true;  // 1x1 conv + BN shortcut, 64 -> 4 x inner_width, in the first block.
};

struct ResolvedGraph {
  Size2 input;
  v1::Scaling scaling;
  Stem stem;
  std::vector<Feature> features;     // Indexed by feature index: stem features then blocks.
  std::vector<ResolvedBlock> blocks; // One per spec row.
  std::vector<Endpoint> endpoints;   // P3..P7 in level order.
  std::vector<std::string> warnings; // Human-readable; e.g. blocks that reach no endpoint.
};

// The inner width of a block at `level` (2..7) for a filter scale: int(base * filter_scale) with
// bases {64, 128, 256, 256, 256, 256} (spinenet.md §2.3).
int InnerWidth(int level, double filter_scale);

// The size of a level-`level` feature map for an input: ceil(input / 2^level) per dimension.
// Every stride-2 op of the network (3x3 pad 1, 7x7 pad 3, 3x3 max-pool pad 1) maps n to
// ceil(n / 2), and ceil(ceil(n / a) / b) = ceil(n / ab), so the size does not depend on the path.
Size2 LevelSize(Size2 input, int level);

// Resolves a valid spec for an input of height x width pixels (any positive size; sizes that do
// not divide by 128 are fine: every level's size is ceil(input / 2^level)). InvalidArgument when
// the spec is invalid (ValidateArchSpec) or the input size is not positive.
absl::StatusOr<ResolvedGraph> Resolve(const v1::ArchSpec& spec, int height, int width);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_RESOLVE_H_
