// A child process that `vertebra launch` supervises: started in a process group of its own (so
// that Ctrl-C on the terminal reaches the launcher alone), reaped without blocking, stopped with
// SIGTERM and, after a grace period, SIGKILL. POSIX only. Not thread-safe: one thread owns it.
#ifndef VERTEBRA_DEPLOY_LOCAL_CHILD_PROCESS_H_
#define VERTEBRA_DEPLOY_LOCAL_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vertebra::deploy {

class ChildProcess {
 public:
  // `args[0]` is the program's path (not searched in PATH). With an empty `log` the child writes
  // to this process's standard output and error; otherwise both are appended to `log`.
  ChildProcess(std::string name, std::vector<std::string> args, std::string log = "");

  // Starts the child (again, once it has exited). Internal naming the child when fork fails; a
  // program that cannot be executed exits with status 127.
  absl::Status Start();

  // Its exit status if it has exited since the last call (128 + the signal when killed), 0 when
  // it is not running, nullopt while it runs. Never blocks.
  std::optional<int> Reap();

  // Sends SIGTERM (no-op when not running).
  void Terminate();

  // SIGTERM, then up to `grace_seconds` for it to exit, then SIGKILL; returns once it is gone.
  void Stop(double grace_seconds);

  // Starts it and waits for it to end: its exit status, 1 when it could not start or was killed.
  int RunToEnd();

  bool running() const { return pid_ > 0; }
  const std::string& name() const { return name_; }
  const std::string& log() const { return log_; }
  // Restarts so far; the supervisor counts them (RecordRestart) against its cap.
  int restarts() const { return restarts_; }
  void RecordRestart() { ++restarts_; }

 private:
  std::string name_;
  std::vector<std::string> args_;
  std::string log_;
  pid_t pid_ = -1;
  int restarts_ = 0;
};

}  // namespace vertebra::deploy

#endif  // VERTEBRA_DEPLOY_LOCAL_CHILD_PROCESS_H_
