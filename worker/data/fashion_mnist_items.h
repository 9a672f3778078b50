// The Fashion-MNIST items (70,000 28x28 grayscale product images in 10 classes, MIT licence) as
// Debian's dataset-fashion-mnist installs them: four gzipped IDX files in one folder, the 60,000
// training items in train-*, the 10,000 test items in t10k-*. Read with zlib, checked, and cached
// once per process.
//
// No LibTorch here.
#ifndef VERTEBRA_WORKER_DATA_FASHION_MNIST_ITEMS_H_
#define VERTEBRA_WORKER_DATA_FASHION_MNIST_ITEMS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vertebra::worker::data {

// Where the Debian package puts the files.
inline constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";
// Item side in pixels, and the classes in label order (the label is the category index).
inline constexpr int kFashionMnistSide = 28;
inline constexpr int kFashionMnistClasses = 10;
inline constexpr const char* kFashionMnistClassNames[kFashionMnistClasses] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// The two files of items: training canvases draw from kTrain, held-out canvases from kTest.
enum class FashionMnistSplit { kTrain, kTest };

// "train-images-idx3-ubyte.gz" / "t10k-images-idx3-ubyte.gz", and the labels' files.
const char* FashionMnistImagesFile(FashionMnistSplit split);
const char* FashionMnistLabelsFile(FashionMnistSplit split);

// The items of one split: item i is pixels[i * 784, (i + 1) * 784) (rows top to bottom, 0 =
// background, 255 = brightest) with class labels[i] in [0, 10).
struct FashionMnistItems {
  FashionMnistSplit split = FashionMnistSplit::kTrain;
  int count = 0;
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;
  std::string images_path;  // The file the pixels came from.
};

// Reads and checks the split's two files in `dir`. One error naming the file and the reason:
// NotFound for a missing file (saying how to install the package); DataLoss for a file that is
// not gzip, a truncated gzip stream, a bad IDX magic number, item dimensions other than 28x28,
// a size that does not match the header, image and label counts that differ, or a label
// outside [0, 10). Reads the whole file; not cached.
absl::StatusOr<FashionMnistItems> ReadFashionMnistItems(const std::string& dir, FashionMnistSplit split);

// As ReadFashionMnistItems, but each (folder, split) is read once per process and shared by every
// caller; errors are not cached (a later call tries again). Later changes to the files are not
// seen. Thread-safe: concurrent first calls read once, the others wait.
absl::StatusOr<std::shared_ptr<const FashionMnistItems>> LoadFashionMnistItems(const std::string& dir,
                                                                               FashionMnistSplit split);

}  // namespace vertebra::worker::data

#endif  // VERTEBRA_WORKER_DATA_FASHION_MNIST_ITEMS_H_
