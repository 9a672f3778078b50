// COCO ground truth and results: the input is the instances file, a NUL byte, then the results
// file. A ground truth that parses is validated by the parser; results that parse are evaluated.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "eval/coco_eval.h"
#include "eval/coco_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vertebra::eval;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t split = all.find('\0');
  const std::string_view gt_text = all.substr(0, split);
  absl::StatusOr<GroundTruth> gt = ParseCocoInstances(gt_text);
  if (!gt.ok() || split == std::string_view::npos) return 0;
  absl::StatusOr<std::vector<Detection>> dets = ParseCocoResults(all.substr(split + 1), *gt);
  if (dets.ok()) (void)Evaluate(*gt, *dets);
  return 0;
}
