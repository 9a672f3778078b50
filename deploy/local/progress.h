// The one line of progress `vertebra launch` shows while a search runs, read from the database
// the controller writes: the search's trials done (of its budget), running, failed and rejected;
// the controls and the final validation's runs done (of how many there are, or will be); the best
// AP so far with its rung; trials per hour and the time left. Thread-compatible.
#ifndef VERTEBRA_DEPLOY_LOCAL_PROGRESS_H_
#define VERTEBRA_DEPLOY_LOCAL_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "controller/store.h"
#include "vertebra/v1/experiment.pb.h"

namespace vertebra::deploy {

// "42s", "3m07s", "2h05m": seconds, whole, at least 0.
std::string FormatDuration(double seconds);

// The line for `store` (nullptr while the controller has not created it) of the search `config`
// describes: the search's trials against budget.trials, the controls and the final runs, each
// counted apart; the best trial; and the rate of trials of every role finished in `elapsed`
// seconds since `finished_at_start` of them were done or failed (0 or less `elapsed`: no rate),
// with the time the ones left take at that rate.
std::string ProgressLine(const controller::Store* store, const v1::ExperimentConfig& config, double elapsed,
                         int64_t finished_at_start);

// The controller's database, opened read-only once it exists and then kept open.
class DatabaseReader {
 public:
  explicit DatabaseReader(std::string path) : path_(std::move(path)) {}
  // nullptr until the database can be opened.
  const controller::Store* store();

 private:
  std::string path_;
  std::unique_ptr<controller::Store> store_;
};

// Shows the line on a terminal as one line rewritten every kLiveInterval; elsewhere (a log) as
// a new line every kLogInterval.
class ProgressDisplay {
 public:
  static constexpr std::chrono::seconds kLiveInterval{2};
  static constexpr std::chrono::seconds kLogInterval{30};

  // `live`: `out` is a terminal. `out` must outlive the display.
  ProgressDisplay(std::ostream& out, bool live) : out_(out), live_(live) {}

  // Whether a line is due now.
  bool Due() const;
  // Shows `line` (a live line replaces the previous one).
  void Show(const std::string& line);
  // Ends the live line (nothing elsewhere), so that the next output starts on a line of its own.
  void EndLine();
  bool live() const { return live_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  bool live_;
  Clock::time_point last_ = Clock::now() - std::chrono::hours(1);
};

}  // namespace vertebra::deploy

#endif  // VERTEBRA_DEPLOY_LOCAL_PROGRESS_H_
