// The trial store: the durable history of one experiment. The controller keeps the live state in
// memory and writes every change through Apply, one transaction per call, before it answers the
// RPC that caused it; at start-up it reads everything back with Load. Other processes open the
// database read-only (status, top, show, report) and never write it.
//
// Two implementations share one contract test suite: SqliteStore (the real one, WAL mode) and
// MemoryStore (its in-memory twin, for tests and simulations that need no durability).
#ifndef VERTEBRA_CONTROLLER_STORE_H_
#define VERTEBRA_CONTROLLER_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vertebra/v1/experiment.pb.h"
#include "vertebra/v1/kinds.pb.h"
#include "vertebra/v1/service.pb.h"

namespace vertebra::controller {

// A registered worker and what it has.
struct WorkerRecord {
  std::string id;           // Unique per worker process, chosen by the controller at Register.
  std::string host;
  std::string device;       // e.g. "cpu", "NVIDIA H200".
  int64_t memory_mb = 0;
  bool simulated = false;
  double registered_at = 0;  // Unix seconds.
  double last_seen = 0;
  int64_t trials_done = 0;
  // SecretHash (common/token.h) of the secret Register returned to this worker; every later call
  // of the worker must carry that secret. Never the secret itself.
  std::string secret_hash;
  // The subject of the TLS client certificate it registered with (mTLS), e.g. "CN=worker-3";
  // empty without one. Every later call of the worker must come with the same subject.
  std::string certificate_subject;
};

// Something that happened, for the event log and the report (lease, expiry, report, rejection,
// promotion, controller start and stop, ...).
struct Event {
  int64_t id = 0;            // Assigned by the store, increasing.
  double at = 0;             // Unix seconds.
  std::string kind;          // e.g. "leased", "expired", "reported", "rejected", "promoted".
  int64_t trial = 0;         // 0 when not about one trial.
  std::string detail;
};

// An event to append (its id is the store's to assign).
inline Event NewEvent(double at, const std::string& kind, int64_t trial, const std::string& detail) {
  Event e;
  e.at = at;
  e.kind = kind;
  e.trial = trial;
  e.detail = detail;
  return e;
}

// A "leased" event's detail, as the scheduler writes it and throughput tools read it back:
// "lease LEASE to WORKER at rung RUNG, attempt ATTEMPT" and "; NOTE" when `note` is not empty.
std::string LeasedEventDetail(int64_t lease, const std::string& worker, int rung, int attempt,
                              const std::string& note = "");

struct LeasedEvent {
  int64_t lease = 0;
  std::string worker;
  int rung = 0;
};

// A "leased" event's detail read back; nullopt for a detail of another shape.
std::optional<LeasedEvent> ParseLeasedEventDetail(const std::string& detail);

// The policy's whole state (weights, optimizer, baseline, RNG, queue of unconsumed proposals)
// as an opaque blob of the policy's own format.
struct PolicyCheckpoint {
  v1::Algorithm algorithm = v1::ALGORITHM_UNSPECIFIED;
  int64_t observed = 0;      // Results the policy had learned from when it was saved.
  std::string state;
};

// Every change of one transaction. Trials are upserted by id (ids are chosen by the controller,
// >= 1); everything else is appended or replaced as documented.
struct Mutation {
  std::optional<v1::ExperimentConfig> create_experiment;  // Only on an empty store.
  std::optional<v1::ExperimentState> experiment_state;
  std::vector<v1::Trial> trials;                          // Upsert by id.
  std::vector<v1::MetricPoint> metrics;                   // Appended (has_ap false for a NaN AP).
  std::vector<WorkerRecord> workers;                      // Upsert by id.
  std::optional<PolicyCheckpoint> policy;                 // Replaces the stored one.
  std::vector<Event> events;                              // Appended; ids assigned.
  std::optional<v1::FinalStage> final_stage;              // Replaces the stored one.
  bool empty() const {
    return !create_experiment && !experiment_state && trials.empty() && metrics.empty() && workers.empty() &&
           !policy && events.empty() && !final_stage;
  }
};

// Everything the controller needs to carry on.
struct Snapshot {
  std::optional<v1::ExperimentConfig> experiment;  // Absent on an empty store.
  v1::ExperimentState experiment_state = v1::EXPERIMENT_STATE_UNSPECIFIED;  // UNSPECIFIED: an empty store.
  std::vector<v1::Trial> trials;                   // By id.
  std::vector<WorkerRecord> workers;               // By id.
  std::optional<PolicyCheckpoint> policy;
  int64_t last_event_id = 0;
  std::optional<v1::FinalStage> final_stage;       // Absent until the final validation began.
};

struct TrialCounts {
  int64_t pending = 0, leased = 0, done = 0, failed = 0, rejected = 0, stopped = 0;
  int64_t total() const { return pending + leased + done + failed + rejected + stopped; }
  // Adds n trials in `state` (unknown states count nowhere).
  void Add(int state, int64_t n = 1);
  // Adds every count of `other`.
  void Add(const TrialCounts& other);
};

// Trial counts by role (v1::TrialRole): the search's own trials (also records stored before roles,
// as proto/kinds.h RoleOf reads them), the controls, and the final validation's runs.
struct RoleCounts {
  TrialCounts search, controls, final_runs;
  // Adds n trials of `role` in `state`.
  void Add(int role, int state, int64_t n = 1);
  // Every role's together.
  TrialCounts All() const;
};

class Store {
 public:
  virtual ~Store() = default;

  // One transaction: all of it is durable when this returns OK, none of it otherwise.
  // FailedPrecondition for create_experiment on a store that has one, or a change on a store
  // that has none; InvalidArgument for a trial with id < 1.
  virtual absl::Status Apply(const Mutation& mutation) = 0;

  virtual absl::StatusOr<Snapshot> Load() const = 0;

  // Read-side queries for the inspection commands (they need not load everything).
  virtual absl::StatusOr<RoleCounts> Counts() const = 0;
  // NotFound naming the id.
  virtual absl::StatusOr<v1::Trial> GetTrial(int64_t id) const = 0;
  // Trials by id, `limit` from `offset`.
  virtual absl::StatusOr<std::vector<v1::Trial>> ListTrials(int64_t offset, int64_t limit) const = 0;
  // The k search trials (proto/kinds.h: IsSearchTrial) with the highest AP (stats[0]) at their
  // highest reported rung, best first (ties: lower id first); trials without a result, controls
  // and final runs are left out.
  virtual absl::StatusOr<std::vector<v1::Trial>> TopTrials(int64_t k) const = 0;
  // The trial's training curve, in the order it was appended.
  virtual absl::StatusOr<std::vector<v1::MetricPoint>> Metrics(int64_t trial) const = 0;
  // Events with id > after_id, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<Event>> Events(int64_t after_id, int64_t limit) const = 0;
  // The experiment's final stage (nullopt: none began, or no experiment).
  virtual absl::StatusOr<std::optional<v1::FinalStage>> GetFinalStage() const = 0;
};

// The AP a trial reached at its highest reported rung, if any.
std::optional<double> BestAp(const v1::Trial& trial);

// The in-memory twin: the same contract, no durability. Thread-safe.
std::unique_ptr<Store> NewMemoryStore();

// The SQLite store's current schema version. A database written by a newer version is refused.
// Version 2: the workers' identity (secret_hash). Version 3: trial roles (search, control,
// final) and the experiment's final stage. Version 4: the client certificate a worker registered
// with (certificate_subject).
inline constexpr int kSchemaVersion = 4;

struct SqliteOptions {
  // The controller opens read-write and creates the file; inspection commands open read-only
  // (and never create, migrate or write).
  bool read_only = false;
  // synchronous=FULL: a committed transaction survives a power loss (NORMAL would survive a
  // killed process only).
  bool full_sync = true;
  // How long a read-write open waits for another controller to let go of the database (as after
  // a requeue, while the old process is being killed) before it fails. 0: fail at once.
  double lock_wait_seconds = 0;
};

// Opens (creating and migrating when read-write) the database at `path`. A read-write store holds
// an exclusive flock on `path + ".lock"` for its lifetime: one controller per database. Errors
// name the path: NotFound for a missing file in read-only mode, FailedPrecondition for a schema
// version newer than kSchemaVersion or a file that is not a Vertebra database, Unavailable when
// another controller holds the lock past options.lock_wait_seconds, InvalidArgument for a path
// that is not a regular file (a FIFO, a device), PermissionDenied when the file or its folder
// cannot be read. A read-only store whose folder it cannot write (so SQLite cannot make its WAL
// index there) reads the file as immutable: everything its controller checkpointed, which is the
// whole history once that controller has closed it.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const SqliteOptions& options = {});

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_STORE_H_
