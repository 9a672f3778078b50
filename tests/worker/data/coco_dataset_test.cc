#include "worker/data/coco_dataset.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/data/image_codec.h"

namespace vertebra::worker::data {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

RgbImage Solid(int width, int height, uint8_t value) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.assign(static_cast<size_t>(width) * height * 3, value);
  return image;
}

// A folder with three 40 x 30 PNG images (ids 1, 2, 5), sparse categories 1, 7, 90 and annotations.
class CocoDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrFormat("%scoco_dataset_test_%d_%s", testing::TempDir(), getpid(),
                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/images");
    for (int id : {1, 2, 5}) {
      WriteBytes(absl::StrFormat("%s/images/%d.png", dir_, id), *EncodePng(Solid(40, 30, static_cast<uint8_t>(id))));
    }
    json_ = {
        {"images",
         {{{"id", 5}, {"width", 40}, {"height", 30}, {"file_name", "5.png"}},
          {{"id", 1}, {"width", 40}, {"height", 30}, {"file_name", "1.png"}},
          {{"id", 2}, {"width", 40}, {"height", 30}, {"file_name", "2.png"}}}},
        {"categories", {{{"id", 90}, {"name", "toothbrush"}}, {{"id", 1}, {"name", "person"}}, {{"id", 7}, {"name", "train"}}}},
        {"annotations",
         {{{"id", 11}, {"image_id", 1}, {"category_id", 7}, {"bbox", {2, 3, 10, 20}}, {"area", 150.5}, {"iscrowd", 0}},
          {{"id", 12}, {"image_id", 1}, {"category_id", 90}, {"bbox", {0, 0, 40, 30}}, {"area", 900}, {"iscrowd", 1}},
          {{"id", 13}, {"image_id", 5}, {"category_id", 1}, {"bbox", {5.5, 6.25, 4, 4}}, {"area", 16}, {"iscrowd", 0}}}},
    };
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CocoDatasetOptions Options() {
    const std::string path = dir_ + "/instances.json";
    std::ofstream(path) << json_.dump();
    CocoDatasetOptions options;
    options.annotations_path = path;
    options.images_dir = dir_ + "/images";
    return options;
  }

  std::string dir_;
  json json_;
};

TEST_F(CocoDatasetTest, OpensAValidDatasetInImageIdOrder) {
  auto dataset = CocoDataset::Open(Options());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ((*dataset)->size(), 3);
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto example = (*dataset)->Get(i);
    ASSERT_TRUE(example.ok()) << example.status();
    ids.push_back(example->image_id);
    EXPECT_EQ(example->image.width, 40);
    EXPECT_EQ(example->image.height, 30);
    EXPECT_EQ(example->image.pixels[0], example->image_id);
  }
  EXPECT_THAT(ids, ElementsAre(1, 2, 5));
  EXPECT_EQ((*dataset)->Get(3).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*dataset)->Get(-1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(CocoDatasetTest, MapsSparseCategoryIdsToContiguousIndices) {
  auto dataset = CocoDataset::Open(Options());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  const std::vector<Category>& categories = (*dataset)->categories();
  ASSERT_EQ(categories.size(), 3u);
  EXPECT_EQ(categories[0].coco_id, 1);
  EXPECT_EQ(categories[0].name, "person");
  EXPECT_EQ(categories[1].coco_id, 7);
  EXPECT_EQ(categories[2].coco_id, 90);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(categories[i].index, i);
  EXPECT_EQ((*dataset)->CategoryIndex(90), 2);
  EXPECT_EQ((*dataset)->CategoryIndex(2), -1);
}

TEST_F(CocoDatasetTest, GetReturnsXyxyBoxesAreaAndCrowd) {
  auto dataset = CocoDataset::Open(Options());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  auto first = (*dataset)->Get(0);  // Image 1.
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->file_name, "1.png");
  ASSERT_EQ(first->objects.size(), 2u);
  const Object& a = first->objects[0];
  EXPECT_EQ(a.id, 11);
  EXPECT_FLOAT_EQ(a.x1, 2);
  EXPECT_FLOAT_EQ(a.y1, 3);
  EXPECT_FLOAT_EQ(a.x2, 12);
  EXPECT_FLOAT_EQ(a.y2, 23);
  EXPECT_EQ(a.category, 1);  // COCO id 7.
  EXPECT_DOUBLE_EQ(a.area, 150.5);
  EXPECT_FALSE(a.crowd);
  EXPECT_EQ(first->objects[1].category, 2);  // COCO id 90.
  EXPECT_TRUE(first->objects[1].crowd);

  auto second = (*dataset)->Get(1);  // Image 2: no objects.
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->objects.empty());

  auto third = (*dataset)->Get(2);  // Image 5.
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_EQ(third->objects.size(), 1u);
  EXPECT_FLOAT_EQ(third->objects[0].x1, 5.5f);
  EXPECT_FLOAT_EQ(third->objects[0].y1, 6.25f);
  EXPECT_FLOAT_EQ(third->objects[0].x2, 9.5f);
  EXPECT_FLOAT_EQ(third->objects[0].y2, 10.25f);
  EXPECT_EQ(third->objects[0].category, 0);
}

TEST_F(CocoDatasetTest, GetIsThreadSafe) {
  auto dataset = CocoDataset::Open(Options());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) failures[t] += (*dataset)->Get(i % 3).ok() ? 0 : 1;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(failures, ElementsAre(0, 0, 0, 0));
}

TEST_F(CocoDatasetTest, CorruptImageIsDataLossWhileOthersLoad) {
  auto options = Options();
  std::vector<uint8_t> png = *EncodePng(Solid(40, 30, 2));
  png.resize(png.size() / 2);
  WriteBytes(dir_ + "/images/2.png", png);
  WriteBytes(dir_ + "/images/5.png", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  auto dataset = CocoDataset::Open(options);  // Opening only stats the files.
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_TRUE((*dataset)->Get(0).ok());
  for (int i : {1, 2}) {
    auto example = (*dataset)->Get(i);
    EXPECT_EQ(example.status().code(), absl::StatusCode::kDataLoss) << example.status();
    EXPECT_THAT(example.status().message(), HasSubstr(i == 1 ? "2.png" : "5.png"));
  }
  EXPECT_TRUE((*dataset)->Get(0).ok());
}

TEST_F(CocoDatasetTest, ImageOfTheWrongSizeIsDataLoss) {
  auto options = Options();
  WriteBytes(dir_ + "/images/2.png", *EncodePng(Solid(30, 40, 2)));
  auto dataset = CocoDataset::Open(options);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  auto example = (*dataset)->Get(1);
  EXPECT_EQ(example.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(example.status().message(), AllOf(HasSubstr("2.png"), HasSubstr("image 2")));
}

TEST_F(CocoDatasetTest, MalformedJsonNamesTheFile) {
  auto options = Options();
  std::ofstream(options.annotations_path) << "{\"images\": [";
  auto dataset = CocoDataset::Open(options);
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dataset.status().message(), HasSubstr(options.annotations_path));
}

TEST_F(CocoDatasetTest, NonPositiveBoxSizeNamesFileAndAnnotation) {
  json_["annotations"][2]["bbox"] = {5, 5, 0, 4};
  auto options = Options();
  auto dataset = CocoDataset::Open(options);
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dataset.status().message(), AllOf(HasSubstr(options.annotations_path), HasSubstr("annotation 13")));
}

TEST_F(CocoDatasetTest, BoxOutsideItsImageNamesFileAndAnnotation) {
  json_["annotations"][0]["bbox"] = {35, 3, 10, 20};  // x2 = 45 > 40.
  auto options = Options();
  auto dataset = CocoDataset::Open(options);
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dataset.status().message(), AllOf(HasSubstr(options.annotations_path), HasSubstr("annotation 11")));
}

TEST_F(CocoDatasetTest, UnknownCategoryNamesFileAndAnnotation) {
  json_["annotations"][1]["category_id"] = 3;
  auto options = Options();
  auto dataset = CocoDataset::Open(options);
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dataset.status().message(), AllOf(HasSubstr(options.annotations_path), HasSubstr("annotation 12")));
}

TEST_F(CocoDatasetTest, MissingImageFileNamesFileAndImage) {
  auto options = Options();
  std::filesystem::remove(dir_ + "/images/5.png");
  auto dataset = CocoDataset::Open(options);
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(dataset.status().message(),
              AllOf(HasSubstr(options.annotations_path), HasSubstr("image 5"), HasSubstr("images/5.png")));
}

TEST_F(CocoDatasetTest, HeldOutSizeOutOfRangeIsInvalidArgument) {
  auto options = Options();
  options.split = Split::kHeldOut;
  options.held_out_size = 4;
  EXPECT_EQ(CocoDataset::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.held_out_size = -1;
  EXPECT_EQ(CocoDataset::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CocoDatasetTest, SplitsAreDisjointCoveringAndCarryTheirGroundTruth) {
  auto options = Options();
  options.held_out_size = 1;
  options.split_seed = 3;
  options.split = Split::kHeldOut;
  auto held_out = CocoDataset::Open(options);
  ASSERT_TRUE(held_out.ok()) << held_out.status();
  options.split = Split::kTrain;
  auto train = CocoDataset::Open(options);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_EQ((*held_out)->size(), 1);
  ASSERT_EQ((*train)->size(), 2);

  std::set<int64_t> ids;
  for (const auto* dataset : {held_out->get(), train->get()}) {
    const eval::GroundTruth& gt = dataset->ground_truth();
    EXPECT_EQ(gt.categories.size(), 3u);
    std::set<int64_t> split_ids;
    for (const eval::Image& image : gt.images) split_ids.insert(image.id);
    for (const eval::Annotation& annotation : gt.annotations) EXPECT_TRUE(split_ids.count(annotation.image_id));
    EXPECT_TRUE(eval::ValidateGroundTruth(gt).ok());
    for (int i = 0; i < dataset->size(); ++i) {
      auto example = dataset->Get(i);
      ASSERT_TRUE(example.ok()) << example.status();
      EXPECT_TRUE(split_ids.count(example->image_id));
      EXPECT_TRUE(ids.insert(example->image_id).second) << "image in both splits";
    }
  }
  EXPECT_THAT(ids, ElementsAre(1, 2, 5));
  // Annotations are split with their images: 3 in all.
  EXPECT_EQ((*held_out)->ground_truth().annotations.size() + (*train)->ground_truth().annotations.size(), 3u);
}

std::vector<int64_t> Range(int64_t first, int64_t count) {
  std::vector<int64_t> ids(count);
  for (int64_t i = 0; i < count; ++i) ids[i] = first + i;
  return ids;
}

TEST(HeldOutImageIdsTest, DeterministicSizedSortedAndOrderIndependent) {
  std::vector<int64_t> ids = Range(1, 1000);
  const std::vector<int64_t> a = HeldOutImageIds(ids, 73, 42);
  std::reverse(ids.begin(), ids.end());
  const std::vector<int64_t> b = HeldOutImageIds(ids, 73, 42);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 73u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), a.size());
  for (int64_t id : a) EXPECT_TRUE(id >= 1 && id <= 1000);
}

TEST(HeldOutImageIdsTest, ChangesWithTheSeed) {
  const std::vector<int64_t> ids = Range(1, 1000);
  EXPECT_NE(HeldOutImageIds(ids, 50, 1), HeldOutImageIds(ids, 50, 2));
}

TEST(HeldOutImageIdsTest, EdgeSizes) {
  const std::vector<int64_t> ids = Range(10, 5);
  EXPECT_TRUE(HeldOutImageIds(ids, 0, 7).empty());
  EXPECT_EQ(HeldOutImageIds(ids, 5, 7), ids);
  EXPECT_TRUE(HeldOutImageIds({}, 0, 7).empty());
}

TEST(HeldOutImageIdsTest, PinnedValuesAreTheSameOnEveryPlatform) {
  // mt19937_64's output is fixed by the standard and the draws use no std:: distribution: these
  // values must never change (a changed held-out set silently changes every search result).
  const std::vector<int64_t> chosen = HeldOutImageIds(Range(1, 20), 5, 2017);
  EXPECT_EQ(chosen, HeldOutImageIds(Range(1, 20), 5, 2017));
  std::string printed;
  for (int64_t id : chosen) printed += absl::StrFormat("%d ", id);
  EXPECT_EQ(printed, "1 3 4 5 19 ");
}

TEST(HeldOutImageIdsTest, RoughlyUniform) {
  // Each of 10 ids is held out (size 3) with probability 0.3; over 2000 seeds each count is near 600.
  std::vector<int> counts(10, 0);
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    for (int64_t id : HeldOutImageIds(Range(0, 10), 3, seed)) ++counts[id];
  }
  for (int count : counts) EXPECT_NEAR(count, 600, 90);
}

}  // namespace
}  // namespace vertebra::worker::data
