#!/usr/bin/python3
"""Dev-only: writes the fixtures of users' own models under Tests/ModelsTests/Fixtures/torchscript
(TorchScript files) and Tests/ModelsTests/Fixtures/robustness (a checkpoint in the layout of the
MadryLab `robustness` library).

Run with Debian's PyTorch (apt-get install python3-torch):
    /usr/bin/python3 scripts/make_user_model_fixtures.py
overinterp never runs Python; this script exists so the fixtures can be regenerated and audited.

Files written (all small):
- tiny_traced.pt: a small CNN that is none of overinterp's architectures, made with
  torch.jit.trace, carrying its description in extra/overinterp.json (class names, input shape,
  normalization) the way the README tells users to save theirs.
- resnet20_scripted.pt: the README's ResNet20 (defined here independently of the Swift code, as
  in make_fixtures.py) with the embedded default model's weights, made with torch.jit.script and
  saved without metadata; resnet20_scripted.pt.json beside it describes it (the other way).
- tuple_output.pt: a scripted model whose forward returns (logits, features), to check the error.
- inputs_u8.npy: 4 seeded uint8 images (N, 32, 32, 3); tiny_logits.npy, resnet20_logits.npy:
  PyTorch's logits of the two models on them (CIFAR-10 normalization).
- tiny_state_dict.pt: the tiny CNN's torch.save'd state dict (a ZIP that is not TorchScript).
- robustness/resnet20.pt: the embedded ResNet20's weights saved the way the robustness library's
  training saves a model (torch.save of {"model": AttackerModel state_dict, "optimizer": ...,
  "schedule": ..., "epoch": ...}, under DataParallel's "module." prefix): the network under
  "module.model." and again, sharing storage, under "module.attacker.model."; the normalization as
  "module.normalizer.new_mean"/"new_std" buffers of shape (3, 1, 1) (here CIFAR-10's mean with the
  std 0.2471, 0.2435, 0.2616 that many robust models use, so a test can tell it came from the file).
  The library itself is not installed here; its layout is written out from its source
  (robustness/attacker.py, robustness/helpers.py InputNormalize, robustness/train.py).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import CifarResNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures", "torchscript")
DEFAULT_MODEL = os.path.join(ROOT, "Sources", "overinterp", "Resources", "default-model.safetensors")
CIFAR_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR_STD = [0.2023, 0.1994, 0.2010]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = torch.tanh(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


class TupleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        features = x.mean(dim=(2, 3))
        return self.fc(features), features


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I64": np.int64}[entry["dtype"]]
        a, b = entry["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtype).copy()).reshape(entry["shape"])
    return out


def normalize(u8):
    x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(7)
    u8 = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    np.save(os.path.join(OUT, "inputs_u8.npy"), u8)
    x = normalize(u8)

    tiny = TinyNet().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        tiny.bn1.running_mean.uniform_(-0.2, 0.2)
        tiny.bn1.running_var.uniform_(0.5, 1.5)
    meta = {"class_names": CLASSES, "input_shape": [3, 32, 32], "normalization": "cifar10", "architecture": "tinynet"}
    traced = torch.jit.trace(tiny, torch.zeros(1, 3, 32, 32))
    torch.jit.save(traced, os.path.join(OUT, "tiny_traced.pt"), _extra_files={"overinterp.json": json.dumps(meta)})
    with torch.no_grad():
        np.save(os.path.join(OUT, "tiny_logits.npy"), tiny(x).numpy())
    torch.save(tiny.state_dict(), os.path.join(OUT, "tiny_state_dict.pt"))

    resnet = CifarResNet(3).eval()
    resnet.load_state_dict(read_safetensors(DEFAULT_MODEL))
    scripted = torch.jit.script(resnet)
    scripted.save(os.path.join(OUT, "resnet20_scripted.pt"))
    with open(os.path.join(OUT, "resnet20_scripted.pt.json"), "w") as f:
        json.dump({"input_shape": "3,32,32", "normalization": {"mean": CIFAR_MEAN, "std": CIFAR_STD}}, f)
        f.write("\n")
    with torch.no_grad():
        np.save(os.path.join(OUT, "resnet20_logits.npy"), resnet(x).numpy())

    torch.jit.script(TupleNet().eval()).save(os.path.join(OUT, "tuple_output.pt"))
    print("wrote", OUT)

    robust_dir = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures", "robustness")
    os.makedirs(robust_dir, exist_ok=True)
    sd = {
        "module.normalizer.new_mean": torch.tensor(CIFAR_MEAN).view(3, 1, 1),
        "module.normalizer.new_std": torch.tensor([0.2471, 0.2435, 0.2616]).view(3, 1, 1),
    }
    weights = resnet.state_dict()
    for k, v in weights.items():
        sd["module.model." + k] = v
    sd["module.attacker.normalizer.new_mean"] = sd["module.normalizer.new_mean"]
    sd["module.attacker.normalizer.new_std"] = sd["module.normalizer.new_std"]
    for k, v in weights.items():
        sd["module.attacker.model." + k] = v
    checkpoint = {
        "model": sd,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "params": [0, 1]}]},
        "schedule": {"step_size": 50, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 150},
        "epoch": 150,
    }
    torch.save(checkpoint, os.path.join(robust_dir, "resnet20.pt"))
    print("wrote", robust_dir)


if __name__ == "__main__":
    main()
