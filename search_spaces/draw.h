// Pictures of an architecture: an SVG like the paper's figures and a compact text rendering.
// Thread-safe: pure.
#ifndef VERTEBRA_SEARCH_SPACES_DRAW_H_
#define VERTEBRA_SEARCH_SPACES_DRAW_H_

#include <string>

#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {

// A standalone SVG document: features left to right in build order (stem first), placed
// vertically by level (L2 at the bottom), bottleneck and residual blocks told apart by shape and
// colour, output blocks marked with their P-level, parent connections drawn as curves, extra
// parents of output blocks dashed, dead blocks greyed. `title` is drawn at the top.
std::string DrawSvg(const ResolvedGraph& graph, const std::string& title);

// A few lines for a terminal: a level x build-order grid (B bottleneck, R residual, lower case
// for intermediate, upper case for output blocks) followed by one line per block with its
// parents.
std::string DrawText(const ResolvedGraph& graph, const std::string& title);

}  // namespace vertebra::search_spaces

#endif  // VERTEBRA_SEARCH_SPACES_DRAW_H_
