#include "worker/agent/device.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace vertebra::worker {
namespace {

bool HasNvidiaSmi() { return std::system("command -v nvidia-smi >/dev/null 2>&1") == 0; }

TEST(DescribeDevice, CpuNamesTheProcessorAndTheMachinesMemory) {
  const DeviceDescription d = DescribeDevice("cpu");
  std::ifstream cpuinfo("/proc/cpuinfo");
  const std::string text((std::istreambuf_iterator<char>(cpuinfo)), std::istreambuf_iterator<char>());
  if (text.find("model name") != std::string::npos) {
    EXPECT_EQ(d.description.rfind("cpu: ", 0), 0u) << d.description;
  } else {
    EXPECT_EQ(d.description, "cpu");  // No model name (e.g. some ARM machines): the bare device.
  }
  EXPECT_GT(d.memory_mb, 0);
}

TEST(DescribeDevice, CudaWithoutNvidiaSmiKeepsItsNameAndNoMemory) {
  if (HasNvidiaSmi()) GTEST_SKIP() << "nvidia-smi is here";
  const DeviceDescription d = DescribeDevice("cuda:1");
  EXPECT_EQ(d.description, "cuda:1");
  EXPECT_EQ(d.memory_mb, 0);
}

TEST(DescribeDevice, AutoWithoutNvidiaSmiDescribesTheCpu) {
  if (HasNvidiaSmi()) GTEST_SKIP() << "nvidia-smi is here";
  const DeviceDescription cpu = DescribeDevice("cpu");
  const DeviceDescription d = DescribeDevice("auto");
  EXPECT_EQ(d.description, cpu.description == "cpu" ? "auto" : cpu.description);
  EXPECT_EQ(d.memory_mb, cpu.memory_mb);
}

TEST(DescribeDevice, CudaWithNvidiaSmiNamesTheGpu) {
  if (!HasNvidiaSmi()) GTEST_SKIP() << "no nvidia-smi";
  const DeviceDescription d = DescribeDevice("cuda:0");
  EXPECT_EQ(d.description.rfind("cuda:0: ", 0), 0u) << d.description;
  EXPECT_GT(d.memory_mb, 0);
}

}  // namespace
}  // namespace vertebra::worker
