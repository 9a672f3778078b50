// The subcommands of `vertebra`. Each Register* adds its subcommand to the application; the
// subcommand's callback does the work and ends by throwing CLI::RuntimeError with the exit code
// when it fails (main turns that into the process's exit status).
#ifndef VERTEBRA_CLI_COMMANDS_H_
#define VERTEBRA_CLI_COMMANDS_H_

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "deploy/local/launch.h"

namespace vertebra::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitFailure = 1;   // Something went wrong that is not the user's input.
inline constexpr int kExitBadInput = 2;  // A bad file, field, name or flag: the message says which.
inline constexpr int kExitInterrupted = 130;  // Stopped by Ctrl-C (128 + SIGINT, as a shell has it).

// Prints "vertebra: <message>" on one line to stderr and throws CLI::RuntimeError with
// kExitBadInput for InvalidArgument/NotFound/OutOfRange/AlreadyExists and kExitFailure otherwise.
[[noreturn]] void Fail(const absl::Status& status);

// Writes a server's bound port to `path` ("--port-file"; empty: nothing), for whoever waits for
// it. InvalidArgument naming the flag and the file when it cannot be written.
absl::Status WritePortFile(const std::string& path, int port);

void RegisterArchCommand(CLI::App& app);
// `bench`: the benchmarks of bench/ (those that train only with VERTEBRA_WITH_TORCH).
void RegisterBenchCommand(CLI::App& app);
void RegisterEvalCommand(CLI::App& app);
// What `launch` runs with the options its flags give: deploy::RunLocalSearch, or a fake in tests.
using LocalSearchRunner = std::function<absl::Status(const deploy::LocalSearchOptions&)>;
// `launch`: a controller and local workers as child processes (`run`; nullptr: RunLocalSearch).
void RegisterLaunchCommand(CLI::App& app, LocalSearchRunner run = nullptr);
// `controller`, `worker`, `status`, `top`.
void RegisterSearchCommands(CLI::App& app);
// `show`, `export`, and `export-blocks` under `arch` (after RegisterArchCommand).
void RegisterInspectCommands(CLI::App& app);
// `report`: an experiment as one self-contained HTML page; `dashboard`: the same, served live.
void RegisterReportCommand(CLI::App& app);
// `data`; built only with VERTEBRA_WITH_TORCH (the data library lives under worker/).
void RegisterDataCommand(CLI::App& app);
// `train`; built only with VERTEBRA_WITH_TORCH.
void RegisterTrainCommand(CLI::App& app);
// `retrain`: a searched trial at full scale; built only with VERTEBRA_WITH_TORCH.
void RegisterRetrainCommand(CLI::App& app);

}  // namespace vertebra::cli

#endif  // VERTEBRA_CLI_COMMANDS_H_
