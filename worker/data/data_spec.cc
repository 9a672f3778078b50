#include "worker/data/data_spec.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "worker/data/coco_dataset.h"
#include "worker/data/fashion_mnist.h"
#include "worker/data/synthetic.h"

namespace vertebra::worker::data {
namespace {

struct CocoPaths {
  std::string annotations, images;
};

absl::StatusOr<CocoPaths> ParseCocoSpec(std::string_view spec) {
  const std::vector<std::string> parts = absl::StrSplit(std::string(spec), absl::MaxSplits(':', 2));
  if (parts.size() != 3 || parts[1].empty() || parts[2].empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("data '%s': expected coco:ANNOTATIONS.json:IMAGE_DIR", std::string(spec)));
  }
  return CocoPaths{parts[1], parts[2]};
}

bool IsKind(std::string_view spec, std::string_view kind) {
  return spec.substr(0, kind.size()) == kind && (spec.size() == kind.size() || spec[kind.size()] == ':');
}
bool IsSynthetic(std::string_view spec) { return IsKind(spec, "synthetic"); }
bool IsFashionMnist(std::string_view spec) { return IsKind(spec, "fashion-mnist"); }
bool IsCoco(std::string_view spec) { return spec.substr(0, 5) == "coco:"; }

absl::Status UnknownKind(std::string_view spec) {
  return absl::InvalidArgumentError(
      absl::StrFormat("data '%s': expected synthetic[:key=value,...], fashion-mnist[:key=value,...] or "
                      "coco:ANNOTATIONS.json:IMAGE_DIR",
                      std::string(spec)));
}

absl::StatusOr<std::unique_ptr<Dataset>> OpenFashionMnist(const FashionMnistOptions& options) {
  absl::StatusOr<std::unique_ptr<FashionMnistDataset>> ds = FashionMnistDataset::Create(options);
  if (!ds.ok()) return ds.status();
  return std::unique_ptr<Dataset>(std::move(*ds));
}

// A whole set named by --val.
absl::StatusOr<std::unique_ptr<Dataset>> OpenWhole(std::string_view spec) {
  if (IsFashionMnist(spec)) {
    FashionMnistOptions held_out;
    held_out.split = FashionMnistSplit::kTest;
    absl::StatusOr<FashionMnistOptions> options = ParseFashionMnistSpec(spec, held_out);
    if (!options.ok()) return options.status();
    return OpenFashionMnist(*options);
  }
  if (IsSynthetic(spec)) {
    absl::StatusOr<SyntheticOptions> options = ParseSyntheticSpec(spec);
    if (!options.ok()) return options.status();
    absl::StatusOr<std::unique_ptr<SyntheticDataset>> ds = SyntheticDataset::Create(*options);
    if (!ds.ok()) return ds.status();
    return std::unique_ptr<Dataset>(std::move(*ds));
  }
  if (IsCoco(spec)) {
    absl::StatusOr<CocoPaths> paths = ParseCocoSpec(spec);
    if (!paths.ok()) return paths.status();
    CocoDatasetOptions options;
    options.annotations_path = paths->annotations;
    options.images_dir = paths->images;
    absl::StatusOr<std::unique_ptr<CocoDataset>> ds = CocoDataset::Open(options);
    if (!ds.ok()) return ds.status();
    return std::unique_ptr<Dataset>(std::move(*ds));
  }
  return UnknownKind(spec);
}

}  // namespace

absl::StatusOr<DataSplits> OpenDataSplits(std::string_view train_spec, std::string_view val_spec, int held_out,
                                          uint64_t split_seed) {
  DataSplits splits;
  if (IsSynthetic(train_spec)) {
    absl::StatusOr<SyntheticOptions> options = ParseSyntheticSpec(train_spec);
    if (!options.ok()) return options.status();
    absl::StatusOr<std::unique_ptr<SyntheticDataset>> train = SyntheticDataset::Create(*options);
    if (!train.ok()) return train.status();
    splits.train = std::move(*train);
    if (val_spec.empty()) {
      SyntheticOptions val_options = *options;
      val_options.seed = options->seed + kSyntheticHeldOutSeedOffset;
      val_options.images = held_out > 0 ? held_out : kSyntheticHeldOutImages;
      absl::StatusOr<std::unique_ptr<SyntheticDataset>> val = SyntheticDataset::Create(val_options);
      if (!val.ok()) return val.status();
      splits.val = std::move(*val);
    }
  } else if (IsFashionMnist(train_spec)) {
    absl::StatusOr<FashionMnistOptions> options = ParseFashionMnistSpec(train_spec);
    if (!options.ok()) return options.status();
    ASSIGN_OR_RETURN(splits.train, OpenFashionMnist(*options));
    if (val_spec.empty()) {
      FashionMnistOptions val_options = *options;
      val_options.split = FashionMnistSplit::kTest;
      val_options.seed = options->seed + kSyntheticHeldOutSeedOffset;
      val_options.images = held_out > 0 ? held_out : kSyntheticHeldOutImages;
      ASSIGN_OR_RETURN(splits.val, OpenFashionMnist(val_options));
    }
  } else if (IsCoco(train_spec)) {
    absl::StatusOr<CocoPaths> paths = ParseCocoSpec(train_spec);
    if (!paths.ok()) return paths.status();
    CocoDatasetOptions options;
    options.annotations_path = paths->annotations;
    options.images_dir = paths->images;
    if (val_spec.empty()) {
      if (held_out <= 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "data '%s': a COCO dataset needs a held-out split (--held-out N) or a validation set (--val)",
            std::string(train_spec)));
      }
      options.held_out_size = held_out;
      options.split_seed = split_seed;
      options.split = Split::kHeldOut;
      absl::StatusOr<std::unique_ptr<CocoDataset>> val = CocoDataset::Open(options);
      if (!val.ok()) return val.status();
      splits.val = std::move(*val);
      options.split = Split::kTrain;
    }
    absl::StatusOr<std::unique_ptr<CocoDataset>> train = CocoDataset::Open(options);
    if (!train.ok()) return train.status();
    splits.train = std::move(*train);
  } else {
    return UnknownKind(train_spec);
  }
  if (!val_spec.empty()) {
    absl::StatusOr<std::unique_ptr<Dataset>> val = OpenWhole(val_spec);
    if (!val.ok()) return val.status();
    splits.val = std::move(*val);
  }
  if (splits.val->categories().size() != splits.train->categories().size()) {
    return absl::InvalidArgumentError(absl::StrFormat("val '%s': %d categories, the training data has %d",
                                                      std::string(val_spec), splits.val->categories().size(),
                                                      splits.train->categories().size()));
  }
  return splits;
}

}  // namespace vertebra::worker::data
