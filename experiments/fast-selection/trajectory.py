"""Log probability of the predicted class left after backward selection has masked all but N
pixels, for a reference run and another run of the same images (N = 512, 256, ..., 32).

    python3 trajectory.py REFERENCE_RUN RUN
"""
import glob
import math
import sys

import numpy as np


def load(run):
    out = {}
    for f in sorted(glob.glob(f"{run}/shard-*.npz")):
        z = np.load(f)
        for i, p in enumerate(z["position"]):
            out[int(p)] = z["values"][i]
    return out


ref, run = load(sys.argv[1]), load(sys.argv[2])
left = (512, 256, 192, 128, 96, 64, 32)
print("log p with N pixels left, reference / run")
print("position  " + "  ".join(f"{n:>17}" for n in left))
for p in sorted(set(ref) & set(run)):
    a, b = ref[p], run[p]
    cells = []
    for n in left:
        i = len(a) - n - 1  # values[i]: after masking order[0..i], so n pixels remain
        cells.append(f"{math.log(max(float(a[i]), 1e-30)):8.4f}/{math.log(max(float(b[i]), 1e-30)):<8.4f}")
    print(f"{p:>8}  " + "  ".join(cells))
