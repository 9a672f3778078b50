// The bearer token shared by the controller and its clients, and where one is required.
// Stateless; thread-safe.
#ifndef VERTEBRA_COMMON_TOKEN_H_
#define VERTEBRA_COMMON_TOKEN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vertebra {

// Reads a token from a file (trailing whitespace dropped) or, when the path is empty, from the
// VERTEBRA_TOKEN environment variable (for the binaries' flag handling; libraries take the token
// as a value). NotFound naming the file; InvalidArgument when the file holds only whitespace
// (an empty token turns authentication off, which a token file never means); empty when neither
// is set.
absl::StatusOr<std::string> ReadToken(const std::string& token_file);

// Writes a new random token (48 hex digits from /dev/urandom) to `path`, created readable and
// writable by its owner only (mode 0600). Internal naming the path when it cannot be written.
absl::Status WriteNewToken(const std::string& path);

// Whether a listen address ("host:port", "[v6]:port") is on loopback (localhost, 127.*, ::1),
// where the controller serves without a token.
bool IsLoopback(const std::string& listen);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_TOKEN_H_
