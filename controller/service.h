// The controller as a gRPC server: WorkerService and AdminService over the scheduler, the health
// service, bearer-token auth, optional TLS and mTLS, message size limits, and a thread that
// expires lost leases.
#ifndef VERTEBRA_CONTROLLER_SERVICE_H_
#define VERTEBRA_CONTROLLER_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controller/scheduler.h"
#include "controller/store.h"

namespace vertebra::controller {

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";  // HOST:PORT; port 0 picks a free one.
  // Required whenever `listen` is not a loopback address. Compared in constant time.
  std::string token;
  // TLS: PEM certificate chain and key; with client_ca, clients must present a certificate it
  // signed (mTLS).
  std::string tls_cert, tls_key, tls_client_ca;
  int max_message_bytes = 4 << 20;
  double expiry_interval_seconds = 1.0;
};

class ControllerServer {
 public:
  // Starts serving. InvalidArgument when listening beyond loopback without a token, for unreadable
  // TLS files (named), or an address the server cannot bind.
  static absl::StatusOr<std::unique_ptr<ControllerServer>> Start(Scheduler* scheduler, Store* store,
                                                                 const ServerOptions& options);
  ~ControllerServer();  // Shuts down (calls in flight get a short grace period).

  int port() const;  // The bound port.
  void Shutdown();
  // Blocks until Shutdown() (from a signal handler thread) or the experiment finishes.
  void Wait();

 private:
  struct Impl;
  explicit ControllerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vertebra::controller

#endif  // VERTEBRA_CONTROLLER_SERVICE_H_
