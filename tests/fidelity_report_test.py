"""The fidelity study's report on a small hand-made record: the across-data-sets table ranks each
set's first rung against each set's reference with the taus and costs worked out by hand, and a
record of one data set prints no such table. Standard library only."""
import csv
import os
import subprocess
import sys
import tempfile

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
SCRIPT = os.path.join(BENCH, "fidelity_study.py")
sys.path.insert(0, BENCH)
from fidelity_study import FIELDS  # noqa: E402  (the record's columns, as the study writes them)

# Fashion-MNIST's first rung ranks x1 < x2 < x3 < x4 as both references do; the shapes set's
# first rung swaps x1 and x2: one discordant pair of six, tau (5 - 1) / 6 = 0.67, and 1.00 over
# Fashion-MNIST's learners (x2-x4). A reading costs 600 CPU s x 500 / 2000 steps = 2.50 min.
APS = {("fashion", 450): [0.1, 0.2, 0.3, 0.4], ("fashion", 1800): [0.2, 0.3, 0.4, 0.5],
       ("shapes", 450): [0.2, 0.1, 0.3, 0.4], ("shapes", 1800): [0.5, 0.6, 0.7, 0.8]}


def write(path, datasets):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for (dataset, budget), aps in APS.items():
            if dataset not in datasets:
                continue
            for i, ap in enumerate(aps):
                w.writerow({"dataset": dataset, "data": dataset, "lr": 0.002, "arch": f"x{i + 1}", "kind": "random",
                            "seed": 1, "scheme": "wsd", "budget": budget, "ap": ap, "ap50": ap, "macs": 1,
                            "params": 1, "scheme_steps": 500, "job": "j", "job_steps": 2000, "job_wall_s": 600,
                            "job_cpu_s": 600})


def report(path):
    out = subprocess.run([sys.executable, SCRIPT, "--csv", path, "--report"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAIL: the report exited {out.returncode}: {out.stderr}")
    return out.stdout


def main():
    failures = 0

    def check(what, ok):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what)
        failures += not ok

    with tempfile.TemporaryDirectory() as tmp:
        both = os.path.join(tmp, "both.csv")
        write(both, ("fashion", "shapes"))
        text = report(both)
        # Learners reach half the best reference: x2-x4 on Fashion-MNIST (0.3-0.5 of 0.5), all four on shapes.
        for line in ("| fashion at 450 | 2.50 | fashion at 1800 | 4 | 1.00 | 3 | 1.00 |",
                     "| fashion at 450 | 2.50 | shapes at 1800 | 4 | 1.00 | 4 | 1.00 |",
                     "| fashion at 1800 | 2.50 | shapes at 1800 | 4 | 1.00 | 4 | 1.00 |",
                     "| shapes at 450 | 2.50 | fashion at 1800 | 4 | 0.67 | 3 | 1.00 |",
                     "| shapes at 450 | 2.50 | shapes at 1800 | 4 | 0.67 | 4 | 0.67 |"):
            check(f"the report has {line}", line in text.splitlines())
        check("a reference is not ranked against itself", "| fashion at 1800 | 2.50 | fashion at 1800 |" not in text)
        one = os.path.join(tmp, "one.csv")
        write(one, ("fashion",))
        check("one data set prints no across-data-sets table", "Across data sets" not in report(one))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
