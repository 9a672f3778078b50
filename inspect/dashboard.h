// `vertebra dashboard`: a search watched live in a browser. Serves the report (report.h)
// regenerated from the database at most every `refresh_seconds`, with the browser told to reload
// as often; a list of every trial; and a page per trial with what `vertebra show` prints, its
// drawing and its training curve. Read-only: the database is opened read-only for each
// regeneration and never written; a missing or unreadable database, an unknown trial or path
// gives an error page (and a status code that says so), never a crash.
//
// Access follows the gRPC API's rules (controller/service.h): on loopback no token is needed;
// beyond loopback a bearer token is required, and when there is one every request must carry it:
// as an "Authorization: Bearer T" header, or once as "?token=T", which the server turns into an
// HttpOnly cookie and a redirect to the same page without it.
#ifndef VERTEBRA_INSPECT_DASHBOARD_H_
#define VERTEBRA_INSPECT_DASHBOARD_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/clock.h"
#include "controller/store.h"

namespace vertebra::inspect {

struct DashboardOptions {
  std::string db;                         // The experiment's SQLite database.
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0: any free port.
  std::string token;                      // Required beyond loopback; empty: none asked for.
  std::string tls_cert, tls_key;          // PEM files: serve HTTPS.
  // Pages are regenerated at most this often, and the browser reloads them this often.
  double refresh_seconds = 5;
};

// One request, as the pages need it.
struct HttpRequest {
  std::string path;                          // "/", "/trials", "/trial/17".
  std::map<std::string, std::string> query;  // Decoded.
  std::string authorization;                 // The Authorization header, if any.
  std::string cookie;                        // The Cookie header, if any.
  bool https = false;                        // Served over TLS (the cookie is then Secure).
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Beyond Content-Type.
};

// The pages, without sockets. Thread-safe: requests may come from many threads; one page is
// rendered at a time.
class DashboardPages {
 public:
  // Opens the store for one regeneration (read-only); its error is shown on the page.
  using StoreOpener = std::function<absl::StatusOr<std::unique_ptr<controller::Store>>()>;

  // `source` names the database on the pages; `clock` (not owned) times the regenerations.
  DashboardPages(std::string source, StoreOpener open_store, std::string token, double refresh_seconds,
                 const controller::Clock* clock);
  DashboardPages(const DashboardPages&) = delete;
  DashboardPages& operator=(const DashboardPages&) = delete;

  // 200 with the page; 303 to set the token cookie; 401 without the token; 404 for an unknown
  // path or trial; 503 (with the reason, reloading) when the database cannot be read.
  HttpResponse Handle(const HttpRequest& request);

 private:
  struct Cached {
    double at = 0;
    HttpResponse response;
  };
  HttpResponse Render(const std::string& path);

  const std::string source_;
  const StoreOpener open_store_;
  const std::string token_;
  const double refresh_seconds_;
  const controller::Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

// The dashboard on a socket, answering on its own threads until Shutdown.
class DashboardServer {
 public:
  // Checks the options and binds. InvalidArgument naming the flag for a bad --listen, a missing
  // token beyond loopback, one TLS file without the other or an unreadable one, or a refresh
  // under a second; Unavailable when the address cannot be bound. The database need not exist yet.
  static absl::StatusOr<std::unique_ptr<DashboardServer>> Start(const DashboardOptions& options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const { return port_; }
  // Stops answering and joins the server's threads; idempotent.
  void Shutdown();

 private:
  struct Impl;
  explicit DashboardServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_DASHBOARD_H_
