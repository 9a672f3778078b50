#include "worker/data/fashion_mnist.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "eval/coco_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/dataset_expect.h"
#include "worker/data/data_spec.h"
#include "worker/data/fashion_mnist_items.h"
#include "worker/data/synthetic.h"

namespace vertebra::worker::data {
namespace {

namespace fs = std::filesystem;
using test_util::ExpectSameExample;
using ::testing::HasSubstr;

constexpr int kItemPixels = kFashionMnistSide * kFashionMnistSide;
// Fake training items are filled rectangles over rows [4, 24) and columns [6, 22) of the 28x28
// grid with labels 0..4; fake test items are discs with labels 5..9: a canvas's categories and
// shapes tell which file its objects came from.
constexpr int kFakeTrainItems = 40;
constexpr int kFakeTestItems = 20;
constexpr int kRectTop = 4, kRectBottom = 24, kRectLeft = 6, kRectRight = 22;

std::string BigEndian(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string ImagesIdx(int count, int rows = kFashionMnistSide, int cols = kFashionMnistSide, bool test = false) {
  std::string out = BigEndian(0x803) + BigEndian(count) + BigEndian(rows) + BigEndian(cols);
  for (int i = 0; i < count; ++i) {
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) {
        bool inside = r >= kRectTop && r < kRectBottom && c >= kRectLeft && c < kRectRight;
        if (test) inside = (r - 13.5) * (r - 13.5) + (c - 13.5) * (c - 13.5) <= 10.0 * 10.0;
        // A texture of three levels, all well above the foreground threshold.
        out.push_back(static_cast<char>(inside ? 100 + ((r + c + i) % 3) * 50 : 0));
      }
    }
  }
  return out;
}

std::string LabelsIdx(int count, int first_label) {
  std::string out = BigEndian(0x801) + BigEndian(count);
  for (int i = 0; i < count; ++i) out.push_back(static_cast<char>(first_label + i % 5));
  return out;
}

// A fresh folder with a valid fake set; each test uses its own (the items are cached by folder).
std::string FakeDir(const std::string& name) {
  const std::string dir = absl::StrFormat("%sfashion_mnist_%s_%d", testing::TempDir(), name, getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  WriteGzip(dir + "/train-images-idx3-ubyte.gz", ImagesIdx(kFakeTrainItems));
  WriteGzip(dir + "/train-labels-idx1-ubyte.gz", LabelsIdx(kFakeTrainItems, 0));
  WriteGzip(dir + "/t10k-images-idx3-ubyte.gz", ImagesIdx(kFakeTestItems, 28, 28, /*test=*/true));
  WriteGzip(dir + "/t10k-labels-idx1-ubyte.gz", LabelsIdx(kFakeTestItems, 5));
  return dir;
}

std::unique_ptr<FashionMnistDataset> Make(const FashionMnistOptions& o) {
  absl::StatusOr<std::unique_ptr<FashionMnistDataset>> ds = FashionMnistDataset::Create(o);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return ds.ok() ? std::move(ds).value() : nullptr;
}

ComposedCanvas MustCompose(const FashionMnistDataset& ds, int i) {
  absl::StatusOr<ComposedCanvas> c = ds.Compose(i);
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(c).value();
}

TEST(FashionMnistTest, SameSeedAndIndexGiveIdenticalCanvases) {
  FashionMnistOptions o;
  o.dir = FakeDir("determinism");
  o.images = 20;
  o.seed = 7;
  auto a = Make(o);
  auto b = Make(o);
  ASSERT_TRUE(a && b);
  for (int i = 0; i < o.images; ++i) {
    const Example first = MustCompose(*a, i).example;
    ExpectSameExample(first, MustCompose(*a, i).example);
    ExpectSameExample(first, MustCompose(*b, i).example);
    absl::StatusOr<Example> got = a->Get(i);
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameExample(first, *got);
    EXPECT_EQ(first.image_id, i + 1);
    EXPECT_EQ(first.image.width, 128);
    EXPECT_EQ(first.image.pixels.size(), 128u * 128 * 3);
  }
  FashionMnistOptions other = o;
  other.seed = 8;
  auto c = Make(other);
  EXPECT_NE(MustCompose(*a, 0).example.image.pixels, MustCompose(*c, 0).example.image.pixels);
  EXPECT_NE(MustCompose(*a, 0).example.image.pixels, MustCompose(*a, 1).example.image.pixels);
  EXPECT_EQ(a->Get(20).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(a->Get(-1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(FashionMnistTest, PinnedFirstCanvasBytes) {
  // A fingerprint of canvas 0 over the fake items: changes only when the generator changes on
  // purpose (update the value then), and catches platform-dependent arithmetic. The options are
  // pinned too, so that retuned defaults leave it alone.
  FashionMnistOptions o;
  o.dir = FakeDir("pinned");
  o.min_side = 12;
  o.max_objects = 8;
  o.clutter = 4;
  auto ds = Make(o);
  ASSERT_TRUE(ds);
  const Example ex = MustCompose(*ds, 0).example;
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (uint8_t b : ex.image.pixels) h = (h ^ b) * 1099511628211ULL;
  EXPECT_EQ(h, 0xe492cd1275e9d306ULL) << std::hex << "got 0x" << h;
  EXPECT_EQ(ex.objects.size(), 7u);
}

TEST(FashionMnistTest, GetIsThreadSafe) {
  FashionMnistOptions o;
  o.dir = FakeDir("threads");
  o.images = 24;
  auto ds = Make(o);
  ASSERT_TRUE(ds);
  test_util::ExpectGetIsThreadSafe(*ds);
}

// Every kept object's box is the bounding box of the pixels it owns in the final canvas, its
// area their count; it lies in the canvas and inside where its item was placed; the drop rule
// holds for every painted object.
TEST(FashionMnistTest, BoxIsTheTightBoxOfTheVisiblePixels) {
  FashionMnistOptions o;
  o.dir = FakeDir("tight");
  o.images = 100;
  auto ds = Make(o);
  ASSERT_TRUE(ds);
  int kept = 0, dropped = 0;
  for (int i = 0; i < o.images; ++i) {
    const ComposedCanvas c = MustCompose(*ds, i);
    const int s = o.size;
    ASSERT_EQ(c.owner.size(), static_cast<size_t>(s) * s);
    for (size_t k = 0; k < c.objects.size(); ++k) {
      const ComposedObject& p = c.objects[k];
      int x1 = s, y1 = s, x2 = -1, y2 = -1, count = 0;
      for (int y = 0; y < s; ++y) {
        for (int x = 0; x < s; ++x) {
          if (c.owner[static_cast<size_t>(y) * s + x] != k + 1) continue;
          x1 = std::min(x1, x), x2 = std::max(x2, x), y1 = std::min(y1, y), y2 = std::max(y2, y);
          ++count;
        }
      }
      EXPECT_EQ(count, p.visible_pixels);
      EXPECT_LE(p.visible_pixels, p.painted_pixels);
      if (count > 0) {
        EXPECT_GE(x1, p.x);
        EXPECT_GE(y1, p.y);
        EXPECT_LE(x2, p.x + p.width - 1);
        EXPECT_LE(y2, p.y + p.height - 1);
      }
      const bool visible_enough = count >= o.min_visible_pixels && count >= o.min_visible_fraction * p.painted_pixels;
      ASSERT_EQ(p.object >= 0, visible_enough) << "canvas " << i << " object " << k;
      if (p.object < 0) {
        ++dropped;
        continue;
      }
      ++kept;
      const Object& obj = c.example.objects[p.object];
      EXPECT_EQ(obj.x1, x1) << "canvas " << i << " object " << k;
      EXPECT_EQ(obj.y1, y1);
      EXPECT_EQ(obj.x2, x2 + 1);
      EXPECT_EQ(obj.y2, y2 + 1);
      EXPECT_EQ(obj.area, count);
      EXPECT_EQ(obj.category, p.category);
      EXPECT_GE(obj.x1, 0);
      EXPECT_GE(obj.y1, 0);
      EXPECT_LE(obj.x2, s);
      EXPECT_LE(obj.y2, s);
      EXPECT_EQ(obj.id, static_cast<int64_t>(i) * o.max_objects + k + 1);
    }
  }
  std::printf("%d objects kept, %d dropped by occlusion\n", kept, dropped);
  EXPECT_GT(kept, 0);
  EXPECT_GT(dropped, 0);
}

// Independently of the owner map: a lone fake training item (a rectangle over columns [6, 22)
// and rows [4, 24) of its 28x28 grid) resized to w x h at (x, y) has its box where that
// rectangle lands, to within the bilinear edge.
TEST(FashionMnistTest, LoneObjectBoxIsWhereItsItemLands) {
  FashionMnistOptions o;
  o.dir = FakeDir("lone");
  o.images = 60;
  o.min_objects = 1;
  o.max_objects = 1;
  o.clutter = 0;
  auto ds = Make(o);
  ASSERT_TRUE(ds);
  for (int i = 0; i < o.images; ++i) {
    const ComposedCanvas c = MustCompose(*ds, i);
    ASSERT_EQ(c.objects.size(), 1u);
    const ComposedObject& p = c.objects[0];
    if (p.x < 0 || p.y < 0 || p.x + p.width > o.size || p.y + p.height > o.size) continue;  // Clipped.
    ASSERT_EQ(c.example.objects.size(), 1u) << "canvas " << i;
    const Object& obj = c.example.objects[0];
    const double sx = p.width / 28.0, sy = p.height / 28.0;
    const double tolerance_x = 1 + 0.5 * sx, tolerance_y = 1 + 0.5 * sy;
    EXPECT_NEAR(obj.x1, p.x + kRectLeft * sx, tolerance_x) << "canvas " << i;
    EXPECT_NEAR(obj.x2, p.x + kRectRight * sx, tolerance_x) << "canvas " << i;
    EXPECT_NEAR(obj.y1, p.y + kRectTop * sy, tolerance_y) << "canvas " << i;
    EXPECT_NEAR(obj.y2, p.y + kRectBottom * sy, tolerance_y) << "canvas " << i;
    EXPECT_EQ(obj.area, p.painted_pixels);
  }
}

// OpenDataSplits: the training canvases use only training items (labels 0..4 in the fakes), the
// held-out canvases only test items (labels 5..9), 500 of them with another seed.
TEST(FashionMnistTest, TrainAndHeldOutUseTheirOwnItems) {
  const std::string dir = FakeDir("splits");
  absl::StatusOr<DataSplits> splits = OpenDataSplits("fashion-mnist:images=50,seed=3,dir=" + dir, "", 0, 0);
  ASSERT_TRUE(splits.ok()) << splits.status();
  ASSERT_EQ(splits->train->size(), 50);
  ASSERT_EQ(splits->val->size(), kSyntheticHeldOutImages);
  ASSERT_EQ(splits->train->categories().size(), 10u);
  const auto* train = dynamic_cast<const FashionMnistDataset*>(splits->train.get());
  const auto* val = dynamic_cast<const FashionMnistDataset*>(splits->val.get());
  ASSERT_NE(train, nullptr);
  ASSERT_NE(val, nullptr);
  EXPECT_EQ(val->options().seed, 3 + kSyntheticHeldOutSeedOffset);
  const struct {
    const FashionMnistDataset* ds;
    FashionMnistSplit split;
    int items, min_label;
  } cases[] = {{train, FashionMnistSplit::kTrain, kFakeTrainItems, 0},
               {val, FashionMnistSplit::kTest, kFakeTestItems, 5}};
  for (const auto& want : cases) {
    int objects = 0;
    for (int i = 0; i < 50; ++i) {
      const ComposedCanvas c = MustCompose(*want.ds, i);
      for (const ComposedObject& p : c.objects) {
        EXPECT_EQ(p.split, want.split);
        EXPECT_GE(p.item, 0);
        EXPECT_LT(p.item, want.items);
      }
      for (int item : c.clutter_items) EXPECT_LT(item, want.items);
      absl::StatusOr<Example> ex = want.ds->Get(i);
      ASSERT_TRUE(ex.ok()) << ex.status();
      for (const Object& obj : ex->objects) {
        EXPECT_GE(obj.category, want.min_label);
        EXPECT_LT(obj.category, want.min_label + 5);
        ++objects;
      }
    }
    EXPECT_GT(objects, 50);
  }
  EXPECT_STREQ(FashionMnistImagesFile(FashionMnistSplit::kTrain), "train-images-idx3-ubyte.gz");
  EXPECT_STREQ(FashionMnistImagesFile(FashionMnistSplit::kTest), "t10k-images-idx3-ubyte.gz");

  // As --val, the set draws from the test items unless split=train is given.
  absl::StatusOr<DataSplits> with_val =
      OpenDataSplits("fashion-mnist:dir=" + dir, "fashion-mnist:images=7,dir=" + dir, 0, 0);
  ASSERT_TRUE(with_val.ok()) << with_val.status();
  EXPECT_EQ(dynamic_cast<const FashionMnistDataset&>(*with_val->val).options().split, FashionMnistSplit::kTest);
  EXPECT_EQ(with_val->val->size(), 7);
}

TEST(FashionMnistTest, ItemsAreReadOncePerFolder) {
  const std::string dir = FakeDir("cache");
  absl::StatusOr<std::shared_ptr<const FashionMnistItems>> first;
  std::vector<std::shared_ptr<const FashionMnistItems>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<std::shared_ptr<const FashionMnistItems>> items =
          LoadFashionMnistItems(dir, FashionMnistSplit::kTrain);
      if (items.ok()) got[t] = *items;
    });
  }
  for (std::thread& th : threads) th.join();
  ASSERT_NE(got[0], nullptr);
  for (const auto& items : got) EXPECT_EQ(items, got[0]);
  EXPECT_EQ(got[0]->count, kFakeTrainItems);
  EXPECT_EQ(got[0]->pixels.size(), static_cast<size_t>(kFakeTrainItems) * kItemPixels);
  absl::StatusOr<std::shared_ptr<const FashionMnistItems>> again =
      LoadFashionMnistItems(dir + "/.", FashionMnistSplit::kTrain);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, got[0]);
}

// Each broken folder gives one error naming the file and the reason.
TEST(FashionMnistTest, BadOrMissingFilesNameTheFile) {
  const std::string train_images = "train-images-idx3-ubyte.gz";
  const std::string train_labels = "train-labels-idx1-ubyte.gz";
  const struct {
    const char* name;
    std::string file;  // The file to replace, and its new contents.
    std::string contents;
    bool gzip;
    absl::StatusCode code;
    const char* message;
  } cases[] = {
      {"badmagic", train_images, BigEndian(0x802) + ImagesIdx(3).substr(4), true, absl::StatusCode::kDataLoss,
       "bad IDX magic number"},
      {"dims", train_images, ImagesIdx(3, 27, 28), true, absl::StatusCode::kDataLoss, "items are 27x28"},
      {"short", train_images, ImagesIdx(3).substr(0, 16 + 2 * kItemPixels), true, absl::StatusCode::kDataLoss,
       "truncated or wrong sizes"},
      {"header", train_images, std::string("\0\0\x08", 3), true, absl::StatusCode::kDataLoss,
       "too short for an IDX header"},
      {"count", train_labels, LabelsIdx(kFakeTrainItems - 1, 0), true, absl::StatusCode::kDataLoss,
       "39 labels for the 40 images"},
      {"label", train_labels, LabelsIdx(kFakeTrainItems, 6), true, absl::StatusCode::kDataLoss,
       "label 10 of item 4 is outside [0, 10)"},
      {"notgzip", train_labels, LabelsIdx(kFakeTrainItems, 0), false, absl::StatusCode::kDataLoss, "not a gzip file"},
  };
  for (const auto& c : cases) {
    const std::string dir = FakeDir(c.name);
    if (c.gzip) {
      WriteGzip(dir + "/" + c.file, c.contents);
    } else {
      std::FILE* f = std::fopen((dir + "/" + c.file).c_str(), "wb");
      ASSERT_NE(f, nullptr);
      std::fwrite(c.contents.data(), 1, c.contents.size(), f);
      std::fclose(f);
    }
    FashionMnistOptions o;
    o.dir = dir;
    absl::StatusOr<std::unique_ptr<FashionMnistDataset>> ds = FashionMnistDataset::Create(o);
    ASSERT_FALSE(ds.ok()) << c.name;
    EXPECT_EQ(ds.status().code(), c.code) << c.name << ": " << ds.status();
    EXPECT_THAT(std::string(ds.status().message()), HasSubstr(dir + "/" + c.file)) << c.name;
    EXPECT_THAT(std::string(ds.status().message()), HasSubstr(c.message)) << c.name;
  }

  // A gzip stream cut short.
  {
    const std::string dir = FakeDir("truncated");
    fs::resize_file(dir + "/" + train_images, fs::file_size(dir + "/" + train_images) / 2);
    FashionMnistOptions o;
    o.dir = dir;
    const absl::Status st = FashionMnistDataset::Create(o).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(dir + "/" + train_images + ": truncated gzip stream"));
  }
  // A missing file, and a missing folder: NotFound, saying where the files come from.
  {
    const std::string dir = FakeDir("missing");
    fs::remove(dir + "/t10k-labels-idx1-ubyte.gz");
    FashionMnistOptions o;
    o.dir = dir;
    EXPECT_TRUE(FashionMnistDataset::Create(o).ok());  // The training split is complete.
    o.split = FashionMnistSplit::kTest;
    const absl::Status st = FashionMnistDataset::Create(o).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(dir + "/t10k-labels-idx1-ubyte.gz: no such file"));
    EXPECT_THAT(std::string(st.message()), HasSubstr("apt-get install dataset-fashion-mnist"));
    EXPECT_THAT(std::string(st.message()), HasSubstr("scripts/install-deps.sh"));
    const absl::Status none = OpenDataSplits("fashion-mnist:dir=" + dir + "/nowhere", "", 0, 0).status();
    EXPECT_EQ(none.code(), absl::StatusCode::kNotFound) << none;
  }
  // Classes the file has no item of.
  {
    FashionMnistOptions o;
    o.dir = FakeDir("noclass");
    o.split = FashionMnistSplit::kTest;  // Labels 5..9 only.
    o.classes = 5;
    EXPECT_EQ(FashionMnistDataset::Create(o).status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(FashionMnistSpecTest, ParsesDefaultsAndKeys) {
  absl::StatusOr<FashionMnistOptions> d = ParseFashionMnistSpec("fashion-mnist");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->dir, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(d->split, FashionMnistSplit::kTrain);
  EXPECT_EQ(d->size, 128);
  EXPECT_EQ(d->classes, 10);
  EXPECT_EQ(d->min_side, 16);
  EXPECT_EQ(d->max_side, 128);

  absl::StatusOr<FashionMnistOptions> o = ParseFashionMnistSpec(
      "fashion-mnist:classes=5,clutter=9,noise_sigma=10.5,seed=18446744073709551615,images=9,tint=0,"
      "min_contrast=30,min_texture=20,clutter_contrast=0.5,min_objects=2,max_objects=4,split=test,dir=/x/y:z");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->classes, 5);
  EXPECT_EQ(o->clutter, 9);
  EXPECT_EQ(o->noise_sigma, 10.5);
  EXPECT_EQ(o->seed, 18446744073709551615ULL);
  EXPECT_EQ(o->images, 9);
  EXPECT_EQ(o->tint, 0);
  EXPECT_EQ(o->min_contrast, 30);
  EXPECT_EQ(o->min_texture, 20);
  EXPECT_EQ(o->clutter_contrast, 0.5);
  EXPECT_EQ(o->min_objects, 2);
  EXPECT_EQ(o->max_objects, 4);
  EXPECT_EQ(o->split, FashionMnistSplit::kTest);
  EXPECT_EQ(o->dir, "/x/y:z");

  absl::StatusOr<FashionMnistOptions> big = ParseFashionMnistSpec("fashion-mnist:size=256");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->min_side, 32);
  EXPECT_EQ(big->max_side, 256);

  FashionMnistOptions held_out;
  held_out.split = FashionMnistSplit::kTest;
  absl::StatusOr<FashionMnistOptions> from = ParseFashionMnistSpec("fashion-mnist:seed=4", held_out);
  ASSERT_TRUE(from.ok()) << from.status();
  EXPECT_EQ(from->split, FashionMnistSplit::kTest);
}

TEST(FashionMnistSpecTest, RejectsBadSpecsNamingTheKey) {
  test_util::ExpectSpecErrors([](const char* spec) { return ParseFashionMnistSpec(spec).status(); },
                              {
                                  {"synthetic", "starts with 'fashion-mnist'"},
                                  {"fashion-mnistx", "fashion-mnist:key=value"},
                                  {"fashion-mnist:", "is not key=value"},
                                  {"fashion-mnist:colour=red", "unknown fashion-mnist option 'colour'"},
                                  {"fashion-mnist:classes=11", "'classes' must be in [1, 10], got 11"},
                                  {"fashion-mnist:classes=x", "'classes'"},
                                  {"fashion-mnist:tint=2", "'tint'"},
                                  {"fashion-mnist:split=val", "'split': 'val' is not train or test"},
                                  {"fashion-mnist:dir=", "'dir' is empty"},
                                  {"fashion-mnist:clutter_contrast=1.5", "'clutter_contrast'"},
                                  {"fashion-mnist:min_side=50,max_side=20", "'max_side'"},
                                  {"fashion-mnist:min_objects=5,max_objects=3", "'min_objects'"},
                                  {"fashion-mnist:foreground_threshold=0", "'foreground_threshold'"},
                                  {"fashion-mnist:noise_sigma=inf", "'noise_sigma'"},
                                  {"fashion-mnist:seed=-1", "'seed'"},
                                  {"fashion-mnist:clutter=1,clutter=2", "'clutter' given twice"},
                              });
  EXPECT_EQ(OpenDataSplits("fashion-mnist:tint=3", "", 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FashionMnistCocoTest, WrittenFolderHasTheTenCategories) {
  FashionMnistOptions o;
  o.dir = FakeDir("coco");
  o.images = 6;
  auto ds = Make(o);
  ASSERT_TRUE(ds);
  const std::string out = o.dir + "/coco";
  absl::StatusOr<WrittenDataset> written = WriteCocoDataset(*ds, out);
  ASSERT_TRUE(written.ok()) << written.status();
  absl::StatusOr<eval::GroundTruth> gt = eval::ReadCocoInstancesFile(out + "/instances.json");
  ASSERT_TRUE(gt.ok()) << gt.status();
  ASSERT_EQ(gt->images.size(), 6u);
  ASSERT_EQ(gt->categories.size(), 10u);
  EXPECT_EQ(gt->categories[0].name, "T-shirt/top");
  EXPECT_EQ(gt->categories[9].name, "Ankle boot");
  EXPECT_EQ(static_cast<int64_t>(gt->annotations.size()), written->objects);
}

// With Debian's dataset-fashion-mnist: the real files, every class and COCO size range, and the
// generation speed.
TEST(FashionMnistRealTest, RealItemsComposeFast) {
  const std::string train_file = std::string(kFashionMnistDefaultDir) + "/train-images-idx3-ubyte.gz";
  if (!fs::exists(train_file)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  absl::StatusOr<DataSplits> splits = OpenDataSplits("fashion-mnist:images=300", "", 0, 0);
  ASSERT_TRUE(splits.ok()) << splits.status();
  const auto& train = dynamic_cast<const FashionMnistDataset&>(*splits->train);
  const auto& val = dynamic_cast<const FashionMnistDataset&>(*splits->val);
  absl::StatusOr<std::shared_ptr<const FashionMnistItems>> train_items =
      LoadFashionMnistItems(kFashionMnistDefaultDir, FashionMnistSplit::kTrain);
  absl::StatusOr<std::shared_ptr<const FashionMnistItems>> test_items =
      LoadFashionMnistItems(kFashionMnistDefaultDir, FashionMnistSplit::kTest);
  ASSERT_TRUE(train_items.ok() && test_items.ok());
  EXPECT_EQ((*train_items)->count, 60000);
  EXPECT_EQ((*test_items)->count, 10000);

  std::array<int, 3> per_size{};
  std::array<int, kFashionMnistClasses> per_class{};
  int objects = 0;
  for (int i = 0; i < train.size(); ++i) {
    const ComposedCanvas c = MustCompose(train, i);
    for (const ComposedObject& p : c.objects) {
      EXPECT_EQ(p.split, FashionMnistSplit::kTrain);
      EXPECT_EQ(p.category, (*train_items)->labels[p.item]);
    }
    for (const Object& obj : c.example.objects) {
      ++per_size[obj.area < 32 * 32 ? 0 : obj.area < 96 * 96 ? 1 : 2];
      ++per_class[obj.category];
      ++objects;
    }
  }
  for (int i = 0; i < 50; ++i) {
    for (const ComposedObject& p : MustCompose(val, i).objects) {
      EXPECT_EQ(p.split, FashionMnistSplit::kTest);
      EXPECT_LT(p.item, 10000);
      EXPECT_EQ(p.category, (*test_items)->labels[p.item]);
    }
  }
  std::printf("%d objects in %d canvases; small %d, medium %d, large %d\n", objects, train.size(), per_size[0],
              per_size[1], per_size[2]);
  for (int n : per_size) EXPECT_GT(n, 0);
  for (int n : per_class) EXPECT_GT(n, objects / 40);

  const auto start = std::chrono::steady_clock::now();
  size_t kept = 0;
  for (int i = 0; i < train.size(); ++i) kept += MustCompose(train, i).example.objects.size();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / train.size();
  std::printf("%.3f ms per 128x128 canvas (%zu objects)\n", ms, kept);
  EXPECT_LT(ms, 5.0);
}

}  // namespace
}  // namespace vertebra::worker::data
