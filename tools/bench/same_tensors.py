#!/usr/bin/env python3
"""Whether two safetensors files hold the same tensors to the bit (names, dtypes, shapes, bytes),
whatever their __metadata__ says (run times differ between two runs). Standard library only."""
import json
import struct
import sys


def tensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {name: (e["dtype"], e["shape"], data[e["data_offsets"][0]:e["data_offsets"][1]])
            for name, e in header.items()}


a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
differing = sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))
if differing:
    print(f"{len(differing)} of {len(a.keys() | b.keys())} tensors differ, e.g. {differing[:5]}")
    sys.exit(1)
print(f"all {len(a)} tensors equal to the bit")
