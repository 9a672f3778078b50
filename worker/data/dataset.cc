#include "worker/data/dataset.h"

namespace vertebra::worker::data {

absl::StatusOr<eval::GroundTruth> Dataset::EvalGroundTruth() const {
  eval::GroundTruth gt;
  for (const Category& c : categories()) gt.categories.push_back({c.coco_id, c.name});
  for (int i = 0; i < size(); ++i) {
    absl::StatusOr<Example> example = Get(i);
    if (!example.ok()) return example.status();
    gt.images.push_back({example->image_id, example->image.width, example->image.height, example->file_name});
    for (const Object& o : example->objects) {
      eval::Annotation a;
      a.id = o.id;
      a.image_id = example->image_id;
      a.category_id = categories()[o.category].coco_id;
      a.bbox = {o.x1, o.y1, o.x2 - o.x1, o.y2 - o.y1};
      a.area = o.area;
      a.iscrowd = o.crowd;
      gt.annotations.push_back(a);
    }
  }
  return gt;
}

}  // namespace vertebra::worker::data
