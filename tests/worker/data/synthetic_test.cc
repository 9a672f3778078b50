#include "worker/data/synthetic.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "eval/coco_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/dataset_expect.h"
#include "worker/data/coco_dataset.h"
#include "worker/data/image_codec.h"

namespace vertebra::worker::data {
namespace {

using test_util::ExpectSameExample;
using test_util::MustGet;
using ::testing::HasSubstr;

std::unique_ptr<SyntheticDataset> Make(const SyntheticOptions& o) {
  absl::StatusOr<std::unique_ptr<SyntheticDataset>> ds = SyntheticDataset::Create(o);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return std::move(ds).value();
}

// COCO's area ranges as pycocotools splits them.
int SizeClass(double area) { return area < 32 * 32 ? 0 : area < 96 * 96 ? 1 : 2; }

TEST(SyntheticTest, SameSeedAndIndexGiveIdenticalExamples) {
  SyntheticOptions o;
  o.images = 20;
  o.seed = 7;
  auto a = Make(o);
  auto b = Make(o);
  for (int i = 0; i < o.images; ++i) {
    const Example first = MustGet(*a, i);
    ExpectSameExample(first, MustGet(*a, i));
    ExpectSameExample(first, MustGet(*b, i));
    EXPECT_EQ(first.image_id, i + 1);
    EXPECT_EQ(first.file_name, absl::StrFormat("%06d.png", i + 1));
    EXPECT_EQ(first.image.width, 128);
    EXPECT_EQ(first.image.pixels.size(), 128u * 128 * 3);
  }
  // Generation does not depend on the order of calls or on the set's length.
  SyntheticOptions longer = o;
  longer.images = 1000;
  ExpectSameExample(MustGet(*Make(longer), 13), MustGet(*a, 13));
}

TEST(SyntheticTest, PinnedFirstImageBytes) {
  // A fingerprint of image 0 of the defaults: changes only when the generator changes on
  // purpose (update the value then), and catches platform-dependent arithmetic.
  const Example ex = MustGet(*Make(SyntheticOptions{}), 0);
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (uint8_t b : ex.image.pixels) h = (h ^ b) * 1099511628211ULL;
  EXPECT_EQ(h, 0x44e302ef686e6c16ULL) << std::hex << "got 0x" << h;
  EXPECT_EQ(ex.objects.size(), 3u);
}

TEST(SyntheticTest, DifferentSeedsAndIndicesDiffer) {
  SyntheticOptions o;
  o.images = 4;
  SyntheticOptions other = o;
  other.seed = o.seed + 1;
  auto a = Make(o);
  auto b = Make(other);
  EXPECT_NE(MustGet(*a, 0).image.pixels, MustGet(*b, 0).image.pixels);
  EXPECT_NE(MustGet(*a, 0).image.pixels, MustGet(*a, 1).image.pixels);
}

TEST(SyntheticTest, GetIsThreadSafe) {
  SyntheticOptions o;
  o.images = 40;
  test_util::ExpectGetIsThreadSafe(*Make(o));
}

TEST(SyntheticTest, BadIndexIsOutOfRange) {
  SyntheticOptions o;
  o.images = 3;
  auto ds = Make(o);
  EXPECT_EQ(ds->Get(3).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ds->Get(-1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(SyntheticTest, BoxesAreInsideTheImageAndIdsUnique) {
  SyntheticOptions o;
  o.images = 200;
  o.classes = 5;
  o.clutter = 3;
  o.max_rotation_deg = 30;
  auto ds = Make(o);
  std::map<int64_t, int> ids;
  for (int i = 0; i < o.images; ++i) {
    const Example ex = MustGet(*ds, i);
    for (const Object& obj : ex.objects) {
      EXPECT_GE(obj.x1, 0);
      EXPECT_GE(obj.y1, 0);
      EXPECT_LE(obj.x2, 128);
      EXPECT_LE(obj.y2, 128);
      EXPECT_LT(obj.x1, obj.x2);
      EXPECT_LT(obj.y1, obj.y2);
      EXPECT_GE(obj.area, o.min_visible_pixels);
      EXPECT_LE(obj.area, (obj.x2 - obj.x1) * (obj.y2 - obj.y1));
      EXPECT_GE(obj.id, 1);
      EXPECT_EQ(++ids[obj.id], 1) << "duplicate annotation id " << obj.id;
    }
  }
}

// With one flat object on a stripe-free, noise-free background, the object's pixels are the
// 8-connected region of the box centre's exact colour: its tight box and size must be the
// ground truth's box and area.
TEST(SyntheticTest, BoxIsTheTightBoxOfTheVisiblePixels) {
  SyntheticOptions o;
  o.images = 100;
  o.min_objects = 1;
  o.max_objects = 1;
  o.noise_sigma = 0;
  o.object_shading = 0;
  o.stripe_amplitude = 0;
  o.classes = 3;  // Shapes that contain the centre of their box.
  auto ds = Make(o);
  for (int i = 0; i < o.images; ++i) {
    const Example ex = MustGet(*ds, i);
    ASSERT_EQ(ex.objects.size(), 1u) << "image " << i;
    const Object& obj = ex.objects[0];
    const int s = ex.image.width;
    const auto colour = [&](int x, int y) {
      const uint8_t* p = &ex.image.pixels[(static_cast<size_t>(y) * s + x) * 3];
      return std::array<uint8_t, 3>{p[0], p[1], p[2]};
    };
    const int cx = static_cast<int>((obj.x1 + obj.x2) / 2), cy = static_cast<int>((obj.y1 + obj.y2) / 2);
    const std::array<uint8_t, 3> target = colour(cx, cy);
    std::vector<uint8_t> seen(static_cast<size_t>(s) * s, 0);
    std::vector<std::pair<int, int>> stack = {{cx, cy}};
    seen[static_cast<size_t>(cy) * s + cx] = 1;
    int count = 0, x1 = s, y1 = s, x2 = -1, y2 = -1;
    while (!stack.empty()) {
      const auto [x, y] = stack.back();
      stack.pop_back();
      ++count;
      x1 = std::min(x1, x);
      x2 = std::max(x2, x);
      y1 = std::min(y1, y);
      y2 = std::max(y2, y);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= s || ny >= s) continue;
          uint8_t& v = seen[static_cast<size_t>(ny) * s + nx];
          if (v || colour(nx, ny) != target) continue;
          v = 1;
          stack.push_back({nx, ny});
        }
      }
    }
    EXPECT_EQ(count, obj.area) << "image " << i;
    EXPECT_EQ(x1, obj.x1) << "image " << i;
    EXPECT_EQ(y1, obj.y1) << "image " << i;
    EXPECT_EQ(x2 + 1, obj.x2) << "image " << i;
    EXPECT_EQ(y2 + 1, obj.y2) << "image " << i;
  }
}

TEST(SyntheticTest, AllSizeRangesAndClassesOccur) {
  for (int classes : {3, 5}) {
    SyntheticOptions o;
    o.images = 200;
    o.classes = classes;
    auto ds = Make(o);
    ASSERT_EQ(ds->categories().size(), static_cast<size_t>(classes));
    std::array<int, 3> per_size{};
    std::vector<int> per_class(classes, 0);
    int objects = 0;
    for (int i = 0; i < o.images; ++i) {
      for (const Object& obj : MustGet(*ds, i).objects) {
        ++per_size[SizeClass(obj.area)];
        ASSERT_GE(obj.category, 0);
        ASSERT_LT(obj.category, classes);
        ++per_class[obj.category];
        ++objects;
      }
    }
    std::printf("classes %d: %d objects in %d images; small %d, medium %d, large %d\n", classes, objects, o.images,
                per_size[0], per_size[1], per_size[2]);
    for (int n : per_size) EXPECT_GT(n, 0);
    for (int n : per_class) EXPECT_GT(n, objects / (4 * classes));
  }
  SyntheticOptions o;
  o.classes = 5;
  auto ds = Make(o);
  std::vector<std::string> names;
  for (const Category& c : ds->categories()) {
    EXPECT_EQ(c.coco_id, c.index + 1);
    names.push_back(c.name);
  }
  EXPECT_THAT(names, ::testing::ElementsAre("rectangle", "ellipse", "triangle", "ring", "cross"));
}

// The visibility threshold only filters: the images are the same, the kept objects a subset
// that shrinks as the threshold rises, and the last object painted (never occluded) is kept.
TEST(SyntheticTest, OccludedObjectsAreDropped) {
  SyntheticOptions base;
  base.images = 200;
  std::map<double, int> kept;
  std::map<int64_t, const Object*> all_ids;
  auto all = Make([&] {
    SyntheticOptions o = base;
    o.min_visible_fraction = 0;
    return o;
  }());
  std::vector<Example> reference;
  for (int i = 0; i < base.images; ++i) reference.push_back(MustGet(*all, i));
  for (double fraction : {0.0, 0.35, 0.9}) {
    SyntheticOptions o = base;
    o.min_visible_fraction = fraction;
    auto ds = Make(o);
    for (int i = 0; i < base.images; ++i) {
      const Example ex = MustGet(*ds, i);
      ASSERT_EQ(ex.image.pixels, reference[i].image.pixels);
      size_t r = 0;
      for (const Object& obj : ex.objects) {
        while (r < reference[i].objects.size() && reference[i].objects[r].id != obj.id) ++r;
        ASSERT_LT(r, reference[i].objects.size()) << "object " << obj.id << " not in the unfiltered set";
        EXPECT_EQ(obj.area, reference[i].objects[r].area);
      }
      if (!reference[i].objects.empty()) {
        ASSERT_FALSE(ex.objects.empty());
        EXPECT_EQ(ex.objects.back().id, reference[i].objects.back().id);
      }
      kept[fraction] += static_cast<int>(ex.objects.size());
    }
  }
  std::printf("objects kept at visible fraction 0 / 0.35 / 0.9: %d / %d / %d\n", kept[0.0], kept[0.35], kept[0.9]);
  EXPECT_GT(kept[0.0], kept[0.35]);
  EXPECT_GT(kept[0.35], kept[0.9]);
}

TEST(SyntheticTest, GenerationIsFast) {
  SyntheticOptions o;
  o.images = 200;
  auto ds = Make(o);
  const auto start = std::chrono::steady_clock::now();
  size_t objects = 0;
  for (int i = 0; i < o.images; ++i) objects += MustGet(*ds, i).objects.size();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / o.images;
  std::printf("%.3f ms per 128x128 image (%zu objects)\n", ms, objects);
  EXPECT_LT(ms, 5.0);
}

TEST(SyntheticSpecTest, ParsesDefaultsAndKeys) {
  absl::StatusOr<SyntheticOptions> d = ParseSyntheticSpec("synthetic");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size, 128);
  EXPECT_EQ(d->classes, 3);
  EXPECT_EQ(d->min_side, 16);
  EXPECT_EQ(d->max_side, 95);

  absl::StatusOr<SyntheticOptions> o =
      ParseSyntheticSpec("synthetic:classes=5,clutter=4,noise_sigma=10.5,seed=18446744073709551615,images=9");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->classes, 5);
  EXPECT_EQ(o->clutter, 4);
  EXPECT_EQ(o->noise_sigma, 10.5);
  EXPECT_EQ(o->seed, 18446744073709551615ULL);
  EXPECT_EQ(o->images, 9);

  // The side range follows the image size unless given.
  absl::StatusOr<SyntheticOptions> big = ParseSyntheticSpec("synthetic:size=256");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->min_side, 32);
  EXPECT_EQ(big->max_side, 190);
  absl::StatusOr<SyntheticOptions> fixed = ParseSyntheticSpec("synthetic:size=256,min_side=8");
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->min_side, 8);
  EXPECT_EQ(fixed->max_side, 190);
}

TEST(SyntheticSpecTest, RejectsBadSpecsNamingTheKey) {
  test_util::ExpectSpecErrors([](const char* spec) { return ParseSyntheticSpec(spec).status(); },
                              {
                                  {"coco", "starts with 'synthetic'"},
                                  {"synthetics", "synthetic:key=value"},
                                  {"synthetic:", "is not key=value"},
                                  {"synthetic:classes", "'classes' is not key=value"},
                                  {"synthetic:=3", "is not key=value"},
                                  {"synthetic:colour=red", "unknown synthetic option 'colour'"},
                                  {"synthetic:classes=three", "'classes'"},
                                  {"synthetic:classes=6", "'classes' must be in [1, 5], got 6"},
                                  {"synthetic:classes=0", "'classes'"},
                                  {"synthetic:noise_sigma=nan", "'noise_sigma'"},
                                  {"synthetic:min_visible_fraction=1.5", "'min_visible_fraction'"},
                                  {"synthetic:min_objects=5,max_objects=3", "'min_objects'"},
                                  {"synthetic:min_side=50,max_side=20", "'max_side'"},
                                  {"synthetic:size=8", "'size'"},
                                  {"synthetic:seed=-1", "'seed'"},
                                  {"synthetic:images=0", "'images'"},
                                  {"synthetic:clutter=1,clutter=2", "'clutter' given twice"},
                              });
  SyntheticOptions bad;
  bad.field_grid = 1;
  EXPECT_EQ(SyntheticDataset::Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SyntheticCocoTest, WrittenFolderIsValidCocoAndReadsBack) {
  namespace fs = std::filesystem;
  const std::string dir = absl::StrFormat("%ssynthetic_test_%d", testing::TempDir(), getpid());
  fs::remove_all(dir);
  SyntheticOptions o;
  o.images = 12;
  o.classes = 5;
  o.size = 96;
  auto ds = Make(o);
  ASSERT_TRUE(WriteCocoDataset(*ds, dir).ok());

  absl::StatusOr<eval::GroundTruth> gt = eval::ReadCocoInstancesFile(dir + "/instances.json");
  ASSERT_TRUE(gt.ok()) << gt.status();
  ASSERT_EQ(gt->images.size(), 12u);
  ASSERT_EQ(gt->categories.size(), 5u);
  EXPECT_EQ(gt->categories[3].name, "ring");
  size_t objects = 0;
  for (int i = 0; i < o.images; ++i) objects += MustGet(*ds, i).objects.size();
  EXPECT_EQ(gt->annotations.size(), objects);

  CocoDatasetOptions co;
  co.annotations_path = dir + "/instances.json";
  co.images_dir = dir + "/images";
  absl::StatusOr<std::unique_ptr<CocoDataset>> back = CocoDataset::Open(co);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ((*back)->size(), o.images);
  for (int i = 0; i < o.images; ++i) {
    const Example want = MustGet(*ds, i);
    const Example got = MustGet(**back, i);
    ExpectSameExample(got, want);  // Ids, boxes, categories, areas and decoded pixels.
    absl::StatusOr<RgbImage> png = ReadImageFile(dir + "/images/" + want.file_name);
    ASSERT_TRUE(png.ok()) << png.status();
    EXPECT_EQ(png->pixels, want.image.pixels);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vertebra::worker::data
