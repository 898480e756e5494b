#!/usr/bin/env python3
"""Dev-only: reference numbers for Tests/CorruptionsTests (numpy only).

- the paper's CIFAR-10-C sample: np.random.seed(1234); np.random.choice(950000, 2000, replace=False)
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "CorruptionsTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
np.random.seed(1234)
sample = np.random.choice(950000, 2000, replace=False)
np.save(os.path.join(OUT, "cifar10c_sample_indices.npy"), sample.astype(np.int64))
print(sample[:10])
