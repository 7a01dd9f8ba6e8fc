#!/usr/bin/env python3
"""diffusers' AutoencoderKL decoder throughput, the baseline of `fluxion bench --what decode`.

  vae_decode_baseline.py DIFFUSERS_SRC [--batch 32] [--latent-size 32] [--mode autocast|bf16|fp32]

DIFFUSERS_SRC is a checkout's src/ folder of huggingface/diffusers. The SD-VAE architecture
(sd-vae-ft-ema's config: block_out_channels 128/256/512/512, 2 layers per block, 32 groups) with
random weights (speed does not depend on them) decodes standard-normal latents on one GPU:
`autocast` runs bf16 autocast over float32 weights, as `fluxion sample --vae` does; `bf16`
casts the weights to bfloat16 (vae.to(torch.bfloat16)), the usual diffusers setting; `fp32` neither.
Prints images per second, the same line shape as fluxion's bench.
"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("diffusers_src")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--latent-size", type=int, default=32)
    ap.add_argument("--mode", choices=["autocast", "bf16", "fp32"], default="autocast")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    sys.path.insert(0, a.diffusers_src)
    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        block_out_channels=[128, 256, 512, 512], layers_per_block=2, norm_num_groups=32,
                        sample_size=256, scaling_factor=0.18215).to(a.device).eval()
    dtype = torch.bfloat16 if a.mode == "bf16" else torch.float32
    vae = vae.to(dtype)
    z = torch.randn(a.batch, 4, a.latent_size, a.latent_size, device=a.device, dtype=dtype)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)

    def decode():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.mode == "autocast"):
            return vae.decode(z / 0.18215).sample

    for _ in range(a.warmup):
        decode()
    sync()
    start = time.perf_counter()
    for _ in range(a.iterations):
        decode()
    sync()
    seconds = (time.perf_counter() - start) / a.iterations
    pixels = a.latent_size * 8
    params = sum(p.numel() for p in vae.parameters())
    print(f"decode: diffusers AutoencoderKL, batch {a.batch}, {a.latent_size}x{a.latent_size} latents -> {pixels} px, "
          f"{a.mode}, torch {torch.__version__}, {params} parameters")
    print(f"  {a.batch / seconds:.2f} images/s, {seconds * 1e3:.2f} ms per batch")


if __name__ == "__main__":
    main()
