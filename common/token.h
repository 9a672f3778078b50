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

// A new random secret: 48 hex digits (192 bits) from /dev/urandom. Internal when it cannot be read.
absl::StatusOr<std::string> NewSecret();

// The SHA-256 of `secret`, in 64 hex digits: what a store keeps instead of the secret.
std::string SecretHash(const std::string& secret);

// Whether a and b are equal, in a time that does not depend on where they differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

// The token of a controller that was given none: read from `path` when the file exists (it
// must be a regular file of this user's, readable by nobody else: PermissionDenied naming the
// path and its mode otherwise), else a new one written there with mode 0600 (created exclusively,
// so two starts never hand out two tokens). A restarted controller thus keeps its token, and
// its workers their access.
absl::StatusOr<std::string> ReadOrCreateToken(const std::string& path);

// Writes a new random token (48 hex digits from /dev/urandom) to `path`, created readable and
// writable by its owner only (mode 0600). Internal naming the path when it cannot be written.
absl::Status WriteNewToken(const std::string& path);

// Whether a listen address ("host:port", "[v6]:port") is on loopback (localhost, 127.*, ::1),
// where the controller serves without a token.
bool IsLoopback(const std::string& listen);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_TOKEN_H_
