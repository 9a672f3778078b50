// Architecture features: a short, fixed vector of numbers that describes a resolved graph for
// the models that learn from search results (the surrogate objective of the simulator, the
// cross-rung predictor). Each is a plain statistic of the graph, so a model fitted on them can be
// read: which structure goes with a high AP. Thread-safe: pure.
#ifndef VERTEBRA_SEARCH_SPACES_FEATURES_H_
#define VERTEBRA_SEARCH_SPACES_FEATURES_H_

#include <array>
#include <string_view>

#include "search_spaces/cost.h"
#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {

// The features, in a fixed order (ArchFeatureNames):
//   mean_level        mean level of the blocks (3..7), the stem excluded;
//   bottleneck        fraction of bottleneck blocks;
//   permuted          fraction of consecutive blocks whose level goes down (finer after coarser):
//                     0 for a scale-decreased network;
//   edge_span         mean |level delta| over the two resampled parents of each block;
//   edge_age          mean (block index - parent index) / (blocks + 2) over those parents: how far
//                     back in the order a block reaches;
//   output_upsample   mean over the output blocks of max(0, finest parent level - block level),
//                     extra parents included: how much an output is upsampled from coarser maps
//                     (a P3 output built from L6 and L7 maps scores 3);
//   fine_source       mean over the output blocks of the finest level among their parents minus 2,
//                     / 5 (0: every output reads the stem's level 2 somewhere);
//   dead              fraction of blocks with no path to an endpoint (dead compute);
//   log_macs          log10 of the backbone's multiply-adds at the resolved size;
//   log_params        log10 of the backbone's parameters.
inline constexpr int kNumArchFeatures = 10;
using ArchFeatureVector = std::array<double, kNumArchFeatures>;

const std::array<std::string_view, kNumArchFeatures>& ArchFeatureNames();

ArchFeatureVector ArchFeatures(const ResolvedGraph& graph, const Cost& cost);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_FEATURES_H_
