#!/usr/bin/env python3
"""Draws the curves of `vertebra bench search --csv` as one SVG, with the standard library only.

Left: the noiseless final AP of the architecture each search ranks best, against reports made.
Right: the mean final AP of the last WINDOW architectures proposed, against proposals: how much the
policy has learned. Every line is the mean over the seeds of one algorithm and rung layout.

  python3 bench/plot_search.py CURVES.csv OUT.svg [--title TEXT] [--window 50]
"""
import argparse
import collections
import csv
import sys

COLORS = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b"]
WIDTH, HEIGHT = 1010, 352
PANEL_W, PANEL_H = 360, 250
LEFT, TOP = 70, 62


def mean_curve(runs):
    """The pointwise mean over runs, each carried to the longest run by its last value."""
    length = max(len(r) for r in runs)
    padded = [r + [r[-1]] * (length - len(r)) for r in runs if r]
    return [sum(p[i] for p in padded) / len(padded) for i in range(length)]


def rolling(values, window):
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out[window - 1:] if len(out) >= window else []


def read(path, window):
    best = collections.defaultdict(lambda: collections.defaultdict(list))
    proposed = collections.defaultdict(lambda: collections.defaultdict(list))
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["algorithm"], row["rungs"])
            best[key][row["seed"]].append(float(row["best_final_ap"]))
            if row.get("proposal_final_ap"):
                proposed[key][row["seed"]].append(float(row["proposal_final_ap"]))
    curves = {}
    for key in best:
        left = mean_curve(list(best[key].values()))
        right_runs = [rolling(v, window) for v in proposed[key].values()]
        right = mean_curve([r for r in right_runs if r]) if any(right_runs) else []
        curves[key] = (left, right)
    return curves


def axis(x0, y0, xmax, ymin, ymax, xlabel, title):
    parts = [f'<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#444"/>',
             f'<text x="{x0 + PANEL_W / 2}" y="{y0 - 10}" text-anchor="middle" font-size="14">{title}</text>',
             f'<text x="{x0 + PANEL_W / 2}" y="{y0 + PANEL_H + 36}" text-anchor="middle" font-size="12">{xlabel}</text>']
    for i in range(5):
        v = ymin + (ymax - ymin) * i / 4
        y = y0 + PANEL_H - PANEL_H * i / 4
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + PANEL_W}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{v:.3f}</text>')
    for i in range(5):
        v = xmax * i / 4
        x = x0 + PANEL_W * i / 4
        parts.append(f'<text x="{x:.1f}" y="{y0 + PANEL_H + 16}" text-anchor="middle" font-size="11">{v:.0f}</text>')
    return parts


def polyline(values, x0, y0, xmax, ymin, ymax, color, offset=0):
    points = []
    for i, v in enumerate(values):
        x = x0 + PANEL_W * (i + offset) / max(xmax, 1)
        y = y0 + PANEL_H - PANEL_H * (min(max(v, ymin), ymax) - ymin) / (ymax - ymin)
        points.append(f"{x:.1f},{y:.1f}")
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{" ".join(points)}"/>'


def bounds(series):
    lo = min(min(s) for s in series if s)
    hi = max(max(s) for s in series if s)
    pad = (hi - lo) * 0.05 or 0.01
    return lo - pad, hi + pad


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("svg")
    parser.add_argument("--title", default="")
    parser.add_argument("--window", type=int, default=50, help="proposals in the rolling mean (default 50)")
    args = parser.parse_args()
    try:
        curves = read(args.csv, args.window)
    except (OSError, KeyError, ValueError) as e:
        sys.exit(f"plot_search.py: {args.csv}: {e}")
    if not curves:
        sys.exit(f"plot_search.py: {args.csv}: no rows")
    lefts = [c[0] for c in curves.values()]
    rights = [c[1] for c in curves.values() if c[1]]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>']
    if args.title:
        parts.append(f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">{args.title}</text>')
    lmax = max(len(c) for c in lefts)
    lmin, lhi = bounds(lefts)
    parts += axis(LEFT, TOP, lmax, lmin, lhi, "reports", "final AP of the best-ranked architecture")
    x1 = LEFT + PANEL_W + 90
    rmax = max(len(c) for c in rights) + args.window - 1 if rights else 1
    rmin, rhi = bounds(rights) if rights else (0, 1)
    parts += axis(x1, TOP, rmax, rmin, rhi, "proposals",
                  f"mean final AP of the last {args.window} proposals")
    for i, ((algorithm, rungs), (left, right)) in enumerate(sorted(curves.items())):
        color = COLORS[i % len(COLORS)]
        parts.append(polyline(left, LEFT, TOP, lmax, lmin, lhi, color))
        if right:
            parts.append(polyline(right, x1, TOP, rmax, rmin, rhi, color, offset=args.window - 1))
        label = algorithm if len({k[1] for k in curves}) == 1 else f"{algorithm} ({rungs})"
        y = TOP + 14 + 16 * i
        parts.append(f'<line x1="{x1 + PANEL_W + 12}" y1="{y - 4}" x2="{x1 + PANEL_W + 28}" y2="{y - 4}" '
                     f'stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{x1 + PANEL_W + 32}" y="{y}" font-size="12">{label}</text>')
    parts.append("</svg>")
    with open(args.svg, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
