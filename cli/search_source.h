// Where `status`, `top`, `show` and `export` read a search from: --db FILE (read-only) or
// --controller HOST:PORT with its token and TLS flags. Exactly one of the two.
#ifndef VERTEBRA_CLI_SEARCH_SOURCE_H_
#define VERTEBRA_CLI_SEARCH_SOURCE_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "inspect/source.h"

namespace vertebra::cli {

struct SearchSourceFlags {
  std::string db;
  std::string controller;
  std::string token_file, tls_ca, tls_cert, tls_key;

  // Adds --db, --controller, --token-file, --tls-ca, --tls-cert and --tls-key to `cmd`.
  void AddOptions(CLI::App* cmd);

  // Whether either --db or --controller was given.
  bool given() const { return !db.empty() || !controller.empty(); }

  // The source the flags name. On error (neither given, an unreadable database or token file)
  // prints one line and exits through Fail().
  std::unique_ptr<inspect::SearchSource> Open() const;
};

}  // namespace vertebra::cli

#endif  // VERTEBRA_CLI_SEARCH_SOURCE_H_
