#include "inspect/source.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "common/client_credentials.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "inspect/trials.h"
#include "vertebra/v1/service.grpc.pb.h"

namespace vertebra::inspect {
namespace {

namespace ctl = ::vertebra::controller;

// Trials asked for per ListTrials call: well under the service's limit of 10,000 and its 64 MiB
// reply limit (a trial record is a few KiB).
constexpr int64_t kPageSize = 1000;

// Counts by state from a message that has them (StatusReply, StateCounts).
template <typename Message>
ctl::TrialCounts CountsOf(const Message& m) {
  ctl::TrialCounts c;
  c.pending = m.pending();
  c.leased = m.leased();
  c.done = m.done();
  c.failed = m.failed();
  c.rejected = m.rejected();
  c.stopped = m.stopped();
  return c;
}

// `a` less `b`, state by state.
ctl::TrialCounts Minus(ctl::TrialCounts a, const ctl::TrialCounts& b) {
  a.pending -= b.pending;
  a.leased -= b.leased;
  a.done -= b.done;
  a.failed -= b.failed;
  a.rejected -= b.rejected;
  a.stopped -= b.stopped;
  return a;
}

class DatabaseSource final : public SearchSource {
 public:
  DatabaseSource(std::string path, std::unique_ptr<ctl::Store> store)
      : path_(std::move(path)), store_(std::move(store)) {}

  absl::StatusOr<SearchSummary> Summary() const override {
    ASSIGN_OR_RETURN(ctl::Snapshot snap, store_->Load());
    if (!snap.experiment) return absl::NotFoundError(absl::StrFormat("%s: no experiment in this database", path_));
    SearchSummary s;
    s.config = *snap.experiment;
    s.state = snap.experiment_state;
    for (const v1::Trial& t : snap.trials) s.counts.Add(t.role(), t.state());
    s.workers = static_cast<int64_t>(snap.workers.size());
    return s;
  }

  absl::StatusOr<std::vector<v1::Trial>> Trials() const override { return AllTrials(*store_); }

  absl::StatusOr<v1::Trial> Trial(int64_t id) const override { return store_->GetTrial(id); }

  absl::StatusOr<std::vector<v1::MetricPoint>> Metrics(int64_t trial) const override {
    RETURN_IF_ERROR(store_->GetTrial(trial).status());  // NotFound naming the id, as a controller says.
    return store_->Metrics(trial);
  }

  std::string Describe() const override { return path_; }

 private:
  const std::string path_;
  const std::unique_ptr<ctl::Store> store_;
};

class ControllerSource final : public SearchSource {
 public:
  ControllerSource(ControllerOptions options, std::shared_ptr<grpc::Channel> channel)
      : o_(std::move(options)), stub_(v1::AdminService::NewStub(channel)) {}

  absl::StatusOr<SearchSummary> Summary() const override {
    v1::StatusReply reply;
    RETURN_IF_ERROR(Call("status", [&](grpc::ClientContext* c) { return stub_->GetStatus(c, {}, &reply); }));
    SearchSummary s;
    s.config = reply.config();
    s.state = reply.state();
    // The reply counts every role together, and the controls and the final runs apart.
    s.counts.controls = CountsOf(reply.controls());
    s.counts.final_runs = CountsOf(reply.final_runs());
    s.counts.search = Minus(Minus(CountsOf(reply), s.counts.controls), s.counts.final_runs);
    s.workers = reply.workers();
    return s;
  }

  absl::StatusOr<std::vector<v1::Trial>> Trials() const override {
    std::vector<v1::Trial> out;
    for (int64_t offset = 0;; offset += kPageSize) {
      v1::ListTrialsRequest req;
      req.set_offset(offset);
      req.set_limit(kPageSize);
      v1::TrialsReply reply;
      RETURN_IF_ERROR(Call("list trials", [&](grpc::ClientContext* c) { return stub_->ListTrials(c, req, &reply); }));
      for (v1::Trial& t : *reply.mutable_trials()) out.push_back(std::move(t));
      if (reply.trials_size() < kPageSize) break;
    }
    return out;
  }

  absl::StatusOr<v1::Trial> Trial(int64_t id) const override {
    v1::GetTrialRequest req;
    req.set_id(id);
    v1::Trial reply;
    RETURN_IF_ERROR(Call("get trial", [&](grpc::ClientContext* c) { return stub_->GetTrial(c, req, &reply); }));
    return reply;
  }

  absl::StatusOr<std::vector<v1::MetricPoint>> Metrics(int64_t trial) const override {
    v1::GetTrialRequest req;
    req.set_id(trial);
    v1::MetricsReply reply;
    RETURN_IF_ERROR(Call("get metrics", [&](grpc::ClientContext* c) { return stub_->GetMetrics(c, req, &reply); }));
    return std::vector<v1::MetricPoint>(std::make_move_iterator(reply.mutable_points()->begin()),
                                         std::make_move_iterator(reply.mutable_points()->end()));
  }

  std::string Describe() const override { return "controller " + o_.address; }

 private:
  // One call with a deadline and the token. No retry: an inspection that cannot reach the
  // controller says so at once.
  template <typename F>
  absl::Status Call(const char* what, F&& f) const {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(1000 * o_.call_timeout_seconds)));
    if (!o_.token.empty()) context.AddMetadata("authorization", "Bearer " + o_.token);
    const grpc::Status s = f(&context);
    if (s.ok()) return absl::OkStatus();
    switch (s.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED:
        // The user's input was wrong: say which token it was.
        if (o_.token.empty()) {
          return absl::InvalidArgumentError(
              absl::StrFormat("%s: %s: it wants a bearer token (--token-file or VERTEBRA_TOKEN)", Describe(), what));
        }
        return absl::InvalidArgumentError(absl::StrFormat("%s: %s: the token from %s was refused (%s)", Describe(),
                                                          what, o_.token_origin, s.error_message()));
      case grpc::StatusCode::UNIMPLEMENTED:
        return absl::FailedPreconditionError(absl::StrFormat("%s: %s: %s (the controller is older than this command)",
                                                             Describe(), what, s.error_message()));
      default:
        return FromGrpcStatus(s, absl::StrFormat("%s: %s", Describe(), what));
    }
  }

  const ControllerOptions o_;
  const std::unique_ptr<v1::AdminService::Stub> stub_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SearchSource>> OpenDatabase(const std::string& path) {
  ctl::SqliteOptions options;
  options.read_only = true;
  ASSIGN_OR_RETURN(std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(path, options));
  return std::unique_ptr<SearchSource>(new DatabaseSource(path, std::move(store)));
}

absl::StatusOr<std::unique_ptr<SearchSource>> ConnectController(const ControllerOptions& options) {
  if (options.address.empty()) return absl::InvalidArgumentError("--controller: HOST:PORT required");
  const ClientTlsFiles tls{options.tls_ca, options.tls_cert, options.tls_key};
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials, ClientCredentials(tls));
  grpc::ChannelArguments args;
  // Trial lists are large; the controller sends up to 64 MiB.
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(options.address, credentials, args);
  return std::unique_ptr<SearchSource>(new ControllerSource(options, std::move(channel)));
}

absl::StatusOr<v1::Trial> FindTrial(const SearchSource& source, const std::string& which) {
  if (which == "best") {
    ASSIGN_OR_RETURN(std::vector<v1::Trial> all, source.Trials());
    std::vector<v1::Trial> ranked = RankTrials(std::move(all));
    if (ranked.empty()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: no trial has a result yet, so there is no best one", source.Describe()));
    }
    return std::move(ranked.front());
  }
  int64_t id = 0;
  if (!absl::SimpleAtoi(which, &id) || id < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("trial \"%s\": expected \"best\" or a trial id (1, 2, ...)", which));
  }
  return source.Trial(id);
}

}  // namespace vertebra::inspect
