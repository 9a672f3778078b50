#include "deploy/local/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"

namespace vertebra::deploy {

ChildProcess::ChildProcess(std::string name, std::vector<std::string> args, std::string log)
    : name_(std::move(name)), args_(std::move(args)), log_(std::move(log)) {}

absl::Status ChildProcess::Start() {
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<char*> argv;
  for (std::string& a : args_) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrFormat("cannot start %s: fork failed", name_));
  if (pid == 0) {
    setpgid(0, 0);
    const int fd = log_.empty() ? -1 : open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execv(argv[0], argv.data());
    std::_Exit(127);
  }
  setpgid(pid, pid);
  pid_ = pid;
  return absl::OkStatus();
}

std::optional<int> ChildProcess::Reap() {
  if (pid_ <= 0) return 0;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ChildProcess::Terminate() {
  if (pid_ > 0) kill(pid_, SIGTERM);
}

void ChildProcess::Stop(double grace_seconds) {
  using Clock = std::chrono::steady_clock;
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const Clock::time_point until =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(grace_seconds));
  while (Clock::now() < until) {
    if (Reap()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int ChildProcess::RunToEnd() {
  if (!Start().ok()) return 1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace vertebra::deploy
