#include "worker/agent/agent.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "common/client_credentials.h"
#include "common/file_util.h"
#include "common/grpc_status.h"
#include "proto/checks.h"
#include "vertebra/v1/service.grpc.pb.h"

namespace vertebra::worker {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How long a worker that is shutting down waits for the controller to take its lease back.
constexpr double kReleaseSeconds = 5;
// A call retried while the controller is unreachable logs its first failure and every this many.
constexpr int kLogRetriesEvery = 40;

class Agent {
 public:
  Agent(const AgentOptions& options, TrialRunner& runner) : o_(options), runner_(runner) {}

  absl::StatusOr<AgentSummary> Run() {
    if (absl::Status s = Connect(); !s.ok()) return s;
    if (absl::Status s = Register(); !s.ok()) return s;
    if (absl::Status s = ResendSpool(); !s.ok()) return s;
    while (!Stopping()) {
      if (o_.max_trials > 0 && summary_.reported >= o_.max_trials) {
        summary_.exit_reason = "reached --max-trials";
        return summary_;
      }
      v1::LeaseRequest req;
      req.set_worker_id(worker_id_);
      req.set_worker_secret(experiment_.worker_secret());
      held_ = runner_.HeldTrials(experiment_);  // Looked up once per lease; heartbeats repeat it.
      req.mutable_held_trials()->Add(held_.begin(), held_.end());
      v1::LeaseReply lease;
      grpc::Status s = Call([&](grpc::ClientContext* c) { return worker_->Lease(c, req, &lease); });
      if (!s.ok()) {
        if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
          // The controller does not know us (a new database): register again.
          if (absl::Status r = Register(); !r.ok()) return r;
          continue;
        }
        if (Stopping()) break;
        return FromGrpcStatus(s, "lease");
      }
      if (lease.status() == v1::LeaseReply::FINISHED) {
        summary_.exit_reason = lease.reason();
        return summary_;
      }
      if (lease.status() != v1::LeaseReply::GRANTED) {
        Sleep(std::max(0.05, lease.retry_after_seconds()));
        continue;
      }
      if (absl::Status r = RunTrial(lease); !r.ok()) return r;
    }
    summary_.exit_reason = "stopped";
    return summary_;
  }

 private:
  bool Stopping() const { return o_.stop != nullptr && o_.stop->load(); }

  void Log(const std::string& line) const {
    std::lock_guard<std::mutex> lock(log_mu_);  // The heartbeat thread logs too.
    if (o_.log) o_.log(line);
  }

  void Sleep(double seconds) const {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until && !Stopping()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  absl::Status Connect() {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        ClientCredentials({o_.tls_ca, o_.tls_cert, o_.tls_key});
    if (!credentials.ok()) return credentials.status();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(1000 * o_.max_backoff_seconds));
    channel_ = grpc::CreateCustomChannel(o_.controller, *credentials, args);
    worker_ = v1::WorkerService::NewStub(channel_);
    return absl::OkStatus();
  }

  // One RPC with a deadline, retried with exponential back-off while the controller is
  // unreachable (or until give_up_seconds / stop).
  template <typename F>
  grpc::Status Call(F&& f) {
    double backoff = std::min(0.1, o_.max_backoff_seconds);
    const Clock::time_point first_failure = Clock::now();
    int tries = 0;
    while (true) {
      grpc::Status s = CallOnce(f, o_.call_timeout_seconds);
      if (s.ok() || !IsTransient(s)) return s;
      if (Stopping()) return s;
      if (o_.give_up_seconds > 0 &&
          std::chrono::duration<double>(Clock::now() - first_failure).count() > o_.give_up_seconds) {
        return s;
      }
      // One line when the outage starts and one every kLogRetriesEvery tries, not one per try.
      if (tries++ % kLogRetriesEvery == 0) {
        Log(absl::StrFormat("controller unreachable (%s); retrying every %.1f s at most", s.error_message(),
                            o_.max_backoff_seconds));
      }
      AwaitController(backoff);
      backoff = std::min(o_.max_backoff_seconds, backoff * 2);
    }
  }

  // Waits up to `seconds` before the next try: until the channel is connected again when it is
  // not (then at once), else the whole time. gRPC's client makes progress on a connection attempt
  // only while some call or watch polls the channel (or its backup poller runs, every 5 s):
  // watching the state here is what lets a restarted controller be found within moments.
  void AwaitController(double seconds) {
    const auto until = std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                               std::chrono::duration<double>(seconds));
    if (channel_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) {
      Sleep(seconds);
      return;
    }
    while (!Stopping() && std::chrono::system_clock::now() < until) {
      const auto slice = std::min(until, std::chrono::system_clock::now() + std::chrono::milliseconds(50));
      if (channel_->WaitForConnected(slice)) return;
    }
  }

  // One attempt of one RPC with a deadline of `timeout` seconds. wait_for_ready: wait for the
  // channel to connect within the deadline instead of failing at once while it is down (which
  // also keeps the connection attempts going; see AwaitController).
  template <typename F>
  grpc::Status CallOnce(F&& f, double timeout, bool wait_for_ready = false) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(1000 * timeout)));
    context.set_wait_for_ready(wait_for_ready);
    if (!o_.token.empty()) context.AddMetadata("authorization", "Bearer " + o_.token);
    return f(&context);
  }

  absl::Status Register() {
    v1::RegisterRequest req;
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    req.set_host(o_.host.empty() ? host : o_.host);
    req.set_device(o_.device);
    req.set_memory_mb(o_.memory_mb);
    req.set_simulated(o_.simulated);
    grpc::Status s = Call([&](grpc::ClientContext* c) { return worker_->Register(c, req, &experiment_); });
    if (!s.ok()) return FromGrpcStatus(s, "register with " + o_.controller);
    worker_id_ = experiment_.worker_id();
    summary_.worker_id = worker_id_;
    Log(absl::StrFormat("registered as %s for experiment '%s'", worker_id_, experiment_.experiment()));
    return absl::OkStatus();
  }

  fs::path SpoolDir() const { return fs::path(o_.work_dir) / "spool"; }

  // Sends one report until the controller acknowledges or refuses it; then forgets it.
  absl::Status Deliver(const v1::ReportRequest& report, const fs::path& file) {
    v1::ReportReply reply;
    grpc::Status s = Call([&](grpc::ClientContext* c) { return worker_->Report(c, report, &reply); });
    if (!s.ok() && IsTransient(s)) return absl::UnavailableError("report kept in " + file.string() + " for the next run");
    if (s.ok()) {
      Log(absl::StrFormat("reported trial %d (lease %d)%s", report.trial(), report.lease(),
                          reply.duplicate() ? ", already recorded" : ""));
    } else {
      // Stale (the lease expired and went elsewhere) or unknown: the controller will never take it.
      Log(absl::StrFormat("report of trial %d refused: %s", report.trial(), s.error_message()));
    }
    std::error_code ec;
    fs::remove(file, ec);
    return absl::OkStatus();
  }

  absl::Status ResendSpool() {
    std::error_code ec;
    if (!fs::exists(SpoolDir(), ec)) return absl::OkStatus();
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(SpoolDir(), ec)) {
      if (entry.path().extension() == ".pb") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      absl::StatusOr<std::string> bytes = ReadFile(f.string());
      v1::ReportRequest report;
      if (!bytes.ok() || !report.ParseFromString(*bytes)) {
        Log("dropping unreadable spool file " + f.string());
        fs::remove(f, ec);
        continue;
      }
      if (absl::Status s = Deliver(report, f); !s.ok()) return s;
      ++summary_.spooled_resent;
    }
    return absl::OkStatus();
  }

  absl::Status RunTrial(const v1::LeaseReply& lease) {
    Log(absl::StrFormat("trial %d: lease %d, rung %d, %d steps", lease.trial(), lease.lease(), lease.rung(),
                        lease.steps()));
    // Heartbeats go from their own thread, so training never waits for the network: a heartbeat
    // gets one try with a deadline of two intervals, and a missed one is sent again at the next
    // interval. If the controller stays out of reach past the lease, the trial goes elsewhere and
    // this worker's report is refused. Progress points that carry a held-out AP are queued and
    // each one is sent; plain points only update what the next heartbeat says.
    const double interval = std::max(0.01, lease.heartbeat_seconds());
    const double beat_timeout = std::clamp(2 * interval, 0.2, std::max(0.2, o_.call_timeout_seconds));
    using Point = TrialProgress;
    std::mutex mu;
    std::condition_variable wake;
    Point latest;
    std::optional<int64_t> start_step;  // Known from the first progress on.
    std::deque<Point> with_ap;
    bool trained = false;
    std::atomic<bool> lost{false}, told_to_stop{false};
    std::thread beats([&] {
      bool unreachable = false;
      int64_t sent_step = 0;  // The last step the controller took; a repeat goes as step 0.
      std::unique_lock<std::mutex> lock(mu);
      while (!Stopping()) {
        wake.wait_for(lock, std::chrono::duration<double>(interval),
                      [&] { return trained || !with_ap.empty(); });
        // At the end, only the AP points not yet sent remain to go, while the controller answers.
        if (trained && (with_ap.empty() || unreachable)) break;
        Point point = with_ap.empty() ? latest : with_ap.front();
        if (!point.ap && point.step == sent_step) point = {};  // No new progress: renew the lease only.
        const std::optional<int64_t> start = start_step;
        lock.unlock();
        v1::HeartbeatRequest req;
        req.set_worker_id(worker_id_);
        req.set_worker_secret(experiment_.worker_secret());
        req.set_trial(lease.trial());
        req.set_lease(lease.lease());
        req.mutable_held_trials()->Add(held_.begin(), held_.end());
        if (start) req.set_start_step(*start);
        req.set_step(point.step);
        req.set_loss(point.loss);
        if (point.ap) {
          req.set_has_ap(true);
          req.set_ap(*point.ap);
        }
        v1::HeartbeatReply reply;
        grpc::Status s =
            CallOnce([&](grpc::ClientContext* c) { return worker_->Heartbeat(c, req, &reply); }, beat_timeout,
                     /*wait_for_ready=*/true);
        lock.lock();
        if (!s.ok() && IsTransient(s)) {
          if (!unreachable) {
            Log(absl::StrFormat("trial %d: heartbeat failed (%s); training on", lease.trial(), s.error_message()));
          }
          unreachable = true;
          if (!with_ap.empty()) {  // Not sent: wait an interval before trying it again.
            wake.wait_for(lock, std::chrono::duration<double>(interval), [&] { return trained; });
          }
          continue;
        }
        if (unreachable) Log(absl::StrFormat("trial %d: the controller is reachable again", lease.trial()));
        unreachable = false;
        if (point.ap && !with_ap.empty()) with_ap.pop_front();
        if (s.ok() && point.step > 0) sent_step = point.step;
        if (!s.ok()) {
          Log(absl::StrFormat("trial %d: %s", lease.trial(), s.error_message()));
          lost = true;
          return;
        }
        if (reply.stop()) {
          Log(absl::StrFormat("trial %d: the controller says stop: %s", lease.trial(), reply.reason()));
          told_to_stop = true;
          return;
        }
      }
    });
    ProgressFn progress = [&](const TrialProgress& p) {
      if (Stopping() || lost || told_to_stop) return false;
      std::lock_guard<std::mutex> lock(mu);
      start_step = p.start_step;
      latest = {p.start_step, p.step, p.loss, std::nullopt};
      if (p.ap) {
        with_ap.push_back(p);
        wake.notify_one();
      }
      return true;
    };
    // The heartbeat thread ends with the trial, however Run returns.
    auto end_beats = absl::MakeCleanup([&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        trained = true;
      }
      wake.notify_one();
      beats.join();
    });
    absl::StatusOr<v1::ReportRequest> outcome = runner_.Run(experiment_, lease, progress);
    std::move(end_beats).Invoke();
    if (Stopping() && !lost) {
      // Shutting down: give the lease back so that the trial goes to another worker at once.
      v1::ReleaseRequest req;
      req.set_worker_id(worker_id_);
      req.set_worker_secret(experiment_.worker_secret());
      req.set_trial(lease.trial());
      req.set_lease(lease.lease());
      v1::ReleaseReply reply;
      if (CallOnce([&](grpc::ClientContext* c) { return worker_->Release(c, req, &reply); }, kReleaseSeconds).ok()) {
        ++summary_.released;
      }
      Log(absl::StrFormat("trial %d: released lease %d", lease.trial(), lease.lease()));
      return absl::OkStatus();
    }
    if (lost || told_to_stop || absl::IsCancelled(outcome.status())) return absl::OkStatus();
    v1::ReportRequest report;
    if (outcome.ok()) {
      report = *std::move(outcome);
    } else {
      report.set_failed(true);
      report.set_retryable(absl::IsUnavailable(outcome.status()));
      report.set_failure(std::string(outcome.status().message()));
    }
    report.set_worker_id(worker_id_);
    report.set_worker_secret(experiment_.worker_secret());  // Spooled with it: it proves who trained it.
    report.set_trial(lease.trial());
    report.set_lease(lease.lease());
    // Within the protocol's limit: the controller refuses a longer failure text.
    if (report.failure().size() > kMaxFailureChars) report.set_failure(TruncateText(report.failure()));
    // On disk before it is sent: a worker killed now still delivers it on its next start.
    // The spool holds this worker's secret: its owner's only.
    std::error_code ec;
    fs::create_directories(SpoolDir(), ec);
    fs::permissions(SpoolDir(), fs::perms::owner_all, fs::perm_options::replace, ec);
    const fs::path file = SpoolDir() / absl::StrFormat("trial-%08d-lease-%08d.pb", lease.trial(), lease.lease());
    if (absl::Status s = WriteFileAtomically(file.string(), report.SerializeAsString()); !s.ok()) return s;
    if (absl::Status s = Deliver(report, file); !s.ok()) return s;
    ++summary_.reported;
    return absl::OkStatus();
  }

  const AgentOptions& o_;
  TrialRunner& runner_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
  v1::RegisterReply experiment_;
  std::string worker_id_;
  std::vector<int64_t> held_;  // What the runner held at the last lease request.
  AgentSummary summary_;
  mutable std::mutex log_mu_;
};

}  // namespace

absl::StatusOr<AgentSummary> RunAgent(const AgentOptions& options, TrialRunner& runner) {
  Agent agent(options, runner);
  return agent.Run();
}

}  // namespace vertebra::worker
