#include "worker/precision.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace vertebra::worker {
namespace {

TEST(Precision, AutoIsBf16OnlyOnACpuThatHasIt) {
  EXPECT_EQ(ResolvePrecision(v1::PRECISION_AUTO, /*cuda=*/false, /*cpu_has_bf16=*/true).precision,
            v1::PRECISION_BF16);
  EXPECT_EQ(ResolvePrecision(v1::PRECISION_AUTO, false, false).precision, v1::PRECISION_FP32);
  // On CUDA bf16 made the proxy step slower: auto stays fp32 there.
  EXPECT_EQ(ResolvePrecision(v1::PRECISION_AUTO, true, true).precision, v1::PRECISION_FP32);
  // auto falling back is what auto means: no notice.
  EXPECT_EQ(ResolvePrecision(v1::PRECISION_AUTO, false, false).notice, "");
}

TEST(Precision, Bf16FallsBackToFp32WithANoticeOnACpuWithoutIt) {
  const PrecisionChoice without = ResolvePrecision(v1::PRECISION_BF16, false, false);
  EXPECT_EQ(without.precision, v1::PRECISION_FP32);
  EXPECT_NE(without.notice.find("no native bf16"), std::string::npos) << without.notice;
  EXPECT_EQ(without.notice.find('\n'), std::string::npos);  // One line.
  const PrecisionChoice with = ResolvePrecision(v1::PRECISION_BF16, false, true);
  EXPECT_EQ(with.precision, v1::PRECISION_BF16);
  EXPECT_EQ(with.notice, "");
  EXPECT_EQ(ResolvePrecision(v1::PRECISION_BF16, true, false).precision, v1::PRECISION_BF16);
}

TEST(Precision, Fp32AndRecordsFromBeforeTheFieldAreFp32) {
  for (const bool cuda : {false, true}) {
    EXPECT_EQ(ResolvePrecision(v1::PRECISION_FP32, cuda, true).precision, v1::PRECISION_FP32);
    EXPECT_EQ(ResolvePrecision(v1::PRECISION_UNSPECIFIED, cuda, true).precision, v1::PRECISION_FP32);
  }
}

// The cpuid probe agrees with the kernel's view of this machine's CPU.
TEST(Precision, TheCpuProbeAgreesWithProcCpuinfo) {
#if defined(__x86_64__) && defined(__linux__)
  std::ifstream in("/proc/cpuinfo");
  ASSERT_TRUE(in) << "no /proc/cpuinfo";
  std::string line;
  bool flags_seen = false, listed = false;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    flags_seen = true;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string flag;
    bool avx512 = false, bw = false, vl = false, bf16 = false;
    while (words >> flag) {
      avx512 |= flag == "avx512f";
      bw |= flag == "avx512bw";
      vl |= flag == "avx512vl";
      bf16 |= flag == "avx512_bf16" || flag == "amx_bf16";
    }
    listed = avx512 && bw && vl && bf16;
    break;  // Every core lists the same flags.
  }
  ASSERT_TRUE(flags_seen);
  EXPECT_EQ(CpuHasBf16(), listed);
#else
  EXPECT_FALSE(CpuHasBf16());
#endif
}

}  // namespace
}  // namespace vertebra::worker
