#include "worker/data/fashion_mnist_items.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"

namespace vertebra::worker::data {
namespace {

// IDX magic numbers: unsigned bytes (0x08) with 3 dimensions (images) or 1 (labels).
constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr size_t kItemBytes = static_cast<size_t>(kFashionMnistSide) * kFashionMnistSide;
// Inflate output grows in steps of at most this many bytes (the training images are 47 MB) ...
constexpr size_t kInflateChunk = 1 << 22;
// ... starting from this many at least (a small file is not zero-filled a whole chunk).
constexpr size_t kFirstInflateChunk = 1 << 16;

absl::Status Bad(const std::string& path, const std::string& reason) {
  return absl::DataLossError(absl::StrCat(path, ": ", reason));
}

// The decompressed contents of a gzip file.
absl::StatusOr<std::string> ReadGzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat(path,
                     ": no such file; Fashion-MNIST comes from Debian's dataset-fashion-mnist (apt-get install "
                     "dataset-fashion-mnist, or scripts/install-deps.sh), or give dir=FOLDER"));
  }
  std::ifstream in(path, std::ios::binary);
  const std::string compressed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Bad(path, "cannot be read");
  if (compressed.size() < 2 || static_cast<uint8_t>(compressed[0]) != 0x1f ||
      static_cast<uint8_t>(compressed[1]) != 0x8b) {
    return Bad(path, "not a gzip file");
  }
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return absl::InternalError(absl::StrCat(path, ": zlib init failed"));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  int rc = Z_OK;
  // The first chunk is sized by the file, then they double up to kInflateChunk.
  size_t chunk = std::clamp<size_t>(4 * compressed.size(), kFirstInflateChunk, kInflateChunk);
  while (rc == Z_OK) {
    const size_t done = out.size();
    out.resize(done + chunk);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + done);
    z.avail_out = static_cast<uInt>(chunk);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(done + chunk - z.avail_out);
    chunk = std::min(kInflateChunk, 2 * chunk);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // Input ended before the stream did.
    if (rc == Z_BUF_ERROR) rc = Z_OK;                 // Output was full: grow and go on.
  }
  const char* msg = z.msg;
  inflateEnd(&z);
  if (rc == Z_STREAM_END) return out;
  if (rc == Z_BUF_ERROR || rc == Z_OK) return Bad(path, "truncated gzip stream");
  return Bad(path, absl::StrCat("corrupt gzip stream (", msg != nullptr ? msg : "zlib error", ")"));
}

uint32_t BigEndian32(const std::string& bytes, size_t at) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

// Checks the IDX header (magic and `dims` sizes) and returns the sizes; the payload must be
// exactly their product.
absl::StatusOr<std::vector<uint32_t>> IdxDims(const std::string& path, const std::string& bytes, uint32_t magic,
                                              int dims) {
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() < header) return Bad(path, absl::StrFormat("%d bytes: too short for an IDX header", bytes.size()));
  if (BigEndian32(bytes, 0) != magic) {
    return Bad(path, absl::StrFormat("bad IDX magic number 0x%08x (expected 0x%08x)", BigEndian32(bytes, 0), magic));
  }
  std::vector<uint32_t> sizes;
  unsigned __int128 payload = 1;  // Up to 2^96: no overflow.
  for (int d = 0; d < dims; ++d) {
    sizes.push_back(BigEndian32(bytes, 4 + 4 * d));
    payload *= sizes.back();
  }
  if (bytes.size() - header != payload) {
    return Bad(path, absl::StrFormat("%d bytes of data after the IDX header, the header says %.0f (truncated or "
                                     "wrong sizes)",
                                     bytes.size() - header, static_cast<double>(payload)));
  }
  return sizes;
}

}  // namespace

const char* FashionMnistImagesFile(FashionMnistSplit split) {
  return split == FashionMnistSplit::kTrain ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz";
}

const char* FashionMnistLabelsFile(FashionMnistSplit split) {
  return split == FashionMnistSplit::kTrain ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz";
}

absl::StatusOr<FashionMnistItems> ReadFashionMnistItems(const std::string& dir, FashionMnistSplit split) {
  const std::string images_path = (std::filesystem::path(dir) / FashionMnistImagesFile(split)).string();
  const std::string labels_path = (std::filesystem::path(dir) / FashionMnistLabelsFile(split)).string();
  ASSIGN_OR_RETURN(std::string images, ReadGzip(images_path));
  ASSIGN_OR_RETURN(std::string labels, ReadGzip(labels_path));
  ASSIGN_OR_RETURN(const std::vector<uint32_t> image_dims, IdxDims(images_path, images, kImagesMagic, 3));
  if (image_dims[1] != kFashionMnistSide || image_dims[2] != kFashionMnistSide) {
    return Bad(images_path, absl::StrFormat("items are %dx%d, expected %dx%d", image_dims[1], image_dims[2],
                                            kFashionMnistSide, kFashionMnistSide));
  }
  ASSIGN_OR_RETURN(const std::vector<uint32_t> label_dims, IdxDims(labels_path, labels, kLabelsMagic, 1));
  if (label_dims[0] != image_dims[0]) {
    return Bad(labels_path,
               absl::StrFormat("%d labels for the %d images of %s", label_dims[0], image_dims[0], images_path));
  }
  if (image_dims[0] == 0) return Bad(images_path, "no items");
  FashionMnistItems items;
  items.split = split;
  items.count = static_cast<int>(image_dims[0]);
  items.images_path = images_path;
  items.pixels.assign(images.begin() + 16, images.end());
  items.labels.assign(labels.begin() + 8, labels.end());
  for (int i = 0; i < items.count; ++i) {
    if (items.labels[i] >= kFashionMnistClasses) {
      return Bad(labels_path,
                 absl::StrFormat("label %d of item %d is outside [0, %d)", items.labels[i], i, kFashionMnistClasses));
    }
  }
  static_assert(kItemBytes == 784);
  return items;
}

absl::StatusOr<std::shared_ptr<const FashionMnistItems>> LoadFashionMnistItems(const std::string& dir,
                                                                               FashionMnistSplit split) {
  // The process's items by (canonical folder, split). The lock is held while reading: loads
  // happen at start-up, and concurrent first callers must read once.
  struct Cache {
    absl::Mutex mu;
    std::map<std::pair<std::string, FashionMnistSplit>, std::shared_ptr<const FashionMnistItems>> items
        ABSL_GUARDED_BY(mu);
  };
  static Cache* const cache = new Cache;  // Never destroyed: safe at exit from any thread.
  std::error_code ec;
  std::filesystem::path key_dir = std::filesystem::weakly_canonical(dir, ec);
  if (ec) key_dir = dir;
  const std::pair<std::string, FashionMnistSplit> key(key_dir.string(), split);
  absl::MutexLock lock(&cache->mu);
  auto it = cache->items.find(key);
  if (it != cache->items.end()) return it->second;
  ASSIGN_OR_RETURN(FashionMnistItems items, ReadFashionMnistItems(dir, split));
  auto shared = std::make_shared<const FashionMnistItems>(std::move(items));
  cache->items.emplace(key, shared);
  return shared;
}

}  // namespace vertebra::worker::data
