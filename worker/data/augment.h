// Training-time geometry for detection examples: letterbox to a square input, scale jitter with a
// random crop, random horizontal flip (shared/reference/spinenet.md §6.1-6.2: protocol B jitters
// the scale in [0.5, 2.0]). Boxes are transformed with the pixels. No LibTorch here.
#ifndef VERTEBRA_WORKER_DATA_AUGMENT_H_
#define VERTEBRA_WORKER_DATA_AUGMENT_H_

#include <random>
#include <vector>

#include "worker/data/dataset.h"

namespace vertebra::worker::data {

struct AugmentOptions {
  // Side of the square output in pixels.
  int size = 128;
  // Mirror left-right with probability 0.5.
  bool horizontal_flip = true;
  // Scale jitter: the letterbox scale is multiplied by a factor drawn uniformly in
  // [min_scale, max_scale] (0.5..2.0 in protocol B; 1..1 = no jitter). 0 < min_scale <= max_scale.
  double min_scale = 1.0, max_scale = 1.0;
};

// A size x size image and its objects. Before the flip, an original point x maps to
// x * scale - offset_x (y likewise); with `flipped`, the result x' then becomes size - x'.
// offset_x, offset_y >= 0: the crop's top-left corner in the resized image (0 where the resized
// image is no larger than `size` along that axis: it is then padded with zeros right/bottom).
struct AugmentedExample {
  RgbImage image;  // size x size.
  std::vector<Object> objects;
  double scale = 1;
  int offset_x = 0, offset_y = 0;
  bool flipped = false;
};

// Deterministic: scale = size / max(width, height); the bilinearly resized image (round(w*scale)
// x round(h*scale)) at the top-left, zero padding right and bottom. Boxes are scaled and clipped
// to the output, `area` multiplied by scale^2; objects under 1 px wide or high after that are
// dropped (the same rule as Augment). Precondition: size >= 1 and a non-empty image.
AugmentedExample Letterbox(const Example& example, int size);

// Letterbox scale times a jitter factor, bilinear resize, then a crop at a uniformly drawn offset
// where the resized image is larger than `size` (zero padding right/bottom where smaller), then a
// horizontal flip with probability 0.5 when enabled. Boxes are transformed the same way and
// clipped to the output; objects whose clipped box is under 1 px wide or high are dropped; `area`
// is scaled by scale^2 and by the fraction of the box area left after clipping. Draws exactly
// four values from `rng` per call (jitter, crop x, crop y, flip), so the output is a pure function
// of (example, options, rng state). With min_scale = max_scale = 1 and no flip it equals
// Letterbox. Thread-compatible: one rng per thread. Precondition: valid options, non-empty image.
AugmentedExample Augment(const Example& example, const AugmentOptions& options, std::mt19937_64& rng);

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_AUGMENT_H_
