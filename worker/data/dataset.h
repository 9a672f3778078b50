// Detection datasets: what training and evaluation read, whatever the source (the built-in
// synthetic set, canvases composed from Fashion-MNIST, a COCO-format folder). No LibTorch here:
// images are plain RGB bytes.
#ifndef VERTEBRA_WORKER_DATA_DATASET_H_
#define VERTEBRA_WORKER_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/coco_eval.h"

namespace vertebra::worker::data {

// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes.
};

// One object. The box is [x1, y1, x2, y2] in pixels of the image; `category` is the dataset's
// contiguous 0-based class index (Category::index), `area` the COCO area used for the
// small/medium/large split (the visible pixel count for the generated sets).
struct Object {
  int64_t id = 0;  // Annotation id, >= 1.
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int category = 0;
  double area = 0;
  bool crowd = false;
};

struct Category {
  int index = 0;     // Contiguous, 0-based: the class output of the head.
  int64_t coco_id = 0;  // The id in COCO files (1-based for the synthetic set).
  std::string name;
};

struct Example {
  int64_t image_id = 0;  // >= 1
  std::string file_name;
  RgbImage image;
  std::vector<Object> objects;
};

// A read-only, indexable set of examples. Implementations are thread-safe: the loader calls Get
// from several threads at once.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int size() const = 0;
  virtual const std::vector<Category>& categories() const = 0;
  // The example at `index` in [0, size()). DataLoss for an image that cannot be decoded (the
  // loader skips and counts those); OutOfRange for a bad index.
  virtual absl::StatusOr<Example> Get(int index) const = 0;

  // The set as COCO ground truth for the evaluator: every image (id, size, file name; in index
  // order, so images[i] is example i), every
  // category with its COCO id, every object as an annotation. The default reads every example
  // through Get (errors are Get's); datasets that hold their annotations override it.
  virtual absl::StatusOr<eval::GroundTruth> EvalGroundTruth() const;
};

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_DATASET_H_
