#!/usr/bin/env python3
"""TorchScript fixtures written by a torch 2.x (dev-only; run with that torch's Python, e.g.
`.venv-torch/bin/python scripts/make_torch2_fixtures.py` after `scripts/torch-pypi.sh env`):

- tiny_traced_torch2.pt: make_user_model_fixtures.py's TinyNet (same seed and statistics),
  traced by this torch, with its description in extra/overinterp.json;
- tiny_scripted_torch2.pt: the same network through torch.jit.script;
- tiny_torch2_logits.npy: this torch's logits on inputs_u8.npy (committed by the other script).

Tests: Tests/ModelsTests/TorchScriptTests.swift (files from current PyTorch load in both builds).
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_user_model_fixtures import CLASSES, OUT, TinyNet, normalize  # noqa: E402


def main():
    torch.manual_seed(0)
    tiny = TinyNet().eval()
    with torch.no_grad():  # the same statistics as tiny_traced.pt's
        tiny.bn1.running_mean.uniform_(-0.2, 0.2)
        tiny.bn1.running_var.uniform_(0.5, 1.5)
    meta = {"class_names": CLASSES, "input_shape": [3, 32, 32], "normalization": "cifar10", "architecture": "tinynet"}
    extra = {"overinterp.json": json.dumps(meta)}
    torch.jit.save(torch.jit.trace(tiny, torch.zeros(1, 3, 32, 32)), os.path.join(OUT, "tiny_traced_torch2.pt"), _extra_files=extra)
    torch.jit.save(torch.jit.script(tiny), os.path.join(OUT, "tiny_scripted_torch2.pt"), _extra_files=extra)
    x = normalize(np.load(os.path.join(OUT, "inputs_u8.npy")))
    with torch.no_grad():
        np.save(os.path.join(OUT, "tiny_torch2_logits.npy"), tiny(x).numpy())
    print("torch", torch.__version__, "->", OUT)


if __name__ == "__main__":
    main()
