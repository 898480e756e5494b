"""Compares two backward-selection runs of the same images image by image: SIS size at several
thresholds (the shortest suffix of the removal order whose value stays >= tau, read from the
stored values as FindSIS does), the share of the last 5% shared, and where the orders first part.

    python3 compare_orders.py RUN_A RUN_B
"""
import glob
import sys

import numpy as np


def load(run):
    out = {}
    for f in sorted(glob.glob(f"{run}/shard-*.npz")):
        z = np.load(f)
        for i, p in enumerate(z["position"]):
            out[int(p)] = (z["order"][i], z["values"][i])
    return out


def sis_size(values, tau):
    # FindSIS: values[i] is the class probability after masking order[0..i]; walk back from the
    # last-masked pixel while the value is below tau.
    size, i = 0, len(values) - 1
    while i >= 0 and values[i] < tau:
        size, i = size + 1, i - 1
    return size


a, b = load(sys.argv[1]), load(sys.argv[2])
common = sorted(set(a) & set(b))
print("position  first_diff  last5%_shared  " + "  ".join(f"sis@{t}" for t in (0.5, 0.9, 0.99)))
for p in common:
    (oa, va), (ob, vb) = a[p], b[p]
    diff = next((i for i in range(len(oa)) if oa[i] != ob[i]), len(oa))
    k = -(-len(oa) * 5 // 100)  # ceil(5%), as backSelectSubset
    shared = len(set(oa[-k:]) & set(ob[-k:])) / k
    sizes = "  ".join(f"{sis_size(va, t):>3}/{sis_size(vb, t):<3}" for t in (0.5, 0.9, 0.99))
    print(f"{p:>8}  {diff:>10}  {shared:>13.2f}  {sizes}")
