#!/usr/bin/env python3
"""Pillow's Image.resize (BOX, BILINEAR, BICUBIC) and ADM's center_crop_arr on fixed uint8
images: the reference for core/pil_resize.cpp (the ImageNet preprocessing of ADM, SiT and REPA).

  /usr/bin/python3 tests/python/adm_crop_reference.py tests/golden/adm_crop.safetensors

center_crop_arr below is guided_diffusion/image_datasets.py's (openai/guided-diffusion; SiT's
train.py carries the same function), verbatim but for the import of PIL; Pillow is the reference
for the resampling itself. Inputs: deterministic uint8 RGB images (gradients, a checkerboard and
seeded noise). Stored: input.<name> (H, W, 3); resize.<name>.<filter>.<h>x<w> (h, w, 3); and
adm.<name>.<size> (size, size, 3). Metadata: Pillow's version."""
import sys

import numpy as np
from PIL import Image, __version__ as pil_version

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from pil_bicubic_reference import image  # noqa: E402  (the same test images)
from safetensors_np import save_file  # noqa: E402


def center_crop_arr(pil_image, image_size):
    # We are not on a new enough PIL to support the `reducing_gap`
    # argument, which uses BOX downsampling at powers of two first.
    # Thus, we do it by hand to improve downsample quality.
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(
            tuple(x // 2 for x in pil_image.size), resample=Image.BOX
        )

    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(
        tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC
    )

    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y : crop_y + image_size, crop_x : crop_x + image_size]


FILTERS = {"box": Image.BOX, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
# (name, h, w, seed): odd sizes, portrait and landscape, one needing two BOX halvings at 32
IMAGES = [("a", 37, 23, 1), ("b", 150, 150, 2), ("c", 211, 97, 3), ("d", 200, 291, 4), ("e", 65, 64, 5)]
# target (h, w) per image for the plain resizes: down, up, and one side only
RESIZES = {"a": [(64, 64), (11, 23), (37, 9)], "b": [(64, 64), (75, 149)], "c": [(64, 64), (33, 17)],
           "d": [(64, 64), (100, 291)], "e": [(32, 32), (130, 128)]}


def main():
    out = sys.argv[1]
    tensors = {}
    for name, h, w, seed in IMAGES:
        arr = image(h, w, seed)
        tensors[f"input.{name}"] = arr
        pil = Image.fromarray(arr)
        for th, tw in RESIZES[name]:
            for fname, f in FILTERS.items():
                tensors[f"resize.{name}.{fname}.{th}x{tw}"] = np.asarray(pil.resize((tw, th), resample=f))
        for size in (32, 64):
            if min(h, w) >= size:
                tensors[f"adm.{name}.{size}"] = center_crop_arr(pil, size)
    save_file(tensors, out, metadata={"pillow": pil_version,
                                      "made_by": "tests/python/adm_crop_reference.py"})
    print(f"wrote {len(tensors)} tensors to {out} (Pillow {pil_version})")


if __name__ == "__main__":
    main()
