#include "search_spaces/resolve.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "search_spaces/arch_spec.h"

namespace vertebra::search_spaces {
namespace {

// Inner widths before filter_scale, per level 2..7 (spinenet.md §2.3 FILTER_SIZE_MAP).
constexpr int kBaseWidth[kMaxLevel + 1] = {0, 0, 64, 128, 256, 256, 256, 256};
constexpr int kBottleneckExpansion = 4;

int CeilDiv(int x, int d) { return (x + d - 1) / d; }

int Channels(v1::BlockType type, int inner) {
  return type == v1::BOTTLENECK ? kBottleneckExpansion * inner : inner;
}

ResampleEdge MakeEdge(const Feature& parent, const Feature& target, double alpha) {
  ResampleEdge e;
  e.parent = parent.index;
  e.in_channels = parent.channels;
  e.squeeze_channels = static_cast<int>(parent.inner_width * alpha);
  e.out_channels = target.channels;
  e.level_delta = target.level - parent.level;
  e.strided_conv = e.level_delta > 0;
  e.max_pools = e.level_delta > 1 ? e.level_delta - 1 : 0;
  e.upsample = e.level_delta < 0;
  e.in_size = parent.size;
  e.out_size = target.size;
  return e;
}

}  // namespace

Size2 LevelSize(Size2 input, int level) {
  return {CeilDiv(input.height, 1 << level), CeilDiv(input.width, 1 << level)};
}

int InnerWidth(int level, double filter_scale) {
  return static_cast<int>(kBaseWidth[level] * filter_scale);
}

absl::StatusOr<ResolvedGraph> Resolve(const v1::ArchSpec& spec, int height, int width) {
  RETURN_IF_ERROR(ValidateArchSpec(spec));
  if (height < 1 || width < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("input size must be positive, got %dx%d", height, width));
  }
  ResolvedGraph g;
  g.input = {height, width};
  g.scaling = spec.scaling();
  const double scale = g.scaling.filter_scale();
  const int repeats = g.scaling.block_repeats();

  g.stem.conv_size = LevelSize(g.input, 1);
  g.stem.pool_size = LevelSize(g.input, 2);
  g.stem.inner_width = InnerWidth(kMinLevel, scale);
  g.stem.repeats = repeats;
  g.stem.projection = Stem::kConvFilters != Channels(v1::BOTTLENECK, g.stem.inner_width);

  const int n = spec.blocks_size();
  g.features.reserve(n + kNumStemFeatures);
  for (int i = 0; i < kNumStemFeatures; ++i) {
    Feature f;
    f.index = i;
    f.level = kMinLevel;
    f.type = v1::BOTTLENECK;
    f.inner_width = g.stem.inner_width;
    f.channels = Channels(f.type, f.inner_width);
    f.size = g.stem.pool_size;
    g.features.push_back(f);
  }

  // Outgoing connections per feature, as the reference builder counts them: stem features start
  // at zero (the stem's own chain is not counted).
  std::vector<int> outdegree(n + kNumStemFeatures, 0);
  // Edges into each feature, for the reachability pass below.
  std::vector<std::vector<int>> inputs(n + kNumStemFeatures);
  inputs[1].push_back(0);

  g.blocks.reserve(n);
  for (int row = 0; row < n; ++row) {
    const v1::Block& b = spec.blocks(row);
    ResolvedBlock rb;
    rb.row = row;
    rb.repeats = repeats;
    Feature& f = rb.feature;
    f.index = row + kNumStemFeatures;
    f.level = b.level();
    f.type = b.type();
    f.inner_width = InnerWidth(b.level(), scale);
    f.channels = Channels(f.type, f.inner_width);
    f.size = LevelSize(g.input, b.level());
    f.is_output = b.output();
    for (int i = 0; i < 2; ++i) {
      const Feature& parent = g.features[b.parents(i)];
      rb.edges[i] = MakeEdge(parent, f, g.scaling.resample_alpha());
      ++outdegree[parent.index];
      inputs[f.index].push_back(parent.index);
    }
    if (f.is_output) {
      // spinenet.md §3.3: dangling features of the same size and channel count join the sum.
      for (int j = 0; j < f.index; ++j) {
        const Feature& other = g.features[j];
        if (outdegree[j] == 0 && other.size == f.size && other.channels == f.channels) {
          rb.extra_parents.push_back(j);
          ++outdegree[j];
          inputs[f.index].push_back(j);
        }
      }
    }
    g.features.push_back(f);
    g.blocks.push_back(std::move(rb));
  }

  // Endpoints P3..P7, then mark what reaches them.
  std::vector<bool> live(n + kNumStemFeatures, false);
  for (int level = kMinOutputLevel; level <= kMaxOutputLevel; ++level) {
    for (const ResolvedBlock& rb : g.blocks) {
      if (rb.feature.is_output && rb.feature.level == level) {
        Endpoint e;
        e.level = level;
        e.feature = rb.feature.index;
        e.in_channels = rb.feature.channels;
        e.filters = g.scaling.endpoint_filters();
        e.size = rb.feature.size;
        g.endpoints.push_back(e);
        live[rb.feature.index] = true;
      }
    }
  }
  // Features only feed later features, so one backward sweep propagates liveness.
  for (int f = n + kNumStemFeatures - 1; f >= 0; --f) {
    if (!live[f]) continue;
    for (int p : inputs[f]) live[p] = true;
  }
  for (ResolvedBlock& rb : g.blocks) {
    rb.reaches_endpoint = live[rb.feature.index];
    if (!rb.reaches_endpoint) {
      g.warnings.push_back(absl::StrFormat(
          "blocks[%d] (feature %d, L%d %s%s) reaches no output P%d..P%d: dead compute", rb.row,
          rb.feature.index, rb.feature.level, BlockTypeName(rb.feature.type),
          rb.feature.is_output ? " output" : "", kMinOutputLevel, kMaxOutputLevel));
    }
  }
  return g;
}

}  // namespace vertebra::search_spaces
