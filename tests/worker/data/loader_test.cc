#include "worker/data/loader.h"

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "worker/data/data_spec.h"
#include "worker/data/synthetic.h"

namespace vertebra::worker::data {
namespace {

std::unique_ptr<SyntheticDataset> SmallSet(int images = 20) {
  SyntheticOptions o;
  o.size = 48;
  o.images = images;
  o.min_side = 8;
  o.max_side = 30;
  o.seed = 5;
  return *SyntheticDataset::Create(o);
}

LoaderOptions Options(int threads) {
  LoaderOptions o;
  o.batch = 3;
  o.augment.size = 40;
  o.augment.min_scale = 0.5;
  o.augment.max_scale = 1.5;
  o.threads = threads;
  o.seed = 11;
  return o;
}

std::vector<Batch> Take(const Dataset& ds, const LoaderOptions& o, int n) {
  std::unique_ptr<Loader> loader = *Loader::Create(ds, o);
  std::vector<Batch> out;
  for (int i = 0; i < n; ++i) out.push_back(*loader->Next());
  return out;
}

TEST(DatasetIndexAt, EveryEpochIsAPermutationAndEpochsDiffer) {
  const int n = 17;
  std::vector<int> first, second;
  for (int p = 0; p < n; ++p) first.push_back(DatasetIndexAt(p, n, 3));
  for (int p = n; p < 2 * n; ++p) second.push_back(DatasetIndexAt(p, n, 3));
  std::vector<int> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < n; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_NE(first, second);
  // Another seed, another order; the same seed, the same order.
  std::vector<int> other;
  for (int p = 0; p < n; ++p) other.push_back(DatasetIndexAt(p, n, 4));
  EXPECT_NE(first, other);
  for (int p = 0; p < n; ++p) EXPECT_EQ(DatasetIndexAt(p, n, 3), first[p]);
}

TEST(Loader, BatchesDependOnTheStepNotOnThreadsOrWhereTheRunStarted) {
  std::unique_ptr<SyntheticDataset> ds = SmallSet();
  const std::vector<Batch> one = Take(*ds, Options(1), 9);
  const std::vector<Batch> three = Take(*ds, Options(3), 9);
  LoaderOptions resumed = Options(2);
  resumed.start_step = 5;
  const std::vector<Batch> tail = Take(*ds, resumed, 4);
  for (int s = 0; s < 9; ++s) {
    EXPECT_EQ(one[s].step, s);
    EXPECT_EQ(one[s].pixels, three[s].pixels) << "step " << s;
    EXPECT_EQ(one[s].indices, three[s].indices);
  }
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(tail[s].step, 5 + s);
    EXPECT_EQ(tail[s].pixels, one[5 + s].pixels) << "step " << 5 + s;
  }
  // 9 batches of 3 cover the 20 examples of the first epoch exactly once.
  std::multiset<int> seen;
  for (int p = 0; p < 20; ++p) seen.insert(one[p / 3].indices[p % 3]);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(seen.count(i), 1u) << i;
}

TEST(Loader, CopiesAreIndependentAugmentationsAndCopyZeroIsThePlainBatch) {
  std::unique_ptr<SyntheticDataset> ds = SmallSet();
  LoaderOptions plain = Options(1);
  LoaderOptions maxup = Options(1);
  maxup.copies = 3;
  const Batch a = Take(*ds, plain, 1)[0];
  const Batch b = Take(*ds, maxup, 1)[0];
  ASSERT_EQ(b.pixels.size(), 3 * a.pixels.size());
  EXPECT_TRUE(std::equal(a.pixels.begin(), a.pixels.end(), b.pixels.begin()));
  const size_t image = 40 * 40 * 3;
  for (int i = 0; i < 3; ++i) {
    const auto copy = [&](int c) {
      const auto begin = b.pixels.begin() + (c * 3 + i) * image;
      return std::vector<uint8_t>(begin, begin + image);
    };
    EXPECT_NE(copy(0), copy(1)) << "example " << i;
    EXPECT_NE(copy(1), copy(2)) << "example " << i;
  }
}

// Every third example is corrupt.
class FlakyDataset : public Dataset {
 public:
  explicit FlakyDataset(const Dataset& inner, absl::StatusCode code = absl::StatusCode::kDataLoss)
      : inner_(inner), code_(code) {}
  int size() const override { return inner_.size(); }
  const std::vector<Category>& categories() const override { return inner_.categories(); }
  absl::StatusOr<Example> Get(int index) const override {
    if (index % 3 == 0) return absl::Status(code_, "image " + std::to_string(index + 1) + ": corrupt");
    return inner_.Get(index);
  }

 private:
  const Dataset& inner_;
  absl::StatusCode code_;
};

TEST(Loader, SkipsAndCountsUndecodableExamplesWithoutStopping) {
  std::unique_ptr<SyntheticDataset> ds = SmallSet(30);
  FlakyDataset flaky(*ds);
  std::unique_ptr<Loader> loader = *Loader::Create(flaky, Options(2));
  int skipped = 0;
  for (int s = 0; s < 20; ++s) {
    absl::StatusOr<Batch> batch = loader->Next();
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_EQ(batch->indices.size(), 3u);
    for (int index : batch->indices) EXPECT_NE(index % 3, 0);
    skipped += batch->skipped;
  }
  // Each corrupt example met is counted, substitutes that are corrupt too included.
  int expected = 0;
  for (int64_t p = 0; p < 60; ++p) {
    for (int64_t k = 0; DatasetIndexAt(p + k, 30, 11) % 3 == 0; ++k) ++expected;
  }
  EXPECT_GE(expected, 20);  // A third of 60 positions, plus corrupt substitutes.
  EXPECT_EQ(skipped, expected);
  EXPECT_EQ(loader->skipped(), expected);
}

TEST(Loader, OtherDatasetErrorsAreReturnedNotSkipped) {
  std::unique_ptr<SyntheticDataset> ds = SmallSet();
  FlakyDataset missing(*ds, absl::StatusCode::kNotFound);
  std::unique_ptr<Loader> loader = *Loader::Create(missing, Options(1));
  absl::Status first_error;
  for (int s = 0; s < 10 && first_error.ok(); ++s) first_error = loader->Next().status();
  EXPECT_EQ(first_error.code(), absl::StatusCode::kNotFound);
}

TEST(Loader, RejectsBadOptionsNamingTheField) {
  std::unique_ptr<SyntheticDataset> ds = SmallSet();
  LoaderOptions o = Options(1);
  o.batch = 0;
  EXPECT_NE(Loader::Create(*ds, o).status().message().find("batch"), std::string::npos);
  o = Options(1);
  o.augment.min_scale = 2;
  o.augment.max_scale = 1;
  EXPECT_NE(Loader::Create(*ds, o).status().message().find("scale jitter"), std::string::npos);
}

TEST(OpenDataSplits, SyntheticHeldOutIsAnotherSeedOfTheSameGenerator) {
  absl::StatusOr<DataSplits> splits = OpenDataSplits("synthetic:images=40,size=64", "", 0, 0);
  ASSERT_TRUE(splits.ok()) << splits.status();
  EXPECT_EQ(splits->train->size(), 40);
  EXPECT_EQ(splits->val->size(), kSyntheticHeldOutImages);
  EXPECT_NE(splits->train->Get(0)->image.pixels, splits->val->Get(0)->image.pixels);
  absl::StatusOr<DataSplits> sized = OpenDataSplits("synthetic:images=40,size=64", "", 25, 0);
  ASSERT_TRUE(sized.ok());
  EXPECT_EQ(sized->val->size(), 25);
}

TEST(OpenDataSplits, NamesTheSpecOnError) {
  EXPECT_NE(OpenDataSplits("imagenet", "", 0, 0).status().message().find("'imagenet'"), std::string::npos);
  EXPECT_NE(OpenDataSplits("coco:only-one-part", "", 10, 0).status().message().find("coco:ANNOTATIONS"),
            std::string::npos);
  EXPECT_NE(OpenDataSplits("coco:a.json:images", "", 0, 0).status().message().find("--held-out"), std::string::npos);
  EXPECT_NE(OpenDataSplits("synthetic:classes=9", "", 0, 0).status().message().find("classes"), std::string::npos);
}

}  // namespace
}  // namespace vertebra::worker::data
