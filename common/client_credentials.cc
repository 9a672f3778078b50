#include "common/client_credentials.h"

#include <grpcpp/security/credentials.h>

#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace vertebra {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const ClientTlsFiles& files) {
  const bool client_certificate = !files.cert.empty() || !files.key.empty();
  if (files.ca.empty()) {
    if (client_certificate) return absl::InvalidArgumentError("--tls-cert/--tls-key need --tls-ca");
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadFile(files.ca);
  if (!ca.ok()) return absl::InvalidArgumentError(absl::StrFormat("--tls-ca %s: cannot read", files.ca));
  ssl.pem_root_certs = *ca;
  if (client_certificate) {
    absl::StatusOr<std::string> cert = ReadFile(files.cert);
    absl::StatusOr<std::string> key = ReadFile(files.key);
    if (!cert.ok() || !key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--tls-cert %s / --tls-key %s: cannot read", files.cert, files.key));
    }
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace vertebra
