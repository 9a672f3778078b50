"""Vertebra's found architectures in PyTorch, and a client of a running search.

    from vertebra import load_backbone
    backbone = load_backbone("exported/")        # SpineNet with the exported weights, eval mode
    features = backbone(images)                  # OrderedDict p3..p7

The model needs torch only; the gRPC client (vertebra.client) needs python3-grpcio and
python3-protobuf, and not torch.
"""

import pkgutil

# The generated gRPC stubs (vertebra/v1/*_pb2.py, in the build folder) join this package when
# their folder is on sys.path too.
__path__ = pkgutil.extend_path(__path__, __name__)

# Imported on first use, so that the client does not load torch.
_EXPORTS = {
    "load_backbone": "export", "load_detector": "export", "read_graph": "export", "read_head": "export",
    "Detector": "model", "RetinaNetHead": "model", "SpineNet": "model",
    "WeightsError": "weights", "backbone_state": "weights", "load_weights": "weights", "read_safetensors": "weights",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vertebra' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
