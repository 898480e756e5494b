#!/usr/bin/env python3
"""Dev-only: writes the embedded sample (Sources/overinterp/Resources/sample/) from ../shared/data.

The sample is the first 10 images of each class, in official test-index order, of the lossless
CIFAR-10 test subset: clean pixels, and test images that neither the default model nor the
akamaster models were trained on.
"""
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar-10-test-lossless-subset")
OUT = os.path.join(ROOT, "Sources", "overinterp", "Resources", "sample")

images = np.load(os.path.join(SRC, "cifar10_test_lossless_subset_images.npy"))
labels = np.load(os.path.join(SRC, "cifar10_test_lossless_subset_labels.npy"))
indices = np.load(os.path.join(SRC, "cifar10_test_lossless_subset_indices.npy"))
pick = np.concatenate([np.flatnonzero(labels == k)[:10] for k in range(10)])
pick.sort()
os.makedirs(OUT, exist_ok=True)
np.save(os.path.join(OUT, "images.npy"), np.ascontiguousarray(images[pick]))
np.save(os.path.join(OUT, "labels.npy"), labels[pick].astype(np.int64))
np.save(os.path.join(OUT, "indices.npy"), indices[pick].astype(np.int64))
print(len(pick), "images")
