#!/usr/bin/python3
"""Baseline for `overinterp bench gradient`: Batched Gradient BackSelect (the paper's S5) in eager
PyTorch, the way one would write it in Python.

MobileNetV2 (the shared TF-'SAME' weights, scripts/mobilenet_v2_reference.py), the shared ImageNet
images with Pillow preprocessing, a mask M of shape (N, 1, 224, 224), input x * (1 - M), score =
log-softmax of the predicted class, gradient of the summed score with respect to M, and per image
the k unmasked pixels with the largest gradient masked as one block (torch.topk over the gradient
with masked pixels at -inf). Runs ITERATIONS iterations on a batch of BATCH images and prints one
JSON object: seconds per iteration and the first block of every image.
Dev/benchmark only; overinterp never needs Python.

usage: gradient.py THREADS BATCH K ITERATIONS
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import mobilenet_v2_reference as ref  # noqa: E402


def main():
    threads, batch, k, iterations = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    sd = ref.load_safetensors(ref.WEIGHTS)
    xs, _ = ref.preprocess()
    xs = xs[[i % len(xs) for i in range(batch)]]
    x = torch.from_numpy(xs).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        classes = ref.forward(x, sd).argmax(1)
    n, _, h, w = x.shape
    mask = torch.zeros(n, 1, h, w)
    first = None
    start = time.perf_counter()
    for it in range(iterations):
        m = mask.clone().requires_grad_(True)
        logp = torch.log_softmax(ref.forward(x * (1 - m), sd), 1).gather(1, classes[:, None])
        (g,) = torch.autograd.grad(logp.sum(), [m])
        g = g.view(n, -1).masked_fill(mask.view(n, -1) > 0, float("-inf"))
        block = g.topk(k, dim=1).indices
        mask.view(n, -1).scatter_(1, block, 1.0)
        if first is None:
            first = block.tolist()
    seconds = (time.perf_counter() - start) / iterations
    print(json.dumps({"seconds_per_iteration": seconds, "first_blocks": first}), flush=True)


if __name__ == "__main__":
    main()
