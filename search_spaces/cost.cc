#include "search_spaces/cost.h"

namespace vertebra::search_spaces {
namespace {

// Accumulates one component's parameters and multiply-adds.
struct Tally {
  int64_t params = 0;
  int64_t macs = 0;

  // A bias-free k x k conv producing `out_size` followed by a BN (gamma and beta).
  void ConvBn(int k, int64_t in, int64_t out, Size2 out_size) {
    params += k * k * in * out + 2 * out;
    macs += k * k * in * out * out_size.height * out_size.width;
  }
};

int64_t Pixels(Size2 s) { return static_cast<int64_t>(s.height) * s.width; }

// One bottleneck or residual block at stride 1 whose input already has its output channels,
// plus, when `projection_from` > 0, a 1x1 projection shortcut from that many channels.
void Block(Tally& t, v1::BlockType type, int inner, Size2 size, int projection_from = 0) {
  const int out = type == v1::BOTTLENECK ? 4 * inner : inner;
  const int in = projection_from > 0 ? projection_from : out;
  if (type == v1::BOTTLENECK) {
    t.ConvBn(1, in, inner, size);
    t.ConvBn(3, inner, inner, size);
    t.ConvBn(1, inner, out, size);
  } else {
    t.ConvBn(3, in, inner, size);
    t.ConvBn(3, inner, inner, size);
  }
  if (projection_from > 0) t.ConvBn(1, projection_from, out, size);
}

Tally StemCost(const ResolvedGraph& g) {
  Tally t;
  const Stem& s = g.stem;
  t.ConvBn(Stem::kConvKernel, Stem::kInChannels, Stem::kConvFilters, s.conv_size);
  for (int group = 0; group < Stem::kNumGroups; ++group) {
    for (int r = 0; r < s.repeats; ++r) {
      const bool first = group == 0 && r == 0;
      Block(t, v1::BOTTLENECK, s.inner_width, s.pool_size, first && s.projection ? Stem::kConvFilters : 0);
    }
  }
  return t;
}

Tally ResampleCost(const ResampleEdge& e) {
  Tally t;
  t.ConvBn(1, e.in_channels, e.squeeze_channels, e.in_size);
  if (e.strided_conv) {
    // The stride-2 conv's output is one level above the parent: ceil(size / 2).
    const Size2 half{(e.in_size.height + 1) / 2, (e.in_size.width + 1) / 2};
    t.ConvBn(3, e.squeeze_channels, e.squeeze_channels, half);
  }
  t.ConvBn(1, e.squeeze_channels, e.out_channels, e.out_size);
  return t;
}

}  // namespace

int HeadGroupNormGroups(int width) {
  constexpr int kPreferredGroups = 32;  // Wu & He, "Group Normalization".
  for (int g = kPreferredGroups; g > 1; --g) {
    if (width % g == 0) return g;
  }
  return 1;
}

Cost CountCost(const ResolvedGraph& g, const std::optional<HeadOptions>& head) {
  Cost c;
  const Tally stem = StemCost(g);
  c.stem_params = stem.params;
  c.stem_macs = stem.macs;

  Tally resample, blocks, endpoints;
  for (const ResolvedBlock& rb : g.blocks) {
    for (const ResampleEdge& e : rb.edges) {
      const Tally t = ResampleCost(e);
      resample.params += t.params;
      resample.macs += t.macs;
    }
    for (int r = 0; r < rb.repeats; ++r) {
      Block(blocks, rb.feature.type, rb.feature.inner_width, rb.feature.size);
    }
  }
  for (const Endpoint& e : g.endpoints) endpoints.ConvBn(1, e.in_channels, e.filters, e.size);
  c.resample_params = resample.params;
  c.resample_macs = resample.macs;
  c.block_params = blocks.params;
  c.block_macs = blocks.macs;
  c.endpoint_params = endpoints.params;
  c.endpoint_macs = endpoints.macs;
  c.backbone_params = c.stem_params + c.resample_params + c.block_params + c.endpoint_params;
  c.backbone_macs = c.stem_macs + c.resample_macs + c.block_macs + c.endpoint_macs;

  if (head.has_value()) {
    const HeadOptions& h = *head;
    const int64_t num_levels = static_cast<int64_t>(g.endpoints.size());
    int64_t pixels = 0;
    for (const Endpoint& e : g.endpoints) pixels += Pixels(e.size);
    // Per subnet: num_convs 3x3 convs with biases (the first reads the endpoints), then the
    // prediction conv. Weights are shared across levels, so MACs scale with all levels' pixels.
    int64_t conv_params = 0, conv_macs_per_pixel = 0;
    int64_t in = g.scaling.endpoint_filters();
    for (int i = 0; i < h.num_convs; ++i) {
      conv_params += 9 * in * h.width + h.width;
      conv_macs_per_pixel += 9 * in * h.width;
      in = h.width;
    }
    const int64_t class_out = static_cast<int64_t>(h.anchors_per_location) * h.num_classes;
    const int64_t box_out = static_cast<int64_t>(h.anchors_per_location) * 4;
    int64_t bn_params = 0;
    if (h.norm == HeadNorm::kBatchNormPerLevel) bn_params = num_levels * h.num_convs * 2 * h.width;
    if (h.norm == HeadNorm::kGroupNorm) bn_params = h.num_convs * 2 * h.width;
    c.head_params = 2 * (conv_params + bn_params) + (9 * in * class_out + class_out) +
                    (9 * in * box_out + box_out);
    c.head_macs = pixels * (2 * conv_macs_per_pixel + 9 * in * class_out + 9 * in * box_out);
  }
  c.total_params = c.backbone_params + c.head_params;
  c.total_macs = c.backbone_macs + c.head_macs;
  return c;
}

}  // namespace vertebra::search_spaces
