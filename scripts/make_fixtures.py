#!/usr/bin/python3
"""Dev-only: writes the reference fixtures under Tests/ModelsTests/Fixtures and Tests/TorchTests/Fixtures.

Run with Debian's PyTorch (apt-get install python3-torch): /usr/bin/python3 scripts/make_fixtures.py
overinterp never runs Python; this script exists so the fixtures can be regenerated and audited.

The architectures are written out here independently of the Swift code (from the papers and the
reference repositories' published layer lists), so a test that compares the two compares two
implementations.
"""
import math
import os
import pickle
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
MODELS_FIX = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures")
TORCH_FIX = os.path.join(ROOT, "Tests", "TorchTests", "Fixtures")


# ---- architectures ---------------------------------------------------------------------------
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


class CifarResNet(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for i, c in enumerate([16, 32, 64]):
            blocks = []
            for j in range(n):
                blocks.append(Block(cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.avg_pool2d(x, x.size(3)).flatten(1))


class PreAct(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x):
        o = F.relu(self.bn1(x))
        sc = self.shortcut(o) if hasattr(self, "shortcut") else x
        o = self.conv1(o)
        o = self.conv2(F.relu(self.bn2(o)))
        return o + sc


class PreActResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        cin = 64
        for i, (c, s) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            setattr(self, "layer%d" % (i + 1), nn.Sequential(PreAct(cin, c, s), PreAct(c, c, 1)))
            cin = c
        self.linear = nn.Linear(512, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(F.avg_pool2d(x, 4).flatten(1))


class VGG16(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


# ---- deterministic weights (the Swift test computes the same formula) -------------------------
def formula_state_dict(model):
    """Tensor t (in state_dict order) gets values from sin(0.37 * i + 1.3 * t), scaled per kind."""
    sd = model.state_dict()
    out = {}
    for t, (name, v) in enumerate(sd.items()):
        n = v.numel()
        base = np.sin(0.37 * np.arange(n, dtype=np.float64) + 1.3 * t)
        if name.endswith("num_batches_tracked"):
            out[name] = torch.zeros_like(v)
            continue
        if name.endswith("running_var"):
            vals = 1.0 + 0.5 * base * base
        elif name.endswith("running_mean") or name.endswith("bias"):
            vals = 0.1 * base
        elif v.dim() == 1:  # batch-norm weight
            vals = 1.0 + 0.1 * base
        else:
            fan_in = int(np.prod(v.shape[1:]))
            vals = base * math.sqrt(3.0 / fan_in)
        out[name] = torch.from_numpy(vals.astype(np.float32)).reshape(v.shape)
    return out


def formula_inputs(n):
    i = np.arange(n * 3 * 32 * 32, dtype=np.float64)
    return torch.from_numpy(np.cos(0.011 * i).astype(np.float32)).reshape(n, 3, 32, 32)


def cifar_batch(path, count):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)[:count]
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def normalize(x_uint8, mean, std):
    x = torch.from_numpy(x_uint8).float() / 255
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def main():
    os.makedirs(MODELS_FIX, exist_ok=True)
    os.makedirs(TORCH_FIX, exist_ok=True)
    torch.set_grad_enabled(False)

    # 1. Formula weights: logits of every architecture on formula inputs.
    x = formula_inputs(4)
    for name, model in [("resnet20", CifarResNet(3)), ("resnet56", CifarResNet(9)), ("resnet18", PreActResNet18()), ("vgg16", VGG16())]:
        model.load_state_dict(formula_state_dict(model))
        model.eval()
        np.save(os.path.join(MODELS_FIX, "formula_logits_%s.npy" % name), model(x).numpy())
        print(name, sum(p.numel() for p in model.parameters()))

    # 2. The akamaster checkpoints on real images (ImageNet normalization, as their trainer used).
    batch = os.path.join(SHARED, "cifar-10-batches-bin", "test_batch.bin")
    imgs, _ = cifar_batch(batch, 16)
    xin = normalize(imgs, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    for name, n, fname in [("resnet20", 3, "resnet20-12fca82f.th"), ("resnet32", 5, "resnet32-d509ac18.th")]:
        ck = torch.load(os.path.join(SHARED, "models", "cifar10_resnet_akamaster", fname), map_location="cpu")
        sd = {k[len("module."):]: v for k, v in ck["state_dict"].items()}
        model = CifarResNet(n)
        model.load_state_dict(sd, strict=False)
        model.eval()
        np.save(os.path.join(MODELS_FIX, "akamaster_%s_test16_logits.npy" % name), model(xin).numpy())

    # 3. Checkpoint-reader fixtures: the same small state dict in both torch.save layouts,
    #    including a non-contiguous (transposed) tensor and several dtypes.
    small = {
        "w": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "wt": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
        "idx": torch.tensor([5, -7, 1 << 40], dtype=torch.int64),
        "half": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "u8": torch.tensor([[1, 2], [3, 255]], dtype=torch.uint8),
    }
    obj = {"state_dict": small, "epoch": 7, "best": 91.5, "name": "small"}
    torch.save(obj, os.path.join(TORCH_FIX, "small_zip.pt"))
    torch.save(obj, os.path.join(TORCH_FIX, "small_legacy.pt"), _use_new_zipfile_serialization=False)

    # 4. A pickle that would run a shell command if loaded by an unrestricted unpickler.
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo overinterp-must-never-run-this",))

    with open(os.path.join(TORCH_FIX, "evil.pkl"), "wb") as f:
        pickle.dump({"state_dict": Evil()}, f, protocol=2)
    torch.save({"state_dict": Evil()}, os.path.join(TORCH_FIX, "evil_zip.pt"))


if __name__ == "__main__":
    sys.exit(main())
