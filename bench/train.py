#!/usr/bin/python3
"""Baseline for `overinterp bench train`: ResNet20 training steps in eager PyTorch.

The paper's recipe per step: batch 128, cross-entropy, SGD with Nesterov momentum 0.9 and weight
decay 5e-4, learning rate 0.1, train mode (batch statistics). Random inputs (the same shapes as
CIFAR-10), so only the model and optimizer are timed. Prints {"variant", "images_per_s"} as JSON.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_fixtures import CifarResNet  # noqa: E402


def main():
    threads, seconds, batch = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CifarResNet(3).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    xs = [torch.randn(batch, 3, 32, 32) for _ in range(4)]
    ys = [torch.randint(0, 10, (batch,)) for _ in range(4)]

    def step(i):
        loss = F.cross_entropy(model(xs[i % 4]), ys[i % 4])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(3):
        step(i)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < 3:
        step(n)
        n += 1
    print(json.dumps({"variant": "python-eager", "images_per_s": n * batch / (time.perf_counter() - start)}), flush=True)


if __name__ == "__main__":
    main()
