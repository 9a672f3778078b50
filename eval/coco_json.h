// Reading COCO files for bbox evaluation (coco_eval.h):
//
//   instances (ground truth):
//     {"images":      [{"id": 1, "width": 640, "height": 480, "file_name": "a.jpg"}, ...],
//      "categories":  [{"id": 1, "name": "person"}, ...],
//      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [x, y, w, h],
//                       "area": 1234.5, "iscrowd": 0}, ...]}
//   results (detections):
//     [{"image_id": 1, "category_id": 1, "bbox": [x, y, w, h], "score": 0.9}, ...]
//
// Required: the three arrays and, in them, every field above except file_name and name (empty
// when absent). Ids are JSON integers; width and height positive integers; bbox four numbers;
// area and score numbers; iscrowd 0, 1, true or false. Other keys (segmentation, info, licenses,
// supercategory, ...) are ignored.
//
// Thread-safe: every function here is pure apart from reading the named file.
#ifndef VERTEBRA_EVAL_COCO_JSON_H_
#define VERTEBRA_EVAL_COCO_JSON_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/coco_eval.h"

namespace vertebra::eval {

// Parses an instances file and validates it with ValidateGroundTruth. InvalidArgument for
// malformed JSON, a missing or mistyped field (naming the entry, e.g. "annotations[3]" or
// "annotation 17", and the field), and for whatever ValidateGroundTruth rejects (duplicate ids,
// unknown image or category, id 0, an empty or out-of-image box).
absl::StatusOr<GroundTruth> ParseCocoInstances(std::string_view json_text);

// Parses a results file against `gt`, keeping file order. An entry whose image_id is not a GT
// image gives InvalidArgument naming the entry's index and the id (pycocotools' loadRes asserts
// the same); entries whose category_id is not a GT category are dropped silently, as pycocotools
// drops them. A missing or mistyped field gives InvalidArgument naming the index and field. An
// empty list is a valid, empty result.
absl::StatusOr<std::vector<Detection>> ParseCocoResults(std::string_view json_text, const GroundTruth& gt);

// The same for files ("-" reads standard input). Every error is prefixed with "PATH: "; NotFound
// when the file cannot be read.
absl::StatusOr<GroundTruth> ReadCocoInstancesFile(const std::string& path);
absl::StatusOr<std::vector<Detection>> ReadCocoResultsFile(const std::string& path, const GroundTruth& gt);

}  // namespace vertebra::eval

#endif  // VERTEBRA_EVAL_COCO_JSON_H_
