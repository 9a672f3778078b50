// The SQLite store: one database file per experiment, in WAL mode so that the inspection commands
// read it while the controller writes. Trials are kept as serialized v1::Trial records (the source
// of truth) beside a few indexed key columns derived from them for the queries.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "proto/kinds.h"
#include "search_spaces/proxy.h"
#include "controller/store.h"

namespace vertebra::controller {
namespace {

// "VRTB" in the header (PRAGMA application_id): tells our files apart from other applications'
// SQLite databases, whatever their user_version.
constexpr int32_t kApplicationId = 0x56525442;
// How long a statement waits for another connection's lock before it fails with SQLITE_BUSY. WAL
// readers rarely wait at all; this covers a checkpoint on a slow disk.
constexpr int kBusyTimeoutMs = 5000;

// kMigrations[v] takes the schema from version v to v + 1 (version 0: an empty file). A new
// version appends a step here and raises kSchemaVersion; a released step never changes. Open
// applies the missing steps, the version and the application id in one transaction.
constexpr const char* kMigrations[] = {
    // Version 1.
    R"sql(
CREATE TABLE experiment (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  config BLOB NOT NULL,        -- Serialized v1.ExperimentConfig.
  state TEXT NOT NULL,
  created_at REAL NOT NULL     -- Unix seconds.
);
CREATE TABLE trials (
  id INTEGER PRIMARY KEY,
  state INTEGER NOT NULL,      -- v1.TrialState, for Counts.
  hash TEXT NOT NULL,
  best_ap REAL,                -- BestAp(record), for TopTrials; NULL without a result.
  record BLOB NOT NULL         -- Serialized v1.Trial: the source of truth.
);
CREATE INDEX trials_by_state ON trials (state);
CREATE INDEX trials_by_hash ON trials (hash);
CREATE INDEX trials_by_ap ON trials (best_ap DESC, id);
CREATE TABLE metrics (         -- Read back in rowid (insertion) order.
  trial INTEGER NOT NULL,
  rung INTEGER NOT NULL,
  step INTEGER NOT NULL,
  loss REAL,                   -- NULL: NaN (SQLite stores a NaN as NULL), e.g. a diverged run.
  ap REAL,                     -- NULL: not measured.
  at REAL
);
CREATE INDEX metrics_by_trial ON metrics (trial);
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  device TEXT NOT NULL,
  memory_mb INTEGER NOT NULL,
  simulated INTEGER NOT NULL,
  registered_at REAL,
  last_seen REAL,
  trials_done INTEGER NOT NULL
);
CREATE TABLE policy (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  algorithm TEXT NOT NULL,
  observed INTEGER NOT NULL,
  state BLOB NOT NULL
);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids only increase, never reused.
  at REAL,
  kind TEXT NOT NULL,
  trial INTEGER NOT NULL,
  detail TEXT NOT NULL
);
)sql",
    // Version 2: a worker's identity is the SHA-256 of the secret its registration returned.
    R"sql(
ALTER TABLE workers ADD COLUMN secret_hash TEXT NOT NULL DEFAULT '';
)sql",
    // Version 3: a trial's role (controls and final runs are not ranked with the search's trials)
    // and the experiment's final stage. Older trials are search trials (role 0).
    R"sql(
ALTER TABLE trials ADD COLUMN role INTEGER NOT NULL DEFAULT 0;  -- v1.TrialRole.
ALTER TABLE experiment ADD COLUMN final_stage BLOB;              -- Serialized v1.FinalStage; NULL: none.
)sql",
    // Version 4: under mTLS a worker is bound to the client certificate it registered with.
    R"sql(
ALTER TABLE workers ADD COLUMN certificate_subject TEXT NOT NULL DEFAULT '';
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion, "one migration step per version");

constexpr const char* kHasExperiment = "SELECT COUNT(*) FROM experiment";
constexpr const char* kInsertExperiment = "INSERT INTO experiment (id, config, state, created_at) VALUES (1, ?, ?, ?)";
constexpr const char* kUpdateExperimentState = "UPDATE experiment SET state = ? WHERE id = 1";
constexpr const char* kUpsertTrial =
    "INSERT INTO trials (id, state, hash, best_ap, record, role) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
    "SET state = excluded.state, hash = excluded.hash, best_ap = excluded.best_ap, record = excluded.record, "
    "role = excluded.role";
constexpr const char* kUpdateFinalStage = "UPDATE experiment SET final_stage = ? WHERE id = 1";
constexpr const char* kSelectFinalStage = "SELECT final_stage FROM experiment WHERE id = 1 AND final_stage IS NOT NULL";
constexpr const char* kInsertMetric = "INSERT INTO metrics (trial, rung, step, loss, ap, at) VALUES (?, ?, ?, ?, ?, ?)";
constexpr const char* kUpsertWorker =
    "INSERT OR REPLACE INTO workers (id, host, device, memory_mb, simulated, registered_at, last_seen, trials_done, "
    "secret_hash, certificate_subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kReplacePolicy =
    "INSERT OR REPLACE INTO policy (id, algorithm, observed, state) VALUES (1, ?, ?, ?)";
constexpr const char* kInsertEvent = "INSERT INTO events (at, kind, trial, detail) VALUES (?, ?, ?, ?)";

constexpr const char* kSelectExperiment = "SELECT config, state FROM experiment WHERE id = 1";
constexpr const char* kCountTrials = "SELECT COUNT(*) FROM trials";
constexpr const char* kSelectAllTrials = "SELECT id, record FROM trials ORDER BY id";
constexpr const char* kSelectWorkers =
    "SELECT id, host, device, memory_mb, simulated, registered_at, last_seen, trials_done, secret_hash, "
    "certificate_subject FROM workers ORDER BY id";
constexpr const char* kSelectPolicy = "SELECT algorithm, observed, state FROM policy WHERE id = 1";
constexpr const char* kLastEventId = "SELECT COALESCE(MAX(id), 0) FROM events";
constexpr const char* kCountByState = "SELECT role, state, COUNT(*) FROM trials GROUP BY role, state";
constexpr const char* kSelectTrial = "SELECT id, record FROM trials WHERE id = ?";
constexpr const char* kListTrials = "SELECT id, record FROM trials ORDER BY id LIMIT ? OFFSET ?";
constexpr const char* kTopTrials =
    "SELECT id, record FROM trials WHERE best_ap IS NOT NULL AND role IN (0, 1) ORDER BY best_ap DESC, id LIMIT ?";
constexpr const char* kSelectMetrics =
    "SELECT trial, rung, step, loss, ap, at FROM metrics WHERE trial = ? ORDER BY rowid";
constexpr const char* kSelectEvents = "SELECT id, at, kind, trial, detail FROM events WHERE id > ? ORDER BY id LIMIT ?";

struct DbCloser {
  // close_v2: the handle goes even if a statement is still unfinalized (it closes with the last).
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StatementHandle = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// A Status for SQLite's result code `rc`, naming the database, what we were doing and SQLite's
// own message. The code says whether a retry may help.
absl::Status SqliteError(sqlite3* db, int rc, const std::string& path, absl::string_view what) {
  const std::string message =
      absl::StrFormat("%s: %s: %s", path, what, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(message);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
      return absl::ResourceExhaustedError(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOTADB:
      return absl::FailedPreconditionError(message);
    case SQLITE_CORRUPT:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

// Runs SQL that returns no rows we need (transaction control, pragmas, the migrations).
absl::Status Exec(sqlite3* db, const std::string& path, const std::string& sql, absl::string_view what) {
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, path, what);
  return absl::OkStatus();
}

// Ends a failed write transaction. SQLite rolls some errors back by itself (SQLITE_FULL, IOERR...),
// after which ROLLBACK would fail: only roll back what is still open.
void RollbackIfOpen(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

// One use of a prepared statement: binds parameters in order, steps, reads columns, and resets the
// statement when it goes out of scope, so that the next use starts clean and a read does not keep
// its snapshot of the database open.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, const std::string& path) : db_(db), stmt_(stmt), path_(&path) {}
  Query(Query&& other) noexcept
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        path_(other.path_),
        bound_(other.bound_),
        bind_rc_(other.bind_rc_) {}
  Query& operator=(Query&&) = delete;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  Query& BindInt(int64_t value) { return Check(sqlite3_bind_int64(stmt_, ++bound_, value)); }
  // A NaN binds as NULL (SQLite's own rule); Real() reads NULL back as NaN.
  Query& BindReal(double value) { return Check(sqlite3_bind_double(stmt_, ++bound_, value)); }
  Query& BindOptionalReal(const std::optional<double>& value) {
    return value ? BindReal(*value) : Check(sqlite3_bind_null(stmt_, ++bound_));
  }
  Query& BindText(const std::string& value) {
    return Check(sqlite3_bind_text64(stmt_, ++bound_, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Query& BindBlob(const std::string& value) {
    return Check(sqlite3_bind_blob64(stmt_, ++bound_, value.data(), value.size(), SQLITE_TRANSIENT));
  }

  // True when a row is ready to read, false when the statement is done.
  absl::StatusOr<bool> Step() {
    if (bind_rc_ != SQLITE_OK) return SqliteError(db_, bind_rc_, *path_, Sql());
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, *path_, Sql());
  }
  // Steps a statement that writes.
  absl::Status Run() { return Step().status(); }

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Real(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(stmt_, column);
  }
  std::optional<double> OptionalReal(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(stmt_, column);
  }
  std::string Text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text == nullptr ? std::string() : std::string(text, sqlite3_column_bytes(stmt_, column));
  }
  // Valid until the next Step.
  absl::string_view Blob(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    return data == nullptr ? absl::string_view() : absl::string_view(data, sqlite3_column_bytes(stmt_, column));
  }

 private:
  Query& Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  std::string Sql() const { return sqlite3_sql(stmt_); }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  const std::string* path_;
  int bound_ = 0;
  int bind_rc_ = SQLITE_OK;
};

// The single value of a one-row query (a pragma, a count).
absl::StatusOr<int64_t> QueryInt(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  StatementHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, path, sql);
  Query query(db, stmt.get(), path);
  ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return absl::InternalError(absl::StrFormat("%s: %s: no row", path, sql));
  return query.Int(0);
}

absl::StatusOr<std::string> QueryText(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  StatementHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, path, sql);
  Query query(db, stmt.get(), path);
  ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return absl::InternalError(absl::StrFormat("%s: %s: no row", path, sql));
  return query.Text(0);
}

// The schema version of an open database: 0 for an empty file, FailedPrecondition naming the path
// for anything that is not one of ours.
// A read-only URI for `path` (percent-encoding what a URI reserves); `immutable` tells SQLite the
// file cannot change, so it needs no lock and no WAL index beside it.
std::string ReadOnlyUri(const std::string& path, bool immutable) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
      uri += absl::StrFormat("%%%02X", c);
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri + (immutable ? "?mode=ro&immutable=1" : "?mode=ro");
}

bool FolderWritable(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  return ::access(folder.c_str(), W_OK) == 0;
}

absl::StatusOr<int> SchemaVersion(sqlite3* db, const std::string& path) {
  // The first read of the file: a file that is not SQLite fails here with SQLITE_NOTADB.
  absl::StatusOr<int64_t> application_id = QueryInt(db, path, "PRAGMA application_id");
  if (!application_id.ok()) {
    const int rc = sqlite3_extended_errcode(db) & 0xff;
    if (rc == SQLITE_NOTADB) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: not a Vertebra database (%s)", path, sqlite3_errmsg(db)));
    }
    if (rc == SQLITE_READONLY || rc == SQLITE_PERM || rc == SQLITE_CANTOPEN) {
      // The file may be fine: what failed is access to it or to its folder.
      return absl::PermissionDeniedError(absl::StrFormat(
          "%s: cannot read the database (%s); check the permissions of the file and its folder", path,
          sqlite3_errmsg(db)));
    }
    return application_id.status();
  }
  ASSIGN_OR_RETURN(const int64_t version, QueryInt(db, path, "PRAGMA user_version"));
  ASSIGN_OR_RETURN(const int64_t objects, QueryInt(db, path, "SELECT COUNT(*) FROM sqlite_master"));
  if (*application_id == 0 && version == 0 && objects == 0) return 0;
  if (*application_id != kApplicationId) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: not a Vertebra database (a SQLite database of another application: application_id "
                        "%d, user_version %d, %d schema objects)",
                        path, *application_id, version, objects));
  }
  return static_cast<int>(version);
}

// Brings a read-write database from schema version `from` to kSchemaVersion in one transaction.
// No other writer can interleave: the caller holds the controller's lock on the file.
absl::Status Migrate(sqlite3* db, const std::string& path, int from) {
  if (from == kSchemaVersion) return absl::OkStatus();
  RETURN_IF_ERROR(Exec(db, path, "BEGIN IMMEDIATE", "cannot start the schema migration"));
  const absl::Status status = [&]() -> absl::Status {
    for (int version = from; version < kSchemaVersion; ++version) {
      RETURN_IF_ERROR(Exec(db, path, kMigrations[version],
                           absl::StrFormat("cannot migrate schema version %d to %d", version, version + 1)));
    }
    RETURN_IF_ERROR(
        Exec(db, path,
             absl::StrFormat("PRAGMA application_id = %d; PRAGMA user_version = %d", kApplicationId, kSchemaVersion),
             "cannot record the schema version"));
    return Exec(db, path, "COMMIT", "cannot commit the schema migration");
  }();
  if (!status.ok()) RollbackIfOpen(db);
  return status;
}

// The controller's exclusive lock on `path + ".lock"`, held while the store is open. flock (not
// SQLite's own locks, which a second connection of this process would share) so that a second
// controller on the same database fails at once instead of interleaving writes.
class FileLock {
 public:
  FileLock() = default;
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

  static absl::StatusOr<FileLock> Acquire(const std::string& db_path, double wait_seconds) {
    const std::string lock_path = db_path + ".lock";
    FileLock lock;
    lock.fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock.fd_ < 0) {
      const std::string message =
          absl::StrFormat("%s: cannot create the lock file %s: %s", db_path, lock_path, std::strerror(errno));
      return errno == ENOENT ? absl::NotFoundError(message) : absl::UnavailableError(message);
    }
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
    while (::flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK) {
        if (std::chrono::steady_clock::now() < give_up) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
        return absl::UnavailableError(absl::StrFormat(
            "%s: another controller has the database open (%s is locked%s)", db_path, lock_path,
            wait_seconds > 0 ? absl::StrFormat(", waited %.0f s", wait_seconds) : std::string()));
      }
      return absl::UnavailableError(
          absl::StrFormat("%s: cannot lock %s: %s", db_path, lock_path, std::strerror(errno)));
    }
    return lock;
  }

 private:
  int fd_ = -1;
};

double UnixNow() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, DbHandle db, FileLock lock, bool read_only)
      : path_(std::move(path)), lock_(std::move(lock)), db_(std::move(db)), read_only_(read_only) {}
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  absl::Status Apply(const Mutation& mutation) override {
    if (read_only_) return absl::FailedPreconditionError(absl::StrFormat("%s: opened read-only", path_));
    // Checked before the transaction begins: a bad mutation costs no lock and no rollback.
    for (const v1::Trial& trial : mutation.trials) {
      if (trial.id() < 1) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: trial id %d: must be >= 1", path_, trial.id()));
      }
    }
    if (mutation.empty()) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    // IMMEDIATE: take the write lock now, so the transaction cannot fail half way for a lock.
    RETURN_IF_ERROR(Exec(db_.get(), path_, "BEGIN IMMEDIATE", "cannot begin a transaction"));
    absl::Status status = ApplyLocked(mutation);
    if (status.ok()) status = Exec(db_.get(), path_, "COMMIT", "cannot commit");
    if (!status.ok()) RollbackIfOpen(db_.get());
    return status;
  }

  absl::StatusOr<Snapshot> Load() const override {
    absl::MutexLock lock(&mu_);
    return InReadTransaction<Snapshot>([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return LoadLocked(); });
  }

  absl::StatusOr<RoleCounts> Counts() const override {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Query query, Prepare(kCountByState));
    RoleCounts counts;
    while (true) {
      ASSIGN_OR_RETURN(const bool row, query.Step());
      if (!row) break;
      counts.Add(static_cast<int>(query.Int(0)), static_cast<int>(query.Int(1)), query.Int(2));
    }
    return counts;
  }

  absl::StatusOr<v1::Trial> GetTrial(int64_t id) const override {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Query query, Prepare(kSelectTrial));
    query.BindInt(id);
    std::vector<v1::Trial> trials;
    RETURN_IF_ERROR(ReadTrials(query, trials));
    if (trials.empty()) return absl::NotFoundError(absl::StrFormat("%s: no trial %d", path_, id));
    return std::move(trials.front());
  }

  absl::StatusOr<std::vector<v1::Trial>> ListTrials(int64_t offset, int64_t limit) const override {
    if (offset < 0 || limit < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: ListTrials(offset=%d, limit=%d): both must be >= 0", path_, offset, limit));
    }
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Query query, Prepare(kListTrials));
    query.BindInt(limit).BindInt(offset);
    std::vector<v1::Trial> trials;
    RETURN_IF_ERROR(ReadTrials(query, trials));
    return trials;
  }

  absl::StatusOr<std::vector<v1::Trial>> TopTrials(int64_t k) const override {
    if (k < 0) return absl::InvalidArgumentError(absl::StrFormat("%s: TopTrials(k=%d): must be >= 0", path_, k));
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Query query, Prepare(kTopTrials));
    query.BindInt(k);
    std::vector<v1::Trial> trials;
    RETURN_IF_ERROR(ReadTrials(query, trials));
    return trials;
  }

  absl::StatusOr<std::vector<v1::MetricPoint>> Metrics(int64_t trial) const override {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Query query, Prepare(kSelectMetrics));
    query.BindInt(trial);
    std::vector<v1::MetricPoint> points;
    while (true) {
      ASSIGN_OR_RETURN(const bool row, query.Step());
      if (!row) break;
      v1::MetricPoint& point = points.emplace_back();
      point.set_trial(query.Int(0));
      point.set_rung(static_cast<int32_t>(query.Int(1)));
      point.set_step(query.Int(2));
      point.set_loss(query.Real(3));
      if (const std::optional<double> ap = query.OptionalReal(4)) {
        point.set_has_ap(true);
        point.set_ap(*ap);
      }
      point.set_at(query.Real(5));
    }
    return points;
  }

  absl::StatusOr<std::optional<v1::FinalStage>> GetFinalStage() const override {
    absl::MutexLock lock(&mu_);
    return FinalStageLocked();
  }

  absl::StatusOr<std::vector<Event>> Events(int64_t after_id, int64_t limit) const override {
    if (limit < 0) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: Events(limit=%d): must be >= 0", path_, limit));
    }
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Query query, Prepare(kSelectEvents));
    query.BindInt(after_id).BindInt(limit);
    std::vector<Event> events;
    while (true) {
      ASSIGN_OR_RETURN(const bool row, query.Step());
      if (!row) break;
      Event& event = events.emplace_back();
      event.id = query.Int(0);
      event.at = query.Real(1);
      event.kind = query.Text(2);
      event.trial = query.Int(3);
      event.detail = query.Text(4);
    }
    return events;
  }

 private:
  absl::StatusOr<Query> Prepare(const char* sql) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    StatementHandle& cached = statements_[sql];
    if (cached == nullptr) {
      sqlite3_stmt* raw = nullptr;
      const int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      if (rc != SQLITE_OK) {
        sqlite3_finalize(raw);
        return SqliteError(db_.get(), rc, path_, sql);
      }
      cached.reset(raw);
    }
    return Query(db_.get(), cached.get(), path_);
  }

  // Runs `read` in one read transaction, so that what it reads with several statements is one
  // consistent state of the database even while the controller writes.
  template <typename T, typename F>
  absl::StatusOr<T> InReadTransaction(F read) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    RETURN_IF_ERROR(Exec(db_.get(), path_, "BEGIN", "cannot begin a read transaction"));
    absl::StatusOr<T> result = read();
    // Nothing was written: ending with ROLLBACK is the same as COMMIT and cannot fail for a lock.
    RollbackIfOpen(db_.get());
    return result;
  }

  // A kind stored in words (proto/kinds.h); DataLoss naming the database for a word it does not
  // know. "" is UNSPECIFIED.
  template <typename Kind>
  absl::StatusOr<Kind> ReadKind(const std::string& word, const char* what) const {
    if (word.empty()) return Kind{};
    std::optional<Kind> kind = ParseKind<Kind>(word);
    if (!kind) return absl::DataLossError(absl::StrFormat("%s: unknown %s \"%s\"", path_, what, word));
    return *kind;
  }

  absl::StatusOr<Snapshot> LoadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Snapshot snapshot;
    {
      ASSIGN_OR_RETURN(Query query, Prepare(kSelectExperiment));
      ASSIGN_OR_RETURN(const bool row, query.Step());
      if (row) {
        const absl::string_view blob = query.Blob(0);
        v1::ExperimentConfig config;
        if (!config.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
          return absl::DataLossError(absl::StrFormat("%s: the experiment's configuration does not parse", path_));
        }
        if (config.proxy().classes() == 0) {
          // Written before proxy.classes existed: it was priced with the data's default count.
          absl::StatusOr<int> classes = search_spaces::DefaultProxyClasses(config.proxy().data());
          if (!classes.ok()) return absl::DataLossError(absl::StrFormat("%s: %s", path_, classes.status().message()));
          config.mutable_proxy()->set_classes(*classes);
        }
        snapshot.experiment = std::move(config);
        ASSIGN_OR_RETURN(snapshot.experiment_state, ReadKind<v1::ExperimentState>(query.Text(1), "experiment state"));
      }
    }
    {
      ASSIGN_OR_RETURN(Query count, Prepare(kCountTrials));
      ASSIGN_OR_RETURN(const bool row, count.Step());
      if (row) snapshot.trials.reserve(static_cast<size_t>(count.Int(0)));
    }
    {
      ASSIGN_OR_RETURN(Query query, Prepare(kSelectAllTrials));
      RETURN_IF_ERROR(ReadTrials(query, snapshot.trials));
    }
    {
      ASSIGN_OR_RETURN(Query query, Prepare(kSelectWorkers));
      while (true) {
        ASSIGN_OR_RETURN(const bool row, query.Step());
        if (!row) break;
        WorkerRecord& worker = snapshot.workers.emplace_back();
        worker.id = query.Text(0);
        worker.host = query.Text(1);
        worker.device = query.Text(2);
        worker.memory_mb = query.Int(3);
        worker.simulated = query.Int(4) != 0;
        worker.registered_at = query.Real(5);
        worker.last_seen = query.Real(6);
        worker.trials_done = query.Int(7);
        worker.secret_hash = query.Text(8);
        worker.certificate_subject = query.Text(9);
      }
    }
    {
      ASSIGN_OR_RETURN(Query query, Prepare(kSelectPolicy));
      ASSIGN_OR_RETURN(const bool row, query.Step());
      if (row) {
        PolicyCheckpoint& policy = snapshot.policy.emplace();
        ASSIGN_OR_RETURN(policy.algorithm, ReadKind<v1::Algorithm>(query.Text(0), "policy's algorithm"));
        policy.observed = query.Int(1);
        policy.state = std::string(query.Blob(2));
      }
    }
    {
      ASSIGN_OR_RETURN(Query query, Prepare(kLastEventId));
      ASSIGN_OR_RETURN(const bool row, query.Step());
      if (row) snapshot.last_event_id = query.Int(0);
    }
    ASSIGN_OR_RETURN(snapshot.final_stage, FinalStageLocked());
    return snapshot;
  }

  absl::StatusOr<std::optional<v1::FinalStage>> FinalStageLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ASSIGN_OR_RETURN(Query query, Prepare(kSelectFinalStage));
    ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) return std::optional<v1::FinalStage>();
    const absl::string_view blob = query.Blob(0);
    v1::FinalStage stage;
    if (!stage.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
      return absl::DataLossError(absl::StrFormat("%s: the final stage's record does not parse", path_));
    }
    return std::optional<v1::FinalStage>(std::move(stage));
  }

  // Appends the trials of a query whose columns are (id, record).
  absl::Status ReadTrials(Query& query, std::vector<v1::Trial>& trials) const {
    while (true) {
      ASSIGN_OR_RETURN(const bool row, query.Step());
      if (!row) return absl::OkStatus();
      const absl::string_view blob = query.Blob(1);
      if (!trials.emplace_back().ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
        return absl::DataLossError(absl::StrFormat("%s: the record of trial %d does not parse", path_, query.Int(0)));
      }
    }
  }

  absl::Status ApplyLocked(const Mutation& mutation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    {
      ASSIGN_OR_RETURN(Query query, Prepare(kHasExperiment));
      ASSIGN_OR_RETURN(const bool row, query.Step());
      const bool has_experiment = row && query.Int(0) > 0;
      if (mutation.create_experiment && has_experiment) {
        return absl::FailedPreconditionError(absl::StrFormat("%s: the experiment already exists", path_));
      }
      if (!mutation.create_experiment && !has_experiment) {
        return absl::FailedPreconditionError(absl::StrFormat("%s: no experiment to change; create it first", path_));
      }
    }
    if (mutation.create_experiment) {
      ASSIGN_OR_RETURN(Query query, Prepare(kInsertExperiment));
      query.BindBlob(mutation.create_experiment->SerializeAsString())
          .BindText(std::string(KindName(mutation.experiment_state.value_or(v1::EXPERIMENT_STATE_UNSPECIFIED))))
          .BindReal(UnixNow());
      RETURN_IF_ERROR(query.Run());
    }
    if (mutation.experiment_state) {
      ASSIGN_OR_RETURN(Query query, Prepare(kUpdateExperimentState));
      query.BindText(std::string(KindName(*mutation.experiment_state)));
      RETURN_IF_ERROR(query.Run());
    }
    for (const v1::Trial& trial : mutation.trials) {
      std::string record;
      if (!trial.SerializeToString(&record)) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: trial %d does not serialize", path_, trial.id()));
      }
      ASSIGN_OR_RETURN(Query query, Prepare(kUpsertTrial));
      query.BindInt(trial.id())
          .BindInt(trial.state())
          .BindText(trial.hash())
          .BindOptionalReal(BestAp(trial))
          .BindBlob(record)
          .BindInt(trial.role());
      RETURN_IF_ERROR(query.Run());
    }
    for (const v1::MetricPoint& point : mutation.metrics) {
      ASSIGN_OR_RETURN(Query query, Prepare(kInsertMetric));
      query.BindInt(point.trial())
          .BindInt(point.rung())
          .BindInt(point.step())
          .BindReal(point.loss())
          .BindOptionalReal(point.has_ap() ? std::optional<double>(point.ap()) : std::nullopt)
          .BindReal(point.at());
      RETURN_IF_ERROR(query.Run());
    }
    for (const WorkerRecord& worker : mutation.workers) {
      ASSIGN_OR_RETURN(Query query, Prepare(kUpsertWorker));
      query.BindText(worker.id)
          .BindText(worker.host)
          .BindText(worker.device)
          .BindInt(worker.memory_mb)
          .BindInt(worker.simulated ? 1 : 0)
          .BindReal(worker.registered_at)
          .BindReal(worker.last_seen)
          .BindInt(worker.trials_done)
          .BindText(worker.secret_hash)
          .BindText(worker.certificate_subject);
      RETURN_IF_ERROR(query.Run());
    }
    if (mutation.final_stage) {
      ASSIGN_OR_RETURN(Query query, Prepare(kUpdateFinalStage));
      query.BindBlob(mutation.final_stage->SerializeAsString());
      RETURN_IF_ERROR(query.Run());
    }
    if (mutation.policy) {
      ASSIGN_OR_RETURN(Query query, Prepare(kReplacePolicy));
      query.BindText(std::string(KindName(mutation.policy->algorithm))).BindInt(mutation.policy->observed).BindBlob(mutation.policy->state);
      RETURN_IF_ERROR(query.Run());
    }
    for (const Event& event : mutation.events) {
      ASSIGN_OR_RETURN(Query query, Prepare(kInsertEvent));
      query.BindReal(event.at).BindText(event.kind).BindInt(event.trial).BindText(event.detail);
      RETURN_IF_ERROR(query.Run());
    }
    return absl::OkStatus();
  }

  const std::string path_;
  // Declared first, destroyed last: the lock outlives the connection, so the next controller
  // cannot open the file before this one has closed it.
  FileLock lock_;
  mutable absl::Mutex mu_;
  DbHandle db_ ABSL_GUARDED_BY(mu_);
  // Keyed by the SQL constants above (their addresses: each is used by name).
  mutable std::unordered_map<const char*, StatementHandle> statements_ ABSL_GUARDED_BY(mu_);
  const bool read_only_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const SqliteOptions& options) {
  // stat, not open: another descriptor on the file would drop a live controller's SQLite locks
  // when closed (POSIX advisory locks are per process).
  struct stat info;
  const bool exists = ::stat(path.c_str(), &info) == 0;
  if (!exists && (options.read_only || errno != ENOENT)) {
    const std::string message = absl::StrFormat("%s: cannot open the database: %s", path, std::strerror(errno));
    return errno == ENOENT ? absl::NotFoundError(message) : absl::UnavailableError(message);
  }
  // A FIFO would hang every reader; /dev/null would take lock and journal files beside it.
  if (exists && !S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a regular file, so not a database", path));
  }
  FileLock lock;
  if (!options.read_only) {
    ASSIGN_OR_RETURN(lock, FileLock::Acquire(path, options.lock_wait_seconds));
  }

  // NOMUTEX: the store serializes its calls with its own mutex.
  const int flags =
      (options.read_only ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  auto open = [&](const std::string& name) -> absl::StatusOr<DbHandle> {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
    DbHandle db(raw);
    if (rc != SQLITE_OK) return SqliteError(raw, rc, path, "cannot open the database");
    sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
    return db;
  };
  ASSIGN_OR_RETURN(DbHandle db, open(options.read_only ? ReadOnlyUri(path, false) : path));
  absl::StatusOr<int> schema = SchemaVersion(db.get(), path);
  if (options.read_only && absl::IsPermissionDenied(schema.status()) && !FolderWritable(path)) {
    // A reader that cannot write the folder cannot make the WAL index: it reads the file as it is
    // (immutable), which is the whole history once its controller has closed it.
    ASSIGN_OR_RETURN(db, open(ReadOnlyUri(path, true)));
    schema = SchemaVersion(db.get(), path);
  }
  ASSIGN_OR_RETURN(const int version, std::move(schema));
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: schema version %d is newer than this build's version %d; use a newer vertebra", path,
                        version, kSchemaVersion));
  }
  if (options.read_only) {
    if (version == 0)
      return absl::FailedPreconditionError(absl::StrFormat("%s: not a Vertebra database (empty)", path));
    if (version < kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: schema version %d is older than this build's version %d; start the controller on it "
                          "once to migrate it",
                          path, version, kSchemaVersion));
    }
  } else {
    ASSIGN_OR_RETURN(const std::string mode, QueryText(db.get(), path, "PRAGMA journal_mode = WAL"));
    if (mode != "wal") {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: cannot switch to WAL mode (journal_mode is %s)", path, mode));
    }
    RETURN_IF_ERROR(Exec(db.get(), path,
                         options.full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                         "cannot set synchronous"));
    RETURN_IF_ERROR(Migrate(db.get(), path, version));
  }
  return std::unique_ptr<Store>(new SqliteStore(path, std::move(db), std::move(lock), options.read_only));
}

}  // namespace vertebra::controller
