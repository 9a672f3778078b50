#include "worker/model/pickle_check.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"

namespace vertebra::worker {
namespace {

// How an opcode's argument is laid out (Python's Lib/pickletools.py lists them).
enum class Arg {
  kNone,        // no argument
  kFixed,       // `size` bytes
  kLength,      // a little-endian unsigned length of `size` bytes, then that many bytes
  kLine,        // a newline-terminated line
  kTwoLines,    // two newline-terminated lines (GLOBAL, INST)
  kMemoFixed,   // a memo index of `size` bytes (BINGET, BINPUT and their long forms)
  kMemoLine,    // a memo index as a decimal line (GET, PUT)
};

struct Opcode {
  char code;
  const char* name;
  Arg arg;
  int size;
  bool stores = false;  // Adds a memo entry (PUT, BINPUT, LONG_BINPUT, MEMOIZE).
};

constexpr Opcode kOpcodes[] = {
    {'(', "MARK", Arg::kNone, 0},
    {'.', "STOP", Arg::kNone, 0},
    {'0', "POP", Arg::kNone, 0},
    {'1', "POP_MARK", Arg::kNone, 0},
    {'2', "DUP", Arg::kNone, 0},
    {'F', "FLOAT", Arg::kLine, 0},
    {'I', "INT", Arg::kLine, 0},
    {'J', "BININT", Arg::kFixed, 4},
    {'K', "BININT1", Arg::kFixed, 1},
    {'L', "LONG", Arg::kLine, 0},
    {'M', "BININT2", Arg::kFixed, 2},
    {'N', "NONE", Arg::kNone, 0},
    {'P', "PERSID", Arg::kLine, 0},
    {'Q', "BINPERSID", Arg::kNone, 0},
    {'R', "REDUCE", Arg::kNone, 0},
    {'S', "STRING", Arg::kLine, 0},
    {'T', "BINSTRING", Arg::kLength, 4},
    {'U', "SHORT_BINSTRING", Arg::kLength, 1},
    {'V', "UNICODE", Arg::kLine, 0},
    {'X', "BINUNICODE", Arg::kLength, 4},
    {'a', "APPEND", Arg::kNone, 0},
    {'b', "BUILD", Arg::kNone, 0},
    {'c', "GLOBAL", Arg::kTwoLines, 0},
    {'d', "DICT", Arg::kNone, 0},
    {'}', "EMPTY_DICT", Arg::kNone, 0},
    {'e', "APPENDS", Arg::kNone, 0},
    {'g', "GET", Arg::kMemoLine, 0},
    {'h', "BINGET", Arg::kMemoFixed, 1},
    {'i', "INST", Arg::kTwoLines, 0},
    {'j', "LONG_BINGET", Arg::kMemoFixed, 4},
    {'l', "LIST", Arg::kNone, 0},
    {']', "EMPTY_LIST", Arg::kNone, 0},
    {'o', "OBJ", Arg::kNone, 0},
    {'p', "PUT", Arg::kMemoLine, 0, true},
    {'q', "BINPUT", Arg::kMemoFixed, 1, true},
    {'r', "LONG_BINPUT", Arg::kMemoFixed, 4, true},
    {'s', "SETITEM", Arg::kNone, 0},
    {'t', "TUPLE", Arg::kNone, 0},
    {')', "EMPTY_TUPLE", Arg::kNone, 0},
    {'u', "SETITEMS", Arg::kNone, 0},
    {'G', "BINFLOAT", Arg::kFixed, 8},
    {'\x80', "PROTO", Arg::kFixed, 1},
    {'\x81', "NEWOBJ", Arg::kNone, 0},
    {'\x82', "EXT1", Arg::kFixed, 1},
    {'\x83', "EXT2", Arg::kFixed, 2},
    {'\x84', "EXT4", Arg::kFixed, 4},
    {'\x85', "TUPLE1", Arg::kNone, 0},
    {'\x86', "TUPLE2", Arg::kNone, 0},
    {'\x87', "TUPLE3", Arg::kNone, 0},
    {'\x88', "NEWTRUE", Arg::kNone, 0},
    {'\x89', "NEWFALSE", Arg::kNone, 0},
    {'\x8a', "LONG1", Arg::kLength, 1},
    {'\x8b', "LONG4", Arg::kLength, 4},
    {'B', "BINBYTES", Arg::kLength, 4},
    {'C', "SHORT_BINBYTES", Arg::kLength, 1},
    {'\x8c', "SHORT_BINUNICODE", Arg::kLength, 1},
    {'\x8d', "BINUNICODE8", Arg::kLength, 8},
    {'\x8e', "BINBYTES8", Arg::kLength, 8},
    {'\x8f', "EMPTY_SET", Arg::kNone, 0},
    {'\x90', "ADDITEMS", Arg::kNone, 0},
    {'\x91', "FROZENSET", Arg::kNone, 0},
    {'\x92', "NEWOBJ_EX", Arg::kNone, 0},
    {'\x93', "STACK_GLOBAL", Arg::kNone, 0},
    {'\x94', "MEMOIZE", Arg::kNone, 0, true},
    {'\x95', "FRAME", Arg::kFixed, 8},
    {'\x96', "BYTEARRAY8", Arg::kLength, 8},
    {'\x97', "NEXT_BUFFER", Arg::kNone, 0},
    {'\x98', "READONLY_BUFFER", Arg::kNone, 0},
};

const Opcode* Find(char code) {
  for (const Opcode& op : kOpcodes) {
    if (op.code == code) return &op;
  }
  return nullptr;
}

uint64_t LittleEndian(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace

absl::Status CheckPickle(std::string_view pickle) {
  uint64_t stored = 0;  // Memo entries so far: a pickler numbers them 0, 1, ...
  size_t pos = 0;
  while (pos < pickle.size()) {
    const size_t at = pos;
    const Opcode* op = Find(pickle[pos++]);
    if (op == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("byte %d: 0x%02x is not a pickle opcode", at, static_cast<unsigned char>(pickle[at])));
    }
    const size_t remain = pickle.size() - pos;
    auto short_of = [&](uint64_t declared) {
      return absl::InvalidArgumentError(
          absl::StrFormat("byte %d: %s declares %d bytes, %d remain", at, op->name, declared, remain));
    };
    auto line = [&]() -> bool {
      const size_t end = pickle.find('\n', pos);
      if (end == std::string_view::npos) return false;
      pos = end + 1;
      return true;
    };
    uint64_t memo = 0;
    switch (op->arg) {
      case Arg::kNone:
        break;
      case Arg::kFixed:
        if (remain < static_cast<size_t>(op->size)) return short_of(op->size);
        pos += op->size;
        break;
      case Arg::kLength: {
        if (remain < static_cast<size_t>(op->size)) return short_of(op->size);
        const uint64_t length = LittleEndian(pickle.substr(pos, op->size));
        if (length > remain - op->size) return short_of(length);
        pos += op->size + length;
        break;
      }
      case Arg::kLine:
      case Arg::kTwoLines:
        if (!line() || (op->arg == Arg::kTwoLines && !line())) {
          return absl::InvalidArgumentError(absl::StrFormat("byte %d: %s has no end of line", at, op->name));
        }
        break;
      case Arg::kMemoFixed:
        if (remain < static_cast<size_t>(op->size)) return short_of(op->size);
        memo = LittleEndian(pickle.substr(pos, op->size));
        pos += op->size;
        break;
      case Arg::kMemoLine: {
        const size_t begin = pos;
        if (!line()) return absl::InvalidArgumentError(absl::StrFormat("byte %d: %s has no end of line", at, op->name));
        const std::string_view digits = pickle.substr(begin, pos - 1 - begin);
        if (digits.empty() || digits.size() > 19 || digits.find_first_not_of("0123456789") != std::string_view::npos) {
          return absl::InvalidArgumentError(absl::StrFormat("byte %d: %s's memo index is not a number", at, op->name));
        }
        for (char c : digits) memo = memo * 10 + static_cast<uint64_t>(c - '0');
        break;
      }
    }
    if (op->arg == Arg::kMemoFixed || op->arg == Arg::kMemoLine) {
      // A PUT stores the next entry (or overwrites one); a GET reads one that was stored.
      if (op->stores ? memo > stored : memo >= stored) {
        return absl::InvalidArgumentError(absl::StrFormat("byte %d: %s names memo entry %d; %d are stored", at,
                                                          op->name, memo, stored));
      }
      if (op->stores && memo == stored) ++stored;
    } else if (op->stores) {
      ++stored;
    }
    if (op->code == '.') return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat("byte %d: the pickle ends without STOP", pickle.size()));
}

}  // namespace vertebra::worker
