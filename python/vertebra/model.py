"""SpineNet and its RetinaNet head in torch.nn, built from a resolved graph.

The graph is the JSON that `vertebra arch resolve` prints and `vertebra export` writes as
resolved.json. Every level, width, edge, extra parent and endpoint comes from it: this module does
no architecture arithmetic of its own, so what it builds is what the C++ builder
(worker/model/spinenet.cc, retinanet.cc) builds, with the same submodule names
("backbone.block_07.resample_1.squeeze.conv.weight"). A model.safetensors written by
`vertebra retrain` therefore loads with `load_state_dict`.

Registration order and initialization follow the C++ code too, so a model built here after
torch.manual_seed(s) starts from the weights the C++ builder draws after the same seed (up to
float summation order).
"""

import collections
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Constants of the C++ code (spinenet.h, retinanet.h).
BN_MOMENTUM = 1.0 - 0.99  # TF-style decay 0.99; torch's momentum is 1 - decay.
BN_EPS = 1e-3
HEAD_INIT_STD = 0.01  # Detection heads start from small random weights (focal-loss paper 4.1).
PRIOR_PROBABILITY = 0.01  # Initial foreground probability of every class output.
BOX_COORDINATES = 4
# TF's truncated normal (+-2 sigma) has 0.8796 of the untruncated standard deviation.
TRUNCATED_STD_CORRECTION = 0.87962566103423978
# Rejection rounds of the truncated normal: after 12, about 1e-16 of the draws remain to clamp.
REDRAW_ROUNDS = 12

ACTIVATIONS = {"relu": F.relu, "swish": F.silu}
HEAD_NORMS = ("bn", "gn", "none")


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r}: expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def level_size(images, level):
    """The spatial size of a level-`level` feature for `images` (the rule of resolve.h's LevelSize).

    Every stride-2 op of the network maps n to ceil(n / 2), so a level-l feature is
    ceil(input / 2^l) on each side whatever the path; the C++ forward computes its upsampling
    targets the same way, which lets one built model take inputs of any size.
    """
    step = 1 << level
    return (-(-images.size(2) // step), -(-images.size(3) // step))


class ConvBn(nn.Module):
    """A conv without bias followed by a BN (names conv, bn)."""

    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x):
        stride = self.conv.stride[0]
        one_high, one_wide = x.size(2) == 1, x.size(3) == 1
        if stride == 1 or not (one_high or one_wide):
            return self.bn(self.conv(x))
        # Along a side of one pixel a strided conv reads only its centre taps, as a conv of stride 1
        # does (the same output): that side takes stride 1, because PyTorch 1.13's oneDNN returns
        # garbage bf16 weight gradients for a strided conv whose input is one pixel wide. As
        # ConvBnImpl::forward in worker/model/spinenet.cc.
        y = F.conv2d(x, self.conv.weight, None, (1 if one_high else stride, 1 if one_wide else stride),
                     self.conv.padding)
        return self.bn(y)


def drop_path(branch, rate, training):
    """Drops the residual branch of whole samples with probability `rate`, scaling the kept ones."""
    if not training or rate <= 0.0:
        return branch
    keep = 1.0 - rate
    mask = torch.empty(branch.size(0), 1, 1, 1, dtype=branch.dtype, device=branch.device).bernoulli_(keep)
    return branch * mask / keep


class ResidualUnit(nn.Module):
    """Bottleneck (1x1, 3x3, 1x1, x4) or residual (3x3, 3x3) unit; projection shortcut optional."""

    def __init__(self, block_type, cin, inner, projection, activation="relu", drop_rate=0.0):
        super().__init__()
        if block_type == "bottleneck":
            out = 4 * inner
            specs = [(cin, inner, 1), (inner, inner, 3), (inner, out, 1)]
        elif block_type == "residual":
            out = inner
            specs = [(cin, inner, 3), (inner, inner, 3)]
        else:
            raise ValueError(f"block type {block_type!r}: expected bottleneck or residual")
        self.act = _activation(activation)
        self.drop_rate = drop_rate
        self.num_convs = len(specs)
        for i, (a, b, k) in enumerate(specs):
            setattr(self, f"conv_{i}", ConvBn(a, b, k, 1))
        self.projection = ConvBn(cin, out, 1, 1) if projection else None

    def forward(self, x):
        y = x
        for i in range(self.num_convs):
            y = getattr(self, f"conv_{i}")(y)
            if i + 1 < self.num_convs:
                y = self.act(y)
        y = drop_path(y, self.drop_rate, self.training)
        shortcut = self.projection(x) if self.projection is not None else x
        return self.act(y + shortcut)


class Resample(nn.Module):
    """One parent edge: squeeze, then stride-2 conv + max-pools or nearest upsampling, then expand."""

    def __init__(self, edge, activation="relu"):
        super().__init__()
        self.act = _activation(activation)
        self.strided_conv = bool(edge["strided_conv"])
        self.max_pools = int(edge["max_pools"])
        self.upsample = bool(edge["upsample"])
        s = edge["squeeze_channels"]
        self.squeeze = ConvBn(edge["in_channels"], s, 1, 1)
        self.strided = ConvBn(s, s, 3, 2) if self.strided_conv else None
        self.expand = ConvBn(s, edge["out_channels"], 1, 1)

    def forward(self, x, target):
        y = self.act(self.squeeze(x))
        if self.strided_conv:
            y = self.act(self.strided(y))
            for _ in range(self.max_pools):
                y = F.max_pool2d(y, 3, stride=2, padding=1)
        elif self.upsample:
            y = F.interpolate(y, size=target, mode="nearest")
        return self.expand(y)


class SpineBlock(nn.Module):
    """One spec row: both parents resampled, extra parents added, activation, `repeats` units."""

    def __init__(self, block, num_rows, activation="relu", stochastic_depth_rate=0.0):
        super().__init__()
        self.act = _activation(activation)
        self.parents = [e["parent"] for e in block["edges"]]
        self.extra_parents = list(block["extra_parents"])
        self.level = block["feature"]["level"]
        self.resample_0 = Resample(block["edges"][0], activation)
        self.resample_1 = Resample(block["edges"][1], activation)
        # As spinenet.cc: the drop rate grows linearly with the row; the repeats of a row share it.
        drop_rate = stochastic_depth_rate * (block["row"] + 1) / num_rows
        f = block["feature"]
        self.units = nn.ModuleList([
            ResidualUnit(f["block"], f["channels"], f["inner_width"], False, activation, drop_rate)
            for _ in range(block["repeats"])
        ])

    def forward(self, features, target):
        x = self.resample_0(features[self.parents[0]], target) + self.resample_1(features[self.parents[1]], target)
        for extra in self.extra_parents:
            x = x + features[extra]
        x = self.act(x)
        for unit in self.units:
            x = unit(x)
        return x


class SpineNet(nn.Module):
    """The backbone: images [N, 3, H, W] of any size -> OrderedDict p3..p7 of
    [N, endpoint_filters, ceil(H / 2^l), ceil(W / 2^l)].

    `graph`: the resolved graph (a dict, as json.load gives it). `out_channels` is the pyramid's
    width, the attribute torchvision's detectors read from a backbone.
    """

    def __init__(self, graph, activation="relu", stochastic_depth_rate=0.0, reference_init=True):
        super().__init__()
        self.act = _activation(activation)
        stem = graph["stem"]
        features = graph["features"]
        blocks = graph["blocks"]
        # The stem groups' outputs are the features that precede the first block's.
        self.num_groups = len(features) - len(blocks)
        self.stem_conv = ConvBn(stem["in_channels"], stem["conv_filters"], stem["conv_kernel"], 2)
        channels = stem["conv_filters"]
        for g in range(self.num_groups):
            group = nn.ModuleList()
            for r in range(stem["repeats"]):
                projection = g == 0 and r == 0 and bool(stem["projection"])
                group.append(ResidualUnit("bottleneck", channels, stem["inner_width"], projection, activation))
                channels = features[g]["channels"]
            setattr(self, f"stem_group_{g}", group)
        self.block_names = []
        for block in blocks:
            name = "block_%02d" % block["row"]
            setattr(self, name, SpineBlock(block, len(blocks), activation, stochastic_depth_rate))
            self.block_names.append(name)
        self.endpoint_names = []
        self.endpoint_features = []
        for e in graph["endpoints"]:
            name = f"endpoint_p{e['level']}"
            setattr(self, name, ConvBn(e["in_channels"], e["filters"], 1, 1))
            self.endpoint_names.append(name)
            self.endpoint_features.append(e["feature"])
        self.out_channels = graph["scaling"]["endpoint_filters"]
        if reference_init:
            initialize_backbone(self)

    def forward(self, images):
        x = self.act(self.stem_conv(images))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        features = []
        for g in range(self.num_groups):
            for unit in getattr(self, f"stem_group_{g}"):
                x = unit(x)
            features.append(x)
        for name in self.block_names:
            block = getattr(self, name)
            features.append(block(features, level_size(images, block.level)))
        pyramid = collections.OrderedDict()
        for name, feature in zip(self.endpoint_names, self.endpoint_features):
            pyramid[name[len("endpoint_"):]] = self.act(getattr(self, name)(features[feature]))
        return pyramid


def standard_normal(n):
    """n draws from N(0, 1) by Box-Muller, as spinenet.cc's StandardNormal."""
    u1 = torch.empty(n).uniform_(1e-12, 1.0)
    u2 = torch.empty(n).uniform_(0.0, 2.0 * math.pi)
    return (-2.0 * u1.log()).sqrt_() * u2.cos_()


@torch.no_grad()
def initialize_backbone(module):
    """spinenet.cc's InitializeBackbone: truncated-normal variance scaling, BN gamma 1, beta 0."""
    weights = []
    total = 0
    for child in module.modules():
        if child is module:
            continue
        if isinstance(child, nn.Conv2d):
            weights.append(child.weight)
            total += child.weight.numel()
        elif isinstance(child, nn.BatchNorm2d):
            child.weight.fill_(1.0)
            child.bias.zero_()
    if not weights:
        return
    z = standard_normal(total)
    for _ in range(REDRAW_ROUNDS):
        outside = z.abs() > 2.0
        count = int(outside.sum().item())
        if count == 0:
            break
        z.masked_scatter_(outside, standard_normal(count))
    z.clamp_(-2.0, 2.0)
    offset = 0
    for w in weights:
        fan_in = float(w.size(1) * w.size(2) * w.size(3))
        stddev = math.sqrt(1.0 / fan_in) / TRUNCATED_STD_CORRECTION
        w.copy_(z.narrow(0, offset, w.numel()).view_as(w)).mul_(stddev)
        offset += w.numel()


class RetinaNetHead(nn.Module):
    """retinanet.cc: class and box towers shared across levels, then the predictions.

    norm: "bn" (a BN per level and conv, class_bn_l<level>_<conv>), "gn" (a GroupNorm per conv
    with `groups` groups, class_gn_<conv>; cost.json's head.groups) or "none". forward takes the
    pyramid (a dict in level order or a list) and returns class logits [N, anchors, classes] and box
    deltas [N, anchors, 4], levels concatenated in order and each level by row, column, anchor.
    """

    def __init__(self, in_channels, num_levels, width, num_convs, num_classes, anchors, norm="bn", groups=None,
                 activation="relu"):
        super().__init__()
        if norm not in HEAD_NORMS:
            raise ValueError(f"head norm {norm!r}: expected one of {', '.join(HEAD_NORMS)}")
        if norm == "gn" and not groups:
            raise ValueError("head norm 'gn' needs groups (cost.json's head.groups)")
        self.act = _activation(activation)
        self.norm = norm
        self.num_levels = num_levels
        self.num_convs = num_convs
        self.num_classes = num_classes
        for subnet in ("class", "box"):
            cin = in_channels
            for i in range(num_convs):
                setattr(self, f"{subnet}_conv_{i}", nn.Conv2d(cin, width, 3, padding=1, bias=True))
                cin = width
            if norm == "bn":
                for level in range(num_levels):
                    for i in range(num_convs):
                        setattr(self, f"{subnet}_bn_l{level}_{i}",
                                nn.BatchNorm2d(width, eps=BN_EPS, momentum=BN_MOMENTUM))
            elif norm == "gn":
                for i in range(num_convs):
                    setattr(self, f"{subnet}_gn_{i}", nn.GroupNorm(groups, width))
        tower_out = width if num_convs > 0 else in_channels
        self.class_predict = nn.Conv2d(tower_out, anchors * num_classes, 3, padding=1, bias=True)
        self.box_predict = nn.Conv2d(tower_out, anchors * BOX_COORDINATES, 3, padding=1, bias=True)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.normal_(0.0, HEAD_INIT_STD)
                    m.bias.zero_()
            self.class_predict.bias.fill_(-math.log((1.0 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY))

    def _norm(self, subnet, level, i, x):
        if self.norm == "bn":
            return getattr(self, f"{subnet}_bn_l{level}_{i}")(x)
        if self.norm == "gn":
            return getattr(self, f"{subnet}_gn_{i}")(x)
        return x

    def _tower(self, subnet, level, x):
        for i in range(self.num_convs):
            x = self.act(self._norm(subnet, level, i, getattr(self, f"{subnet}_conv_{i}")(x)))
        return x

    @staticmethod
    def _flatten(x, per_anchor):  # [N, A*C, H, W] -> [N, H*W*A, C]
        return x.permute(0, 2, 3, 1).reshape(x.size(0), -1, per_anchor)

    def forward(self, pyramid):
        levels = list(pyramid.values()) if isinstance(pyramid, dict) else list(pyramid)
        logits, deltas = [], []
        for level, p in enumerate(levels):
            logits.append(self._flatten(self.class_predict(self._tower("class", level, p)), self.num_classes))
            deltas.append(self._flatten(self.box_predict(self._tower("box", level, p)), BOX_COORDINATES))
        return torch.cat(logits, 1), torch.cat(deltas, 1)


class Detector(nn.Module):
    """SpineNet + RetinaNet head (names backbone.*, head.*), as retinanet.cc's Detector.

    head: a dict with width, num_convs, num_classes, anchors_per_location, and optionally norm
    ("bn", the default) and groups, as cost.json's "head" holds them. forward returns
    (pyramid, (class_logits, box_deltas)).
    """

    def __init__(self, graph, head, activation="relu", stochastic_depth_rate=0.0, reference_init=True):
        super().__init__()
        self.backbone = SpineNet(graph, activation, stochastic_depth_rate, reference_init)
        self.head = RetinaNetHead(graph["scaling"]["endpoint_filters"], len(graph["endpoints"]), head["width"],
                                  head["num_convs"], head["num_classes"], head["anchors_per_location"],
                                  head.get("norm", "bn"), head.get("groups"), activation)

    def forward(self, images):
        pyramid = self.backbone(images)
        return pyramid, self.head(pyramid)
