// A detection set of real objects composed on the fly from Fashion-MNIST items
// (fashion_mnist_items.h): each 128x128 RGB canvas holds several items, resized bilinearly to
// sides that span COCO's small, medium and large ranges, over a textured, cluttered background;
// the category is the item's class (10: T-shirt/top ... Ankle boot). Training canvases draw their
// items only from the 60,000 training items, held-out canvases only from the 10,000 test items, so
// the reward is measured on objects the network has not seen. Every canvas is a pure function of
// (seed, index): nothing is written to disk. Boxes and areas follow the synthetic set
// (synthetic.h): the tight box of the object's visible pixels, the visible pixel count.
//
// Each difficulty knob is a spec key; the defaults are a middle to be tuned by measurement.
//
// No LibTorch here.
#ifndef VERTEBRA_WORKER_DATA_FASHION_MNIST_H_
#define VERTEBRA_WORKER_DATA_FASHION_MNIST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/data/dataset.h"
#include "worker/data/fashion_mnist_items.h"

namespace vertebra::worker::data {

struct FashionMnistOptions {
  // The folder of the four gzipped IDX files (key `dir`; a path without commas).
  std::string dir = kFashionMnistDefaultDir;
  // Which items the objects and fragments come from (key `split`: train or test). OpenDataSplits
  // uses test for the held-out split whatever is given here.
  FashionMnistSplit split = FashionMnistSplit::kTrain;
  // Square canvas side in pixels. 128: the proxy input of the synthetic set.
  int size = 128;
  // Canvases in the set (the epoch). 8000: 500 steps x batch 16, as the synthetic set.
  int images = 8000;
  // Every canvas is generated from (seed, index) alone.
  uint64_t seed = 1;
  // Objects painted per canvas, uniform in [min, max]; occluded ones may be dropped
  // (min_visible_fraction). 1..6: with 8 (the synthetic set's crowding), 12 px sides and 4
  // clutter fragments, SpineNet-49 read 0.036 AP after 450 steps and 0.093 after 900 (cooled
  // down); with 6, 16 px and 2 fragments 0.055 and 0.163 (bench/results/fashion-tuning.csv).
  int min_objects = 1;
  int max_objects = 6;
  // Use the items of the first `classes` classes only (10: all of Fashion-MNIST).
  int classes = kFashionMnistClasses;
  // Object width log-uniform in [min_side, max_side] px: equal numbers per octave, so COCO's
  // small, medium and large all occur. 16: an item keeps a recognisable silhouette (see
  // max_objects for the measurement); 128: the
  // canvas side, since the items' dark surround leaves about half the square as object and only
  // the largest reach COCO-large areas (>= 96^2; about 2% of the objects, as in the synthetic
  // set; 100 gave none). Scaled with `size` unless given.
  double min_side = 16;
  double max_side = 128;
  // Height = width * exp(U(-aspect_log_range, aspect_log_range)): 0.82..1.22, a mild stretch that
  // keeps the products' proportions.
  double aspect_log_range = 0.2;
  // An item pixel is the object's when its resized intensity is at least this (0..255): the
  // items' dark surround is background. 32: above the items' faint halo.
  double foreground_threshold = 32;
  // Minimum Euclidean RGB distance (0..441) between an object's mean colour and the mean of the
  // background under it, as the synthetic set's min_contrast.
  double min_contrast = 60;
  // Minimum RGB distance between the colours of an item's darkest and brightest pixels, so its
  // texture (folds, seams, laces) stays visible, not only its silhouette. 60: a clear shading.
  double min_texture = 60;
  // 1: objects get random colours (a coloured shading from one colour to another); 0: grey
  // shading, as the items are.
  int tint = 1;
  // Background texture as the synthetic set (synthetic.h): a smooth colour field over a
  // field_grid^2 lattice plus oriented stripes.
  int field_grid = 4;
  double stripe_amplitude = 24;
  double stripe_min_period = 4;
  double stripe_max_period = 24;
  // Fragments of other items of the same split painted into the background: distractors with
  // real edges but no box. Each is a crop of 8..20 of the item's 28 px, scaled like an object and
  // blended over the background with weight up to clutter_contrast (0..1): low contrast.
  int clutter = 2;
  double clutter_contrast = 0.35;
  // Per-pixel, per-channel noise (sigma, 0..255 levels) over the whole canvas.
  double noise_sigma = 6;
  // Objects with less than this fraction of their painted pixels visible after later objects
  // are painted are dropped from the ground truth (0.35 as the synthetic set); so are those with
  // fewer than min_visible_pixels visible pixels.
  double min_visible_fraction = 0.35;
  int min_visible_pixels = 4;
};

// "fashion-mnist" (the defaults) or "fashion-mnist:key=value,..." where a key is a field name
// above (e.g. "fashion-mnist:classes=5,clutter=8,tint=0"); `split` is train or test. Starts from
// `defaults` (e.g. split test for a held-out spec). When `size` is given and min_side / max_side
// are not, the sides are scaled by size / 128. InvalidArgument naming the key for an unknown key,
// a key given twice, a malformed or out-of-range value. Does not read the files.
absl::StatusOr<FashionMnistOptions> ParseFashionMnistSpec(std::string_view spec,
                                                          const FashionMnistOptions& defaults = {});

// OK, or InvalidArgument naming the first field out of its range.
absl::Status ValidateFashionMnistOptions(const FashionMnistOptions& options);

// Where each object of a canvas came from, for tests and inspection.
struct ComposedObject {
  FashionMnistSplit split = FashionMnistSplit::kTrain;  // Its item's file.
  int item = 0;                                         // The item's index in that file.
  int category = 0;                                     // The item's label.
  int x = 0, y = 0, width = 0, height = 0;              // Where the resized item was placed.
  int painted_pixels = 0;                               // Its foreground pixels inside the canvas when painted.
  int visible_pixels = 0;                               // Those still visible at the end.
  // The index of its ground-truth object in Example::objects, or -1 when dropped.
  int object = -1;
};

struct ComposedCanvas {
  Example example;
  // Object k in painting order (example.objects holds the kept ones, in the same order).
  std::vector<ComposedObject> objects;
  // The items of the background fragments (of the same split).
  std::vector<int> clutter_items;
  // size x size, row-major: 0 = background, k + 1 = object k owns the pixel.
  std::vector<uint8_t> owner;
};

// The set described by the options. Get(i) returns image id i + 1, file name "NNNNNN.png",
// annotation ids i * max_objects + k + 1 and boxes that are the tight box of each object's
// visible pixels (edges at pixel borders); `area` is the visible pixel count. Categories are the
// first `classes` Fashion-MNIST classes with COCO ids 1..K. Get and Compose are deterministic
// (the same bytes on every call, thread and machine) and thread-safe.
class FashionMnistDataset : public Dataset {
 public:
  // Reads (or finds cached) the split's items (LoadFashionMnistItems's errors);
  // InvalidArgument for options ValidateFashionMnistOptions rejects; FailedPrecondition when the
  // split has no item of the first `classes` classes.
  static absl::StatusOr<std::unique_ptr<FashionMnistDataset>> Create(const FashionMnistOptions& options);

  int size() const override { return options_.images; }
  const std::vector<Category>& categories() const override { return categories_; }
  absl::StatusOr<Example> Get(int index) const override;

  // Get(index) with where each object came from and who owns each pixel. OutOfRange for a bad
  // index.
  absl::StatusOr<ComposedCanvas> Compose(int index) const;

  const FashionMnistOptions& options() const { return options_; }

 private:
  FashionMnistDataset(const FashionMnistOptions& options, std::shared_ptr<const FashionMnistItems> items,
                      std::vector<int> eligible);

  const FashionMnistOptions options_;
  const std::shared_ptr<const FashionMnistItems> items_;
  // Indices of the items whose label is below `classes`.
  const std::vector<int> eligible_;
  std::vector<Category> categories_;
};

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_FASHION_MNIST_H_
