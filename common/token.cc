#include "common/token.h"

#include <cctype>
#include <cstdlib>

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

bool IsLoopback(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace vertebra
