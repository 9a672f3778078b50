#!/usr/bin/env python3
"""The account of a finished search, as the fault tests check it.

Reads `vertebra status --db DB --json --trials` output and the logs of the workers, and checks:
the experiment finished; done + failed equals the budget, with nothing leased or pending; every
trial ended done, failed or rejected; no trial has two results at one rung; and every report a
worker saw acknowledged ("reported trial T (lease L)") is stored as a result of lease L. With
--exact, every stored result must also have been acknowledged in the logs given (true when no
worker died between the controller's commit and its answer). With --each-worker, every log must
belong to a worker that stored a result. Prints one summary line (and one per worker log with
--each-worker), then "FAIL: ..." lines; exits 1 on any failure.

Usage: account.py [--name NAME] [--exact] [--each-worker] STATUS_JSON [WORKER_LOG...]
"""
import argparse
import collections
import json
import os
import re
import sys

REPORTED = re.compile(r"reported trial (\d+) \(lease (\d+)\)")
REGISTERED = re.compile(r"registered as (\S+)")


def account(status, logs, exact=False, each_worker=False):
    """Returns (summary lines, errors) for the status dictionary and [(log name, log text)]."""
    errors = []
    trials = status["trials"]
    if status["state"] != "finished":
        errors.append(f"state is {status['state']}, not finished")
    if status["done"] + status["failed"] != status["budget"]:
        errors.append(f"done {status['done']} + failed {status['failed']} != budget {status['budget']}")
    if status["leased"] or status["pending"]:
        errors.append(f"{status['leased']} leased, {status['pending']} pending")
    for t in trials:
        if t["state"] not in ("done", "failed", "rejected"):
            errors.append(f"trial {t['id']} left {t['state']}")
        rungs = [r["rung"] for r in t["results"]]
        if len(rungs) != len(set(rungs)):
            errors.append(f"trial {t['id']} counted twice at a rung: {rungs}")
    stored = {(t["id"], r["lease"]) for t in trials for r in t["results"]}
    acknowledged = set()
    lines = []
    for name, text in logs:
        mine = {(int(a), int(b)) for a, b in REPORTED.findall(text)}
        acknowledged |= mine
        if each_worker:
            m = REGISTERED.search(text)
            wid = m.group(1) if m else None
            results = sum(r["worker"] == wid for t in trials for r in t["results"])
            last = collections.Counter(t["state"] for t in trials
                                       if t["results"] and t["results"][-1]["worker"] == wid)
            lines.append(f"{name} ({wid}): {results} rung results, {len(mine)} acknowledged; last result of "
                         f"{last['done']} done, {last['failed']} failed trials")
            if wid is None:
                errors.append(f"{name}: no 'registered as' line")
            elif results == 0:
                errors.append(f"{name} ({wid}) did no trial")
    if logs and not acknowledged:
        errors.append("no acknowledged report in the worker logs")
    missing = sorted(acknowledged - stored)
    if missing:
        errors.append(f"acknowledged but not stored: {missing[:5]}")
    unacknowledged = sorted(stored - acknowledged)
    if exact and unacknowledged:
        errors.append(f"stored but never acknowledged: {unacknowledged[:5]}")
    lines.insert(0, f"{status['done']} done, {status['failed']} failed, {status['rejected']} rejected of budget "
                    f"{status['budget']}; {len(stored)} rung results; {len(acknowledged)} acknowledged reports checked")
    return lines, errors


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", default="", help="prefix of the summary line")
    p.add_argument("--exact", action="store_true", help="every stored result was acknowledged in the logs")
    p.add_argument("--each-worker", action="store_true", help="every log's worker stored a result")
    p.add_argument("status", help="`vertebra status --json --trials` output")
    p.add_argument("logs", nargs="*", help="worker logs")
    a = p.parse_args()
    with open(a.status) as f:
        status = json.load(f)
    logs = []
    for path in a.logs:  # Two jobs' folders may hold logs of one name: a list, not a dict.
        with open(path, errors="replace") as f:
            logs.append((os.path.basename(path), f.read()))
    lines, errors = account(status, logs, a.exact, a.each_worker)
    print((a.name + ": " if a.name else "") + lines[0])
    for line in lines[1:]:
        print("  " + line)
    for e in errors:
        print(f"FAIL: {(a.name + ': ') if a.name else ''}{e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
