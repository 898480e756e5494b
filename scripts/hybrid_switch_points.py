#!/usr/bin/env python3
"""Where a hybrid run would switch, read off a gradient run (dev-only; numpy).

For every image of a `backselect --method gradient` folder, prints its confidence, how many
pixels were masked before the probability measured after a block first fell below the switch
level, and how many pixels that would leave for the exact phase; then the counts the README
quotes. Usage: scripts/hybrid_switch_points.py experiments/quality-gradient-k8 [--switch 0.999] [--k 8]
"""
import argparse
import glob

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument("--switch", type=float, default=0.999)
ap.add_argument("--k", type=int, default=8)
a = ap.parse_args()
early = start_below = small_exact = total = 0
for path in sorted(glob.glob(a.run + "/shard-*.npz")):
    d = np.load(path)
    for i, pos in enumerate(d["position"]):
        v = d["values"][i]
        p = len(v)
        below = np.nonzero(v < a.switch)[0]
        first = int(below[0]) if len(below) else p
        left = p - first
        print(f"position {pos}: confidence {d['confidence'][i]:.7f}, masked before the first dip {first}, left {left}")
        total += 1
        early += first < 2 * a.k
        start_below += d["confidence"][i] < a.switch
        small_exact += left <= 320
print(f"{total} images: {early} dip below {a.switch} within the first two blocks, "
      f"{start_below} start below it, {small_exact} leave at most 320 pixels for the exact phase")
