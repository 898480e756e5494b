#!/usr/bin/python3
"""Baseline for `overinterp bench inference`: ResNet20 (CIFAR) forward throughput in PyTorch.

Prints one JSON object per line: {"variant": ..., "batch": ..., "images_per_s": ...}.
Variants: eager (eval mode, no_grad) and a frozen, optimized TorchScript graph
(torch.jit.freeze + optimize_for_inference), the fastest plain-PyTorch inference path.
Dev/benchmark only; overinterp never needs Python.
"""
import json
import sys
import time

import os

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_fixtures import CifarResNet  # noqa: E402


def measure(fn, x, seconds):
    for _ in range(3):
        fn(x)
    n, start = 0, time.perf_counter()
    while True:
        fn(x)
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 3:
            return n * x.shape[0] / elapsed


def main():
    threads = int(sys.argv[1])
    batches = [int(b) for b in sys.argv[2].split(",")]
    seconds = float(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CifarResNet(3).eval()
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
        for b in batches:
            x = torch.randn(b, 3, 32, 32)
            for name, fn in [("python-eager", model), ("python-torchscript-frozen", frozen)]:
                print(json.dumps({"variant": name, "batch": b, "images_per_s": measure(fn, x, seconds)}), flush=True)


if __name__ == "__main__":
    main()
