#!/usr/bin/env python3
"""PIL's bicubic resize of fixed uint8 images: the reference for fluxion's DINOv2 preprocessing
(metrics/dinov2.cpp: dinov2_preprocess), which follows dgm-eval's torchvision Resize on PIL
images (Image.resize(size, Image.BICUBIC) of the uint8 image).

  /usr/bin/python3 tests/python/pil_bicubic_reference.py tests/golden/pil_bicubic.safetensors

Inputs: deterministic uint8 RGB images (smooth gradients plus a checkerboard and seeded noise,
so that both the kernel shape and the antialiasing show), resized to 64x64: upsampling from
20x20 and 37x23, downsampling from 150x150 and 211x97. Stored: input.<name> (H, W, 3) uint8 and
pil.<name> (64, 64, 3) uint8; metadata: PIL's version."""
import sys

import numpy as np
from PIL import Image, __version__ as pil_version

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from safetensors_np import save_file  # noqa: E402


def image(h, w, seed):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 255 * (((x // 3 + y // 3) % 2) * 0.8 + 0.1)
    img = np.stack([r, g, b], -1) + rng.normal(0, 20, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main():
    out = sys.argv[1]
    tensors = {}
    for name, (h, w, seed) in {"up20": (20, 20, 1), "up37x23": (37, 23, 2),
                               "down150": (150, 150, 3), "down211x97": (211, 97, 4)}.items():
        src = image(h, w, seed)
        tensors[f"input.{name}"] = src
        tensors[f"pil.{name}"] = np.asarray(Image.fromarray(src).resize((64, 64), Image.BICUBIC))
    save_file(tensors, out, {"reference": f"PIL {pil_version} Image.resize((64, 64), Image.BICUBIC)"})
    print(f"wrote {len(tensors)} tensors to {out}")


if __name__ == "__main__":
    main()
