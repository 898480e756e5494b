"""Dev-only: an independent PyTorch MobileNetV2 (TF 'SAME' padding) over the shared safetensors
weights, and the Pillow preprocessing of the shared ImageNet images. Used by
make_imagenet_fixtures.py."""
import csv
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shared", "data")
WEIGHTS = os.path.join(SHARED, "models", "imagenet_mobilenet_v2", "mobilenet_v2_1.0_224.safetensors")
IMAGES = os.path.join(SHARED, "imagenet", "val_samples")


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    base = 8 + n
    return {k: torch.from_numpy(np.frombuffer(b[base + v["data_offsets"][0]:base + v["data_offsets"][1]], dtype=np.float32)
                                .reshape(v["shape"]).copy()) for k, v in header.items() if k != "__metadata__"}


def preprocess():
    rows = list(csv.reader(open(os.path.join(IMAGES, "labels.csv"))))[1:]
    xs = []
    for r in rows:
        im = Image.open(os.path.join(IMAGES, r[0])).convert("RGB")
        w, h = im.size
        top, left = int((h - 0.875 * h) / 2), int((w - 0.875 * w) / 2)
        xs.append(np.asarray(im.crop((left, top, w - left, h - top)).resize((224, 224), Image.BILINEAR)))
    return np.stack(xs), np.array([int(r[1]) for r in rows])


def logits(xs):
    """Logits (numpy) of uint8 HWC images xs, without gradients."""
    with torch.no_grad():
        x = torch.from_numpy(xs).permute(0, 3, 1, 2).float() / 127.5 - 1
        return forward(x, load_safetensors(WEIGHTS)).numpy()


def forward(x, sd):
    """Logits of normalized NCHW inputs x under state dict sd (differentiable)."""

    def conv(x, name, stride=1, groups=1):
        w = sd[name]
        if stride == 2:
            return F.conv2d(F.pad(x, (0, 1, 0, 1)), w, None, 2, 0, 1, groups)
        return F.conv2d(x, w, None, 1, (w.shape[-1] - 1) // 2, 1, groups)

    def bn(x, name):
        return F.batch_norm(x, sd[name + ".running_mean"], sd[name + ".running_var"], sd[name + ".weight"], sd[name + ".bias"],
                            False, 0.0, 1e-5)

    x = F.relu6(bn(conv(x, "features.0.0.weight", 2), "features.0.1"))
    cin, i = 32, 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for j in range(n):
            stride, pre, y, k = (s if j == 0 else 1), "features.%d.conv." % i, x, 0
            if t != 1:
                y, k = F.relu6(bn(conv(y, pre + "0.0.weight"), pre + "0.1")), 1
            y = F.relu6(bn(conv(y, pre + "%d.0.weight" % k, stride, cin * t), pre + "%d.1" % k))
            y = bn(conv(y, pre + "%d.weight" % (k + 1)), pre + "%d" % (k + 2))
            x = x + y if (stride == 1 and cin == c) else y
            cin, i = c, i + 1
    x = F.relu6(bn(conv(x, "features.18.0.weight"), "features.18.1"))
    return F.linear(x.mean((2, 3)), sd["classifier.1.weight"], sd["classifier.1.bias"])
