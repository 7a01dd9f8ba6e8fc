#!/usr/bin/env python3
"""Golden training trajectories from the official SiT code, for tests/test_train_golden.cpp.

  train_trajectory.py SIT_SRC OUT.safetensors

SIT_SRC is a checkout of willisma/SiT (models.py, transport/, train.py's update_ema); it needs
torch and timm. Everything runs on the CPU in float32 with one thread and deterministic
algorithms, so the file is reproducible.

Two runs of 50 steps on a tiny SiT (16x16x1 input, patch 2, hidden 32, depth 2, 2 heads,
10 classes, learn_sigma as SiT's default), each from the official code's own initialisation
(torch.manual_seed(0)):

  sit  SiT's train.py recipe: transport.training_losses (Linear path, velocity), AdamW lr 1e-4,
       betas (0.9, 0.999), weight decay 0, EMA by train.py's update_ema (initialised by copy).
  jit  JiT's x-prediction with v-loss (denoiser.py, as ../shared/reference/sit_jit.md states it:
       z = t x + (1 - t) e, v = (x - z) / clamp(1 - t, 0.05), the same for the net's x) with JiT's
       AdamW betas (0.9, 0.95) and lr 2e-4, plus weight decay 0.05 so that decoupled decay is
       exercised. LTH14/JiT's own code was not at hand; the objective runs on the same official
       SiT backbone, whose forward fluxion already matches (sit_tiny golden).

Every random draw of a step (the batch, its labels, t, the noise, which labels are dropped to the
null class) is drawn here and stored, and injected into the official code: `transport.sample`
returns the stored (t, x0) and the label embedder's `token_drop` applies the stored mask. EMA
decay is 0.99 (not 0.9999) so that 50 steps move the average measurably.

Stored (prefix `sit.` or `jit.`): `init.NAME` (the state dict before training), per step
`data.x` (S, B, 1, 16, 16), `data.y`, `data.t`, `data.noise`, `data.drop` (uint8), `loss` (S,)
float64; at step 1 `step1.grad.NAME`; at steps 1, 10, 50 `stepK.param.NAME`, `stepK.exp_avg.NAME`,
`stepK.exp_avg_sq.NAME` and `stepK.ema.NAME`.
"""
import argparse
import json
import os
import sys
from collections import OrderedDict
from copy import deepcopy

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_np import save_file  # noqa: E402

MODEL = dict(input_size=16, patch_size=2, in_channels=1, hidden_size=32, depth=2, num_heads=2,
             mlp_ratio=4.0, class_dropout_prob=0.1, num_classes=10, learn_sigma=True)
STEPS, BATCH, RECORD = 50, 8, (1, 10, 50)
EMA_DECAY = 0.99
RUNS = {
    "sit": dict(objective="velocity", lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    "jit": dict(objective="x", lr=2e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05,
                logit_mean=-0.8, logit_std=0.8, noise_scale=2.0, t_eps=0.05),
}


@torch.no_grad()
def update_ema(ema_model, model, decay):  # train.py's update_ema
    ema_params = OrderedDict(ema_model.named_parameters())
    for name, param in OrderedDict(model.named_parameters()).items():
        ema_params[name].mul_(decay).add_(param.data, alpha=1 - decay)


def draws(run, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (STEPS, BATCH, MODEL["in_channels"], MODEL["input_size"], MODEL["input_size"])
    # Smooth images in [-1, 1]: a random 4x4 field upsampled, so the batch has structure.
    coarse = torch.rand(STEPS * BATCH, MODEL["in_channels"], 4, 4, generator=g) * 2 - 1
    x = torch.nn.functional.interpolate(coarse, size=shape[-2:], mode="bilinear", align_corners=False)
    x = x.reshape(shape).contiguous()
    y = torch.randint(0, MODEL["num_classes"], (STEPS, BATCH), generator=g)
    if run["objective"] == "velocity":
        t = torch.rand(STEPS, BATCH, generator=g)  # SiT: U[0, 1] for Linear + velocity
        noise = torch.randn(shape, generator=g)
    else:
        t = torch.sigmoid(torch.randn(STEPS, BATCH, generator=g) * run["logit_std"] + run["logit_mean"])
        noise = torch.randn(shape, generator=g) * run["noise_scale"]
    drop = torch.rand(STEPS, BATCH, generator=g) < MODEL["class_dropout_prob"]
    drop[0, 0] = True  # the first step drops at least one label
    return x, y, t, noise, drop


def trajectory(name, run, sit_src):
    sys.path.insert(0, sit_src)
    from models import SiT  # the official model code
    from transport import create_transport

    torch.manual_seed(0)
    model = SiT(**MODEL)
    out = {f"{name}.init.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    x, y, t, noise, drop = draws(run, seed=1 if name == "sit" else 2)
    out.update({f"{name}.data.x": x, f"{name}.data.y": y, f"{name}.data.t": t,
                f"{name}.data.noise": noise, f"{name}.data.drop": drop.to(torch.uint8)})

    ema = deepcopy(model).requires_grad_(False)
    update_ema(ema, model, decay=0)
    opt = torch.optim.AdamW(model.parameters(), lr=run["lr"], betas=run["betas"], eps=run["eps"],
                            weight_decay=run["weight_decay"])
    transport = create_transport("Linear", "velocity")
    null = MODEL["num_classes"]
    step_drop = {}
    # The stored mask replaces LabelEmbedder.token_drop's own torch.rand draw.
    model.y_embedder.token_drop = lambda labels, force_drop_ids=None: torch.where(step_drop["mask"], null, labels)
    model.train()
    losses = []
    for s in range(STEPS):
        xs, ys, ts, ns = x[s], y[s], t[s], noise[s]
        step_drop["mask"] = drop[s]
        if run["objective"] == "velocity":
            transport.sample = lambda x1: (ts, ns, x1)
            loss = transport.training_losses(model, xs, dict(y=ys))["loss"].mean()
        else:  # JiT's denoiser loss
            tt = ts.view(-1, 1, 1, 1)
            z = tt * xs + (1 - tt) * ns
            v = (xs - z) / (1 - tt).clamp_min(run["t_eps"])
            x_pred = model(z, ts, ys)
            v_pred = (x_pred - z) / (1 - tt).clamp_min(run["t_eps"])
            loss = ((v - v_pred) ** 2).mean(dim=(1, 2, 3)).mean()
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        step = s + 1
        if step == 1:
            for k, p in model.named_parameters():
                if p.grad is not None:
                    out[f"{name}.step1.grad.{k}"] = p.grad.detach().clone()
        opt.step()
        update_ema(ema, model, EMA_DECAY)
        if step in RECORD:
            for k, p in model.named_parameters():
                out[f"{name}.step{step}.param.{k}"] = p.detach().clone()
                if p in opt.state:
                    out[f"{name}.step{step}.exp_avg.{k}"] = opt.state[p]["exp_avg"].clone()
                    out[f"{name}.step{step}.exp_avg_sq.{k}"] = opt.state[p]["exp_avg_sq"].clone()
            for k, p in ema.named_parameters():
                out[f"{name}.step{step}.ema.{k}"] = p.detach().clone()
    out[f"{name}.loss"] = torch.tensor(losses, dtype=torch.float64)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sit_src")
    ap.add_argument("out")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tensors = {}
    for name, run in RUNS.items():
        tensors.update(trajectory(name, run, a.sit_src))
    meta = {"source": "willisma/SiT models.py + transport/ @947f95b, tests/python/train_trajectory.py",
            "torch": torch.__version__, "model": json.dumps(MODEL), "steps": str(STEPS),
            "batch": str(BATCH), "record": json.dumps(RECORD), "ema_decay": str(EMA_DECAY),
            "runs": json.dumps(RUNS)}
    save_file({k: v.numpy() if v.dtype != torch.bool else v.numpy().astype(np.uint8)
               for k, v in tensors.items()}, a.out, meta)
    print(f"wrote {len(tensors)} tensors to {a.out}; sit loss {tensors['sit.loss'][0]:.6f} -> "
          f"{tensors['sit.loss'][-1]:.6f}, jit loss {tensors['jit.loss'][0]:.6f} -> {tensors['jit.loss'][-1]:.6f}")


if __name__ == "__main__":
    main()
