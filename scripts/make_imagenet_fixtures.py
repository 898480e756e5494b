#!/usr/bin/python3
"""Dev-only: ImageNet reference fixtures (Debian's python3-pil and python3-torch).

Preprocesses the 100 validation images of ../shared/data/imagenet exactly as the MobileNetV2
README says (Pillow: RGB, tf.image.central_crop(0.875) arithmetic, BILINEAR resize to 224, then
x / 127.5 - 1), runs an independent PyTorch implementation of MobileNetV2 with TF 'SAME' padding
on the shared weights, and writes:
  - imagenet_pil_first2.npy: the Pillow-preprocessed uint8 pixels of the first two images
  - mobilenet_v2_ref_logits_first4.npy: logits of the first four images
  - mobilenet_v2_ref_top5.npy: top-5 classes of all 100 images
"""
import csv
import os
import runpy

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures")
ref = runpy.run_path(os.path.join(ROOT, "scripts", "mobilenet_v2_reference.py"))
xs, ys = ref["preprocess"]()
logits = ref["logits"](xs)
np.save(os.path.join(OUT, "imagenet_pil_first2.npy"), xs[:2])
np.save(os.path.join(OUT, "mobilenet_v2_ref_logits_first4.npy"), logits[:4].astype(np.float32))
np.save(os.path.join(OUT, "mobilenet_v2_ref_top5.npy"), np.argsort(-logits, axis=1)[:, :5].astype(np.int64))
top5 = np.argsort(-logits, axis=1)[:, :5]
print("top-1", int((top5[:, 0] == ys).sum()), "top-5", int(sum(ys[i] in top5[i] for i in range(len(ys)))))
