#include "controller/service.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "common/file_util.h"
#include "controller/config.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "vertebra/v1/service.grpc.pb.h"

namespace vertebra::controller {
namespace {

using ::vertebra::test_util::FakeClock;

namespace fs = std::filesystem;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<v1::ExperimentConfig> config = ParseExperimentConfig(
        R"({"name": "svc", "algorithm": {"kind": "random", "queue": 2}, "budget": {"trials": 4},
            "simulation": {"seconds": 0}, "lease": {"lease_seconds": 30, "heartbeat_seconds": 1}})",
        "svc.json");
    ASSERT_TRUE(config.ok()) << config.status();
    SchedulerOptions options;
    options.policy_thread = true;
    scheduler_ = *Scheduler::Open(store_.get(), *config, &clock_, options);
  }

  void Serve(ServerOptions options) {
    options.listen = options.listen.empty() ? "127.0.0.1:0" : options.listen;
    absl::StatusOr<std::unique_ptr<ControllerServer>> server =
        ControllerServer::Start(scheduler_.get(), store_.get(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::unique_ptr<v1::WorkerService::Stub> Stub(std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr,
                                                const std::string& host = "127.0.0.1") {
    if (!credentials) credentials = grpc::InsecureChannelCredentials();
    grpc::ChannelArguments args;
    if (host != "127.0.0.1") args.SetSslTargetNameOverride(host);
    return v1::WorkerService::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()), credentials, args));
  }

  static grpc::Status Register(v1::WorkerService::Stub& stub, const std::string& token, v1::RegisterReply* reply,
                               const std::string& host = "test") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::RegisterRequest req;
    req.set_host(host);
    req.set_simulated(true);
    return stub.Register(&context, req, reply);
  }

  std::unique_ptr<Store> store_ = NewMemoryStore();
  FakeClock clock_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ControllerServer> server_;
};

TEST_F(ServiceTest, ATokenIsRequiredAndChecked) {
  ServerOptions options;
  options.token = "s3cret";
  Serve(options);
  auto stub = Stub();
  v1::RegisterReply reply;
  EXPECT_EQ(Register(*stub, "", &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Register(*stub, "wrong", &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Register(*stub, "s3cret", &reply).ok());
  EXPECT_EQ(reply.experiment(), "svc");
  EXPECT_FALSE(reply.worker_id().empty());
}

TEST_F(ServiceTest, ListeningBeyondLoopbackWithoutATokenIsRefused) {
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  const absl::Status s = ControllerServer::Start(scheduler_.get(), store_.get(), options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("token"), std::string::npos) << s;
}

// gRPC's SO_REUSEPORT default would let a second controller serve the same port and split the
// workers between two searches.
TEST_F(ServiceTest, ASecondControllerOnTheSamePortIsRefused) {
  Serve({});
  ServerOptions second;
  second.listen = "127.0.0.1:" + std::to_string(server_->port());
  const absl::Status s = ControllerServer::Start(scheduler_.get(), store_.get(), second).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cannot bind"), std::string::npos) << s;
}

TEST_F(ServiceTest, BadListenAddressesAreRefused) {
  for (const char* listen : {"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1", ":50051", "127.0.0.1:5x"}) {
    ServerOptions options;
    options.listen = listen;
    const absl::Status s = ControllerServer::Start(scheduler_.get(), store_.get(), options).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_NE(s.message().find(listen), std::string::npos) << s;
  }
}

TEST_F(ServiceTest, MalformedAndForeignRequestsAreAnsweredNotCrashed) {
  Serve({});
  auto stub = Stub();
  v1::RegisterReply reg;
  ASSERT_TRUE(Register(*stub, "", &reg).ok());
  {
    grpc::ClientContext context;
    v1::LeaseRequest req;  // No worker id.
    v1::LeaseReply reply;
    EXPECT_EQ(stub->Lease(&context, req, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  v1::LeaseReply lease;
  for (int i = 0; i < 100 && lease.status() != v1::LeaseReply::GRANTED; ++i) {
    grpc::ClientContext context;
    v1::LeaseRequest req;
    req.set_worker_id(reg.worker_id());
    req.set_worker_secret(reg.worker_secret());
    ASSERT_TRUE(stub->Lease(&context, req, &lease).ok());
    if (lease.status() != v1::LeaseReply::GRANTED) usleep(20000);  // The policy thread fills the queue.
  }
  ASSERT_EQ(lease.status(), v1::LeaseReply::GRANTED);
  {
    grpc::ClientContext context;
    v1::ReportRequest req;
    req.set_worker_id(reg.worker_id());
    req.set_worker_secret(reg.worker_secret());
    req.set_trial(lease.trial());
    req.set_lease(lease.lease());
    req.set_simulated(true);
    req.mutable_ap()->add_stats(0.5);  // 1 number instead of 12.
    v1::ReportReply reply;
    EXPECT_EQ(stub->Report(&context, req, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext context;
    v1::ReportRequest req;
    req.set_worker_id("w-999");  // No such worker.
    req.set_trial(lease.trial());
    req.set_lease(lease.lease());
    for (int i = 0; i < 12; ++i) req.mutable_ap()->add_stats(0.5);
    v1::ReportReply reply;
    EXPECT_EQ(stub->Report(&context, req, &reply).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    // Another registration's secret: PERMISSION_DENIED over the wire too; none: UNAUTHENTICATED.
    v1::RegisterReply other;
    ASSERT_TRUE(Register(*stub, "", &other).ok());
    for (const std::string& secret : {other.worker_secret(), std::string()}) {
      grpc::ClientContext context;
      v1::ReportRequest req;
      req.set_worker_id(reg.worker_id());
      req.set_worker_secret(secret);
      req.set_trial(lease.trial());
      req.set_lease(lease.lease());
      req.set_simulated(true);
      for (int i = 0; i < 12; ++i) req.mutable_ap()->add_stats(0.5);
      v1::ReportReply reply;
      EXPECT_EQ(stub->Report(&context, req, &reply).error_code(),
                secret.empty() ? grpc::StatusCode::UNAUTHENTICATED : grpc::StatusCode::PERMISSION_DENIED);
    }
  }
  {
    grpc::ClientContext context;
    v1::RegisterRequest req;
    req.set_host(std::string(5 << 20, 'x'));  // Over the 4 MiB limit.
    v1::RegisterReply reply;
    EXPECT_EQ(stub->Register(&context, req, &reply).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // Still serving.
  EXPECT_TRUE(Register(*stub, "", &reg).ok());
}

// A CA, a server certificate for "localhost" and two client certificates ("worker" and "other"),
// made with the openssl tool.
class TlsFiles {
 public:
  TlsFiles() : dir_(fs::temp_directory_path() / ("vertebra_tls_" + std::to_string(getpid()))) {
    fs::create_directories(dir_);
    const std::string d = dir_.string();
    const std::string script =
        "cd " + d +
        " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca "
        "2>/dev/null"
        " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null"
        " && printf 'subjectAltName=DNS:localhost' > san.ext"
        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile san.ext 2>/dev/null"
        " && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=worker 2>/dev/null"
        " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 "
        "2>/dev/null"
        " && openssl req -newkey rsa:2048 -nodes -keyout other.key -out other.csr -subj /CN=other 2>/dev/null"
        " && openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out other.pem -days 2 "
        "2>/dev/null";
    ok_ = std::system(script.c_str()) == 0;
  }
  ~TlsFiles() { fs::remove_all(dir_); }
  bool ok() const { return ok_; }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Read(const std::string& name) const { return *ReadFile(Path(name)); }
  // A server that asks every client for a certificate this CA signed, and the search token.
  ServerOptions MutualServerOptions(const std::string& token) const {
    ServerOptions options;
    options.tls_cert = Path("server.pem");
    options.tls_key = Path("server.key");
    options.tls_client_ca = Path("ca.pem");
    options.token = token;
    return options;
  }

 private:
  fs::path dir_;
  bool ok_ = false;
};

TEST_F(ServiceTest, MutualTlsAcceptsOnlyClientsWithACertificate) {
  TlsFiles tls;
  if (!tls.ok()) GTEST_SKIP() << "the openssl tool could not make test certificates";
  Serve(tls.MutualServerOptions("t"));
  grpc::SslCredentialsOptions with_cert;
  with_cert.pem_root_certs = tls.Read("ca.pem");
  with_cert.pem_cert_chain = tls.Read("client.pem");
  with_cert.pem_private_key = tls.Read("client.key");
  v1::RegisterReply reply;
  auto good = Stub(grpc::SslCredentials(with_cert), "localhost");
  EXPECT_TRUE(Register(*good, "t", &reply).ok());
  grpc::SslCredentialsOptions without_cert;
  without_cert.pem_root_certs = tls.Read("ca.pem");
  auto bad = Stub(grpc::SslCredentials(without_cert), "localhost");
  EXPECT_FALSE(Register(*bad, "t", &reply).ok());
  auto plain = Stub();
  EXPECT_FALSE(Register(*plain, "t", &reply).ok());
}

// Under mTLS a worker is bound to the certificate it registered with: another certificate signed
// by the same CA cannot act as it, even with its secret, and the attempt is on the record.
TEST_F(ServiceTest, UnderMutualTlsAWorkerIsBoundToItsCertificate) {
  TlsFiles tls;
  if (!tls.ok()) GTEST_SKIP() << "the openssl tool could not make test certificates";
  Serve(tls.MutualServerOptions("t"));
  auto as = [&](const std::string& name) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = tls.Read("ca.pem");
    o.pem_cert_chain = tls.Read(name + ".pem");
    o.pem_private_key = tls.Read(name + ".key");
    return Stub(grpc::SslCredentials(o), "localhost");
  };
  auto worker = as("client");
  auto other = as("other");
  v1::RegisterReply reg;
  ASSERT_TRUE(Register(*worker, "t", &reg).ok());
  auto lease = [&](v1::WorkerService::Stub& stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.AddMetadata("authorization", "Bearer t");
    v1::LeaseRequest req;
    req.set_worker_id(reg.worker_id());
    req.set_worker_secret(reg.worker_secret());
    v1::LeaseReply reply;
    return stub.Lease(&context, req, &reply);
  };
  const grpc::Status own = lease(*worker);
  EXPECT_TRUE(own.ok()) << own.error_message();
  const grpc::Status stolen = lease(*other);
  EXPECT_EQ(stolen.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(stolen.error_message().find("CN=other"), std::string::npos) << stolen.error_message();
  EXPECT_NE(stolen.error_message().find("CN=worker"), std::string::npos) << stolen.error_message();
  absl::StatusOr<std::vector<Event>> events = store_->Events(0, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  int refused = 0;
  for (const Event& e : *events) refused += e.kind == "identity_refused";
  EXPECT_EQ(refused, 1);
}

}  // namespace
}  // namespace vertebra::controller
