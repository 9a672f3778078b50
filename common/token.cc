#include "common/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace vertebra {

absl::StatusOr<std::string> ReadToken(const std::string& token_file) {
  std::string token;
  if (!token_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(token_file);
    if (!text.ok()) return absl::NotFoundError(absl::StrFormat("%s: cannot read the token", token_file));
    token = *text;
  } else if (const char* env = std::getenv("VERTEBRA_TOKEN"); env != nullptr) {
    token = env;
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (!token_file.empty() && token.empty()) {
    // An empty token would mean "no authentication": never what a token file asks for.
    return absl::InvalidArgumentError(absl::StrFormat("%s: the token file is empty", token_file));
  }
  return token;
}

absl::StatusOr<std::string> NewSecret() {
  constexpr int kSecretBytes = 24;  // 192 bits: past guessing.
  std::ifstream random("/dev/urandom", std::ios::binary);
  unsigned char bytes[kSecretBytes];
  random.read(reinterpret_cast<char*>(bytes), sizeof(bytes));
  if (!random) return absl::InternalError("cannot read /dev/urandom");
  std::string secret;
  for (unsigned char b : bytes) secret += absl::StrFormat("%02x", b);
  return secret;
}

std::string SecretHash(const std::string& secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  std::string hex;
  for (unsigned char b : digest) hex += absl::StrFormat("%02x", b);
  return hex;
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0, y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

absl::Status WriteNewToken(const std::string& path) {
  absl::StatusOr<std::string> token = NewSecret();
  if (!token.ok()) return token.status();
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // An older file keeps its mode through O_TRUNC: make it 0600 before the token goes in.
  const bool written = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, token->data(), token->size()) == static_cast<ssize_t>(token->size());
  if (fd >= 0) close(fd);
  if (!written) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadOrCreateToken(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    absl::StatusOr<std::string> token = NewSecret();
    if (!token.ok()) return token.status();
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && errno != EEXIST) return absl::PermissionDeniedError(absl::StrFormat("%s: cannot create", path));
    if (fd >= 0) {
      const bool written = write(fd, token->data(), token->size()) == static_cast<ssize_t>(token->size());
      close(fd);
      if (!written) return absl::InternalError(absl::StrFormat("%s: cannot write the token", path));
      return *token;
    }
    if (lstat(path.c_str(), &st) != 0) return absl::PermissionDeniedError(absl::StrFormat("%s: cannot read", path));
  }
  if (!S_ISREG(st.st_mode)) return absl::PermissionDeniedError(absl::StrFormat("%s: not a regular file", path));
  if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s: a token file must be this user's and readable by nobody else (mode %03o; chmod 600 it)", path,
        st.st_mode & 0777));
  }
  return ReadToken(path);
}

bool IsLoopback(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace vertebra
