#include "common/address.h"

#include <cctype>

#include "absl/strings/str_format.h"

namespace vertebra {

absl::Status CheckListenAddress(const std::string& address, const std::string& flag) {
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrFormat("%s %s: %s", flag, address, why));
  };
  if (address.rfind("unix:", 0) == 0) {
    return address.size() > 5 ? absl::OkStatus() : bad("a unix socket needs a path");
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return bad("expected HOST:PORT");
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.empty() || host == "[]") return bad("the host is empty");
  if (host.front() == '[' && host.back() != ']') return bad("an IPv6 host goes in brackets: [ADDRESS]:PORT");
  if (host.front() != '[' && host.find(':') != std::string::npos) {
    return bad("an IPv6 host goes in brackets: [ADDRESS]:PORT");
  }
  if (port.empty()) return bad("the port is empty");
  if (port.size() > 5) return bad("port must be 0..65535");
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return bad("port must be a number 0..65535");
  }
  if (std::stoi(port) > 65535) return bad("port must be 0..65535");
  return absl::OkStatus();
}

}  // namespace vertebra
