#!/usr/bin/python3
"""Baseline for `overinterp bench backselect`: exact BackSelect the way the paper's code does it.

The SIS reference procedure (every "current mask plus one more masked pixel" built with numpy,
evaluated by PyTorch in batches of 128, np.argmax so ties go to the lowest index) on the akamaster
ResNet20 (ImageNet normalization, masked pixels 0 after normalization), score = float32 softmax
probability of the predicted class. Prints one JSON object per image: order, values, seconds.
Dev/benchmark only; overinterp never needs Python.

usage: backselect.py SHARED_DATA THREADS WINDOW IMAGE [IMAGE ...]
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_sis_fixtures import akamaster_resnet20, backselect, class_probability  # noqa: E402


def main():
    shared, threads, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    images = [int(a) for a in sys.argv[4:]]
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    model, test_images = akamaster_resnet20(shared)
    xs = test_images(max(images) + 1)
    lo = (32 - window) // 2
    for i in images:
        x = xs[i]
        start = time.perf_counter()
        c = int(model(torch.from_numpy(x[None])).argmax(1))
        mask = np.zeros((32, 32), dtype=bool)
        mask[lo:lo + window, lo:lo + window] = True
        stack = backselect(class_probability(model, c), x, mask, np.zeros_like(x))
        order, values = [s[0] for s in stack], [s[1] for s in stack]
        print(json.dumps({"image": i, "seconds": time.perf_counter() - start, "order": order, "values": values}), flush=True)


if __name__ == "__main__":
    main()
