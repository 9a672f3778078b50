// Channel credentials of the controller's clients: the workers and the inspection commands.
// Thread-safe: reads the named files and keeps no state.
#ifndef VERTEBRA_COMMON_CLIENT_CREDENTIALS_H_
#define VERTEBRA_COMMON_CLIENT_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace vertebra {

// PEM files, as the --tls-ca, --tls-cert and --tls-key flags name them; empty: not given.
struct ClientTlsFiles {
  std::string ca;         // Use TLS and verify the controller against these roots.
  std::string cert, key;  // A client certificate and its key (mTLS); need `ca`.
};

// Plaintext credentials when no file is given; TLS verifying the controller against `ca` when it
// is, presenting `cert` and `key` when either of them is given. InvalidArgument naming the flags
// when a file cannot be read, or when `cert` or `key` is given without `ca`.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const ClientTlsFiles& files);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_CLIENT_CREDENTIALS_H_
