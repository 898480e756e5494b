"""Dev-only: glass blur as CIFAR-10-C's generator specifies it, in numpy/scipy, for checking
overinterp's Swift implementation (issue 7).

The procedure follows the published facts of hendrycks/robustness `make_cifar_c.py` for 32x32
images: per severity (sigma, max_delta, iterations) = (0.05,1,1), (0.25,1,1), (0.4,1,1),
(0.25,1,2), (0.4,1,2); a Gaussian blur (skimage `gaussian`: mode 'nearest', truncate 4, no blur
across channels) of x/255 truncated to uint8; `iterations` sweeps over h, w from 32-delta down to
delta+1 in which pixel (h, w) takes the value of (h+dy, w+dx) with dx, dy uniform in
[-delta, delta) (numpy randint's exclusive upper bound; the original's tuple assignment on numpy
views copies rather than swaps); a second blur with the same sigma, clipped to [0, 1], times 255,
truncated to uint8. The sweep is vectorized over images (each image draws its own offsets).

Usage:
  python3 scripts/glass_blur_reference.py dataset CIFAR_BIN_DIR OUT_DIR [--holdout 5000]
      OUT_DIR/glass_blur.npy (5*N, 32, 32, 3) uint8 of the last N training images, severities
      stacked, and labels.npy: a CIFAR-10-C-layout folder `overinterp eval --cifar10c` reads.
  python3 scripts/glass_blur_reference.py fixture OUT.json
      The mean absolute change (values in [0, 1]) glass blur makes to the tests' checkerboard
      image at each severity, averaged over 20,000 draws of the offsets
      (Tests/CorruptionsTests/Fixtures/glass_blur_damage.json).
  python3 scripts/glass_blur_reference.py stats CIFAR_BIN_DIR DIR [DIR ...] [--holdout 5000]
      For each CIFAR-10-C-layout folder made from the last N training images (this script's
      `dataset`, or `overinterp data corrupt --split holdout`), the mean absolute change of
      glass_blur.npy from the clean images per severity, in 0-255 units.
"""
import argparse
import json
import os

import numpy as np
from scipy.ndimage import gaussian_filter

PARAMS = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)]


def holdout_images(folder, n):
    raw = np.fromfile(os.path.join(folder, "data_batch_5.bin"), dtype=np.uint8).reshape(10000, 3073)
    raw = raw[-n:]
    labels = raw[:, 0].astype(np.int64)
    images = raw[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def blur(x, sigma):
    # x: (N, H, W, C) float; blur H and W only, like skimage gaussian(multichannel=True).
    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0)


def glass_blur(images, severity, rng):
    sigma, delta, iterations = PARAMS[severity - 1]
    n = images.shape[0]
    x = np.uint8(blur(images / 255.0, sigma) * 255)
    rows = np.arange(n)
    for _ in range(iterations):
        for h in range(32 - delta, delta, -1):
            for w in range(32 - delta, delta, -1):
                d = rng.integers(-delta, delta, size=(n, 2))
                x[:, h, w] = x[rows, h + d[:, 1], w + d[:, 0]]
    return np.uint8(np.clip(blur(x / 255.0, sigma), 0, 1) * 255)


def checkerboard():
    """The CorruptionsTests `testImage()`: gradients plus a 4-pixel checkerboard, as uint8."""
    img = np.zeros((32, 32, 3))
    for y in range(32):
        for x in range(32):
            check = 0.15 if (x // 4 + y // 4) % 2 == 0 else -0.15
            img[y, x] = [0.5 + 0.3 * x / 31 - 0.15 + check, 0.5 + 0.3 * y / 31 - 0.15 + check, 0.5 + check]
    return np.uint8(np.clip(img, 0, 1) * 255)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dataset")
    d.add_argument("cifar")
    d.add_argument("out")
    d.add_argument("--holdout", type=int, default=5000)
    d.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("fixture")
    f.add_argument("out")
    f.add_argument("--draws", type=int, default=20000)
    st = sub.add_parser("stats")
    st.add_argument("cifar")
    st.add_argument("folders", nargs="+")
    st.add_argument("--holdout", type=int, default=5000)
    a = p.parse_args()
    if a.command == "stats":
        clean = holdout_images(a.cifar, a.holdout)[0].astype(np.float64)
        n = clean.shape[0]
        for folder in a.folders:
            blurred = np.load(os.path.join(folder, "glass_blur.npy"))
            if blurred.shape != (5 * n,) + clean.shape[1:]:
                raise SystemExit(f"{folder}/glass_blur.npy: expected shape {(5 * n,) + clean.shape[1:]}, got {blurred.shape}")
            change = [np.abs(blurred[s * n:(s + 1) * n].astype(np.float64) - clean).mean() for s in range(5)]
            print(folder, " ".join(f"{c:.2f}" for c in change))
        return
    if a.command == "dataset":
        images, labels = holdout_images(a.cifar, a.holdout)
        rng = np.random.default_rng(a.seed)
        out = np.concatenate([glass_blur(images, s, rng) for s in range(1, 6)])
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, "glass_blur.npy"), out)
        np.save(os.path.join(a.out, "labels.npy"), np.tile(labels, 5))
    else:
        img = checkerboard()
        images = np.repeat(img[None], a.draws, 0)
        rng = np.random.default_rng(0)
        damage = []
        for s in range(1, 6):
            g = glass_blur(images, s, rng).astype(np.float64)
            damage.append(float(np.abs(g - img).mean() / 255))
        with open(a.out, "w") as fh:
            json.dump({"draws": a.draws, "meanAbsoluteChange": damage}, fh, indent=2)
            fh.write("\n")


if __name__ == "__main__":
    main()
