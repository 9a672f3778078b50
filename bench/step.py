#!/usr/bin/python3
"""The proxy training step of `vertebra bench step`, in Python (torch.nn), for comparison.

Builds the same SpineNet + RetinaNet detector as worker/model/{spinenet,retinanet}.cc from the
graph that `vertebra arch resolve` prints (no architecture arithmetic here: every level, width,
edge, extra parent and endpoint comes from that JSON), then times the step of
worker/step_bench.cc: random images and boxes, forward, anchor matching + focal loss + smooth-L1
box loss (worker/model/detection.cc), backward, SGD with momentum 0.9.

Module registration order, initialization and random draws follow the C++ code, so with the same
seed the weights, the data and therefore first_loss agree with the C++ benchmark (up to float
summation order). The parameter count is checked against `vertebra arch stats --built`.

Run with /usr/bin/python3 (Debian's python3-torch 1.13, the LibTorch of the C++ build). For a
fair comparison give it the allocator setting of the C++ binary, which calls mallopt at start:
  MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 OPENBLAS_NUM_THREADS=N
"""

import argparse
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Constants of the C++ code (spinenet.h, retinanet.h, detection.h, step_bench.cc).
BN_MOMENTUM = 1.0 - 0.99  # TF decay 0.99.
BN_EPS = 1e-3
HEAD_INIT_STD = 0.01
PRIOR_PROBABILITY = 0.01
ANCHOR_BASE_SCALE = 2.0
SCALES_PER_OCTAVE = 3
ASPECT_RATIOS = (0.5, 1.0, 2.0)
BOX_COORDINATES = 4
FOREGROUND_IOU = 0.5
BACKGROUND_IOU = 0.4
BACKGROUND = -1
IGNORED = -2
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
SMOOTH_L1_BETA = 0.1
BOX_LOSS_WEIGHT = 1.0
LEARNING_RATE = 0.01
MOMENTUM = 0.9
BOXES_PER_IMAGE = 4
MIN_BOX_SIDE = 8.0
TRUNCATED_STD_CORRECTION = 0.87962566103423978
REDRAW_ROUNDS = 12


# ---------------------------------------------------------------------------------------------
# The model (spinenet.cc, retinanet.cc).


class ConvBn(nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x):
        return self.bn(self.conv(x))


class ResidualUnit(nn.Module):
    """Bottleneck (1x1, 3x3, 1x1, x4) or residual (3x3, 3x3) unit; projection shortcut optional."""

    def __init__(self, block_type, cin, inner, projection):
        super().__init__()
        if block_type == "bottleneck":
            out = 4 * inner
            specs = [(cin, inner, 1), (inner, inner, 3), (inner, out, 1)]
        elif block_type == "residual":
            out = inner
            specs = [(cin, inner, 3), (inner, inner, 3)]
        else:
            raise ValueError(f"unknown block type {block_type!r}")
        self.num_convs = len(specs)
        for i, (a, b, k) in enumerate(specs):
            setattr(self, f"conv_{i}", ConvBn(a, b, k, 1))
        self.convs = [getattr(self, f"conv_{i}") for i in range(self.num_convs)]
        self.projection = ConvBn(cin, out, 1, 1) if projection else None

    def forward(self, x):
        y = x
        for i, conv in enumerate(self.convs):
            y = conv(y)
            if i + 1 < self.num_convs:
                y = F.relu(y)
        shortcut = self.projection(x) if self.projection is not None else x
        return F.relu(y + shortcut)


class Resample(nn.Module):
    """One parent edge: squeeze, then stride-2 conv + max-pools or nearest upsampling, then expand."""

    def __init__(self, edge):
        super().__init__()
        self.strided_conv = bool(edge["strided_conv"])
        self.max_pools = int(edge["max_pools"])
        self.upsample = bool(edge["upsample"])
        s = edge["squeeze_channels"]
        self.squeeze = ConvBn(edge["in_channels"], s, 1, 1)
        self.strided = ConvBn(s, s, 3, 2) if self.strided_conv else None
        self.expand = ConvBn(s, edge["out_channels"], 1, 1)

    def forward(self, x, target):
        y = F.relu(self.squeeze(x))
        if self.strided_conv:
            y = F.relu(self.strided(y))
            for _ in range(self.max_pools):
                y = F.max_pool2d(y, 3, stride=2, padding=1)
        elif self.upsample:
            y = F.interpolate(y, size=target, mode="nearest")
        return self.expand(y)


class SpineBlock(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.parents = [e["parent"] for e in block["edges"]]
        self.extra_parents = list(block["extra_parents"])
        self.target = tuple(block["feature"]["size"])
        self.resample_0 = Resample(block["edges"][0])
        self.resample_1 = Resample(block["edges"][1])
        f = block["feature"]
        self.units = nn.ModuleList(
            [ResidualUnit(f["block"], f["channels"], f["inner_width"], False) for _ in range(block["repeats"])])

    def forward(self, features):
        x = self.resample_0(features[self.parents[0]], self.target) + \
            self.resample_1(features[self.parents[1]], self.target)
        for extra in self.extra_parents:
            x = x + features[extra]
        x = F.relu(x)
        for unit in self.units:
            x = unit(x)
        return x


class SpineNet(nn.Module):
    def __init__(self, graph):
        super().__init__()
        stem = graph["stem"]
        features = graph["features"]
        blocks = graph["blocks"]
        # The stem groups' outputs are the features that precede the first block's.
        num_groups = len(features) - len(blocks)
        self.num_groups = num_groups
        self.stem_conv = ConvBn(stem["in_channels"], stem["conv_filters"], stem["conv_kernel"], 2)
        channels = stem["conv_filters"]
        for g in range(num_groups):
            group = nn.ModuleList()
            for r in range(stem["repeats"]):
                projection = g == 0 and r == 0 and bool(stem["projection"])
                group.append(ResidualUnit("bottleneck", channels, stem["inner_width"], projection))
                channels = features[g]["channels"]
            setattr(self, f"stem_group_{g}", group)
        self.block_modules = []
        for block in blocks:
            m = SpineBlock(block)
            setattr(self, "block_%02d" % block["row"], m)
            self.block_modules.append(m)
        self.endpoint_features = []
        self.endpoint_modules = []
        for e in graph["endpoints"]:
            m = ConvBn(e["in_channels"], e["filters"], 1, 1)
            setattr(self, f"endpoint_p{e['level']}", m)
            self.endpoint_modules.append(m)
            self.endpoint_features.append(e["feature"])
        initialize_backbone(self)

    def forward(self, images):
        x = F.relu(self.stem_conv(images))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        features = []
        for g in range(self.num_groups):
            for unit in getattr(self, f"stem_group_{g}"):
                x = unit(x)
            features.append(x)
        for block in self.block_modules:
            features.append(block(features))
        return [F.relu(m(features[f])) for m, f in zip(self.endpoint_modules, self.endpoint_features)]


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
    """retinanet.cc with per-level BN: shared class/box towers, BN per level and conv, predictions."""

    def __init__(self, in_channels, num_levels, width, num_convs, num_classes, anchors):
        super().__init__()
        self.num_levels = num_levels
        self.num_convs = num_convs
        self.num_classes = num_classes
        for subnet in ("class", "box"):
            cin = in_channels
            for i in range(num_convs):
                setattr(self, f"{subnet}_conv_{i}", nn.Conv2d(cin, width, 3, padding=1, bias=True))
                cin = width
            for level in range(num_levels):
                for i in range(num_convs):
                    setattr(self, f"{subnet}_bn_l{level}_{i}", nn.BatchNorm2d(width, eps=BN_EPS, momentum=BN_MOMENTUM))
        tower_out = width if num_convs > 0 else in_channels
        self.class_predict = nn.Conv2d(tower_out, anchors * num_classes, 3, padding=1, bias=True)
        self.box_predict = nn.Conv2d(tower_out, anchors * BOX_COORDINATES, 3, padding=1, bias=True)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.normal_(0.0, HEAD_INIT_STD)
                    m.bias.zero_()
            self.class_predict.bias.fill_(-math.log((1.0 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY))
        self.towers = {s: [getattr(self, f"{s}_conv_{i}") for i in range(num_convs)] for s in ("class", "box")}
        self.norms = {s: [[getattr(self, f"{s}_bn_l{l}_{i}") for i in range(num_convs)] for l in range(num_levels)]
                      for s in ("class", "box")}

    def tower(self, subnet, level, x):
        for conv, bn in zip(self.towers[subnet], self.norms[subnet][level]):
            x = F.relu(bn(conv(x)))
        return x

    @staticmethod
    def flatten(x, per_anchor):  # [N, A*C, H, W] -> [N, H*W*A, C]
        return x.permute(0, 2, 3, 1).reshape(x.size(0), -1, per_anchor)

    def forward(self, pyramid):
        logits, deltas = [], []
        for level, p in enumerate(pyramid):
            logits.append(self.flatten(self.class_predict(self.tower("class", level, p)), self.num_classes))
            deltas.append(self.flatten(self.box_predict(self.tower("box", level, p)), BOX_COORDINATES))
        return torch.cat(logits, 1), torch.cat(deltas, 1)


class Detector(nn.Module):
    def __init__(self, graph, head_width, head_convs, num_classes):
        super().__init__()
        self.backbone = SpineNet(graph)
        self.head = RetinaNetHead(graph["scaling"]["endpoint_filters"], len(graph["endpoints"]), head_width,
                                  head_convs, num_classes, len(ASPECT_RATIOS) * SCALES_PER_OCTAVE)

    def forward(self, images):
        return self.head(self.backbone(images))


# ---------------------------------------------------------------------------------------------
# Anchors, matching and loss (detection.cc).


def generate_anchors(endpoints):
    """Anchors of every endpoint level, in the head's output order (level, row, column, anchor)."""
    per_level = []
    for e in endpoints:
        level = e["level"]
        height, width = e["size"]
        stride = float(1 << level)
        cell = []
        for ratio in ASPECT_RATIOS:
            for s in range(SCALES_PER_OCTAVE):
                side = ANCHOR_BASE_SCALE * stride * 2.0 ** (s / SCALES_PER_OCTAVE)
                w = side / math.sqrt(ratio)
                h = side * math.sqrt(ratio)
                cell.append([-w / 2, -h / 2, w / 2, h / 2])
        cell_t = torch.tensor(cell, dtype=torch.float32)
        ys = (torch.arange(height, dtype=torch.float32) + 0.5) * stride
        xs = (torch.arange(width, dtype=torch.float32) + 0.5) * stride
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        cy, cx = gy.reshape(-1), gx.reshape(-1)
        centers = torch.stack([cx, cy, cx, cy], 1)
        per_level.append((centers.unsqueeze(1) + cell_t.unsqueeze(0)).reshape(-1, 4))
    return torch.cat(per_level, 0)


def area(b):
    return (b[:, 2] - b[:, 0]).clamp_min(0) * (b[:, 3] - b[:, 1]).clamp_min(0)


def box_iou(a, b):
    lt = torch.max(a[:, 0:2].unsqueeze(1), b[:, 0:2].unsqueeze(0))
    rb = torch.min(a[:, 2:4].unsqueeze(1), b[:, 2:4].unsqueeze(0))
    wh = (rb - lt).clamp_min(0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area(a).unsqueeze(1) + area(b).unsqueeze(0) - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def encode_boxes(anchors, boxes):
    aw = anchors[:, 2] - anchors[:, 0]
    ah = anchors[:, 3] - anchors[:, 1]
    ax = anchors[:, 0] + 0.5 * aw
    ay = anchors[:, 1] + 0.5 * ah
    bw = (boxes[:, 2] - boxes[:, 0]).clamp_min(1e-6)
    bh = (boxes[:, 3] - boxes[:, 1]).clamp_min(1e-6)
    bx = boxes[:, 0] + 0.5 * bw
    by = boxes[:, 1] + 0.5 * bh
    return torch.stack([(bx - ax) / aw, (by - ay) / ah, torch.log(bw / aw), torch.log(bh / ah)], 1)


def match_anchors(anchors, gt_boxes):
    n = anchors.size(0)
    if gt_boxes.size(0) == 0:
        return torch.full((n,), BACKGROUND, dtype=torch.int64, device=anchors.device)
    iou = box_iou(gt_boxes, anchors)  # [G, N]
    best_iou, best_gt = iou.max(0)
    matched = best_gt.clone()
    matched.masked_fill_(best_iou < FOREGROUND_IOU, IGNORED)
    matched.masked_fill_(best_iou < BACKGROUND_IOU, BACKGROUND)
    # Low-quality matches: each box's best anchors (ties included) become positives.
    best_per_gt = iou.max(1, keepdim=True)[0]
    is_best = (iou == best_per_gt) & (best_per_gt > 0)
    promoted = is_best.any(0)
    return torch.where(promoted, best_gt, matched)


def sigmoid_focal_loss(logits, targets, alpha, gamma):
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * torch.pow(1 - p_t, gamma)
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss


def compute_loss(class_logits, box_deltas, anchors, targets):
    num_classes = class_logits.size(2)
    matches, box_targets, class_targets = [], [], []
    num_positives = 0
    with torch.no_grad():
        for gt_boxes, gt_classes in targets:
            matched = match_anchors(anchors, gt_boxes)
            positive = matched >= 0
            num_positives += int(positive.sum().item())
            safe = matched.clamp_min(0)
            onehot = torch.zeros(anchors.size(0), num_classes, dtype=anchors.dtype, device=anchors.device)
            if gt_boxes.size(0) > 0:
                onehot.scatter_(1, gt_classes.index_select(0, safe).unsqueeze(1), 1.0)
                onehot.mul_(positive.unsqueeze(1).to(onehot.dtype))
                box_targets.append(encode_boxes(anchors, gt_boxes.index_select(0, safe)))
            else:
                box_targets.append(torch.zeros_like(anchors))
            matches.append(matched)
            class_targets.append(onehot)
    matched = torch.stack(matches)  # [B, N]
    positive = matched >= 0
    valid = (matched != IGNORED).unsqueeze(2).to(class_logits.dtype)
    normalizer = float(max(num_positives, 1))
    logits = class_logits.to(torch.float32)
    focal = sigmoid_focal_loss(logits, torch.stack(class_targets), FOCAL_ALPHA, FOCAL_GAMMA)
    class_loss = (focal * valid.to(torch.float32)).sum() / normalizer
    deltas = box_deltas.to(torch.float32)[positive]
    wanted = torch.stack(box_targets)[positive]
    diff = (deltas - wanted).abs()
    beta = SMOOTH_L1_BETA
    box = torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    box_loss = box.sum() / normalizer
    return class_loss + BOX_LOSS_WEIGHT * box_loss


def random_targets(batch, size, num_classes, gen):
    """step_bench.cc's RandomTargets: boxes at least 8 px on a side, at most half the image."""
    targets = []
    for _ in range(batch):
        wh = torch.rand(BOXES_PER_IMAGE, 2, generator=gen) * (size / 2.0 - MIN_BOX_SIDE) + MIN_BOX_SIDE
        xy = torch.rand(BOXES_PER_IMAGE, 2, generator=gen) * (size - wh)
        boxes = torch.cat([xy, xy + wh], 1)
        classes = torch.randint(num_classes, (BOXES_PER_IMAGE,), generator=gen, dtype=torch.int64)
        targets.append((boxes.to(torch.float32), classes))
    return targets


# ---------------------------------------------------------------------------------------------
# The benchmark.


def spec_overrides(args):
    out = []
    if args.filter_scale is not None:
        out += ["--filter-scale", repr(args.filter_scale)]
    if args.alpha is not None:
        out += ["--alpha", repr(args.alpha)]
    if args.block_repeats is not None:
        out += ["--block-repeats", str(args.block_repeats)]
    if args.endpoint_filters is not None:
        out += ["--endpoint-filters", str(args.endpoint_filters)]
    return out


def run_vertebra(args, *argv):
    cmd = [args.vertebra, "arch", *argv]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"step.py: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch", help="a reference name or a JSON spec file (as for vertebra)")
    ap.add_argument("--filter-scale", type=float)
    ap.add_argument("--alpha", type=float)
    ap.add_argument("--block-repeats", type=int)
    ap.add_argument("--endpoint-filters", type=int)
    ap.add_argument("--head-width", type=int, default=64)
    ap.add_argument("--head-convs", type=int, default=4)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (as torch.device)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast of the forward and loss (CUDA only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--vertebra", default=os.path.join(REPO_ROOT, "build", "vertebra"),
                    help="the vertebra binary (default: build/vertebra of this repository)")
    args = ap.parse_args()
    if args.size < 8 or args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        sys.exit("step.py: need size >= 8, batch >= 1, steps >= 1, warmup >= 0, threads >= 1")
    if not os.path.isabs(args.vertebra) and not os.path.exists(args.vertebra):
        args.vertebra = os.path.join(REPO_ROOT, args.vertebra)

    overrides = spec_overrides(args)
    graph = run_vertebra(args, "resolve", args.arch, *overrides, "--size", str(args.size))
    stats = run_vertebra(args, "stats", args.arch, *overrides, "--size", str(args.size), "--built", "--json",
                         "--head", "retinanet", "--head-width", str(args.head_width), "--head-convs",
                         str(args.head_convs), "--classes", str(args.classes), "--anchors",
                         str(len(ASPECT_RATIOS) * SCALES_PER_OCTAVE), "--head-norm", "bn")
    cpp_parameters = int(stats["built_params"])

    device = torch.device(args.device)
    if args.bf16 and device.type != "cuda":
        sys.exit("step.py: --bf16 needs a CUDA device")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator()
    gen.manual_seed(args.seed)
    model = Detector(graph, args.head_width, args.head_convs, args.classes)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"step.py: parameters python {parameters} c++ {cpp_parameters}", file=sys.stderr)
    assert parameters == cpp_parameters, f"parameter count {parameters} != C++ {cpp_parameters}"
    if args.channels_last:
        # As ToChannelsLast in worker/model/torch_util.cc (1x1 conv weights re-strided too).
        model = model.to(memory_format=torch.channels_last)
    model.to(device)
    model.train()
    anchors = generate_anchors(graph["endpoints"]).to(device)
    sgd = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    if args.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    targets = random_targets(args.batch, args.size, args.classes, gen)
    images = images.to(device)
    targets = [(boxes.to(device), classes.to(device)) for boxes, classes in targets]

    def step():
        sgd.zero_grad()  # 1.13: zeroes the gradients (set_to_none=False), like LibTorch's.
        # As CudaBf16Autocast in worker/step_bench.cc: the forward and the loss under autocast.
        with torch.autocast("cuda", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext():
            class_logits, box_deltas = model(images)
            loss = compute_loss(class_logits, box_deltas, anchors, targets)
        loss.backward()
        sgd.step()
        return loss.item()

    first_loss = last_loss = 0.0
    for i in range(args.warmup):
        loss = step()
        if i == 0:
            first_loss = loss
    start = time.perf_counter()
    for i in range(args.steps):
        last_loss = step()
        if args.warmup == 0 and i == 0:
            first_loss = last_loss
    seconds = time.perf_counter() - start

    result = {
        "arch": args.arch,
        "size": args.size,
        "batch": args.batch,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "channels_last": args.channels_last,
        "bf16": args.bf16,
        "parameters": parameters,
        "images_per_s": args.batch * args.steps / seconds,
        "ms_per_step": 1000.0 * seconds / args.steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "first_loss": first_loss,
        "last_loss": last_loss,
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.arch} at {args.size} px, batch {args.batch}, {result['threads']} threads on {device}"
              f"{', channels-last' if args.channels_last else ''}{', bf16' if args.bf16 else ''} (Python): {result['images_per_s']:.1f} images/s, "
              f"{result['ms_per_step']:.1f} ms/step, peak RSS {result['peak_rss_mb']:.0f} MB "
              f"(loss {first_loss:.3f} -> {last_loss:.3f}, {parameters} parameters, C++ build {cpp_parameters}, "
              f"torch {torch.__version__})")


if __name__ == "__main__":
    main()
