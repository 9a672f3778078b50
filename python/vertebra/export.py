"""The folder `vertebra export` writes, turned into modules."""

import json
import os

from .model import Detector, SpineNet
from .weights import backbone_state, load_weights

WEIGHTS_FILE = "model.safetensors"  # What a finished `vertebra retrain` writes and export copies.


def _read_json(folder, name):
    path = os.path.join(folder, name)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing (is {folder} a folder written by `vertebra export`?)") from None
    except ValueError as e:
        raise ValueError(f"{path}: not JSON: {e}") from None


def read_graph(folder):
    """The resolved graph of an export (resolved.json)."""
    return _read_json(folder, "resolved.json")


def read_head(folder, num_classes=None):
    """The head of an export's cost.json (width, num_convs, num_classes, anchors_per_location,
    norm, groups), with num_classes replaced when given (a re-training's dataset decides it)."""
    head = dict(_read_json(folder, "cost.json")["head"])
    if num_classes is not None:
        head["num_classes"] = num_classes
    return head


def _weights(folder, weights):
    if weights is False:
        return None
    path = weights if isinstance(weights, str) else os.path.join(folder, WEIGHTS_FILE)
    if weights is None and not os.path.exists(path):
        return None
    return load_weights(path)


def load_backbone(folder, weights=None, activation="relu"):
    """SpineNet from an export folder, eval mode. weights: None loads model.safetensors when the
    folder has one; a path loads that file; False loads nothing. Loading is strict: a name or
    shape that differs raises RuntimeError."""
    model = SpineNet(read_graph(folder), activation=activation)
    state = _weights(folder, weights)
    if state is not None:
        model.load_state_dict(backbone_state(state))
    return model.eval()


def load_detector(folder, weights=None, num_classes=None, activation="relu"):
    """SpineNet + RetinaNet head from an export folder, eval mode; weights as for load_backbone."""
    model = Detector(read_graph(folder), read_head(folder, num_classes), activation=activation)
    state = _weights(folder, weights)
    if state is not None:
        model.load_state_dict(state)
    return model.eval()
