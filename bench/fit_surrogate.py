#!/usr/bin/env python3
"""Fit the simulator's `surrogate` objective to real proxy runs.

Reads the fidelity study's CSV (bench/fidelity_study.py; or any search exported to the same
columns), takes one data set's cool-down ("wsd") readings at the first rung and at the reference
budget, computes each architecture's features with `vertebra arch stats --json` at the proxy
scaling and size, and writes the parameters the C++ surrogate reads (worker/agent/surrogate.h),
each with the figure it came from:

  features      mean and SD of each feature over uniform samples of the search space (for
                standardizing), at the proxy scaling (filter 0.25, alpha 0.25, repeats 1, 64
                endpoint filters) and the study's input size;
  dud           the fraction of architectures whose reference AP is under --dud-fraction of the
                best one's (they hardly learn), and the largest AP such a run reached;
  top           a ridge regression of the learners' mean reference AP on the standardized
                features (the penalty picked by leave-one-out error), its leave-one-out R^2, and
                `hash_sd`: the between-architecture SD the features leave unexplained out of sample
                (leave-one-out) beyond seed noise, capped at the seed SD (the part no policy can
                learn);
  ratio         the first-rung AP over the reference AP of the learners (log mean and log SD,
                the seed part removed): how much of its final AP an architecture shows early;
  seed          the seed noise as a coefficient of variation at the first rung and at the
                reference, and the correlation of one seed's deviations at the two (one continued
                run: a lucky start stays lucky);
  ap50          the mean AP50 / AP ratio (the other COCO numbers follow the toy objective's rules).

  bench/fit_surrogate.py --csv bench/results/fidelity.csv --dataset fashion \\
      --out worker/agent/surrogate_fit.json

Standard library only.
"""
import argparse
import collections
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fidelity_study  # noqa: E402

PROXY_SCALING = ["--filter-scale", "0.25", "--alpha", "0.25", "--block-repeats", "1", "--endpoint-filters", "64"]


def features_of(vertebra, path, size):
    out = subprocess.run([vertebra, "arch", "stats", path, "--size", str(size), "--json"] + PROXY_SCALING,
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["features"]


def solve(a, b):
    """Solves a x = b (a square, well conditioned: ridge keeps it so) by Gaussian elimination."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[c][c] != 0:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] for i in range(n)]


def ridge(x, y, lam):
    """Intercept (unpenalized, the mean of y) and weights of a ridge fit on centred data."""
    n, d = len(x), len(x[0])
    mx = [statistics.mean(r[j] for r in x) for j in range(d)]
    my = statistics.mean(y)
    xc = [[r[j] - mx[j] for j in range(d)] for r in x]
    yc = [v - my for v in y]
    a = [[sum(xc[i][p] * xc[i][q] for i in range(n)) + (lam if p == q else 0) for q in range(d)] for p in range(d)]
    b = [sum(xc[i][p] * yc[i] for i in range(n)) for p in range(d)]
    w = solve(a, b)
    return my - sum(w[j] * mx[j] for j in range(d)), w


def predict(model, row):
    b, w = model
    return b + sum(wj * xj for wj, xj in zip(w, row))


def loo(x, y, lam):
    errors = []
    for i in range(len(y)):
        model = ridge(x[:i] + x[i + 1:], y[:i] + y[i + 1:], lam)
        errors.append(y[i] - predict(model, x[i]))
    return errors


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vertebra", default=os.path.join(os.path.dirname(__file__), "..", "build", "vertebra"))
    p.add_argument("--csv", default="bench/results/fidelity.csv")
    p.add_argument("--dataset", default="fashion")
    p.add_argument("--scheme", default="wsd", help="the readings to fit (the default reward)")
    p.add_argument("--out", default="worker/agent/surrogate_fit.json")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--sample-seed", type=int, default=1, help="the study's `arch sample --seed`")
    p.add_argument("--uniform", type=int, default=200, help="uniform samples for the feature statistics")
    p.add_argument("--dud-fraction", type=float, default=0.1)
    p.add_argument("--assume-seed-noise", metavar="CV_RUNG,CV_TOP,CORR",
                   help="while no learner has two seeds: the seed noise to assume (the fit is marked provisional)")
    p.add_argument("--assume-seed-noise-why", default="", help="where the assumed figures come from")
    args = p.parse_args()
    vertebra = os.path.abspath(args.vertebra)

    rows = [r for r in fidelity_study.load(args.csv) if r["dataset"] == args.dataset and r["scheme"] == args.scheme]
    if not rows:
        sys.exit(f"{args.csv}: no {args.scheme} readings for data set {args.dataset!r}")
    budgets = sorted({r["budget"] for r in rows})
    rung, top = budgets[0], budgets[-1]
    runs = collections.defaultdict(dict)  # (arch, seed) -> {budget: (ap, ap50)}
    for r in rows:
        runs[(r["arch"], r["seed"])][r["budget"]] = (r["ap"], r["ap50"])
    runs = {k: v for k, v in runs.items() if rung in v and top in v}
    archs = sorted({a for a, _ in runs})
    randoms = [a for a in archs if a.startswith("random-")]
    count = 2 + max((int(a.split("-")[1]) for a in randoms), default=0)

    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: path for name, path, _ in fidelity_study.architectures(vertebra, count, args.sample_seed,
                                                                              os.path.join(tmp, "study"))}
        feats = {a: features_of(vertebra, paths[a], args.size) for a in archs}
        names = list(next(iter(feats.values())).keys())
        lines = subprocess.run([vertebra, "arch", "sample", "--seed", "987654", "--count", str(args.uniform)],
                               check=True, capture_output=True, text=True).stdout.splitlines()
        uniform = []
        for k, line in enumerate(lines):
            path = os.path.join(tmp, f"u{k}.json")
            with open(path, "w") as f:
                f.write(line)
            uniform.append(features_of(vertebra, path, args.size))
    mean = [statistics.mean(u[n] for u in uniform) for n in names]
    sd = [statistics.pstdev(u[n] for u in uniform) or 1.0 for n in names]

    def z(a):
        return [(feats[a][n] - m) / s for n, m, s in zip(names, mean, sd)]

    top_of = {a: statistics.mean(v[top][0] for (b, _), v in runs.items() if b == a) for a in archs}
    rung_of = {a: statistics.mean(v[rung][0] for (b, _), v in runs.items() if b == a) for a in archs}
    best = max(top_of.values())
    duds = [a for a in archs if top_of[a] < args.dud_fraction * best]
    learners = [a for a in archs if a not in duds]

    # Seed noise among learners: coefficient of variation at each budget, and the correlation of a
    # seed's relative deviations at the two budgets.
    dev = {rung: [], top: []}
    seeds_of = collections.Counter(a for a, _ in runs)
    for (a, s), v in runs.items():
        if a in learners and seeds_of[a] > 1:
            dev[rung].append(v[rung][0] / rung_of[a] - 1 if rung_of[a] > 0 else 0.0)
            dev[top].append(v[top][0] / top_of[a] - 1)

    def cv(d, groups):
        # Pooled within-architecture SD of relative deviations (n - 1 per architecture).
        dof = sum(seeds_of[a] - 1 for a in groups if seeds_of[a] > 1)
        return math.sqrt(sum(x * x for x in d) / dof) if dof else float("nan")

    provisional = None
    if dev[top]:
        cv_rung, cv_top = cv(dev[rung], learners), cv(dev[top], learners)
        corr = (statistics.correlation(dev[rung], dev[top]) if len(dev[top]) > 2 and statistics.pstdev(dev[top]) > 0
                else 0.0)
        seed_why = f"pooled within-architecture relative SD over {len(dev[top])} learner runs with repeats"
    elif args.assume_seed_noise:
        cv_rung, cv_top, corr = (float(x) for x in args.assume_seed_noise.split(","))
        provisional = f"no learner has two seeds in the CSV yet: seed noise assumed ({args.assume_seed_noise_why})"
        seed_why = "assumed, not measured: " + args.assume_seed_noise_why
    else:
        sys.exit(f"{args.csv}: the seed noise needs a learner run with two seeds or more on {args.dataset} "
                 f"(or --assume-seed-noise for a provisional fit)")
    mean_seeds = max(1.0, statistics.mean(seeds_of[a] for a in learners))

    x = [z(a) for a in learners]
    y = [top_of[a] for a in learners]
    grid = [0.3, 1, 3, 10, 30, 100, 300, 1000]
    scores = {lam: sum(e * e for e in loo(x, y, lam)) for lam in grid}
    lam = min(grid, key=lambda g: scores[g])
    model = ridge(x, y, lam)
    total_var = statistics.pvariance(y)
    loo_r2 = 1 - scores[lam] / len(y) / total_var if total_var > 0 else 0.0
    # Out of sample: with a handful of learners and ten features the in-sample residual is near
    # zero however little the features explain, so the unlearnable part comes from the
    # leave-one-out errors.
    residual_var = scores[lam] / len(y)
    seed_var_of_mean = (cv_top * statistics.mean(y)) ** 2 / mean_seeds
    hash_sd = min(math.sqrt(max(0.0, residual_var - seed_var_of_mean)), cv_top * statistics.mean(y))
    fitted = [predict(model, xi) for xi in x]
    tau = fidelity_study.kendall_tau_b(fitted, y)

    logs = [math.log(max(1e-4, rung_of[a]) / top_of[a]) for a in learners]
    ratio_sd = math.sqrt(max(0.0, statistics.pvariance(logs) - cv_rung ** 2 / mean_seeds)) if len(logs) > 1 else 0.0
    ap50 = statistics.mean(v[b][1] / v[b][0] for (a, _), v in runs.items() if a in learners for b in (rung, top)
                           if v[b][0] > 0)
    macs_corr = statistics.correlation([feats[a]["log_macs"] for a in learners], y) if len(y) > 2 else 0.0

    fit = {
        "provisional": provisional,
        "source": f"{args.csv}: data set {args.dataset}, {args.scheme} readings at {rung} and {top} steps; "
                  f"{len(archs)} architectures, {len(runs)} runs (bench/fit_surrogate.py)",
        "rung_steps": rung,
        "top_steps": top,
        "input_size": args.size,
        "features": {"names": names, "mean": mean, "sd": sd,
                     "why": f"{args.uniform} uniform samples (arch sample --seed 987654) at the proxy scaling"},
        "dud": {"rate": len(duds) / len(archs), "ap_max": max((top_of[a] for a in duds), default=0.0),
                "why": f"{len(duds)} of {len(archs)} architectures reached under {args.dud_fraction} x the best "
                       f"reference AP ({best:.3f}): {', '.join(duds) or 'none'}"},
        "top": {"intercept": model[0], "weights": model[1], "ridge_lambda": lam, "loo_r2": loo_r2,
                "fit_kendall_tau": tau, "hash_sd": hash_sd, "learner_mean": statistics.mean(y),
                "learner_sd": math.sqrt(total_var), "best": best, "macs_correlation": macs_corr,
                "why": f"ridge on {len(learners)} learners' mean reference AP, penalty by leave-one-out; "
                       f"hash_sd = SD left unexplained out of sample (leave-one-out) beyond seed noise, capped at the seed SD"},
        "ratio": {"log_mean": statistics.mean(logs), "log_sd": ratio_sd,
                  "why": f"log(first-rung AP / reference AP) over {len(learners)} learners, seed part removed"},
        "seed": {"cv_rung": cv_rung, "cv_top": cv_top, "correlation": corr, "why": seed_why},
        "ap50_ratio": ap50,
    }
    with open(args.out + ".tmp", "w") as f:
        json.dump(fit, f, indent=1)
        f.write("\n")
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {args.out}: {len(archs)} architectures ({len(duds)} duds), learners' reference AP "
          f"{statistics.mean(y):.3f} +- {math.sqrt(total_var):.3f}; ridge lambda {lam}, LOO R^2 {loo_r2:.2f}, "
          f"fit tau {tau:.2f}; hash SD {hash_sd:.3f}; seed CV {cv_rung:.2f} at {rung}, {cv_top:.2f} at {top} "
          f"(corr {corr:.2f}); ratio log mean {statistics.mean(logs):.2f} sd {ratio_sd:.2f}; "
          f"corr(log MACs, AP) {macs_corr:.2f}")


if __name__ == "__main__":
    main()
