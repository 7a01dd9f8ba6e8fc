#!/usr/bin/env python3
"""Writes FID Inception weights made by shared/golden's deterministic fill rule, for benchmarks
where the official pt_inception-2015-12-05 file cannot be downloaded.

  filled_inception.py PYTORCH_FID_SRC OUT.safetensors

Builds pytorch-fid's own FID Inception (from the pytorch-fid sources given), fills every float
tensor by the rule, saves them (1) as OUT.safetensors for fluxion and (2) into torch.hub's cache
under the official file name, so that pytorch-fid itself loads exactly the same weights.
"""
import os
import sys

import numpy as np


M64 = (1 << 64) - 1


def fnv1a64(name: str) -> int:
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def uniforms(name: str, n: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = np.uint64(fnv1a64(name)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def fill(name: str, shape, gain: float) -> np.ndarray:
    n = int(np.prod(shape))
    u = uniforms(name, n)
    if len(shape) >= 2:
        v = ((2 * u - 1) * np.sqrt(3.0)) * gain / np.sqrt(n / shape[0])
    elif name.endswith("running_var"):
        v = 1 + 0.5 * u
    elif name.endswith("running_mean"):
        v = 0.1 * (2 * u - 1)
    elif name.endswith(("weight", "gamma", "lambda1")):
        v = 1 + 0.1 * (2 * u - 1)
    else:
        v = 0.05 * (2 * u - 1)
    return v.astype(np.float32).reshape(shape)


def main():
    import torch

    src, out = sys.argv[1], sys.argv[2]
    sys.path.insert(0, src)
    import pytorch_fid.inception as inception
    from safetensors.torch import save_file

    # Build the architecture without fetching weights, to read the names and shapes.
    original = torch.nn.Module.load_state_dict
    torch.nn.Module.load_state_dict = lambda self, *a, **k: None
    inception.load_state_dict_from_url = lambda *a, **k: {}
    model = inception.fid_inception_v3()
    torch.nn.Module.load_state_dict = original
    state = {}
    for name, t in model.state_dict().items():
        if t.is_floating_point():
            state[name] = torch.from_numpy(fill(name, tuple(t.shape), np.sqrt(2.0)))
        else:
            state[name] = t.clone()
    save_file(state, out)
    hub = os.path.join(torch.hub.get_dir(), "checkpoints")
    os.makedirs(hub, exist_ok=True)
    torch.save(state, os.path.join(hub, os.path.basename(inception.FID_WEIGHTS_URL)))
    print(f"filled {len(state)} tensors -> {out} and the torch.hub cache")


if __name__ == "__main__":
    main()
