"""Weights files: safetensors (with or without the safetensors package) and torch.load archives."""

import collections
import json
import struct

import torch

# The little-endian uint64 header length in front of a safetensors file's JSON header.
_HEADER_LENGTH_BYTES = 8
# The reserved header key for free-form string metadata.
_METADATA_KEY = "__metadata__"
# safetensors dtype names, as worker/model/state_io.cc writes them.
_DTYPES = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


class WeightsError(ValueError):
    """A weights file that cannot be read; the message starts with the file's path."""


def read_safetensors(path):
    """The tensors of a safetensors file by name (CPU, in the file's order), without the package.

    Raises WeightsError naming the file and tensor for a malformed or truncated file.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _HEADER_LENGTH_BYTES:
        raise WeightsError(f"{path}: {len(data)} bytes, too short for a safetensors file")
    (header_length,) = struct.unpack("<Q", data[:_HEADER_LENGTH_BYTES])
    start = _HEADER_LENGTH_BYTES + header_length
    if start > len(data):
        raise WeightsError(f"{path}: header length {header_length} is beyond the file's {len(data)} bytes")
    try:
        header = json.loads(data[_HEADER_LENGTH_BYTES:start].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise WeightsError(f"{path}: header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: header is not a JSON object")
    buffer = bytearray(data[start:])
    state = collections.OrderedDict()
    for name, entry in header.items():
        if name == _METADATA_KEY:
            continue
        where = f"{path}: tensor {name!r}"
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape = [int(d) for d in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{where}: needs a known dtype, a shape and data_offsets [begin, end]") from None
        numel = 1
        for d in shape:
            numel *= d
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        if begin < 0 or end - begin != nbytes or end > len(buffer):
            raise WeightsError(f"{where}: data_offsets [{begin}, {end}] do not hold {shape} {entry['dtype']} "
                               f"in a {len(buffer)}-byte data buffer")
        if nbytes == 0:
            state[name] = torch.empty(shape, dtype=dtype)
        else:
            state[name] = torch.frombuffer(buffer, dtype=dtype, count=numel, offset=begin).reshape(shape).clone()
    return state


def load_weights(path):
    """A state dict from `path`: a .safetensors file (through the safetensors package when it is
    installed, else read_safetensors), or anything else torch.load reads as a dict of tensors."""
    if str(path).endswith(".safetensors"):
        try:
            from safetensors.torch import load_file
        except ImportError:
            return read_safetensors(path)
        return collections.OrderedDict(load_file(str(path)))
    state = torch.load(path, map_location="cpu")
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a dict of name to tensor")
    return state


def backbone_state(state):
    """The backbone's entries of a detector's state, without their "backbone." prefix: what
    SpineNet.load_state_dict takes."""
    prefix = "backbone."
    return collections.OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
