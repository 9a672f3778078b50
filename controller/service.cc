#include "controller/service.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/grpcpp.h>
#include <grpc/support/log.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "common/address.h"
#include "common/file_util.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "common/token.h"
#include "vertebra/v1/service.grpc.pb.h"

namespace vertebra::controller {
namespace {

// Checks the bearer token of a call (nothing to check when the server has none).
grpc::Status Authorize(const grpc::ServerContext* context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing bearer token");
  const std::string value(it->second.data(), it->second.size());
  if (!ConstantTimeEquals(value, "Bearer " + token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong bearer token");
  }
  return grpc::Status::OK;
}

// While alive, drops gRPC's log lines about failing to bind a listening port (the caller reports
// that itself) and prints every other line to stderr as gRPC would. Process-wide: meant for
// the moment a server starts.
class ScopedBindLogFilter {
 public:
  ScopedBindLogFilter() { gpr_set_log_function(&Filter); }
  ~ScopedBindLogFilter() { gpr_set_log_function(nullptr); }  // nullptr: gRPC's default logger again.
  ScopedBindLogFilter(const ScopedBindLogFilter&) = delete;
  ScopedBindLogFilter& operator=(const ScopedBindLogFilter&) = delete;

 private:
  static void Filter(gpr_log_func_args* args) {
    const absl::string_view file = args->file != nullptr ? args->file : "";
    if (absl::EndsWith(file, "chttp2_server.cc") || absl::StrContains(file, "tcp_server")) return;
    std::fprintf(stderr, "%s %s:%d] %s\n", gpr_log_severity_string(args->severity), std::string(file).c_str(),
                 args->line, args->message);
  }
};

// A worker call must name its worker.
// The caller as TLS knows it: the subject of its client certificate under mTLS, else nothing.
Peer PeerOf(const grpc::ServerContext& context) {
  Peer peer;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return peer;
  for (const grpc::string_ref& subject : auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
    peer.certificate_subject.assign(subject.data(), subject.size());
    break;
  }
  return peer;
}

grpc::Status RequireWorker(const std::string& id) {
  if (id.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "worker_id: required");
  return grpc::Status::OK;
}
template <typename Request>
grpc::Status RequireWorker(const Request& request) {
  return RequireWorker(request.worker_id());
}
grpc::Status RequireWorker(const v1::RegisterRequest&) { return grpc::Status::OK; }  // It gets one.

// WorkerService is the scheduler's worker calls over gRPC: authenticate, check the worker id,
// call, translate the status. The scheduler speaks the messages itself.
class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(Scheduler* scheduler, std::string token) : scheduler_(scheduler), token_(std::move(token)) {}

  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* req,
                        v1::RegisterReply* reply) override {
    return Serve(context, *req, reply, &Scheduler::Register);
  }
  grpc::Status Lease(grpc::ServerContext* context, const v1::LeaseRequest* req, v1::LeaseReply* reply) override {
    return Serve(context, *req, reply, &Scheduler::Lease);
  }
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* req,
                         v1::HeartbeatReply* reply) override {
    return Serve(context, *req, reply, &Scheduler::Heartbeat);
  }
  grpc::Status Report(grpc::ServerContext* context, const v1::ReportRequest* req, v1::ReportReply* reply) override {
    return Serve(context, *req, reply, &Scheduler::Report);
  }
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* req, v1::ReleaseReply*) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    if (grpc::Status s = RequireWorker(*req); !s.ok()) return s;
    return ToGrpcStatus(scheduler_->Release(*req, PeerOf(*context)));
  }

 private:
  template <typename Request, typename Reply>
  grpc::Status Serve(const grpc::ServerContext* context, const Request& req, Reply* reply,
                     absl::StatusOr<Reply> (Scheduler::*call)(const Request&, const Peer&)) {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    if (grpc::Status s = RequireWorker(req); !s.ok()) return s;
    absl::StatusOr<Reply> r = (scheduler_->*call)(req, PeerOf(*context));
    if (!r.ok()) return ToGrpcStatus(r.status());
    *reply = *std::move(r);
    return grpc::Status::OK;
  }

  Scheduler* scheduler_;
  std::string token_;
};

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  AdminServiceImpl(Scheduler* scheduler, Store* store, std::string token)
      : scheduler_(scheduler), store_(store), token_(std::move(token)) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const v1::StatusRequest*, v1::StatusReply* reply) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    *reply = scheduler_->Status();
    return grpc::Status::OK;
  }

  grpc::Status ListTrials(grpc::ServerContext* context, const v1::ListTrialsRequest* req,
                          v1::TrialsReply* reply) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    if (req->offset() < 0 || req->limit() < 0 || req->limit() > 10000) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "offset >= 0 and limit in [0, 10000] required");
    }
    absl::StatusOr<std::vector<v1::Trial>> trials = store_->ListTrials(req->offset(), req->limit() ? req->limit() : 100);
    if (!trials.ok()) return ToGrpcStatus(trials.status());
    for (v1::Trial& t : *trials) *reply->add_trials() = std::move(t);
    return grpc::Status::OK;
  }

  grpc::Status GetTrial(grpc::ServerContext* context, const v1::GetTrialRequest* req, v1::Trial* reply) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    absl::StatusOr<v1::Trial> t = scheduler_->GetTrial(req->id());
    if (!t.ok()) return ToGrpcStatus(t.status());
    *reply = *std::move(t);
    return grpc::Status::OK;
  }

  grpc::Status Top(grpc::ServerContext* context, const v1::TopRequest* req, v1::TrialsReply* reply) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    if (req->k() < 0 || req->k() > 10000) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "k in [0, 10000]");
    absl::StatusOr<std::vector<v1::Trial>> trials = store_->TopTrials(req->k() ? req->k() : 10);
    if (!trials.ok()) return ToGrpcStatus(trials.status());
    for (v1::Trial& t : *trials) *reply->add_trials() = std::move(t);
    return grpc::Status::OK;
  }

  grpc::Status GetMetrics(grpc::ServerContext* context, const v1::GetTrialRequest* req,
                          v1::MetricsReply* reply) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    // The store has no notion of unknown trials (it returns no points): ask the scheduler first so
    // that a wrong id is NOT_FOUND, as GetTrial says.
    if (absl::StatusOr<v1::Trial> t = scheduler_->GetTrial(req->id()); !t.ok()) return ToGrpcStatus(t.status());
    absl::StatusOr<std::vector<v1::MetricPoint>> points = store_->Metrics(req->id());
    if (!points.ok()) return ToGrpcStatus(points.status());
    for (v1::MetricPoint& p : *points) *reply->add_points() = std::move(p);
    return grpc::Status::OK;
  }

  grpc::Status Stop(grpc::ServerContext* context, const v1::StopRequest* req, v1::StopReply*) override {
    if (grpc::Status s = Authorize(context, token_); !s.ok()) return s;
    return ToGrpcStatus(scheduler_->Stop(req->reason().empty() ? "stopped by an administrator" : req->reason()));
  }

 private:
  Scheduler* scheduler_;
  Store* store_;
  std::string token_;
};

}  // namespace

struct ControllerServer::Impl {
  std::unique_ptr<WorkerServiceImpl> worker;
  std::unique_ptr<AdminServiceImpl> admin;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  Scheduler* scheduler = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  bool shutting_down = false;
  std::thread expiry;
};

ControllerServer::ControllerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControllerServer::~ControllerServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::Start(Scheduler* scheduler, Store* store,
                                                                          const ServerOptions& options) {
  if (options.token.empty() && !IsLoopback(options.listen)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "listen %s: a bearer token is required beyond loopback (--token-file or VERTEBRA_TOKEN)", options.listen));
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(options.tls_cert);
    if (!cert.ok()) return absl::InvalidArgumentError(absl::StrFormat("--tls-cert %s: cannot read", options.tls_cert));
    absl::StatusOr<std::string> key = ReadFile(options.tls_key);
    if (!key.ok()) return absl::InvalidArgumentError(absl::StrFormat("--tls-key %s: cannot read", options.tls_key));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options.tls_client_ca.empty()) {
      absl::StatusOr<std::string> ca = ReadFile(options.tls_client_ca);
      if (!ca.ok()) {
        return absl::InvalidArgumentError(absl::StrFormat("--tls-client-ca %s: cannot read", options.tls_client_ca));
      }
      ssl.pem_root_certs = *ca;
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }
  auto impl = std::make_unique<Impl>();
  impl->scheduler = scheduler;
  impl->worker = std::make_unique<WorkerServiceImpl>(scheduler, options.token);
  impl->admin = std::make_unique<AdminServiceImpl>(scheduler, store, options.token);
  grpc::EnableDefaultHealthCheckService(true);
  RETURN_IF_ERROR(CheckListenAddress(options.listen));
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second controller on the same port would then serve half
  // of the new connections, and workers would silently join the wrong search. Without it the
  // second bind fails.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, credentials, &impl->port);
  builder.RegisterService(impl->worker.get());
  builder.RegisterService(impl->admin.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(64 << 20);
  {
    // A port that cannot be bound is our one-line error below; gRPC's own log line about it
    // (chttp2_server.cc: "No address added ...") would only come first and confuse it.
    const ScopedBindLogFilter quiet;
    impl->server = builder.BuildAndStart();
  }
  if (impl->server == nullptr || impl->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("listen %s: cannot bind (is another program, or another controller, on that port?)",
                        options.listen));
  }
  Impl* raw = impl.get();
  const double interval = options.expiry_interval_seconds;
  impl->expiry = std::thread([raw, interval] {
    std::unique_lock<std::mutex> lock(raw->mu);
    while (!raw->shutting_down) {
      raw->cv.wait_for(lock, std::chrono::duration<double>(interval));
      if (raw->shutting_down) break;
      lock.unlock();
      (void)raw->scheduler->ExpireLeases();
      lock.lock();
    }
  });
  return std::unique_ptr<ControllerServer>(new ControllerServer(std::move(impl)));
}

int ControllerServer::port() const { return impl_->port; }

void ControllerServer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->shutting_down) return;
    impl_->shutting_down = true;
  }
  impl_->cv.notify_all();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (impl_->expiry.joinable()) impl_->expiry.join();
}

void ControllerServer::Wait() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->shutting_down; });
}

}  // namespace vertebra::controller
