// A COCO-format detection dataset: an instances JSON (parsed and validated by eval/coco_json.h)
// plus a folder of JPEG/PNG images, optionally split into a training part and a held-out part
// taken from the same images (the paper holds out 7,392 images of train2017 for the search).
#ifndef VERTEBRA_WORKER_DATA_COCO_DATASET_H_
#define VERTEBRA_WORKER_DATA_COCO_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/coco_eval.h"
#include "worker/data/dataset.h"

namespace vertebra::worker::data {

enum class Split {
  kAll,      // Every image of the file.
  kTrain,    // Every image not in the held-out part.
  kHeldOut,  // `held_out_size` images chosen by `split_seed` (HeldOutImageIds).
};

struct CocoDatasetOptions {
  std::string annotations_path;  // The instances JSON, e.g. annotations/instances_train2017.json.
  std::string images_dir;        // Where each image's `file_name` lies, e.g. train2017/.
  Split split = Split::kAll;
  // Size of the held-out part; used by kTrain and kHeldOut, in [0, number of images].
  int held_out_size = 0;
  uint64_t split_seed = 0;
};

// The held-out image ids among `image_ids` (any order; duplicates are not expected): sort the ids
// ascending, shuffle them with Fisher-Yates driven by std::mt19937_64(seed) -- for i from n-1 down
// to 1, swap element i with element j drawn uniformly from [0, i] by rejection sampling on the
// raw 64-bit output (draws below 2^64 mod (i+1) are rejected, then j = draw mod (i+1)) -- and keep
// the first `held_out_size`, returned sorted ascending. Uses no std:: distribution, so the result
// is the same on every platform and standard library. Precondition: 0 <= held_out_size <= n.
std::vector<int64_t> HeldOutImageIds(std::vector<int64_t> image_ids, int held_out_size, uint64_t seed);

// Examples are the split's images in ascending image id; each one's objects are its annotations in
// file order (crowd ones included, flagged), boxes converted from [x, y, w, h] to [x1, y1, x2, y2].
// Categories map COCO ids (sparse, e.g. 1..90 with gaps) to contiguous indices in ascending id
// order. Immutable after Open: every method is thread-safe.
class CocoDataset : public Dataset {
 public:
  // Reads and checks the dataset; no image is decoded (opening stats the files only). Errors:
  //   * NotFound naming the JSON when it cannot be read;
  //   * InvalidArgument, prefixed with the JSON path, for whatever ParseCocoInstances rejects
  //     (malformed JSON, a missing field, a box with a non-positive size or outside its image, an
  //     unknown image or category, duplicate ids), naming the annotation or image id;
  //   * InvalidArgument for an image without a file_name, and for bad options (held_out_size out
  //     of range for kTrain / kHeldOut);
  //   * NotFound naming the image id and the missing file when an image file does not exist.
  static absl::StatusOr<std::unique_ptr<CocoDataset>> Open(const CocoDatasetOptions& options);

  CocoDataset(const CocoDataset&) = delete;
  CocoDataset& operator=(const CocoDataset&) = delete;

  int size() const override { return static_cast<int>(ground_truth_.images.size()); }
  const std::vector<Category>& categories() const override { return categories_; }

  // Reads and decodes the image. DataLoss naming the file and image id when it is corrupt, not a
  // JPEG/PNG, or its size differs from the JSON's width and height (the loader skips and counts
  // these); NotFound if the file has vanished since Open; OutOfRange for a bad index.
  absl::StatusOr<Example> Get(int index) const override;

  // The ground truth of this split only: its images (ascending id), every category, and the
  // annotations of those images. Evaluating on the held-out split scores exactly these images.
  const eval::GroundTruth& ground_truth() const { return ground_truth_; }
  absl::StatusOr<eval::GroundTruth> EvalGroundTruth() const override { return ground_truth_; }

  // The contiguous index of a COCO category id, or -1 when the id is not a category.
  int CategoryIndex(int64_t coco_id) const;

 private:
  CocoDataset() = default;

  std::string images_dir_;
  eval::GroundTruth ground_truth_;  // Filtered to the split; images sorted by id.
  std::vector<Category> categories_;
  std::unordered_map<int64_t, int> category_index_;     // COCO id -> Category::index.
  std::vector<std::vector<int>> annotations_by_image_;  // Per image: indices into annotations.
};

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_COCO_DATASET_H_
