#pragma once

// A check of a pickle's opcodes before LibTorch's unpickler reads it. The unpickler trusts the
// lengths and memo indices a pickle declares: a 1,000-byte file that declares a 1.5 GB string
// makes it allocate 1.5 GB before it notices the bytes are not there. This walk reads each
// opcode's argument and refuses, naming the byte offset and the opcode, anything that declares
// more bytes than remain, a memo index beyond those the pickle has stored, or an opcode that
// protocols 0-5 do not define.

#include <string_view>

#include "absl/status/status.h"

namespace vertebra::worker {

// OK when every opcode of `pickle` up to its STOP is whole; else InvalidArgument ("byte N:
// BINUNICODE declares 1515847688 bytes, 60 remain").
absl::Status CheckPickle(std::string_view pickle);

}  // namespace vertebra::worker
