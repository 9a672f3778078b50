// Where training and held-out data come from, as the command line and experiment files name it:
//
//   synthetic[:key=value,...]     the built-in set (synthetic.h); its held-out split is the same
//                                 generator with seed + kSyntheticHeldOutSeedOffset and
//                                 kSyntheticHeldOutImages images unless --val names another.
//   fashion-mnist[:key=value,...] real objects composed from Fashion-MNIST items
//                                 (fashion_mnist.h): training canvases from the 60,000 training
//                                 items; the held-out split is kSyntheticHeldOutImages canvases
//                                 (or `held_out` when positive) with seed +
//                                 kSyntheticHeldOutSeedOffset from the 10,000 test items. As
//                                 --val it draws from the test items unless split=train is given.
//   coco:ANNOTATIONS:IMAGES       a COCO-format instances JSON and its image folder; the held-out
//                                 split is `held_out` images of it chosen by `split_seed` (the
//                                 paper holds out 7,392 of train2017), or the --val dataset.
//
// No LibTorch here.
#ifndef VERTEBRA_WORKER_DATA_DATA_SPEC_H_
#define VERTEBRA_WORKER_DATA_DATA_SPEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/data/dataset.h"

namespace vertebra::worker::data {

inline constexpr uint64_t kSyntheticHeldOutSeedOffset = 1000003;
inline constexpr int kSyntheticHeldOutImages = 500;

struct DataSplits {
  std::unique_ptr<Dataset> train;
  std::unique_ptr<Dataset> val;
};

// Opens both splits. `val_spec` empty: the held-out split described above (for COCO, `held_out`
// must then be positive). InvalidArgument naming the spec for an unknown kind or a malformed
// spec; the datasets' own errors (missing files, bad annotations) otherwise.
absl::StatusOr<DataSplits> OpenDataSplits(std::string_view train_spec, std::string_view val_spec, int held_out,
                                          uint64_t split_seed);

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_DATA_SPEC_H_
