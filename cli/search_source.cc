#include "cli/search_source.h"

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "common/token.h"

namespace vertebra::cli {

void SearchSourceFlags::AddOptions(CLI::App* cmd) {
  CLI::Option* db_opt = cmd->add_option("--db", db, "The experiment's SQLite database (opened read-only)");
  CLI::Option* ctl = cmd->add_option("--controller", controller, "HOST:PORT of a running controller: ask it instead");
  db_opt->excludes(ctl);
  cmd->add_option("--token-file", token_file, "With --controller: its bearer token (default: $VERTEBRA_TOKEN)")
      ->needs(ctl);
  cmd->add_option("--tls-ca", tls_ca, "With --controller: PEM CA, connect with TLS and verify the controller")
      ->needs(ctl);
  cmd->add_option("--tls-cert", tls_cert, "With --controller: PEM client certificate (mTLS)")->needs(ctl);
  cmd->add_option("--tls-key", tls_key, "With --controller: PEM key of --tls-cert")->needs(ctl);
}

std::unique_ptr<inspect::SearchSource> SearchSourceFlags::Open() const {
  if (!given()) {
    Fail(absl::InvalidArgumentError("say where the search is: --db FILE or --controller HOST:PORT (see --help)"));
  }
  absl::StatusOr<std::unique_ptr<inspect::SearchSource>> source;
  if (!db.empty()) {
    source = inspect::OpenDatabase(db);
  } else {
    absl::StatusOr<std::string> token = ReadToken(token_file);
    if (!token.ok()) Fail(token.status());
    inspect::ControllerOptions o;
    o.address = controller;
    o.token = *token;
    o.token_origin = token_file.empty() ? "VERTEBRA_TOKEN" : "--token-file " + token_file;
    o.tls_ca = tls_ca;
    o.tls_cert = tls_cert;
    o.tls_key = tls_key;
    source = inspect::ConnectController(o);
  }
  if (!source.ok()) Fail(source.status());
  return *std::move(source);
}

}  // namespace vertebra::cli
