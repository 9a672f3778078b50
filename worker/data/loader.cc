#include "worker/data/loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_format.h"

namespace vertebra::worker::data {
namespace {

// SplitMix64's finalizer: decorrelates seeds built from small integers.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Combine(uint64_t a, uint64_t b) { return Mix(a ^ Mix(b)); }

// Uniform in [0, n) by rejection on the raw 64-bit output, as HeldOutImageIds does.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = (0 - n) % n;  // 2^64 mod n.
  uint64_t draw;
  do {
    draw = rng();
  } while (draw < limit);
  return draw % n;
}

// One epoch's permutation, cached per thread for the last (epoch, size, seed) asked.
class EpochOrder {
 public:
  int At(int64_t epoch, int offset, int n, uint64_t seed) {
    if (epoch != epoch_ || n != static_cast<int>(order_.size()) || seed != seed_) {
      order_.resize(n);
      std::iota(order_.begin(), order_.end(), 0);
      std::mt19937_64 rng(Combine(seed, static_cast<uint64_t>(epoch)));
      for (int i = n - 1; i > 0; --i) std::swap(order_[i], order_[UniformBelow(rng, i + 1)]);
      epoch_ = epoch;
      seed_ = seed;
    }
    return order_[offset];
  }

 private:
  int64_t epoch_ = -1;
  uint64_t seed_ = 0;
  std::vector<int> order_;
};

}  // namespace

int DatasetIndexAt(int64_t position, int dataset_size, uint64_t seed) {
  thread_local EpochOrder cache;
  const int64_t epoch = position / dataset_size;
  return cache.At(epoch, static_cast<int>(position % dataset_size), dataset_size, seed);
}

absl::Status ValidateLoaderOptions(const LoaderOptions& o, const Dataset& dataset) {
  auto bad = [](const std::string& m) { return absl::InvalidArgumentError(m); };
  if (dataset.size() < 1) return bad("dataset: has no examples");
  if (o.batch < 1) return bad(absl::StrFormat("batch: must be at least 1, got %d", o.batch));
  if (o.copies < 1) return bad(absl::StrFormat("maxup copies: must be at least 1, got %d", o.copies));
  if (o.threads < 1) return bad(absl::StrFormat("loader threads: must be at least 1, got %d", o.threads));
  if (o.prefetch < 1) return bad(absl::StrFormat("prefetch: must be at least 1, got %d", o.prefetch));
  if (o.augment.size < 8) return bad(absl::StrFormat("size: must be at least 8, got %d", o.augment.size));
  if (!(o.augment.min_scale > 0) || !(o.augment.min_scale <= o.augment.max_scale)) {
    return bad(absl::StrFormat("scale jitter: need 0 < min <= max, got [%g, %g]", o.augment.min_scale,
                               o.augment.max_scale));
  }
  if (o.start_step < 0) return bad("start step: must not be negative");
  if (o.max_substitutes < 0) return bad("max_substitutes: must not be negative");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Loader>> Loader::Create(const Dataset& dataset, const LoaderOptions& options) {
  if (absl::Status s = ValidateLoaderOptions(options, dataset); !s.ok()) return s;
  std::unique_ptr<Loader> loader(new Loader(dataset, options));
  for (int i = 0; i < options.threads; ++i) loader->threads_.emplace_back([l = loader.get()] { l->Work(); });
  return loader;
}

Loader::Loader(const Dataset& dataset, const LoaderOptions& options)
    : dataset_(dataset),
      options_(options),
      next_to_build_(options.start_step),
      next_to_return_(options.start_step) {}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  space_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Loader::Work() {
  while (true) {
    int64_t step;
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_cv_.wait(lock, [&] { return stop_ || next_to_build_ < next_to_return_ + options_.prefetch; });
      if (stop_) return;
      step = next_to_build_++;
    }
    absl::StatusOr<Batch> batch = Build(step);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(step, std::move(batch));
    }
    ready_cv_.notify_all();
  }
}

absl::StatusOr<Batch> Loader::Next() {
  absl::StatusOr<Batch> batch;
  {
    std::unique_lock<std::mutex> lock(mu_);
    ready_cv_.wait(lock, [&] { return ready_.count(next_to_return_) > 0; });
    auto it = ready_.find(next_to_return_);
    batch = std::move(it->second);
    ready_.erase(it);
    ++next_to_return_;
    if (batch.ok()) skipped_ += batch->skipped;
  }
  space_cv_.notify_all();
  return batch;
}

int64_t Loader::skipped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return skipped_;
}

absl::StatusOr<Batch> Loader::Build(int64_t step) const {
  const LoaderOptions& o = options_;
  const int n = dataset_.size();
  const int side = o.augment.size;
  const size_t image_bytes = static_cast<size_t>(side) * side * 3;
  Batch batch;
  batch.step = step;
  batch.batch = o.batch;
  batch.copies = o.copies;
  batch.size = side;
  batch.pixels.resize(image_bytes * o.batch * o.copies);
  batch.objects.resize(static_cast<size_t>(o.batch) * o.copies);
  for (int i = 0; i < o.batch; ++i) {
    const int64_t position = step * o.batch + i;
    absl::StatusOr<Example> example;
    int index = 0;
    // A corrupt example is replaced by the ones that follow it in the sequence (a pure function
    // of the position, so the batch stays reproducible).
    for (int attempt = 0;; ++attempt) {
      index = DatasetIndexAt(position + attempt, n, o.seed);
      example = dataset_.Get(index);
      if (example.ok()) break;
      if (example.status().code() != absl::StatusCode::kDataLoss) return example.status();
      if (attempt >= o.max_substitutes) {
        return absl::DataLossError(absl::StrFormat("%d examples in a row could not be decoded, the last: %s",
                                                   attempt + 1, example.status().message()));
      }
      ++batch.skipped;
    }
    batch.indices.push_back(index);
    for (int c = 0; c < o.copies; ++c) {
      std::mt19937_64 rng(Combine(Combine(o.seed, static_cast<uint64_t>(position)), static_cast<uint64_t>(c) + 1));
      AugmentedExample a = Augment(*example, o.augment, rng);
      const size_t item = static_cast<size_t>(c) * o.batch + i;
      std::memcpy(batch.pixels.data() + item * image_bytes, a.image.pixels.data(), image_bytes);
      batch.objects[item] = std::move(a.objects);
    }
  }
  return batch;
}

}  // namespace vertebra::worker::data
