#!/usr/bin/python3
"""Checks python/vertebra against cases the C++ model wrote (python_parity_test.cc).

Usage: python_parity.py PACKAGE_DIR CASE_DIR...

Each CASE_DIR holds resolved.json, case.json (name, head, activation), weights.safetensors (the
C++ Detector's StateOf) and io.safetensors (input, p3..p7, class_logits, box_deltas of the C++
forward in eval mode). For each case the Python Detector is built from the graph, loads the
weights strictly (every name and shape must match), runs the input and must give every output
within 1e-4 relative (largest absolute difference over the largest absolute value). Prints one
line per case, "ok NAME ..." or "FAIL NAME: why"; exits 1 when a case failed.
"""

import json
import os
import sys

RELATIVE_TOLERANCE = 1e-4


def check(case_dir, vertebra, torch):
    with open(os.path.join(case_dir, "case.json")) as f:
        case = json.load(f)
    name = case["name"]
    with open(os.path.join(case_dir, "resolved.json")) as f:
        graph = json.load(f)
    state = vertebra.read_safetensors(os.path.join(case_dir, "weights.safetensors"))
    io = vertebra.read_safetensors(os.path.join(case_dir, "io.safetensors"))
    model = vertebra.Detector(graph, case["head"], activation=case["activation"], reference_init=False)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        return f"FAIL {name}: weights do not load: {' '.join(str(e).split())[:300]}"
    model.eval()
    with torch.no_grad():
        pyramid, (class_logits, box_deltas) = model(io["input"])
    got = dict(pyramid, class_logits=class_logits, box_deltas=box_deltas)
    wanted = [k for k in io if k != "input"]
    if sorted(got) != sorted(wanted):
        return f"FAIL {name}: outputs {sorted(got)}, the C++ model's {sorted(wanted)}"
    worst = 0.0
    for key in wanted:
        a, b = got[key], io[key]
        if a.shape != b.shape:
            return f"FAIL {name}: {key} has shape {list(a.shape)}, the C++ model's {list(b.shape)}"
        scale = max(float(b.abs().max()), 1e-12)
        error = float((a - b).abs().max()) / scale
        worst = max(worst, error)
        if not error <= RELATIVE_TOLERANCE:
            return f"FAIL {name}: {key} differs by {error:.3g} relative (tolerance {RELATIVE_TOLERANCE})"
    return f"ok {name}: {len(state)} tensors, {len(wanted)} outputs, largest relative difference {worst:.2g}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    sys.path.insert(0, sys.argv[1])
    import torch
    import vertebra
    torch.set_num_threads(1)
    lines = [check(d, vertebra, torch) for d in sys.argv[2:]]
    print("\n".join(lines))
    sys.exit(1 if any(line.startswith("FAIL") for line in lines) else 0)


if __name__ == "__main__":
    main()
