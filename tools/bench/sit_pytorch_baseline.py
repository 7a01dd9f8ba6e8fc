#!/usr/bin/env python3
"""The PyTorch baseline of `fluxion bench --what train|sample` for SiT: the official SiT model code
(models.py of willisma/SiT) in eager PyTorch, the same work per iteration as fluxion's bench.

  sit_pytorch_baseline.py SIT_SRC --what train|sample [--model SiT-XL/2] [--batch 64]
                          [--iterations 10] [--warmup 2] [--sampler euler|heun] [--steps 50] [--cfg 4.0]
                          [--profile TRACE.json [--profile-iterations 3]]
                          [--compile]

train: linear-path velocity loss (SiT's default transport), backward, AdamW (lr 1e-4, no weight
decay, as SiT's train.py), EMA update as train.py's update_ema; bf16 autocast.
sample: Euler or Heun (every step two evaluations) on the velocity ODE from t = 0 (noise) to 1,
no guidance, or with --cfg S > 1 classifier-free guidance as SiT's sample.py does it (the batch
doubled with the null class 1000, `forward_with_cfg`; images/s counts the guided images); bf16 autocast. Inputs are 32x32x4 latents and 1,000 classes, as fluxion's SiT presets.
--compile runs torch.compile(model) (default mode) instead of the eager model; the warm-up
iterations then include the compilation. Prints images/s and ms per iteration.
"""
import argparse
import sys
import time
from collections import OrderedDict
from copy import deepcopy

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sit_src")
    ap.add_argument("--what", choices=["train", "sample"], required=True)
    ap.add_argument("--model", default="SiT-XL/2")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--sampler", choices=["euler", "heun"], default="euler")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale (1: none)")
    ap.add_argument("--compile", action="store_true", help="torch.compile(model) before timing")
    ap.add_argument("--profile", default="", help="Chrome trace of --profile-iterations more iterations")
    ap.add_argument("--profile-iterations", type=int, default=3)
    a = ap.parse_args()
    sys.path.insert(0, a.sit_src)
    from models import SiT_models  # the official model code

    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = SiT_models[a.model](input_size=32, num_classes=1000).to(dev)
    x = torch.randn(a.batch, 4, 32, 32, device=dev)
    y = torch.randint(0, 1000, (a.batch,), device=dev)
    autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    # The forward calls go through `net`; parameters, EMA and modes stay on `model`.
    net = torch.compile(model) if a.compile else model

    if a.what == "train":
        model.train()
        ema = deepcopy(model).requires_grad_(False)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)

        @torch.no_grad()
        def update_ema(decay=0.9999):  # train.py's update_ema
            ema_params = OrderedDict(ema.named_parameters())
            for name, param in OrderedDict(model.named_parameters()).items():
                ema_params[name].mul_(decay).add_(param.data, alpha=1 - decay)

        def step():
            t = torch.rand(a.batch, device=dev)
            x0 = torch.randn_like(x)
            tt = t.view(-1, 1, 1, 1)
            xt = tt * x + (1 - tt) * x0
            with autocast():
                out = net(xt, t, y)
            loss = ((out.float() - (x - x0)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            update_ema()
    else:
        model.eval()

        guided = a.cfg > 1.0
        # sample.py: z doubled, labels [y, 1000], the model's forward_with_cfg (compiled when --compile)
        fn = (lambda z, t, labels: model.forward_with_cfg(z, t, labels, a.cfg)) if guided else net
        if guided and a.compile:
            fn = torch.compile(fn)
        labels = torch.cat([y, torch.full_like(y, 1000)]) if guided else y
        rows = 2 * a.batch if guided else a.batch

        @torch.no_grad()
        def step():
            z = torch.cat([x, x]) if guided else x.clone()
            ts = torch.linspace(0, 1, a.steps + 1, device=dev)
            with autocast():
                for i in range(a.steps):
                    t0, t1 = ts[i], ts[i + 1]
                    v0 = fn(z, t0.expand(rows), labels).float()
                    if a.sampler == "euler":
                        z = z + (t1 - t0) * v0
                    else:
                        z1 = z + (t1 - t0) * v0
                        v1 = fn(z1, t1.expand(rows), labels).float()
                        z = z + (t1 - t0) * 0.5 * (v0 + v1)

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(a.iterations):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / a.iterations
    if a.profile:  # after the timed loop, as `fluxion bench --profile`
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
            for _ in range(a.profile_iterations):
                step()
            torch.cuda.synchronize()
        prof.export_chrome_trace(a.profile)
    nfe = a.steps * (2 if a.sampler == "heun" else 1)
    what = "AdamW + EMA step" if a.what == "train" else f"{a.sampler} {a.steps} steps ({nfe} NFE)"
    if a.what == "sample" and a.cfg > 1.0:
        what += f", CFG {a.cfg:g}"
    mode = "torch.compile" if a.compile else "eager"
    print(f"pytorch {torch.__version__} official SiT {a.model}, batch {a.batch}, bf16, {mode}, {what}")
    print(f"  {a.batch / seconds:.4g} images/s, {seconds * 1e3:.4g} ms per iteration")


if __name__ == "__main__":
    main()
