// COCO bounding-box evaluation with the semantics of pycocotools' COCOeval (iouType "bbox",
// default Params), without LibTorch, so that the controller and the workers score detections
// alike. Every rule follows shared/reference/detection.md §2; the file formats are in coco_json.h.
//
// Contract of Evaluate, in short (the .cc spells out each rule where it is applied):
//   * all GT images and all GT categories are evaluated, in ascending id order;
//   * per (image, category) the detections are ranked by score (ties keep input order) and only
//     the first 100 ever count; maxDets 1 and 10 are prefixes of that list, per image;
//   * IoU thresholds are numpy's linspace(0.5, 0.95, 10) (the 9th is 0.8999999999999999), recall
//     points linspace(0, 1, 101) (i * 0.01: the 36th is 0.35000000000000003), area ranges
//     [0, 1e10], [0, 32^2], [32^2, 96^2], [96^2, 1e10] inclusive at both ends, judged by a GT's
//     `area` field and by a detection's w * h;
//   * crowd GTs are ignored, can absorb any number of detections, and their IoU divides by the
//     detection's area; a detection matched to an ignored GT is ignored, and so is an unmatched
//     detection outside the area range;
//   * a (category, area range) with no non-ignored GT has precision and recall -1 and is left out
//     of the means; a number with nothing left to average is -1.
// The results are the doubles pycocotools' `stats` holds, bit for bit where the inputs are the
// same doubles (the means are summed in numpy's pairwise order).
//
// Thread-safe: every function here is pure. Nothing is cached between calls.
#ifndef VERTEBRA_EVAL_COCO_EVAL_H_
#define VERTEBRA_EVAL_COCO_EVAL_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace vertebra::eval {

// A box as COCO writes it: top-left corner, width and height, in pixels (no +1 convention).
struct Box {
  double x = 0;
  double y = 0;
  double w = 0;
  double h = 0;
};

struct Image {
  int64_t id = 0;
  int64_t width = 0;   // Pixels, > 0.
  int64_t height = 0;  // Pixels, > 0.
  std::string file_name;
};

struct Category {
  int64_t id = 0;
  std::string name;
};

// One ground-truth object.
struct Annotation {
  int64_t id = 0;  // >= 1: pycocotools stores matches as GT ids with 0 meaning "none".
  int64_t image_id = 0;
  int64_t category_id = 0;
  Box bbox;
  double area = 0;  // Decides the area ranges (the mask area in real COCO), not bbox.w * bbox.h.
  bool iscrowd = false;
};

// The parts of a COCO instances file that bbox evaluation uses. Order matters only where the
// file order matters to pycocotools: the annotations of one (image, category) keep their order.
struct GroundTruth {
  std::vector<Image> images;
  std::vector<Category> categories;
  std::vector<Annotation> annotations;
};

// One entry of a COCO results file. Input order breaks score ties.
struct Detection {
  int64_t image_id = 0;
  int64_t category_id = 0;
  Box bbox;
  double score = 0;
};

inline constexpr int kNumCocoStats = 12;

// pycocotools' `stats`, as fractions (not percent), -1 where pycocotools gives -1.
struct CocoStats {
  double ap = -1;         // IoU 0.50:0.95, all areas, 100 detections.
  double ap50 = -1;       // IoU 0.50.
  double ap75 = -1;       // IoU 0.75.
  double ap_small = -1;   // area <= 32^2.
  double ap_medium = -1;  // 32^2 <= area <= 96^2.
  double ap_large = -1;   // area >= 96^2.
  double ar1 = -1;        // Recall with 1 detection per image and category.
  double ar10 = -1;
  double ar100 = -1;
  double ar_small = -1;
  double ar_medium = -1;
  double ar_large = -1;

  // The twelve numbers in pycocotools' order (stats[0..11]).
  std::array<double, kNumCocoStats> AsArray() const;
};

// Short names of the twelve numbers, in AsArray order: AP AP50 AP75 APs APm APl AR1 AR10 AR100
// ARs ARm ARl.
extern const std::array<std::string_view, kNumCocoStats> kCocoStatNames;

// pycocotools' IoU thresholds, computed as numpy.linspace(0.5, 0.95, 10) computes them.
const std::array<double, 10>& IouThresholds();
// pycocotools' recall points, numpy.linspace(0, 1, 101): element i is i * 0.01 in double.
const std::array<double, 101>& RecallThresholds();

// IoU of a detection with a ground-truth box as pycocotools' bbIou computes it in double; for a
// crowd GT the union is the detection's area. Boxes that do not overlap (or touch) give 0.
double BoxIou(const Box& detection, const Box& ground_truth, bool crowd);

// Checks what Evaluate relies on and what pycocotools silently gets wrong otherwise. Returns
// InvalidArgument naming the offending item and field for: a duplicate image, category or
// annotation id; an image with width or height <= 0; an annotation id < 1; an annotation whose
// image_id or category_id is not in the GT; a bbox with width or height <= 0 (or not finite), or
// that reaches outside its image by more than kBoxSlackPixels; a negative or non-finite area.
absl::Status ValidateGroundTruth(const GroundTruth& gt);

// How far (pixels) a GT box may reach outside its image and still be accepted: exported COCO
// files carry float rounding at the border, e.g. x + w = 640.0000000001 in a 640-pixel image.
inline constexpr double kBoxSlackPixels = 1e-3;

// The twelve numbers for `detections` against `gt`. Precondition: ValidateGroundTruth(gt) is OK
// (ParseCocoInstances guarantees it); with a GT that breaks it the numbers are unspecified, but the
// call is still memory-safe. Detections whose category_id is not a GT category are dropped, as
// pycocotools drops them; so are detections whose image_id is not a GT image (pycocotools refuses
// the whole file instead: ParseCocoResults reports those). An empty list is fine (pycocotools
// crashes on one): every number with ground truth is then 0 and the rest -1.
//
// Cost: O(D log D + sum over (image, category) of 40 * D_ic * G_ic) time for D detections, with
// D_ic <= 100 and G_ic the detections and GT boxes of one (image, category); memory O(D + G).
CocoStats Evaluate(const GroundTruth& gt, const std::vector<Detection>& detections);

// The twelve lines pycocotools' summarize() prints, each ending in '\n', e.g.
//  " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.512".
std::string FormatSummary(const CocoStats& stats);

}  // namespace vertebra::eval

#endif  // VERTEBRA_EVAL_COCO_EVAL_H_
