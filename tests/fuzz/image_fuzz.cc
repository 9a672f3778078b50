// The image decoders (JPEG through TurboJPEG, PNG through libpng) as the COCO loader calls them.
// Inputs whose header declares more than kFuzzMaxPixels are skipped: a valid header may ask for
// up to the decoder's own limit (100 M pixels), which decodes correctly but takes seconds under
// the sanitizers from a few hundred bytes; the fuzzer's time is better spent on the parsers.
#include <turbojpeg.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "worker/data/image_codec.h"

namespace {

constexpr uint64_t kFuzzMaxPixels = uint64_t{4} * 1000 * 1000;

// The size a JPEG or PNG header declares, as width * height (two 32-bit sides: no overflow in 64
// unsigned bits); 0 when there is none to read.
uint64_t DeclaredPixels(const uint8_t* data, size_t size) {
  constexpr uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 24 && std::memcmp(data, kPng, 8) == 0) {  // IHDR: width and height, big-endian.
    auto be32 = [&](size_t at) {
      return (uint64_t{data[at]} << 24) | (uint64_t{data[at + 1]} << 16) | (uint64_t{data[at + 2]} << 8) | data[at + 3];
    };
    return be32(16) * be32(20);
  }
  tjhandle handle = tjInitDecompress();
  if (handle == nullptr) return 0;
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  const bool ok = tjDecompressHeader3(handle, data, static_cast<unsigned long>(size), &width, &height, &subsampling,
                                      &colorspace) == 0;
  tjDestroy(handle);
  return ok && width > 0 && height > 0 ? uint64_t(width) * uint64_t(height) : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (DeclaredPixels(data, size) > kFuzzMaxPixels) return 0;
  const std::vector<uint8_t> bytes(data, data + size);
  (void)vertebra::worker::data::DecodeImage(bytes);
  return 0;
}
