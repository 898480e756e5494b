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

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout // 4 if (stride != 1 or cin != cout) else 0

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        sc = x
        if self.pad:
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, c in enumerate([16, 32, 64]):
            for j in range(3):
                layers.append(Block(cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


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
    model = ResNet20().eval()
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
        for b in batches:
            x = torch.randn(b, 3, 32, 32)
            for name, fn in [("python-eager", model), ("python-torchscript-frozen", frozen)]:
                print(json.dumps({"variant": name, "batch": b, "images_per_s": measure(fn, x, seconds)}), flush=True)


if __name__ == "__main__":
    main()
