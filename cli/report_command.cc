// `vertebra report`: an experiment's search as one self-contained HTML page. Opens the database
// read-only (it may be the live database of a running controller) and never writes it.
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "common/file_util.h"
#include "controller/store.h"
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
}

}  // namespace vertebra::cli
