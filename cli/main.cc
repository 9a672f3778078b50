// vertebra: scale-permuted backbone search. Flags become options; the libraries do the work.
#include <malloc.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
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
  CLI::App app{"Vertebra: search, inspect and re-train scale-permuted detection backbones.", "vertebra"};
  app.set_version_flag("--version", std::string("vertebra 0.1.0"));
  app.require_subcommand(1);
  vertebra::cli::RegisterArchCommand(app);
  vertebra::cli::RegisterBenchCommand(app);
  vertebra::cli::RegisterEvalCommand(app);
  vertebra::cli::RegisterLaunchCommand(app);
  vertebra::cli::RegisterSearchCommands(app);
  vertebra::cli::RegisterInspectCommands(app);
  vertebra::cli::RegisterReportCommand(app);
#if VERTEBRA_WITH_TORCH
  vertebra::cli::RegisterDataCommand(app);
  vertebra::cli::RegisterTrainCommand(app);
  vertebra::cli::RegisterRetrainCommand(app);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // The command has already said why.
  } catch (const CLI::ParseError& e) {
    std::cerr << "vertebra: " << e.what() << " (see --help)\n";
    return vertebra::cli::kExitBadInput;
  }
  return 0;
}
