#!/usr/bin/env python3
"""The peer of `vertebra bench controller`: Optuna's ask/tell on SQLite storage (Debian's
python3-optuna), in the same shapes. W threads share one study; each loop asks for a trial over 70
categorical parameters (the size of SpineNet's decision sequence) and tells a value: one ask +
tell is one cycle, as one lease + report is for Vertebra. Then the latency of `ask` with H trials
of history. Prints one JSON object.

  /usr/bin/python3 bench/controller_peer.py --workers 16 64 256 --history 100 1000
"""
import argparse
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time

import optuna

DECISIONS = 70
OPTIONS = 6


def distributions():
    return {f"d{i}": optuna.distributions.CategoricalDistribution(list(range(OPTIONS))) for i in range(DECISIONS)}


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]


def new_study(path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1), direction="maximize")


def throughput(workers, seconds, folder):
    study = new_study(os.path.join(folder, f"w{workers}.db"))
    dists = distributions()
    stop = threading.Event()
    latencies = [[] for _ in range(workers)]
    counts = [0] * workers

    def work(w):
        while not stop.is_set():
            t0 = time.perf_counter()
            trial = study.ask(dists)
            study.tell(trial, random.random())
            latencies[w].append(1000 * (time.perf_counter() - t0))
            counts[w] += 1

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    time.sleep(1)
    start_count, start = sum(counts), time.perf_counter()
    time.sleep(seconds)
    measured, elapsed = sum(counts) - start_count, time.perf_counter() - start
    stop.set()
    for t in threads:
        t.join()
    everything = [x for l in latencies for x in l]
    return {"workers": workers, "cycles_per_s": measured / elapsed, "p50_ms": percentile(everything, 0.5),
            "p99_ms": percentile(everything, 0.99), "cycles": measured}


def history(size, samples, folder):
    study = new_study(os.path.join(folder, f"h{size}.db"))
    dists = distributions()
    rng = random.Random(1)
    t0 = time.perf_counter()
    study.add_trials([optuna.trial.create_trial(params={k: rng.randrange(OPTIONS) for k in dists},
                                                distributions=dists, value=rng.random()) for _ in range(size)])
    fill = time.perf_counter() - t0
    asks = []
    for _ in range(samples):
        t1 = time.perf_counter()
        trial = study.ask(dists)
        asks.append(1000 * (time.perf_counter() - t1))
        study.tell(trial, rng.random())
    return {"history": size, "fill_s": fill, "ask_p50_ms": percentile(asks, 0.5), "ask_p99_ms": percentile(asks, 0.99)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, nargs="*", default=[16, 64, 256])
    p.add_argument("--history", type=int, nargs="*", default=[100, 1000])
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--samples", type=int, default=100)
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("sqlalchemy").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        out = {"optuna": optuna.__version__,
               "throughput": [throughput(w, args.seconds, folder) for w in args.workers],
               "history": [history(h, args.samples, folder) for h in args.history]}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
