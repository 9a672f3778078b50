// Where the inspection commands (`status`, `top`, `show`) read a search from: its database,
// opened read-only (it may be the live database of a running controller), or a running
// controller, asked through its AdminService. Both give the same records, so every command
// computes what it prints from them in one way (ranking, the Pareto front, the best trial) and
// the two sources agree.
#ifndef VERTEBRA_INSPECT_SOURCE_H_
#define VERTEBRA_INSPECT_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store.h"
#include "vertebra/v1/experiment.pb.h"
#include "vertebra/v1/kinds.pb.h"

namespace vertebra::inspect {

// The experiment as a whole.
struct SearchSummary {
  v1::ExperimentConfig config;  // As stored, defaults filled in.
  v1::ExperimentState state = v1::EXPERIMENT_STATE_UNSPECIFIED;
  controller::RoleCounts counts;  // By role: the search's trials, the controls, the final runs.
  int64_t workers = 0;  // Workers that ever registered.
};

// Read-only access to one experiment. Errors name the database or the controller. Not
// thread-safe: one command uses one source.
class SearchSource {
 public:
  virtual ~SearchSource() = default;

  // NotFound when the database holds no experiment.
  virtual absl::StatusOr<SearchSummary> Summary() const = 0;
  // Every trial, by id.
  virtual absl::StatusOr<std::vector<v1::Trial>> Trials() const = 0;
  // NotFound naming the id.
  virtual absl::StatusOr<v1::Trial> Trial(int64_t id) const = 0;
  // The trial's training curve in the order its heartbeats arrived (empty when none were sent).
  // NotFound naming the id.
  virtual absl::StatusOr<std::vector<v1::MetricPoint>> Metrics(int64_t trial) const = 0;
  // "search.db" or "controller 127.0.0.1:50051", for messages.
  virtual std::string Describe() const = 0;
};

// Opens `path` read-only; it never creates, migrates or writes it. Errors as
// controller::OpenSqliteStore (NotFound naming a missing file).
absl::StatusOr<std::unique_ptr<SearchSource>> OpenDatabase(const std::string& path);

struct ControllerOptions {
  std::string address;                          // HOST:PORT.
  std::string token;                            // Bearer token; empty: none is sent.
  std::string token_origin = "VERTEBRA_TOKEN";  // Where the token came from, for the refusal message.
  std::string tls_ca;                           // PEM file: connect with TLS and verify the controller with it.
  std::string tls_cert, tls_key;                // PEM files: a client certificate (mTLS).
  double call_timeout_seconds = 10;             // Deadline of every call.
};

// A client of the controller at `address`. Nothing is sent until the first call; calls fail with
// Unavailable naming the address when it does not answer, and with InvalidArgument naming
// `token_origin` when it refuses the token. InvalidArgument naming unreadable TLS files.
absl::StatusOr<std::unique_ptr<SearchSource>> ConnectController(const ControllerOptions& options);

// "best" (the first of RankTrials over every trial) or a trial id ("17"). InvalidArgument for
// anything else, NotFound naming the id, FailedPrecondition when "best" is asked and no trial has
// a result.
absl::StatusOr<v1::Trial> FindTrial(const SearchSource& source, const std::string& which);

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_SOURCE_H_
