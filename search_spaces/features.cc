#include "search_spaces/features.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace vertebra::search_spaces {

const std::array<std::string_view, kNumArchFeatures>& ArchFeatureNames() {
  static constexpr std::array<std::string_view, kNumArchFeatures> kNames = {
      "mean_level", "bottleneck",  "permuted", "edge_span", "edge_age",
      "output_upsample", "fine_source", "dead", "log_macs", "log_params"};
  return kNames;
}

ArchFeatureVector ArchFeatures(const ResolvedGraph& graph, const Cost& cost) {
  const int n = static_cast<int>(graph.blocks.size());
  const int features = n + 2;
  double level_sum = 0, bottlenecks = 0, down = 0, span = 0, age = 0, dead = 0;
  double upsample = 0, fine = 0;
  int outputs = 0;
  for (int k = 0; k < n; ++k) {
    const ResolvedBlock& b = graph.blocks[k];
    const int level = b.feature.level;
    level_sum += level;
    if (b.feature.type == v1::BOTTLENECK) ++bottlenecks;
    if (k > 0 && level < graph.blocks[k - 1].feature.level) ++down;
    for (const ResampleEdge& e : b.edges) {
      span += std::abs(e.level_delta);
      age += static_cast<double>(b.feature.index - e.parent) / features;
    }
    if (!b.reaches_endpoint) ++dead;
    if (b.feature.is_output) {
      int finest = 99;
      for (const ResampleEdge& e : b.edges) finest = std::min(finest, graph.features[e.parent].level);
      for (int p : b.extra_parents) finest = std::min(finest, graph.features[p].level);
      upsample += std::max(0, finest - level);
      fine += (finest - 2) / 5.0;
      ++outputs;
    }
  }
  const double blocks = std::max(1, n);
  const double edges = std::max(1, 2 * n);
  const double outs = std::max(1, outputs);
  return {level_sum / blocks,
          bottlenecks / blocks,
          n > 1 ? down / (n - 1) : 0.0,
          span / edges,
          age / edges,
          upsample / outs,
          fine / outs,
          dead / blocks,
          std::log10(std::max<double>(1, static_cast<double>(cost.backbone_macs))),
          std::log10(std::max<double>(1, static_cast<double>(cost.backbone_params)))};
}

}  // namespace vertebra::search_spaces
