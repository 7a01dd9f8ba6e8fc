#!/usr/bin/env python3
"""Golden outputs of diffusers' AutoencoderKL (the SD-VAE), for tests/test_vae.cpp.

  vae_reference.py DIFFUSERS_SRC OUT.safetensors

DIFFUSERS_SRC is a checkout's src/ folder of huggingface/diffusers (its AutoencoderKL is imported
from there); it needs torch, numpy, safetensors and huggingface_hub. A tiny AutoencoderKL (3 -> 4
channels, block_out_channels (32, 64), layers_per_block 1, 8 groups: one downsampling, the mid
block's attention included) gets weights by shared/golden's deterministic fill rule, so nothing is
downloaded and fluxion regenerates the same weights. CPU, float32, one thread.

Stored: `input.images` (2, 3, 32, 32) in [-1, 1], `input.eps` (2, 4, 16, 16) standard normal,
`input.z` (2, 4, 16, 16) latents to decode; `output.mean`, `output.logvar` (the posterior's,
logvar clamped as DiagonalGaussianDistribution does), `output.latents` ((mean + std eps) x
scaling_factor), `output.decode_latents` (decode(output.latents / scaling_factor)) and
`output.decode_z` (decode(input.z / scaling_factor)). Metadata: the config, the state dict's
names and shapes, the diffusers commit if known.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "bench"))
from filled_inception import fill  # noqa: E402  (the golden fill rule)


CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[32, 64],
              down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
              layers_per_block=1, norm_num_groups=8, sample_size=32, scaling_factor=0.18215)


def main():
    src, out = sys.argv[1], sys.argv[2]
    sys.path.insert(0, src)
    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    vae = AutoencoderKL(**CONFIG).eval()
    state = vae.state_dict()
    filled = {k: torch.from_numpy(fill(k, tuple(v.shape), 1.0)) for k, v in state.items() if v.is_floating_point()}
    vae.load_state_dict(filled, strict=True)

    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    eps = torch.randn(2, 4, 16, 16, generator=g)
    z = torch.randn(2, 4, 16, 16, generator=g)
    s = CONFIG["scaling_factor"]
    with torch.no_grad():
        posterior = vae.encode(images).latent_dist
        latents = (posterior.mean + posterior.std * eps) * s
        decode_latents = vae.decode(latents / s).sample
        decode_z = vae.decode(z / s).sample
    tensors = {"input.images": images, "input.eps": eps, "input.z": z,
               "output.mean": posterior.mean, "output.logvar": posterior.logvar, "output.latents": latents,
               "output.decode_latents": decode_latents, "output.decode_z": decode_z}
    tensors = {k: v.contiguous().float() for k, v in tensors.items()}
    commit = os.environ.get("DIFFUSERS_COMMIT", "")  # for sources without .git
    if not commit:
        try:
            commit = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    metadata = {"source": "huggingface/diffusers AutoencoderKL" + (f" @{commit[:10]}" if commit else ""),
                "made_by": "tests/python/vae_reference.py (fill-rule weights, CPU float32)",
                "torch": torch.__version__, "config": json.dumps(CONFIG),
                "state_dict_shapes": json.dumps({k: list(v.shape) for k, v in state.items()})}
    # the full SD-VAE (stabilityai/sd-vae-ft-ema's config.json) for the parameter count in the tests
    sd = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                       down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    metadata["sd_vae_parameters"] = str(sum(p.numel() for p in sd.parameters()))
    save_file(tensors, out, metadata=metadata)
    print(f"SD-VAE parameters {metadata['sd_vae_parameters']}; wrote {out}: |decode_z| mean {decode_z.abs().mean():.4f}, |mean| {posterior.mean.abs().mean():.4f}")


if __name__ == "__main__":
    main()
