#include "worker/precision.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace vertebra::worker {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// cpuid bits (Intel SDM vol. 2A, CPUID).
constexpr unsigned kOsxsave = 1u << 27;      // Leaf 1, ECX.
constexpr unsigned kAvx512F = 1u << 16;      // Leaf 7.0, EBX.
constexpr unsigned kAvx512Bw = 1u << 30;     // Leaf 7.0, EBX.
constexpr unsigned kAvx512Vl = 1u << 31;     // Leaf 7.0, EBX.
constexpr unsigned kAmxBf16 = 1u << 22;      // Leaf 7.0, EDX.
constexpr unsigned kAvx512Bf16 = 1u << 5;    // Leaf 7.1, EAX.
// XCR0: SSE, AVX, opmask, the upper halves of ZMM0-15 and ZMM16-31 saved by the OS.
constexpr unsigned kAvx512State = 0xE6;

bool ProbeCpu() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(1, 0, a, b, c, d);
  if ((c & kOsxsave) == 0) return false;
  unsigned xcr0_low = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  if ((xcr0_low & kAvx512State) != kAvx512State) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned max_subleaf = a;
  const unsigned avx512 = kAvx512F | kAvx512Bw | kAvx512Vl;
  if ((b & avx512) != avx512) return false;
  if ((d & kAmxBf16) != 0) return true;
  if (max_subleaf < 1) return false;
  __cpuid_count(7, 1, a, b, c, d);
  return (a & kAvx512Bf16) != 0;
}
#else
bool ProbeCpu() { return false; }
#endif

}  // namespace

bool CpuHasBf16() {
  static const bool has = ProbeCpu();
  return has;
}

PrecisionChoice ResolvePrecision(v1::Precision requested, bool cuda, bool cpu_has_bf16) {
  PrecisionChoice choice;
  if (requested == v1::PRECISION_AUTO) {
    if (!cuda && cpu_has_bf16) choice.precision = v1::PRECISION_BF16;
  } else if (requested == v1::PRECISION_BF16) {
    if (cuda || cpu_has_bf16) {
      choice.precision = v1::PRECISION_BF16;
    } else {
      choice.notice = "bf16: this CPU has no native bf16 (AVX512_BF16 or AMX); computing in fp32";
    }
  }
  return choice;
}

}  // namespace vertebra::worker
