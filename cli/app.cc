#include "cli/app.h"

#include <iostream>
#include <string>

#include "cli/commands.h"

namespace vertebra::cli {

std::unique_ptr<CLI::App> MakeApp() {
  auto app = std::make_unique<CLI::App>("Vertebra: search, inspect and re-train scale-permuted detection backbones.",
                                        "vertebra");
  app->set_version_flag("--version", std::string("vertebra 0.1.0"));
  app->require_subcommand(1);
  RegisterArchCommand(*app);
  RegisterBenchCommand(*app);
  RegisterEvalCommand(*app);
  RegisterLaunchCommand(*app);
  RegisterSearchCommands(*app);
  RegisterInspectCommands(*app);
  RegisterReportCommand(*app);
#if VERTEBRA_WITH_TORCH
  RegisterDataCommand(*app);
  RegisterTrainCommand(*app);
  RegisterRetrainCommand(*app);
#endif
  return app;
}

int Run(CLI::App& app, int argc, const char* const* argv) {
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
    return kExitBadInput;
  }
  return 0;
}

}  // namespace vertebra::cli
