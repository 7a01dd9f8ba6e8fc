#!/usr/bin/env python3
"""Convert pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth) to safetensors.

Tensor names are kept exactly as in the .pth (torchvision Inception3 names: Conv2d_1a_3x3.conv.weight,
Mixed_7c.branch_pool.bn.running_var, fc.weight, ...), which is what `fluxion stats --features
inception:FILE` loads. Needs torch; writes the safetensors file itself (no safetensors package).

    python3 tools/convert_inception.py pt_inception-2015-12-05-6726825d.pth inception_fid.safetensors

The .pth is at https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
"""
import argparse
import json
import os
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in DTYPES:
            raise SystemExit(f"{name}: unsupported dtype {t.dtype}")
        data = t.numpy().tobytes() if t.dtype != torch.float16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pth", help="pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("out", help="output .safetensors")
    args = parser.parse_args()
    state = torch.load(args.pth, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    required = ["Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight", "fc.weight", "fc.bias"]
    missing = [k for k in required if k not in tensors]
    if missing:
        raise SystemExit(f"{args.pth}: not the FID Inception state dict (missing {missing})")
    if tuple(tensors["fc.weight"].shape) != (1008, 2048):
        raise SystemExit(f"{args.pth}: fc.weight has shape {tuple(tensors['fc.weight'].shape)}, expected (1008, 2048)")
    write_safetensors(args.out, tensors, {"source": os.path.basename(args.pth), "format": "pytorch-fid InceptionV3"})
    print(f"wrote {len(tensors)} tensors to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
