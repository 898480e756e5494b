#!/usr/bin/python3
"""Dev-only: reference BackSelect orderings for Tests/SISTests/Fixtures (Debian's python3-torch).

Runs the SIS reference algorithm (google-research sufficient_input_subsets: build every
"current mask plus one more masked position", evaluate f in batches, take np.argmax so ties go to
the lowest index) re-implemented here from its description, on the akamaster ResNet20 and
CIFAR-10 test images. f is the float32 softmax probability of the class predicted on the full
image; masked pixels are 0 after normalization (ImageNet mean/std, as the akamaster code used).

To keep the Swift cross-check fast, only a 12x12 window of pixels (144 features) is left
unmasked at the start (the reference's `current_mask` argument); everything else is masked.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from make_fixtures import CifarResNet, SHARED, ROOT, cifar_batch, normalize

OUT = os.path.join(ROOT, "Tests", "SISTests", "Fixtures")
IMAGES = [0, 1, 2]
WINDOW = (10, 22)  # rows and columns 10..<22


def backselect(f, x, mask, masked_value):
    """mask: bool (H, W), True = present. Returns [(flat index, value)] in removal order."""
    stack = []
    while mask.any():
        idx = np.transpose(np.nonzero(mask))  # row-major, increasing
        masks = np.repeat(mask[None], len(idx), axis=0)
        masks[np.arange(len(idx)), idx[:, 0], idx[:, 1]] = False
        inputs = np.where(masks[:, None, :, :], x[None], masked_value[None])
        values = f(inputs)
        best = int(np.argmax(values))
        stack.append((int(idx[best][0] * 32 + idx[best][1]), float(values[best])))
        mask = masks[best]
    return stack


def akamaster_resnet20(shared):
    """The akamaster ResNet20 (eval mode) and a loader of the first n normalized test images."""
    ck = torch.load(os.path.join(shared, "models", "cifar10_resnet_akamaster", "resnet20-12fca82f.th"), map_location="cpu")
    model = CifarResNet(3)
    model.load_state_dict({k[len("module."):]: v for k, v in ck["state_dict"].items()}, strict=False)
    model.eval()

    def test_images(n):
        imgs, _ = cifar_batch(os.path.join(shared, "cifar-10-batches-bin", "test_batch.bin"), n)
        return normalize(imgs, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).numpy()

    return model, test_images


def class_probability(model, c):
    """f for the reference algorithm: float32 softmax probability of class c, batches of 128."""

    def f(batch):
        out = []
        for s in range(0, len(batch), 128):
            logits = model(torch.from_numpy(np.ascontiguousarray(batch[s:s + 128], dtype=np.float32)))
            out.append(F.softmax(logits, dim=1)[:, c].numpy())
        return np.concatenate(out)

    return f


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    model, test_images = akamaster_resnet20(SHARED)
    xs = test_images(max(IMAGES) + 1)
    orders, values, classes = [], [], []
    for i in IMAGES:
        x = xs[i]
        c = int(model(torch.from_numpy(x[None])).argmax(1))
        f = class_probability(model, c)
        mask = np.zeros((32, 32), dtype=bool)
        mask[WINDOW[0]:WINDOW[1], WINDOW[0]:WINDOW[1]] = True
        stack = backselect(f, x, mask, np.zeros_like(x))
        orders.append([s[0] for s in stack])
        values.append([s[1] for s in stack])
        classes.append(c)
        print("image", i, "class", c, "first", orders[-1][:5])
    np.savez(os.path.join(OUT, "reference_backselect_window.npz"),
             images=np.array(IMAGES, dtype=np.int64), classes=np.array(classes, dtype=np.int64),
             window=np.array(WINDOW, dtype=np.int64), order=np.array(orders, dtype=np.int64),
             values=np.array(values, dtype=np.float32))


if __name__ == "__main__":
    main()
