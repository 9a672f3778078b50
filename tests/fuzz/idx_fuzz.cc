// The Fashion-MNIST IDX reader. The input is a 4-byte little-endian length n, n bytes of the
// images file and the rest as the labels file; both are gzipped here and written to a scratch
// folder, so that the fuzzer explores the IDX headers rather than gzip's.
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "worker/data/fashion_mnist_items.h"

namespace {

namespace data = vertebra::worker::data;

const std::string& ScratchDir() {
  static const std::string dir = [] {
    char pattern[] = "/tmp/idx_fuzz.XXXXXX";
    const char* made = mkdtemp(pattern);
    if (made == nullptr) std::abort();
    return std::string(made);
  }();
  return dir;
}

void WriteGzip(const std::string& path, const uint8_t* data, size_t size) {
  gzFile f = gzopen(path.c_str(), "wb1");
  if (f == nullptr) std::abort();
  if (size > 0) gzwrite(f, data, static_cast<unsigned>(size));
  gzclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 4) return 0;
  uint32_t n = 0;
  std::memcpy(&n, bytes, 4);
  const size_t images = std::min<size_t>(n, size - 4);
  const std::string& dir = ScratchDir();
  const data::FashionMnistSplit split = data::FashionMnistSplit::kTest;
  WriteGzip(dir + "/" + data::FashionMnistImagesFile(split), bytes + 4, images);
  WriteGzip(dir + "/" + data::FashionMnistLabelsFile(split), bytes + 4 + images, size - 4 - images);
  (void)data::ReadFashionMnistItems(dir, split);
  return 0;
}
