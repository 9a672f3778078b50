"""pycocotools' twelve bbox stats for each gt_I.json / dt_I.json pair (I = 0 .. COUNT-1) in DIR.

Usage: pycocotools_stats.py DIR COUNT > stats.json
Prints one JSON list of COUNT lists of 12 floats (repr precision, so they read back exactly).
coco_eval_test compares them with vertebra::eval::Evaluate on the same files.
"""
import contextlib
import io
import json
import sys

import numpy as np

if not hasattr(np, "float"):  # The stock cocoeval.py uses np.float, removed in numpy 1.24.
    np.float = float

from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def stats(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the summary.
        gt = COCO(gt_path)
        with open(dt_path) as f:
            dt = gt.loadRes(json.load(f))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats]


def main():
    folder, count = sys.argv[1], int(sys.argv[2])
    json.dump([stats(f"{folder}/gt_{i}.json", f"{folder}/dt_{i}.json") for i in range(count)], sys.stdout)


if __name__ == "__main__":
    main()
