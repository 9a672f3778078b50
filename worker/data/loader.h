// The training loader: batches of augmented examples, made ahead of the training step by a pool of
// threads. Every batch is a pure function of (dataset, options, step): the order of examples is a
// seeded shuffle per epoch and each copy of each example gets its own seeded augmentation, so a
// run resumed at step s sees exactly the batches the uninterrupted run saw from s on.
//
// No LibTorch here: a batch is plain bytes; the trainer turns it into tensors.
#ifndef VERTEBRA_WORKER_DATA_LOADER_H_
#define VERTEBRA_WORKER_DATA_LOADER_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/augment.h"
#include "worker/data/dataset.h"

namespace vertebra::worker::data {

struct LoaderOptions {
  int batch = 16;
  AugmentOptions augment;
  // Independently augmented copies of every example (MaxUp's m); 1 = plain augmentation.
  int copies = 1;
  // Worker threads and how many batches they may build ahead of the consumer.
  int threads = 2;
  int prefetch = 4;
  uint64_t seed = 0;
  // The first batch Next() returns (a resumed run starts where it stopped).
  int64_t start_step = 0;
  // A batch whose examples keep failing to decode after this many substitutes is an error.
  int max_substitutes = 16;
};

// The examples of one training step. Copy c of example i is item c * batch + i.
struct Batch {
  int64_t step = 0;
  int batch = 0;
  int copies = 1;
  int size = 0;                  // Square side of every image.
  std::vector<uint8_t> pixels;   // [copies * batch][size][size][3], RGB.
  std::vector<std::vector<Object>> objects;  // Per item.
  std::vector<int> indices;      // Dataset index of each example (batch entries).
  int skipped = 0;               // Undecodable examples replaced by substitutes in this batch.
};

// The dataset index at sequence position `position` (step * batch + i): epochs are consecutive
// runs of dataset.size() positions, each a Fisher-Yates shuffle seeded by (seed, epoch) with
// portable rejection sampling (no std:: distribution), so every platform sees the same order.
int DatasetIndexAt(int64_t position, int dataset_size, uint64_t seed);

// Precondition checks: InvalidArgument naming the field (batch, copies, threads, prefetch,
// augment.size, augment.min_scale/max_scale) or an empty dataset.
absl::Status ValidateLoaderOptions(const LoaderOptions& options, const Dataset& dataset);

class Loader {
 public:
  // Starts the threads. `dataset` must outlive the loader.
  static absl::StatusOr<std::unique_ptr<Loader>> Create(const Dataset& dataset, const LoaderOptions& options);
  ~Loader();  // Stops and joins the threads.
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch in step order; blocks until it is ready. An example that fails to decode
  // (DataLoss) is replaced by the next position of the sequence and counted; DataLoss when more
  // than max_substitutes in a row fail, or any other error from the dataset.
  absl::StatusOr<Batch> Next();

  // Undecodable examples skipped so far, over every batch returned.
  int64_t skipped() const;

 private:
  Loader(const Dataset& dataset, const LoaderOptions& options);
  void Work();
  absl::StatusOr<Batch> Build(int64_t step) const;

  const Dataset& dataset_;
  const LoaderOptions options_;
  mutable std::mutex mu_;
  std::condition_variable ready_cv_;  // A batch was finished.
  std::condition_variable space_cv_;  // The consumer took one, or stop.
  std::map<int64_t, absl::StatusOr<Batch>> ready_;
  int64_t next_to_build_;
  int64_t next_to_return_;
  int64_t skipped_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_LOADER_H_
