#!/usr/bin/python3
"""The proxy training step of `vertebra bench step`, in Python (torch.nn), for comparison.

Builds the same SpineNet + RetinaNet detector as worker/model/{spinenet,retinanet}.cc from the
graph that `vertebra arch resolve` prints, with python/vertebra/model.py (no architecture
arithmetic there: every level, width, edge, extra parent and endpoint comes from that JSON), then
times the step of
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
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, "python"))

from vertebra.model import Detector  # noqa: E402  (python/vertebra: the model, shared with users)

# Constants of the C++ code (detection.h, step_bench.cc).
ANCHOR_BASE_SCALE = 2.0
SCALES_PER_OCTAVE = 3
ASPECT_RATIOS = (0.5, 1.0, 2.0)
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
    ap.add_argument("--bf16", action="store_true",
                    help="bf16 autocast of the forward and the loss (as `vertebra bench step --bf16`, CPU or CUDA)")
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
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator()
    gen.manual_seed(args.seed)
    model = Detector(graph, {"width": args.head_width, "num_convs": args.head_convs, "num_classes": args.classes,
                             "anchors_per_location": len(ASPECT_RATIOS) * SCALES_PER_OCTAVE})
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
        # As Bf16Autocast in worker/step_bench.cc: the forward and the loss under autocast.
        with torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext():
            _, (class_logits, box_deltas) = model(images)
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
        "precision": "bf16" if args.bf16 else "fp32",
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
