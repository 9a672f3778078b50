// `vertebra report`: an experiment's search as one self-contained HTML page; `vertebra dashboard`:
// the same page and one per trial, served live over HTTP. Both open the database read-only (it
// may be the live database of a running controller) and never write it.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "common/file_util.h"
#include "common/token.h"
#include "controller/store.h"
#include "inspect/dashboard.h"
#include "inspect/report.h"

namespace vertebra::cli {
namespace {

struct ReportFlags {
  std::string db;
  std::string out = "report.html";
  inspect::ReportOptions options;
};

void RunReport(const ReportFlags& f) {
  controller::SqliteOptions sqlite;
  sqlite.read_only = true;
  absl::StatusOr<std::unique_ptr<controller::Store>> store = controller::OpenSqliteStore(f.db, sqlite);
  if (!store.ok()) Fail(store.status());
  inspect::ReportOptions options = f.options;
  options.source = f.db;
  absl::StatusOr<std::string> html = inspect::RenderReport(**store, options);
  if (!html.ok()) {
    // Name the database: the library's messages do not know where the store came from.
    const std::string message(html.status().message());
    Fail(absl::Status(html.status().code(),
                      message.rfind(f.db, 0) == 0 ? message : absl::StrFormat("%s: %s", f.db, message)));
  }
  if (absl::Status st = WriteFileAtomically(f.out, *html); !st.ok()) Fail(st);
  std::cerr << absl::StrFormat("vertebra: wrote %s (%.0f KB)\n", f.out, html->size() / 1024.0);
}

std::atomic<bool> g_stop{false};

void OnSignal(int) {
  if (g_stop.exchange(true)) std::_Exit(130);  // A second signal: out now.
}

struct DashboardFlags {
  inspect::DashboardOptions options;
  std::string token_file, port_file;
  bool no_auth = false;
};

// The dashboard's token, by the controller's rule: --token-file, else $VERTEBRA_TOKEN, else the
// search's DB.token (made 0600 when missing, so a controller started later shares it); none with
// --no-auth, on loopback only. `where` says which, for the start-up line.
std::string DashboardToken(const DashboardFlags& f, std::string* where) {
  if (f.no_auth) {
    if (!f.token_file.empty()) Fail(absl::InvalidArgumentError("--no-auth and --token-file: choose one"));
    if (!IsLoopback(f.options.listen)) {
      Fail(absl::InvalidArgumentError(absl::StrFormat(
          "--no-auth: only on loopback (--listen %s reaches beyond this machine; give the search's token)",
          f.options.listen)));
    }
    *where = "none (--no-auth): anyone on this machine can read the search";
    return "";
  }
  if (!f.token_file.empty() || std::getenv("VERTEBRA_TOKEN") != nullptr) {
    absl::StatusOr<std::string> token = ReadToken(f.token_file);
    if (!token.ok()) Fail(token.status());
    if (token->empty()) Fail(absl::InvalidArgumentError("VERTEBRA_TOKEN: empty (unset it, or use --no-auth)"));
    *where = f.token_file.empty() ? "$VERTEBRA_TOKEN" : f.token_file;
    return *token;
  }
  const std::string path = f.options.db + ".token";
  absl::StatusOr<std::string> token = ReadOrCreateToken(path);
  if (!token.ok()) {
    Fail(absl::InvalidArgumentError(absl::StrFormat(
        "--db %s: its token: %s (give --token-file, or --no-auth on loopback)", f.options.db, token.status().message())));
  }
  *where = path;
  return *token;
}

void RunDashboard(const DashboardFlags& f) {
  std::string token_origin;
  const std::string token = DashboardToken(f, &token_origin);
  inspect::DashboardOptions options = f.options;
  options.token = token;
  absl::StatusOr<std::unique_ptr<inspect::DashboardServer>> server = inspect::DashboardServer::Start(options);
  if (!server.ok()) Fail(server.status());
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  const bool https = !options.tls_cert.empty();
  std::cout << absl::StrFormat("dashboard of %s on %s://%s:%d/%s (read-only; Ctrl-C stops)\n", options.db,
                               https ? "https" : "http", host, (*server)->port(),
                               options.token.empty() ? "" : "?token=TOKEN")
            << "token: " << token_origin << "\n"
            << std::flush;
  // Whoever asked for the port waits for this file: failing to write it is an error, not a hang.
  if (absl::Status s = WritePortFile(f.port_file, (*server)->port()); !s.ok()) {
    (*server)->Shutdown();
    Fail(s);
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*server)->Shutdown();
}

}  // namespace

void RegisterReportCommand(CLI::App& app) {
  auto f = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Write an experiment's search as one self-contained HTML page: best AP per rung, rewards, AP against MACs "
      "with the Pareto front, the best architectures, a worker timeline, failures (read-only)");
  cmd->add_option("--db", f->db, "SQLite database of the experiment")->required();
  cmd->add_option("-o,--out", f->out, "HTML file to write (replaced atomically)")->capture_default_str();
  cmd->add_option("--top", f->options.top_architectures, "Best architectures to draw")
      ->check(CLI::Range(0, 50))
      ->capture_default_str();
  cmd->add_option("--max-failures", f->options.max_failures_listed, "Failed or rejected trials listed one by one")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--max-workers", f->options.max_timeline_rows, "Workers drawn in the timeline")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->callback([f] { RunReport(*f); });

  auto d = std::make_shared<DashboardFlags>();
  CLI::App* dash = app.add_subcommand(
      "dashboard",
      "Serve a search live in the browser: the report, regenerated from the database at most every --refresh "
      "seconds and reloading itself, a list of the trials and a page per trial (read-only)");
  dash->add_option("--db", d->options.db, "SQLite database of the experiment (it may not exist yet)")->required();
  dash->add_option("--listen", d->options.listen, "HOST:PORT (port 0: any free port)")->capture_default_str();
  dash->add_option("--token-file", d->token_file,
                   "Bearer token the browser must present, as ?token= once (default: $VERTEBRA_TOKEN, else the "
                   "search's DB.token as the controller makes it, made 0600 here when missing), on loopback too");
  dash->add_flag("--no-auth", d->no_auth, "No token, on loopback only: anyone on this machine can read the search");
  dash->add_option("--tls-cert", d->options.tls_cert, "PEM certificate chain: serve HTTPS");
  dash->add_option("--tls-key", d->options.tls_key, "PEM private key of --tls-cert");
  dash->add_option("--refresh", d->options.refresh_seconds, "Seconds between regenerations and browser reloads")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  dash->add_option("--port-file", d->port_file, "Write the bound port to this file");
  dash->callback([d] { RunDashboard(*d); });
}

}  // namespace vertebra::cli
