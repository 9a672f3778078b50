#!/usr/bin/python3
"""python/vertebra/client.py against a running controller: its answers are the CLI's.

Usage: client_check.py HOST:PORT TOKEN_FILE WRONG_TOKEN_FILE FOLDER
FOLDER holds what the CLI printed for the same search: status.json (`status --json --trials`),
top.json (`top -n 100000 --json`: {"trials": [...], "final": ...}), pareto.json (`top --pareto --json`) and show.json (`show ID
--json` of top's first). Prints one line per failed check and exits 1 when any failed.
"""

import json
import math
import os
import sys

failures = []


def check(name, ok, detail=""):
    if not ok:
        failures.append(f"FAIL: client: {name}{': ' + detail if detail else ''}")


def main():
    address, token_file, wrong_token_file, folder = sys.argv[1:5]
    from vertebra.client import Client, ClientError

    def cli(name):
        with open(os.path.join(folder, name)) as f:
            return json.load(f)

    status_json, top_all, pareto_json, show_json = (cli(n) for n in ("status.json", "top.json", "pareto.json",
                                                                      "show.json"))
    check("top --json is an object of trials and the final stage", sorted(top_all) == ["final", "trials"],
          f"{sorted(top_all)}")
    top_json = top_all["trials"]
    with Client(address, token_file=token_file) as c:
        s = c.status()
        for key in ("experiment", "algorithm", "state", "simulated", "budget", "pending", "leased", "done", "failed",
                    "rejected", "stopped", "workers"):
            check(f"status.{key}", getattr(s, key) == status_json[key], f"{getattr(s, key)!r} != {status_json[key]!r}")
        for role in ("controls", "final"):
            want = {k: v for k, v in status_json[role].items() if k != "expected"}
            check(f"status.{role}", getattr(s, role) == want, f"{getattr(s, role)} != {want}")
        check("status.best_trial is the CLI's best", s.best_trial == status_json["best"]["id"])
        check("status steps are the CLI's", (s.trained_steps, s.repeated_steps) ==
              (status_json["steps"]["trained"], status_json["steps"]["repeated"]),
              f"{(s.trained_steps, s.repeated_steps)} vs {status_json['steps']}")
        check("status.config names the experiment", s.config.get("name") == status_json["experiment"])

        trials = c.trials()
        check("trials() equal status --trials", [t.summary() for t in trials] == status_json["trials"],
              f"{len(trials)} trials, the CLI's {len(status_json['trials'])}")
        top = c.top(100000)
        check("top() equals top --json", [t.summary() for t in top] == top_json,
              f"{[t.id for t in top][:10]} vs {[t['id'] for t in top_json][:10]}")
        check("top(3) is its first three", [t.id for t in c.top(3)] == [t["id"] for t in top_json[:3]])
        front = c.pareto()
        check("pareto() equals top --pareto --json",
              (front.rung, front.candidates, [t.summary() for t in front.trials]) ==
              (pareto_json["rung"], pareto_json["candidates"], pareto_json["trials"]))

        best = c.trial(top_json[0]["id"])
        check("trial(id) is the trial", best.summary() == top_json[0])
        check("trial(id).spec is show's spec", best.spec == show_json["spec"], f"{best.spec} vs {show_json['spec']}")
        curve = c.curve(best.id)
        want = [(p["rung"], p["step"], p["loss"], p["ap"], p["at"]) for p in show_json["curve"]]
        got = [(p.rung, p.step, None if not math.isfinite(p.loss) else p.loss, p.ap, p.at) for p in curve]
        check("curve(id) is show's curve", got == want and len(got) > 0, f"{len(got)} points, show's {len(want)}")
        try:
            c.trial(99999)
            check("trial(99999) fails", False)
        except ClientError as e:
            check("trial(99999) is not found", e.code is not None and e.code.name == "NOT_FOUND", str(e))

    for kwargs, wanted in (({"token_file": wrong_token_file}, f"the token from token_file {wrong_token_file} was "
                                                              "refused"),
                           ({"token": ""}, "it wants a bearer token")):
        try:
            with Client(address, **kwargs) as c:
                c.status()
            check(f"{kwargs} is refused", False)
        except ClientError as e:
            check(f"{kwargs} is refused, saying why", wanted in str(e), str(e))
    try:
        Client(address, token_file=os.path.join(folder, "no_such_token"))
        check("a missing token file is refused", False)
    except ClientError as e:
        check("a missing token file is named", "no_such_token" in str(e), str(e))

    print("\n".join(failures) if failures else f"client: status, {len(trials)} trials, top, front and curve as the CLI")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
