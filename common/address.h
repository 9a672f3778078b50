// Listen addresses of the controller: checked before gRPC sees them, which would otherwise take
// an out-of-range or empty port as "any port". Stateless; thread-safe.
#ifndef VERTEBRA_COMMON_ADDRESS_H_
#define VERTEBRA_COMMON_ADDRESS_H_

#include <string>

#include "absl/status/status.h"

namespace vertebra {

// OK for "host:port" and "[v6]:port" with a non-empty host and a port of 0..65535 in digits (0:
// any free port), and for gRPC's "unix:PATH"; otherwise InvalidArgument naming `flag` and the
// address, e.g. "--listen 127.0.0.1:99999: port must be 0..65535".
absl::Status CheckListenAddress(const std::string& address, const std::string& flag = "--listen");

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_ADDRESS_H_
