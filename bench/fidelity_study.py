#!/usr/bin/env python3
"""The fidelity of the proxy reward: does the first rung rank architectures as 4x its budget does?

For every data set, architecture and seed it trains, with `vertebra train` at the proxy scaling:

  wsd job     one constant-lr run of FACTOR x RUNG steps (warm-up, then constant) read at RUNG and at
              FACTOR x RUNG three ways: the weights as they are ("constant"), their moving average
              ("ema", decay --ema), and a cool-down fork whose lr decays to zero over
              --cooldown-fraction of the reading's steps ("wsd"). Its cool-down reading at
              FACTOR x RUNG is the reference: an annealed run of 4x the budget.
  cosine job  a run of RUNG steps with its own warm-up and cosine ("cosine_per_rung").
  today job   (--today) one cosine over FACTOR x RUNG steps read at RUNG mid-schedule ("cosine"),
              the reading rungs got before the wsd schedule; costly, so for the first seed only.

Each reading is a CSV row: dataset, its data spec, architecture, seed, scheme, budget, AP, AP50, MACs, params,
the steps the scheme costs to produce it, and the wall and CPU seconds of the job it came from.
The CSV is the study's record (the controller's simulator is calibrated on it); a job whose rows
are in it is not run again, and an interrupted job resumes from its checkpoint, so the study can
be stopped and restarted at will. `--report` prints the figures (with two data sets, also each
set's reading ranked against each set's reference) and writes the SVG plot.

  bench/fidelity_study.py --csv bench/results/fidelity.csv --runs /tmp/fidelity          # run
  bench/fidelity_study.py --csv bench/results/fidelity.csv --report --svg docs/fidelity.svg

Standard library only.
"""
import argparse
import collections
import concurrent.futures
import csv
import hashlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time

FIELDS = ["dataset", "data", "lr", "arch", "kind", "seed", "scheme", "budget", "ap", "ap50", "macs", "params",
          "scheme_steps", "job", "job_steps", "job_wall_s", "job_cpu_s"]
# The trainer's AdamW peak learning rate when --lr is not given (rows written before the lr column).
DEFAULT_LR = 2e-3
DATASETS = {"shapes": "synthetic", "fashion": "fashion-mnist"}
# Architectures whose third seed pins the seed noise (with the first random one).
NOISE_ARCHS = ("spinenet-49", "scale-decreased-49", "random-01")


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


def architectures(vertebra, count, sample_seed, folder):
    """spinenet-49, scale-decreased-49, then count - 2 uniform samples, written as JSON files."""
    archs = [("spinenet-49", "spinenet-49", "baseline"), ("scale-decreased-49", "scale-decreased-49", "baseline")]
    lines = subprocess.run([vertebra, "arch", "sample", "--seed", str(sample_seed), "--count", str(count - 2)],
                           check=True, capture_output=True, text=True).stdout.splitlines()
    os.makedirs(folder, exist_ok=True)
    for k, line in enumerate(lines):
        name = f"random-{k + 1:02d}"
        spec = json.loads(line)
        spec["name"] = name
        path = os.path.join(folder, name + ".json")
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
        archs.append((name, path, "random"))
    return archs


def read_metrics(folder):
    evals, steps, cooldown = [], 0, 0
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            if j.get("event") == "eval":
                evals.append(j)
            elif j.get("event") == "cooldown":
                cooldown += 1
            elif "event" not in j:
                steps = max(steps, j["step"])
    return evals, steps + cooldown


def migrate(csv_path):
    """Give a CSV written before the lr column that column (the trainer's default lr then)."""
    with open(csv_path) as f:
        reader = csv.DictReader(f)
        if "lr" in (reader.fieldnames or []):
            return
        rows = list(reader)
    tmp = csv_path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow(dict(r, lr=DEFAULT_LR))
    os.replace(tmp, csv_path)


class Study:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.done = set()
        if os.path.exists(args.csv):
            migrate(args.csv)
            with open(args.csv) as f:
                for row in csv.DictReader(f):
                    self.done.add(row["job"])

    def append(self, rows):
        with self.lock:
            new = not os.path.exists(self.args.csv)
            os.makedirs(os.path.dirname(os.path.abspath(self.args.csv)), exist_ok=True)
            with open(self.args.csv, "a", newline="") as f:
                w = csv.DictWriter(f, FIELDS)
                if new:
                    w.writeheader()
                for r in rows:
                    w.writerow(r)
                f.flush()
                os.fsync(f.fileno())

    def train(self, job, arch, data, seed, extra):
        a = self.args
        folder = os.path.join(a.runs, job)
        if os.path.exists(os.path.join(folder, "result.json")):
            with open(os.path.join(folder, "result.json")) as f:
                result = json.load(f)
            if result["status"] in ("completed", "diverged"):
                return folder, result, json.load(open(os.path.join(folder, "timing.json")))
        resume = ["--resume"] if os.path.exists(os.path.join(folder, "checkpoint.pt")) else []
        cmd = [a.vertebra, "train", "--arch", arch, "--scaling", "proxy", "--data", data, "--size", str(a.size),
               "--batch", str(a.batch), "--seed", str(seed), "--threads", "1", "--loader-threads",
               str(a.loader_threads), "--device", a.device, "--checkpoint-minutes", "2", "--out", folder,
               "--quiet"] + extra + resume
        start = time.monotonic()
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "stderr.txt"), "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)  # This child's own CPU time.
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 3):
            with open(os.path.join(folder, "stderr.txt")) as err:
                raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.read().strip()}")
        timing = {"wall_s": time.monotonic() - start, "cpu_s": usage.ru_utime + usage.ru_stime}
        with open(os.path.join(folder, "timing.json"), "w") as f:
            json.dump(timing, f)
        with open(os.path.join(folder, "result.json")) as f:
            return folder, json.load(f), timing

    def run_job(self, dataset, name, arch, kind, seed, job_kind):
        a = self.args
        if a.deadline is not None and time.monotonic() > a.deadline:
            return None, "not started: past --deadline-minutes"
        rung, top = a.rung, a.rung * a.factor
        data = a.data.get(dataset, DATASETS[dataset])
        # The data spec is part of the job: a retuned data set starts its rows afresh; so is a learning
        # rate other than the trainer's default.
        tag = hashlib.sha1(data.encode()).hexdigest()[:6]
        recipe = "" if a.lr == DEFAULT_LR else f"/lr{a.lr:g}"
        job = f"{dataset}-{tag}{recipe}/r{rung}x{a.factor}/{name}/seed{seed}/{job_kind}"
        if job in self.done:
            return job, "done before"
        if job_kind == "wsd":
            readings = sorted({rung} | {r for r in a.extra_readings if rung < r < top})
            extra = ["--lr", f"{a.lr:g}", "--steps", str(top), "--schedule", "wsd", "--readings"] + [str(r) for r in readings] + [
                     "--ema", str(a.ema),
                     "--read-all", "--cooldown-fraction", str(a.cooldown_fraction), "--warmup", str(a.warmup)]
        elif job_kind == "cosine":
            extra = ["--lr", f"{a.lr:g}", "--steps", str(rung), "--schedule", "cosine", "--warmup", str(a.warmup)]
        else:  # today
            extra = ["--lr", f"{a.lr:g}", "--steps", str(top), "--schedule", "cosine", "--eval-every", str(rung), "--warmup", str(a.warmup)]
        folder, result, timing = self.train(job, arch, data, seed, extra)
        evals, job_steps = read_metrics(folder)
        base = {"dataset": dataset, "data": data, "lr": a.lr, "arch": name, "kind": kind, "seed": seed, "macs": result["macs"],
                "params": result["parameters"], "job": job, "job_steps": job_steps,
                "job_wall_s": round(timing["wall_s"], 1),
                "job_cpu_s": round(timing["cpu_s"], 1)}
        rows = []

        def add(scheme, budget, ap, ap50, scheme_steps):
            rows.append(dict(base, scheme=scheme, budget=budget, ap=round(ap, 5), ap50=round(ap50, 5),
                             scheme_steps=scheme_steps))

        cool = lambda steps: max(1, math.floor(a.cooldown_fraction * steps + 0.5))  # As the trainer rounds.
        if result["status"] == "diverged":
            # A broken architecture: AP 0 at every reading the job would have made.
            for budget in (rung, top):
                for scheme in (("constant", "ema", "wsd") if job_kind == "wsd" else (job_kind,)):
                    if job_kind != "wsd" and budget != rung:
                        continue
                    add(scheme if job_kind != "cosine" else "cosine_per_rung", budget, 0.0, 0.0, budget)
        elif job_kind == "wsd":
            names = {"weights": "constant", "ema": "ema", "cooldown": "wsd"}
            for e in evals:
                scheme = names[e["reading"]]
                steps = e["step"] + (cool(e["step"]) if scheme == "wsd" else 0)
                add(scheme, e["step"], e["AP"], e["AP50"], steps)
        elif job_kind == "cosine":
            add("cosine_per_rung", rung, result["ap"]["AP"], result["ap"]["AP50"], rung)
        else:
            for e in evals:
                if e["step"] == rung:
                    add("cosine", rung, e["AP"], e["AP50"], rung)
                if e["step"] == top:
                    add("cosine_long", top, e["AP"], e["AP50"], top)
        self.append(rows)
        return job, f"{result['status']}: " + ", ".join(f"{r['scheme']}@{r['budget']} {r['ap']:.3f}" for r in rows)


def run(args):
    args.deadline = None if args.deadline_minutes is None else time.monotonic() + 60.0 * args.deadline_minutes
    archs = architectures(args.vertebra, args.archs, args.sample_seed, os.path.join(args.runs, "archs"))
    study = Study(args)
    jobs = []
    # One data set at a time (the first is the one the simulator is calibrated on); within it the
    # seeds that pin the noise first, then breadth first: every other architecture once, then
    # again, so a partial study has a noise estimate early and is balanced.
    for dataset in args.datasets:
        order = [(seed, a) for seed in range(1, args.seeds + 2) for a in archs if a[0] in NOISE_ARCHS]
        order += [(1, a) for a in archs if a[0] not in NOISE_ARCHS]
        order += [(seed, a) for seed in range(2, args.seeds + 1) for a in archs if a[0] not in NOISE_ARCHS]
        for seed, (name, arch, kind) in order:
            for job_kind in args.job_kinds:
                jobs.append((dataset, name, arch, kind, seed, job_kind))
    if args.today:
        for dataset in args.datasets:
            for name, arch, kind in archs:
                jobs.append((dataset, name, arch, kind, 1, "today"))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(study.run_job, *j) for j in jobs]
        for future in concurrent.futures.as_completed(futures):
            try:
                job, what = future.result()
                if job is None:
                    continue
                print(f"{time.strftime('%H:%M:%S')} {job}: {what}", flush=True)
            except Exception as e:  # One failed job does not stop the study.
                print(f"{time.strftime('%H:%M:%S')} {e}", file=sys.stderr, flush=True)


# ---- the report -------------------------------------------------------------------------------

def load(csv_path):
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("seed", "budget", "macs", "params", "scheme_steps", "job_steps"):
            r[k] = int(r[k])
        for k in ("ap", "ap50", "job_wall_s", "job_cpu_s"):
            r[k] = float(r[k])
        r["lr"] = float(r.get("lr") or DEFAULT_LR)
    return rows


def reading_cpu_s(r):
    """The CPU seconds of one reading: its job's, in proportion to the steps the scheme costs."""
    return r["job_cpu_s"] * r["scheme_steps"] / max(1, r["job_steps"])


def learners_of(refs, learn_threshold=0.5):
    """The architectures that learn: a reference AP at least learn_threshold x the best one's."""
    best = max(refs.values())
    return [a for a in sorted(refs) if refs[a] >= learn_threshold * best]


def figures(rows, dataset, scheme, rung, top, reference="wsd", boot=2000):
    """The figures of one scheme on one data set, or None when it has too few readings."""
    at = collections.defaultdict(list)     # arch -> APs at the first rung, one per seed
    ref = collections.defaultdict(list)    # arch -> reference APs
    at_seed = collections.defaultdict(dict)   # arch -> seed -> AP at the first rung
    ref_seed = collections.defaultdict(dict)  # arch -> seed -> reference AP
    steps, cpu = [], []
    for r in rows:
        if r["dataset"] != dataset:
            continue
        if r["scheme"] == scheme and r["budget"] == rung:
            at[r["arch"]].append(r["ap"])
            at_seed[r["arch"]][r["seed"]] = r["ap"]
            steps.append(r["scheme_steps"])
            cpu.append(reading_cpu_s(r))
        if r["scheme"] == reference and r["budget"] == top:
            ref[r["arch"]].append(r["ap"])
            ref_seed[r["arch"]][r["seed"]] = r["ap"]
    archs = sorted(a for a in at if a in ref)
    if len(archs) < 3:
        return None
    means = {a: statistics.mean(at[a]) for a in archs}
    refs = {a: statistics.mean(ref[a]) for a in archs}
    groups = [at[a] for a in archs if len(at[a]) > 1]
    pooled = (math.sqrt(sum(statistics.variance(g) * (len(g) - 1) for g in groups) / sum(len(g) - 1 for g in groups))
              if groups else float("nan"))
    spread = statistics.stdev(means.values())
    learners = learners_of(refs)
    rng = random.Random(1)

    def tau(names):
        return kendall_tau_b([means[a] for a in names], [refs[a] for a in names])

    def interval(names):
        if len(names) < 4:
            return (float("nan"), float("nan"))
        samples = []
        for _ in range(boot):
            pick = [rng.choice(names) for _ in names]
            t = tau(pick)
            if not math.isnan(t):
                samples.append(t)
        samples.sort()
        if not samples:
            return (float("nan"), float("nan"))
        return (samples[int(0.05 * len(samples))], samples[int(0.95 * len(samples)) - 1])

    # The first rung and the reference above come from one run per seed, so a seed's luck is in
    # both. Across seeds, the first rung of seed 1 is ranked against the reference of seed 2 and
    # the other way round (the mean of the two taus), over the architectures with both seeds: what
    # a one-seed reward tells of a long run it does not share its seed with. Beside it the same
    # pairs within a run, the figure the shared seed inflates.
    paired = [a for a in archs if {1, 2} <= set(at_seed[a]) and {1, 2} <= set(ref_seed[a])]

    def paired_tau(names, cross):
        if len(names) < 3:
            return float("nan")
        return statistics.mean(kendall_tau_b([at_seed[a][s] for a in names], [ref_seed[a][3 - s if cross else s] for a in names])
                               for s in (1, 2))

    paired_learners = [a for a in paired if a in learners]
    return {"dataset": dataset, "scheme": scheme, "archs": len(archs), "seeded_archs": len(groups),
            "paired": len(paired), "tau_within": paired_tau(paired, False), "tau_across": paired_tau(paired, True),
            "paired_learners": len(paired_learners), "tau_within_learners": paired_tau(paired_learners, False),
            "tau_across_learners": paired_tau(paired_learners, True),
            "spread": spread, "seed_sd": pooled,
            "spread_over_noise": spread / pooled if pooled > 0 else float("nan"),
            "tau_all": tau(archs), "tau_all_90": interval(archs), "learners": len(learners),
            "tau_learners": tau(learners), "tau_learners_90": interval(learners),
            "steps": statistics.mean(steps), "cpu_min": statistics.mean(cpu) / 60,
            "points": [(means[a], refs[a], a) for a in archs]}


def svg_plot(results, path):
    """First-rung AP against reference AP: one panel per data set, one colour per scheme."""
    colours = {"wsd": "#d62728", "ema": "#1f77b4", "constant": "#7f7f7f", "cosine_per_rung": "#2ca02c",
               "cosine": "#9467bd"}
    datasets = sorted({r["dataset"] for r in results})
    w, h, pad = 360, 320, 46
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * len(datasets)}" height="{h + 40}" '
           'font-family="sans-serif" font-size="11">']
    for i, d in enumerate(datasets):
        ox = i * w
        sub = [r for r in results if r["dataset"] == d]
        xmax = max(p[1] for r in sub for p in r["points"]) * 1.05 or 1
        ymax = max(p[0] for r in sub for p in r["points"]) * 1.05 or 1
        out.append(f'<text x="{ox + w / 2}" y="14" text-anchor="middle" font-weight="bold">{d}</text>')
        out.append(f'<rect x="{ox + pad}" y="24" width="{w - pad - 10}" height="{h - pad - 24}" fill="none" '
                   'stroke="#444"/>')
        out.append(f'<text x="{ox + w / 2}" y="{h - 8}" text-anchor="middle">reference AP (4x budget, cooled)</text>')
        out.append(f'<text x="{ox + 12}" y="{h / 2}" transform="rotate(-90 {ox + 12} {h / 2})" '
                   'text-anchor="middle">first-rung AP</text>')
        for t in range(5):
            xv, yv = xmax * t / 4, ymax * t / 4
            x = ox + pad + (w - pad - 10) * t / 4
            y = h - pad - (h - pad - 24) * t / 4
            out.append(f'<text x="{x}" y="{h - pad + 13}" text-anchor="middle">{xv:.2f}</text>')
            out.append(f'<text x="{ox + pad - 4}" y="{y + 4}" text-anchor="end">{yv:.2f}</text>')
        for r in sub:
            c = colours.get(r["scheme"], "#000")
            for a, b, name in r["points"]:
                x = ox + pad + (w - pad - 10) * b / xmax
                y = h - pad - (h - pad - 24) * a / ymax
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}" fill-opacity="0.8">'
                           f'<title>{name} {r["scheme"]}: {a:.3f} vs {b:.3f}</title></circle>')
    for k, (s, c) in enumerate(colours.items()):
        out.append(f'<circle cx="{20 + k * 120}" cy="{h + 22}" r="4" fill="{c}"/>'
                   f'<text x="{28 + k * 120}" y="{h + 26}">{s}</text>')
    out.append("</svg>")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)


def across_data_sets(rows, rung, top):
    """With two data sets or more: does one set's cool-down reading at the first rung rank the
    architectures as each set's reference does (mean over seeds, the architectures both have)? It
    compares the sets at their own costs, and the references with each other."""
    aps = collections.defaultdict(list)  # (data set, budget, arch) -> wsd APs, one per seed
    cpu = collections.defaultdict(list)  # (data set, budget) -> CPU seconds of a reading
    for r in rows:
        if r["scheme"] == "wsd" and r["budget"] in (rung, top):
            aps[(r["dataset"], r["budget"], r["arch"])].append(r["ap"])
            cpu[(r["dataset"], r["budget"])].append(reading_cpu_s(r))
    datasets = sorted({d for d, _, _ in aps})
    if len(datasets) < 2:
        return

    def mean(d, b, a):
        return statistics.mean(aps[(d, b, a)])

    def arch_names(d, b, t):
        return sorted(a for dd, bb, a in aps if (dd, bb) == (d, b) and (t, top, a) in aps)

    print(f"\nAcross data sets (wsd, mean over seeds): each set's reading at {rung} steps, and its reference, "
          f"ranked against each set's reference at {top}\n")
    print("| reading | CPU min | against | archs | tau, all | learners | tau, learners |")
    print("|---|---|---|---|---|---|---|")
    for d in datasets:
        for b in (rung, top):
            for t in datasets:
                if b == top and t == d:
                    continue
                names = arch_names(d, b, t)
                if len(names) < 3:
                    continue
                learners = learners_of({a: mean(t, top, a) for a in names})
                tau = kendall_tau_b([mean(d, b, a) for a in names], [mean(t, top, a) for a in names])
                tau_l = kendall_tau_b([mean(d, b, a) for a in learners], [mean(t, top, a) for a in learners])
                print(f"| {d} at {b} | {statistics.mean(cpu[(d, b)]) / 60:.2f} | {t} at {top} | {len(names)} | "
                      f"{tau:.2f} | {len(learners)} | {tau_l:.2f} |")


def report(args):
    rows = [r for r in load(args.csv) if math.isclose(r["lr"], args.lr)]
    rung, top = args.at or args.rung, args.rung * args.factor
    if args.same_runs:
        # Like for like: only the runs (data set, architecture, seed) read at every budget listed.
        wanted = set(args.same_runs)
        budgets = collections.defaultdict(set)
        for r in rows:
            budgets[(r["dataset"], r["arch"], r["seed"])].add(r["budget"])
        rows = [r for r in rows if wanted <= budgets[(r["dataset"], r["arch"], r["seed"])]]
        print(f"Only the runs read at {', '.join(str(b) for b in sorted(wanted))} steps.")
    results = []
    for dataset in sorted({r["dataset"] for r in rows}):
        for scheme in ("wsd", "ema", "constant", "cosine_per_rung", "cosine"):
            f = figures(rows, dataset, scheme, rung, top)
            if f:
                results.append(f)
    print(f"Rows at lr {args.lr:g}, readings at {rung} steps against the reference at {top} steps.\n")
    print(f"| data | scheme | archs | spread / seed SD | Kendall tau, all [90% CI] | tau, learners [90% CI] "
          f"| steps | CPU min |")
    print("|---|---|---|---|---|---|---|---|")
    for f in results:
        print(f"| {f['dataset']} | {f['scheme']} | {f['archs']} ({f['seeded_archs']} seeded) | "
              f"{f['spread']:.3f} / {f['seed_sd']:.3f} = {f['spread_over_noise']:.1f} | "
              f"{f['tau_all']:.2f} [{f['tau_all_90'][0]:.2f}, {f['tau_all_90'][1]:.2f}] | "
              f"{f['tau_learners']:.2f} ({f['learners']}) [{f['tau_learners_90'][0]:.2f}, "
              f"{f['tau_learners_90'][1]:.2f}] | {f['steps']:.0f} | {f['cpu_min']:.2f} |")
    if any(f["paired"] >= 3 for f in results):
        print(f"\nOne seed against another (architectures with seeds 1 and 2): the first rung of one seed ranked "
              f"against the reference of the same run and of the other seed (mean of the two ways)\n")
        print("| data | scheme | archs | tau, same run | tau, across seeds | learners | tau, same run | tau, across seeds |")
        print("|---|---|---|---|---|---|---|---|")
        for f in results:
            if f["paired"] >= 3:
                print(f"| {f['dataset']} | {f['scheme']} | {f['paired']} | {f['tau_within']:.2f} | {f['tau_across']:.2f} | "
                      f"{f['paired_learners']} | {f['tau_within_learners']:.2f} | {f['tau_across_learners']:.2f} |")
    across_data_sets(rows, rung, top)
    refs = collections.defaultdict(list)
    for r in rows:
        if r["scheme"] == "wsd" and r["budget"] == top and r["arch"] == "spinenet-49":
            refs[r["dataset"]].append(r["ap"])
    for d, aps in sorted(refs.items()):
        print(f"spinenet-49 reference AP on {d}: " + ", ".join(f"{x:.3f}" for x in aps))
    if args.svg and results:
        svg_plot(results, args.svg)
        print(f"wrote {args.svg}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vertebra", default=os.path.join(os.path.dirname(__file__), "..", "build", "vertebra"))
    p.add_argument("--csv", required=True, help="the study's record (appended to; resumable)")
    p.add_argument("--runs", default="/tmp/vertebra-fidelity", help="run folders")
    p.add_argument("--datasets", default="fashion,shapes", help="comma-separated: fashion, shapes")
    p.add_argument("--data", action="append", default=[], metavar="NAME=SPEC",
                   help="the data spec of a data set (default: shapes=synthetic, fashion=fashion-mnist)")
    p.add_argument("--archs", type=int, default=16)
    p.add_argument("--seeds", type=int, default=2, help="seeds per architecture (plus one for a few)")
    p.add_argument("--rung", type=int, default=450,
                   help="the first rung's steps (450: where SpineNet-49 clearly learns on the shapes set)")
    p.add_argument("--factor", type=int, default=4, help="the reference budget is this many first rungs")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help="AdamW peak learning rate (also selects the rows "
                   "--report reads)")
    p.add_argument("--extra-readings", type=int, nargs="*", default=[900], metavar="STEPS",
                   help="more readings of each wsd job between the first rung and the reference (rows at these "
                        "budgets; a job resumed past one lacks it)")
    p.add_argument("--at", type=int, help="--report: the figures of the readings at this budget instead of the "
                   "first rung's (e.g. an --extra-readings budget)")
    p.add_argument("--same-runs", type=int, nargs="+", metavar="STEPS",
                   help="--report: only the runs read at every one of these budgets (to compare --at budgets "
                   "on the same runs)")
    p.add_argument("--job-kinds", default="wsd,cosine",
                   help="comma-separated: wsd (constant, ema and wsd readings and the reference), cosine")
    p.add_argument("--ema", type=float, default=0.99)
    p.add_argument("--cooldown-fraction", type=float, default=0.15)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--jobs", type=int, default=2, help="trainings at once (one thread each)")
    p.add_argument("--device", default="cpu", help="where the trainings run: cpu, cuda or cuda:N")
    p.add_argument("--loader-threads", type=int, default=1, help="data-loading threads per training")
    p.add_argument("--deadline-minutes", type=float,
                   help="start no job after this many minutes (running ones finish); resume later")
    p.add_argument("--today", action="store_true", help="also the mid-schedule cosine reading (first seed)")
    p.add_argument("--sample-seed", type=int, default=1)
    p.add_argument("--report", action="store_true", help="print the figures of the CSV; --svg writes the plot")
    p.add_argument("--svg")
    args = p.parse_args()
    args.vertebra = os.path.abspath(args.vertebra)
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.job_kinds = [k for k in args.job_kinds.split(",") if k]
    for k in args.job_kinds:
        if k not in ("wsd", "cosine"):
            p.error(f"--job-kinds: unknown kind {k!r} (known: wsd, cosine)")
    if "wsd" not in args.job_kinds and not args.report:
        p.error("--job-kinds: wsd is needed (its cool-down at the last reading is the reference)")
    for d in args.datasets:
        if d not in DATASETS:
            p.error(f"--datasets: unknown data set {d!r} (known: {', '.join(DATASETS)})")
    data = {}
    for item in args.data:
        name, _, spec = item.partition("=")
        if name not in DATASETS or not spec:
            p.error(f"--data: expected NAME=SPEC with NAME in {', '.join(DATASETS)}, got {item!r}")
        data[name] = spec
    args.data = data
    if args.report:
        report(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
