#!/usr/bin/env python3
"""Does the proxy reward carry signal? Trains sampled architectures with `vertebra train` and reports

  * the AP spread across architectures at the proxy budget against the seed-to-seed spread
    (seed noise measured on several architectures), and
  * Kendall's tau between AP at the proxy budget and at a longer budget for a subset.

Every run is a `vertebra train` folder under OUT; a run whose result.json exists is not redone,
so the study resumes where it stopped. Standard library only.

  bench/proxy_study.py --out /tmp/study            # 20 architectures, 300 and 1200 steps
  bench/proxy_study.py --out /tmp/study --report   # the tables again, from the folders
"""
import argparse
import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys


def kendall_tau_b(x, y):
    """Kendall's tau-b (ties in either ranking are allowed)."""
    n = len(x)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx = (x[i] > x[j]) - (x[i] < x[j])
            dy = (y[i] > y[j]) - (y[i] < y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx == dy:
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else float("nan")


def sample_architectures(vertebra, count, seed, out):
    """spinenet-49, scale-decreased-49, then count - 2 uniform samples written as JSON files."""
    archs = [("spinenet-49", "spinenet-49"), ("scale-decreased-49", "scale-decreased-49")]
    if count > 2:
        lines = subprocess.run([vertebra, "arch", "sample", "--seed", str(seed), "--count", str(count - 2)],
                               check=True, capture_output=True, text=True).stdout.splitlines()
        os.makedirs(os.path.join(out, "archs"), exist_ok=True)
        for k, line in enumerate(lines):
            name = f"random-{k + 1:02d}"
            path = os.path.join(out, "archs", name + ".json")
            spec = json.loads(line)
            spec["name"] = name
            with open(path, "w") as f:
                json.dump(spec, f, indent=1)
            archs.append((name, path))
    return archs[:count]


def run_folder(out, name, steps, seed):
    return os.path.join(out, "runs", f"{name}-s{steps}-seed{seed}")


def train(args, name, arch, steps, seed):
    folder = run_folder(args.out, name, steps, seed)
    result = os.path.join(folder, "result.json")
    if os.path.exists(result):
        return name, steps, seed, json.load(open(result))
    resume = ["--resume"] if os.path.exists(os.path.join(folder, "checkpoint.pt")) else []
    cmd = [args.vertebra, "train", "--arch", arch, "--data", args.data, "--steps", str(steps), "--batch",
           str(args.batch), "--size", str(args.size), "--seed", str(seed), "--threads", str(args.threads),
           "--loader-threads", "1", "--out", folder, "--quiet"] + resume
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return name, steps, seed, json.load(open(result))


def ap_of(result):
    return result["ap"]["AP"] if result["status"] == "completed" else 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vertebra", default=os.path.join(os.path.dirname(__file__), "..", "build", "vertebra"))
    p.add_argument("--out", required=True, help="study folder (resumable)")
    p.add_argument("--data", default="synthetic")
    p.add_argument("--archs", type=int, default=20, help="architectures at the proxy budget")
    p.add_argument("--steps", type=int, default=300, help="the proxy budget")
    p.add_argument("--long-factor", type=int, default=4, help="the longer budget is this many times the proxy's")
    p.add_argument("--long-archs", type=int, default=8, help="architectures also trained at the longer budget")
    p.add_argument("--noise-archs", type=int, default=3, help="architectures trained with extra seeds")
    p.add_argument("--noise-seeds", type=int, default=3, help="seeds per noise architecture")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="LibTorch threads per run")
    p.add_argument("--jobs", type=int, default=2, help="runs at once")
    p.add_argument("--sample-seed", type=int, default=1)
    p.add_argument("--report", action="store_true", help="only print the tables of finished runs")
    args = p.parse_args()
    args.vertebra = os.path.abspath(args.vertebra)
    os.makedirs(args.out, exist_ok=True)

    archs = sample_architectures(args.vertebra, args.archs, args.sample_seed, args.out)
    long_steps = args.steps * args.long_factor
    jobs = [(name, arch, args.steps, 0) for name, arch in archs]
    jobs += [(name, arch, args.steps, s) for name, arch in archs[:args.noise_archs] for s in range(1, args.noise_seeds)]
    jobs += [(name, arch, long_steps, 0) for name, arch in archs[:args.long_archs]]

    results = {}
    if args.report:
        for name, arch, steps, seed in jobs:
            f = os.path.join(run_folder(args.out, name, steps, seed), "result.json")
            if os.path.exists(f):
                results[(name, steps, seed)] = json.load(open(f))
    else:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(train, args, *job) for job in jobs]
            for future in concurrent.futures.as_completed(futures):
                name, steps, seed, result = future.result()
                results[(name, steps, seed)] = result
                print(f"{name} steps {steps} seed {seed}: {result['status']} AP {ap_of(result):.4f} "
                      f"({result['train_seconds']:.0f} s)", flush=True)

    print(f"\n| architecture | MACs at {args.size} px | AP at {args.steps} steps | AP at {long_steps} steps |")
    print("|---|---|---|---|")
    proxy_aps = []
    for name, _ in archs:
        r = results.get((name, args.steps, 0))
        if r is None:
            continue
        proxy_aps.append(ap_of(r))
        long = results.get((name, long_steps, 0))
        seeds = [ap_of(results[(name, args.steps, s)]) for s in range(args.noise_seeds)
                 if (name, args.steps, s) in results]
        extra = f" (seeds: {', '.join(f'{a:.3f}' for a in seeds)})" if len(seeds) > 1 else ""
        print(f"| {name} | {r['macs'] / 1e6:.0f} M | {ap_of(r):.3f}{extra} | "
              f"{ap_of(long):.3f} |" if long else f"| {name} | {r['macs'] / 1e6:.0f} M | {ap_of(r):.3f}{extra} | |")

    summary = {"proxy_steps": args.steps, "long_steps": long_steps}
    if len(proxy_aps) > 1:
        summary["archs"] = len(proxy_aps)
        summary["arch_std"] = statistics.stdev(proxy_aps)
        summary["arch_range"] = max(proxy_aps) - min(proxy_aps)
    # Seed noise: the pooled within-architecture standard deviation.
    groups = []
    for name, _ in archs[:args.noise_archs]:
        aps = [ap_of(results[(name, args.steps, s)]) for s in range(args.noise_seeds) if (name, args.steps, s) in results]
        if len(aps) > 1:
            groups.append(aps)
    if groups:
        pooled = sum(statistics.variance(g) * (len(g) - 1) for g in groups) / sum(len(g) - 1 for g in groups)
        summary["noise_archs"] = len(groups)
        summary["seed_std"] = math.sqrt(pooled)
        if "arch_std" in summary and pooled > 0:
            summary["spread_over_noise"] = summary["arch_std"] / math.sqrt(pooled)
    pairs = [(ap_of(results[(n, args.steps, 0)]), ap_of(results[(n, long_steps, 0)])) for n, _ in archs
             if (n, args.steps, 0) in results and (n, long_steps, 0) in results]
    if len(pairs) > 2:
        summary["kendall_archs"] = len(pairs)
        summary["kendall_tau"] = kendall_tau_b([a for a, _ in pairs], [b for _, b in pairs])
    print("\n" + json.dumps(summary, indent=1))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
