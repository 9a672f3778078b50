// The checkpoint readers: the first byte picks the format (even: safetensors, odd: LibTorch's
// pickle archive); the rest is the file, written to a scratch file because both read paths.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "worker/model/state_io.h"

namespace {

const std::string& ScratchFile() {
  static const std::string path = [] {
    char pattern[] = "/tmp/state_fuzz.XXXXXX";
    const int fd = mkstemp(pattern);
    if (fd < 0) std::abort();
    close(fd);
    return std::string(pattern);
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string& path = ScratchFile();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  if (data[0] % 2 == 0) {
    (void)vertebra::worker::LoadSafetensors(path);
  } else {
    (void)vertebra::worker::LoadTorchArchive(path);
  }
  return 0;
}
