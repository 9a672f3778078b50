#include "worker/agent/device.h"

#include <stdio.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace vertebra::worker {
namespace {

// The first line of `path` that starts with `key`, after the key and any ": " (empty if none).
std::string FileField(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t colon = line.find(':');
    return colon == std::string::npos ? "" : std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return "";
}

// "NAME, MEMORY_MB" of GPU `index` from nvidia-smi; empty when it is missing or says nothing.
std::string QueryGpu(const std::string& index) {
  const std::string command =
      "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits -i " + index + " 2>/dev/null";
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return "";
  char buffer[256] = {0};
  const bool got = std::fgets(buffer, sizeof(buffer), p) != nullptr;
  pclose(p);
  return got ? std::string(absl::StripAsciiWhitespace(buffer)) : "";
}

}  // namespace

DeviceDescription DescribeDevice(const std::string& device) {
  DeviceDescription d{device, 0};
  if (device.rfind("cuda", 0) == 0 || device == "auto") {
    const std::string index = device.size() > 5 ? device.substr(5) : "0";
    const std::string line = QueryGpu(std::all_of(index.begin(), index.end(), ::isdigit) ? index : "0");
    const size_t comma = line.rfind(',');
    if (comma != std::string::npos) {
      d.description = absl::StrCat(device, ": ", line.substr(0, comma));
      d.memory_mb = std::atoll(line.c_str() + comma + 1);
      return d;
    }
    if (device != "auto") return d;
  }
  const std::string model = FileField("/proc/cpuinfo", "model name");
  if (!model.empty()) d.description = absl::StrCat("cpu: ", model);
  const std::string total = FileField("/proc/meminfo", "MemTotal");  // "24576000 kB"
  d.memory_mb = std::atoll(total.c_str()) / 1024;
  return d;
}

}  // namespace vertebra::worker
