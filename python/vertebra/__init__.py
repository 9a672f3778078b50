"""Vertebra's found architectures in PyTorch, and a client of a running search.

    from vertebra import load_backbone
    backbone = load_backbone("exported/")        # SpineNet with the exported weights, eval mode
    features = backbone(images)                  # OrderedDict p3..p7

The gRPC client (vertebra.client) needs python3-grpcio and python3-protobuf and is imported on
its own, so the model code needs nothing beyond torch.
"""

from .export import load_backbone, load_detector, read_graph, read_head
from .model import Detector, RetinaNetHead, SpineNet
from .weights import WeightsError, backbone_state, load_weights, read_safetensors

__all__ = [
    "Detector", "RetinaNetHead", "SpineNet", "WeightsError", "backbone_state", "load_backbone", "load_detector",
    "load_weights", "read_graph", "read_head", "read_safetensors",
]
