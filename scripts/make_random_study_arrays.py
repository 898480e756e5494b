#!/usr/bin/env python3
"""Dev script: input arrays for `overinterp study make --folder` from the embedded sample.

Writes OUT/images.npy (the 100 lossless CIFAR-10 test images of Sources/overinterp/Resources/sample),
OUT/labels.npy, and OUT/masks.npy with nested random pixel subsets (5% within 30% within 50%),
seeded. Used for the load check of `study serve` (any 300-image study does) and as a control
condition: random subsets of the same sizes as the paper's backward-selection subsets.

  /usr/bin/python3 scripts/make_random_study_arrays.py /tmp/random-study-arrays
  overinterp study make --folder /tmp/random-study-arrays --out /tmp/random-study
"""
import os
import sys

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "random-study-arrays"
fractions = [0.05, 0.3, 0.5]
sample = os.path.join(os.path.dirname(__file__), "..", "Sources", "overinterp", "Resources", "sample")
images = np.load(os.path.join(sample, "images.npy"))
labels = np.load(os.path.join(sample, "labels.npy")).astype(np.int64)
n, h, w, _ = images.shape
rng = np.random.default_rng(0)
masks = np.zeros((n, len(fractions), h, w), dtype=np.uint8)
for i in range(n):
    order = rng.permutation(h * w)  # keep the first round(f * p) pixels of one permutation: nested subsets
    for k, f in enumerate(fractions):
        kept = order[: int(round(f * h * w))]
        masks[i, k].reshape(-1)[kept] = 1
os.makedirs(out, exist_ok=True)
np.save(os.path.join(out, "images.npy"), images)
np.save(os.path.join(out, "labels.npy"), labels)
np.save(os.path.join(out, "masks.npy"), masks)
print(f"{out}: {n} images, fractions {fractions}")
