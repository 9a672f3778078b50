// vertebra: scale-permuted backbone search. Flags become options; the libraries do the work
// (cli/app.h for the subcommands).
#include <malloc.h>

#include "cli/app.h"
#if VERTEBRA_WITH_TORCH
#include "controller/rl_policy.h"
#endif

int main(int argc, char** argv) {
  // glibc returns large tensor buffers to the kernel on every free and faults them back in on
  // the next step; keeping them costs ~35% of CPU training throughput otherwise (measured with
  // LibTorch 1.13 on 2 cores).
  constexpr int kKeepBelowBytes = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kKeepBelowBytes);
  mallopt(M_TRIM_THRESHOLD, kKeepBelowBytes);
#if VERTEBRA_WITH_TORCH
  vertebra::controller::RegisterRlPolicy();  // "ppo" and "reinforce" need LibTorch.
#endif
  const std::unique_ptr<CLI::App> app = vertebra::cli::MakeApp();
  return vertebra::cli::Run(*app, argc, argv);
}
