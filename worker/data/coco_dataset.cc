#include "worker/data/coco_dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <unordered_set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "eval/coco_json.h"
#include "worker/data/image_codec.h"

namespace vertebra::worker::data {
namespace {

std::string JoinPath(const std::string& dir, const std::string& file) {
  if (dir.empty()) return file;
  if (dir.back() == '/') return dir + file;
  return absl::StrCat(dir, "/", file);
}

// Uniform in [0, bound) from the raw 64-bit output: rejects the 2^64 mod bound lowest draws so that
// every residue is equally likely. bound >= 1.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // == 2^64 mod bound.
  uint64_t draw = rng();
  while (draw < threshold) draw = rng();
  return draw % bound;
}

std::string SplitName(Split split) {
  switch (split) {
    case Split::kAll:
      return "all";
    case Split::kTrain:
      return "train";
    case Split::kHeldOut:
      return "held-out";
  }
  return "unknown";
}

}  // namespace

std::vector<int64_t> HeldOutImageIds(std::vector<int64_t> image_ids, int held_out_size, uint64_t seed) {
  std::sort(image_ids.begin(), image_ids.end());
  std::mt19937_64 rng(seed);
  for (size_t i = image_ids.size(); i > 1; --i) {
    const uint64_t j = UniformBelow(rng, i);  // Uniform in [0, i - 1].
    std::swap(image_ids[i - 1], image_ids[j]);
  }
  const size_t keep = std::min(image_ids.size(), static_cast<size_t>(std::max(held_out_size, 0)));
  image_ids.resize(keep);
  std::sort(image_ids.begin(), image_ids.end());
  return image_ids;
}

absl::StatusOr<std::unique_ptr<CocoDataset>> CocoDataset::Open(const CocoDatasetOptions& options) {
  // Errors already name the JSON path and the offending annotation or image id.
  ASSIGN_OR_RETURN(eval::GroundTruth all, eval::ReadCocoInstancesFile(options.annotations_path));
  const std::string& json = options.annotations_path;

  const int num_images = static_cast<int>(all.images.size());
  if (options.split != Split::kAll && (options.held_out_size < 0 || options.held_out_size > num_images)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: held_out_size %d is outside [0, %d], the number of images (split %s)", json,
                        options.held_out_size, num_images, SplitName(options.split)));
  }

  // Which images this split keeps.
  std::unordered_set<int64_t> held_out;
  if (options.split != Split::kAll) {
    std::vector<int64_t> ids;
    ids.reserve(all.images.size());
    for (const eval::Image& image : all.images) ids.push_back(image.id);
    const std::vector<int64_t> chosen = HeldOutImageIds(std::move(ids), options.held_out_size, options.split_seed);
    held_out.insert(chosen.begin(), chosen.end());
  }
  auto keep = [&](int64_t image_id) {
    switch (options.split) {
      case Split::kAll:
        return true;
      case Split::kTrain:
        return held_out.count(image_id) == 0;
      case Split::kHeldOut:
        return held_out.count(image_id) != 0;
    }
    return false;
  };

  std::unique_ptr<CocoDataset> dataset(new CocoDataset());
  dataset->images_dir_ = options.images_dir;
  eval::GroundTruth& gt = dataset->ground_truth_;

  // Every image of the file must exist (not only the split's: a broken download should fail
  // whichever split is opened). stat only: opening stays fast.
  for (eval::Image& image : all.images) {
    if (image.file_name.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: image %d has no file_name", json, image.id));
    }
    const std::string path = JoinPath(options.images_dir, image.file_name);
    struct stat info;
    std::string why;
    if (::stat(path.c_str(), &info) != 0) {
      why = std::strerror(errno);
    } else if (!S_ISREG(info.st_mode)) {
      why = "not a regular file";
    }
    if (!why.empty()) {
      return absl::NotFoundError(absl::StrFormat("%s: image %d: file %s cannot be found (%s)", json, image.id, path, why));
    }
    if (keep(image.id)) gt.images.push_back(std::move(image));
  }
  std::sort(gt.images.begin(), gt.images.end(),
            [](const eval::Image& a, const eval::Image& b) { return a.id < b.id; });

  // Categories in ascending COCO id; the index is the position.
  gt.categories = std::move(all.categories);
  std::sort(gt.categories.begin(), gt.categories.end(),
            [](const eval::Category& a, const eval::Category& b) { return a.id < b.id; });
  for (size_t i = 0; i < gt.categories.size(); ++i) {
    Category category;
    category.index = static_cast<int>(i);
    category.coco_id = gt.categories[i].id;
    category.name = gt.categories[i].name;
    dataset->category_index_.emplace(category.coco_id, category.index);
    dataset->categories_.push_back(std::move(category));
  }

  // The split's annotations, in file order, grouped by image.
  std::unordered_map<int64_t, int> image_position;
  for (size_t i = 0; i < gt.images.size(); ++i) image_position.emplace(gt.images[i].id, static_cast<int>(i));
  dataset->annotations_by_image_.resize(gt.images.size());
  for (eval::Annotation& annotation : all.annotations) {
    auto it = image_position.find(annotation.image_id);
    if (it == image_position.end()) continue;  // Another split's image.
    dataset->annotations_by_image_[it->second].push_back(static_cast<int>(gt.annotations.size()));
    gt.annotations.push_back(annotation);
  }
  return dataset;
}

int CocoDataset::CategoryIndex(int64_t coco_id) const {
  auto it = category_index_.find(coco_id);
  return it == category_index_.end() ? -1 : it->second;
}

absl::StatusOr<Example> CocoDataset::Get(int index) const {
  if (index < 0 || index >= size()) {
    return absl::OutOfRangeError(absl::StrFormat("example %d is outside [0, %d)", index, size()));
  }
  const eval::Image& meta = ground_truth_.images[index];
  const std::string path = JoinPath(images_dir_, meta.file_name);
  absl::StatusOr<RgbImage> image = ReadImageFile(path);  // Errors already start with the path.
  if (!image.ok()) {
    const absl::StatusCode code = image.status().code();
    // A file that is not an image at all is as unusable as a corrupt one: the loader skips both.
    const absl::StatusCode reported = code == absl::StatusCode::kInvalidArgument ? absl::StatusCode::kDataLoss : code;
    return absl::Status(reported, absl::StrFormat("image %d: %s", meta.id, image.status().message()));
  }
  if (image->width != meta.width || image->height != meta.height) {
    return absl::DataLossError(absl::StrFormat("image %d: %s: decoded size %d x %d differs from %d x %d in the JSON",
                                               meta.id, path, image->width, image->height, meta.width, meta.height));
  }
  Example example;
  example.image_id = meta.id;
  example.file_name = meta.file_name;
  example.image = std::move(image).value();
  example.objects.reserve(annotations_by_image_[index].size());
  for (int a : annotations_by_image_[index]) {
    const eval::Annotation& annotation = ground_truth_.annotations[a];
    Object object;
    object.id = annotation.id;
    object.x1 = static_cast<float>(annotation.bbox.x);
    object.y1 = static_cast<float>(annotation.bbox.y);
    object.x2 = static_cast<float>(annotation.bbox.x + annotation.bbox.w);
    object.y2 = static_cast<float>(annotation.bbox.y + annotation.bbox.h);
    object.category = CategoryIndex(annotation.category_id);  // Validated at Open: never -1.
    object.area = annotation.area;
    object.crowd = annotation.iscrowd;
    example.objects.push_back(object);
  }
  return example;
}

}  // namespace vertebra::worker::data
