// Checks the dataset tests share: reading an example that must be there, comparing two examples
// field by field (pixels, ids, boxes, categories, areas), concurrent reads, and refused specs.
#ifndef VERTEBRA_TESTS_TESTING_DATASET_EXPECT_H_
#define VERTEBRA_TESTS_TESTING_DATASET_EXPECT_H_

#include <array>
#include <initializer_list>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/data/dataset.h"

namespace vertebra::test_util {

inline worker::data::Example MustGet(const worker::data::Dataset& ds, int i) {
  absl::StatusOr<worker::data::Example> ex = ds.Get(i);
  EXPECT_TRUE(ex.ok()) << ex.status();
  return std::move(ex).value();
}

inline void ExpectSameExample(const worker::data::Example& a, const worker::data::Example& b) {
  EXPECT_EQ(a.image_id, b.image_id);
  EXPECT_EQ(a.file_name, b.file_name);
  ASSERT_EQ(a.image.pixels, b.image.pixels);
  ASSERT_EQ(a.objects.size(), b.objects.size());
  for (size_t k = 0; k < a.objects.size(); ++k) {
    EXPECT_EQ(a.objects[k].id, b.objects[k].id);
    EXPECT_EQ(a.objects[k].category, b.objects[k].category);
    EXPECT_EQ(a.objects[k].x1, b.objects[k].x1);
    EXPECT_EQ(a.objects[k].y1, b.objects[k].y1);
    EXPECT_EQ(a.objects[k].x2, b.objects[k].x2);
    EXPECT_EQ(a.objects[k].y2, b.objects[k].y2);
    EXPECT_EQ(a.objects[k].area, b.objects[k].area);
  }
}

// Four threads read every example of `ds` at once, each in its own order: each read equals the
// single-threaded one.
inline void ExpectGetIsThreadSafe(const worker::data::Dataset& ds) {
  const int n = ds.size();
  std::vector<worker::data::Example> expected;
  for (int i = 0; i < n; ++i) expected.push_back(MustGet(ds, i));
  std::array<std::vector<worker::data::Example>, 4> got;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < n; ++j) {
        absl::StatusOr<worker::data::Example> ex = ds.Get((j * (2 * t + 1) + t) % n);
        if (ex.ok()) got[t].push_back(*std::move(ex));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    ASSERT_EQ(got[t].size(), expected.size());
    for (const worker::data::Example& ex : got[t]) ExpectSameExample(ex, expected[ex.image_id - 1]);
  }
}

// A data spec that must be refused, and a part of its error message.
struct SpecError {
  const char* spec;
  const char* message;
};

// `status_of(spec)` must be InvalidArgument with the message for every case.
template <typename StatusOf>
void ExpectSpecErrors(StatusOf status_of, std::initializer_list<SpecError> cases) {
  for (const SpecError& c : cases) {
    const absl::Status st = status_of(c.spec);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.spec << ": " << st;
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(c.message)) << c.spec;
  }
}

}  // namespace vertebra::test_util

#endif  // VERTEBRA_TESTS_TESTING_DATASET_EXPECT_H_
