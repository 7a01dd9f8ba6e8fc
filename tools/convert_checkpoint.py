#!/usr/bin/env python3
"""Convert an official PyTorch checkpoint (.pt / .pth) to safetensors for fluxion.

    python3 tools/convert_checkpoint.py SiT-XL-2-256x256.pt SiT-XL-2-256x256.safetensors \
        [--key ema] [--model SiT-XL/2] [--trusted]

Tensor names are kept exactly as in the state dict (fluxion registers its parameters under the
official names). Checkpoints that wrap the state dict are unwrapped: with --key the named entry is
used; otherwise the first of "ema", "model", "state_dict", "model_ema" that holds a dict of
tensors. DDP / torch.compile prefixes ("module.", "_orig_mod.") are not touched unless
--strip-prefix is given. The safetensors file is written with only json + struct (no safetensors
package); --model records the zoo name in the metadata.

The file is loaded weights-only, which unpickles nothing but tensors and plain containers. A
training checkpoint also pickles objects (SiT's train.py saves its argparse.Namespace; torch < 2
refuses even a float); --trusted unpickles it in full, which runs whatever code the file holds.
"""
import argparse
import json
import os
import pickle
import struct
import sys

import torch

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
WRAPPER_KEYS = ("ema", "model", "state_dict", "model_ema")


def is_state_dict(obj):
    return isinstance(obj, dict) and obj and all(
        isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())


def unwrap(checkpoint, key):
    if key is not None:
        if not isinstance(checkpoint, dict) or key not in checkpoint:
            sys.exit(f"convert_checkpoint: no entry '{key}' in the checkpoint "
                     f"(top-level keys: {list(checkpoint)[:10] if isinstance(checkpoint, dict) else type(checkpoint)})")
        checkpoint = checkpoint[key]
        if not is_state_dict(checkpoint):
            sys.exit(f"convert_checkpoint: entry '{key}' is not a dict of tensors")
        return checkpoint, key
    if is_state_dict(checkpoint):
        return checkpoint, None
    if isinstance(checkpoint, dict):
        for candidate in WRAPPER_KEYS:
            if is_state_dict(checkpoint.get(candidate)):
                return checkpoint[candidate], candidate
    keys = list(checkpoint)[:10] if isinstance(checkpoint, dict) else type(checkpoint).__name__
    sys.exit(f"convert_checkpoint: no state dict found (top-level: {keys}); pass --key")


def load_checkpoint(path, trusted):
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except TypeError:  # torch < 1.13 has no weights_only and always unpickles in full
        return torch.load(path, map_location="cpu")
    except pickle.UnpicklingError as e:
        if trusted:
            raise
        reason = str(e).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        sys.exit(f"convert_checkpoint: {path} holds more than tensors and plain containers, which a "
                 f"weights-only load refuses ({reason}); if you trust the file, pass --trusted "
                 f"to unpickle it in full")


def tensor_bytes(tensor):
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        tensor = tensor.view(torch.int16)
    # numpy bytes are native-endian; safetensors is little-endian.
    array = tensor.numpy()
    if sys.byteorder != "little":
        array = array.byteswap()
    return array.tobytes()


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.dtype not in DTYPES:
            sys.exit(f"convert_checkpoint: tensor {name} has unsupported dtype {tensor.dtype}")
        data = tensor_bytes(tensor)
        header[name] = {"dtype": DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # align the data section
    temporary = path + ".tmp"
    with open(temporary, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for data in blobs:
            out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="official .pt / .pth checkpoint")
    parser.add_argument("output", help="output .safetensors")
    parser.add_argument("--key", help="entry holding the state dict (default: auto)")
    parser.add_argument("--model", help="zoo name to record in the metadata, e.g. SiT-XL/2")
    parser.add_argument("--strip-prefix", action="append", default=[],
                        help="remove this name prefix (e.g. module.); repeatable")
    parser.add_argument("--trusted", action="store_true",
                        help="unpickle the file in full (runs any code it holds); needed for "
                             "training checkpoints that pickle more than tensors")
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.input, args.trusted)
    state, used_key = unwrap(checkpoint, args.key)
    tensors = {}
    for name, tensor in state.items():
        for prefix in args.strip_prefix:
            if name.startswith(prefix):
                name = name[len(prefix):]
        if name in tensors:
            sys.exit(f"convert_checkpoint: two tensors named {name} after stripping prefixes")
        tensors[name] = tensor
    metadata = {"source": os.path.basename(args.input), "format": "pt"}
    if used_key:
        metadata["source_key"] = used_key
    if args.model:
        metadata["model"] = args.model
    write_safetensors(args.output, tensors, metadata)
    count = sum(t.numel() for t in tensors.values())
    print(f"wrote {len(tensors)} tensors ({count} values) to {args.output}"
          + (f" from entry '{used_key}'" if used_key else ""))


if __name__ == "__main__":
    main()
