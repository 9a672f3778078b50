// The `vertebra` command line as a library: main() runs it, and the tests run it without a
// process of its own. Not thread-safe: subcommands install signal handlers and write to the
// standard streams.
#ifndef VERTEBRA_CLI_APP_H_
#define VERTEBRA_CLI_APP_H_

#include <memory>

#include "CLI/CLI.hpp"

namespace vertebra::cli {

// The application with every subcommand this build has.
std::unique_ptr<CLI::App> MakeApp();

// Parses `argv` (argv[0] is the program) with `app` and runs the chosen subcommand. The exit
// status: 0 on success, and for --help and --version (printed to standard output); the
// subcommand's code when it fails (it has printed why; commands.h's kExit*); kExitBadInput for a
// flag error, after "vertebra: <what is wrong> (see --help)" on standard error.
int Run(CLI::App& app, int argc, const char* const* argv);

}  // namespace vertebra::cli

#endif  // VERTEBRA_CLI_APP_H_
