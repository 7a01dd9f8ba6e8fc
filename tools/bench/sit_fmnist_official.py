#!/usr/bin/env python3
"""The official SiT code (willisma/SiT: models.py, transport/, train.py's recipe) trained on
Fashion-MNIST for a wall-clock budget on one GPU, then sampled: the PyTorch side of fluxion's
equal-compute quality comparison (tools/bench/quality_session.sh).

  sit_fmnist_official.py SIT_SRC --out DIR [--seconds 300] [--seed 0] [--model SiT-S/2]
      [--batch 256] [--lr 1e-4] [--ema 0.999] [--compile | --no-compile] [--n-samples 10000]
      [--sample-steps 50] [--sample-batch 2500] [--data-dir DIR]

Training, as train.py does it except for the data and the precision:
  model     SiT_models[model](input_size=32, in_channels=1, num_classes=10) (learn_sigma and
            class_dropout_prob 0.1 as the official defaults; label dropout by the model's own
            LabelEmbedder in train mode); torch.compile(model) unless --no-compile
  objective transport.create_transport("Linear", "velocity");
            loss = transport.training_losses(model, x, dict(y=y))["loss"].mean()
  optimizer AdamW(lr, weight_decay=0), constant lr; EMA by train.py's update_ema, initialised by
            copy (decay 0), decay --ema
  precision bf16 autocast around the loss (the model runs in bf16, the loss in fp32), TF32 on
  data      Fashion-MNIST train (idx files read with gzip + numpy), uint8 28x28 padded with 0 by
            2 pixels to 32x32, x / 127.5 - 1, no flip; kept on the GPU, batches drawn from one
            seeded random permutation per epoch with drop_last (a shuffled DataLoader)
  budget    --seconds of wall clock from just before the first step (torch.compile's time counts);
            the step that crosses it is the last.

Outputs in DIR:
  ema.safetensors  the EMA weights under the official state-dict names, float32, with metadata
                   `config` (the SiT(...) kwargs, as ../shared/golden files store them) and
                   `model_config` (fluxion's model JSON), so that
                   `fluxion sample --ckpt DIR/ema.safetensors ...` samples them as they are
  samples.npz      --n-samples class-balanced samples (labels arange(n) % 10), no guidance, Euler
                   with --sample-steps uniform steps on the velocity ODE from t = 0 (noise) to 1,
                   EMA model in eval mode under bf16 autocast; uint8 as SiT's sample_ddp.py
                   (clamp(127.5 x + 128, 0, 255)); the layout fluxion's `sample --npz` writes:
                   arr_0 uint8 (N, 32, 32, 3) (gray repeated, as ADM's evaluator expects),
                   arr_1 int64 labels
  summary.json     the one-line JSON summary printed at the end
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time
from collections import OrderedDict
from copy import deepcopy

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "python"))
from safetensors_np import save_file  # noqa: E402

NUM_CLASSES = 10
IMAGE_SIZE = 32  # 28 + 2 * 2


def find_idx(data_dir, prefix, kind):
    for name in (f"{prefix}-{kind}", f"{prefix}-{kind.replace('-idx', '.idx')}"):
        for suffix in (".gz", ""):
            path = os.path.join(data_dir, name + suffix)
            if os.path.isfile(path):
                return path
    sys.exit(f"sit_fmnist_official: no {prefix}-{kind}[.gz] in {data_dir}")


def read_idx(path, magic, ndim):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        sys.exit(f"sit_fmnist_official: {path}: magic {found}, expected {magic}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(data_dir, device):
    images = read_idx(find_idx(data_dir, "train", "images-idx3-ubyte"), 2051, 3)  # (N, 28, 28)
    labels = read_idx(find_idx(data_dir, "train", "labels-idx1-ubyte"), 2049, 1)  # (N,)
    assert images.shape[0] == labels.shape[0], (images.shape, labels.shape)
    pad = (IMAGE_SIZE - images.shape[1]) // 2
    images = np.pad(images, ((0, 0), (pad, pad), (pad, pad)), constant_values=0)  # (N, 32, 32)
    x = torch.from_numpy(images).to(device).float().div_(127.5).sub_(1.0).unsqueeze(1)  # (N, 1, 32, 32)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    return x, y


@torch.no_grad()
def update_ema(ema_model, model, decay=0.9999):  # train.py's update_ema
    ema_params = OrderedDict(ema_model.named_parameters())
    model_params = OrderedDict(model.named_parameters())
    for name, param in model_params.items():
        ema_params[name].mul_(decay).add_(param.data, alpha=1 - decay)


def sit_kwargs(model, input_size):
    """The SiT(...) arguments of a built official model, in models.py's order."""
    hidden = model.pos_embed.shape[-1]
    return dict(input_size=input_size, patch_size=model.patch_size, in_channels=model.in_channels,
                hidden_size=hidden, depth=len(model.blocks), num_heads=model.num_heads,
                mlp_ratio=model.blocks[0].mlp.fc1.out_features / hidden,
                class_dropout_prob=model.y_embedder.dropout_prob,
                num_classes=model.y_embedder.num_classes, learn_sigma=model.learn_sigma)


def save_ema(path, ema, kwargs, name, meta):
    tensors = {}
    for key, value in ema.state_dict().items():
        for prefix in ("_orig_mod.", "module."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        tensors[key] = value.detach().float().cpu().numpy()
    model_config = dict(model="SiT", attention="softmax", name=name, **kwargs)  # models::config_from_json
    metadata = {"config": json.dumps(kwargs), "model_config": json.dumps(model_config),
                "reference": "willisma/SiT models.py (official code), trained by tools/bench/sit_fmnist_official.py",
                "weights": "ema", **{k: str(v) for k, v in meta.items()}}
    temporary = path + ".tmp"
    save_file(tensors, temporary, metadata)
    os.replace(temporary, path)
    return len(tensors)


@torch.no_grad()
def sample_euler(model, n, steps, batch, seed, device, autocast, cfg=1.0):
    labels = torch.arange(n, device=device) % NUM_CLASSES
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    ts = torch.linspace(0, 1, steps + 1, device=device)
    out = torch.empty(n, IMAGE_SIZE, IMAGE_SIZE, 3, dtype=torch.uint8)
    for first in range(0, n, batch):
        count = min(batch, n - first)
        y = labels[first:first + count]
        z = torch.randn(count, model.in_channels, IMAGE_SIZE, IMAGE_SIZE, device=device, generator=gen)
        with autocast():
            for i in range(steps):  # as sit_pytorch_baseline.py's Euler loop
                t0, t1 = ts[i], ts[i + 1]
                if cfg > 1.0:
                    # sample.py's guidance: the batch doubled with the null label (num_classes),
                    # the official forward_with_cfg (its first-3-channel rule covers 1 channel)
                    y_null = torch.full_like(y, NUM_CLASSES)
                    zz = torch.cat([z, z])
                    v = model.forward_with_cfg(zz, t0.expand(2 * count), torch.cat([y, y_null]), cfg)[:count].float()
                else:
                    v = model(z, t0.expand(count), y).float()
                z = z + (t1 - t0) * v
        # sample_ddp.py: clamp(127.5 x + 128, 0, 255), NCHW -> NHWC, uint8; gray -> 3 channels
        images = torch.clamp(127.5 * z + 128.0, 0, 255).permute(0, 2, 3, 1).to("cpu", dtype=torch.uint8)
        out[first:first + count] = images.expand(count, IMAGE_SIZE, IMAGE_SIZE, 3)
    return out.numpy(), labels.cpu().numpy().astype(np.int64)


def stub_sampling_imports():
    """transport/integrators.py imports torchdiffeq and tqdm for SiT's own samplers, which are not
    used here; where they are not installed, empty stand-ins let transport/ import."""
    import importlib.util
    import types
    for name, attr in (("torchdiffeq", "odeint"), ("tqdm", "tqdm")):
        if importlib.util.find_spec(name) is None:
            def missing(*args, _name=name, **kwargs):
                raise RuntimeError(f"{_name} is not installed (only SiT's own samplers need it)")
            module = types.ModuleType(name)
            setattr(module, attr, missing)
            sys.modules[name] = module
            print(f"note: {name} is not installed; a stand-in lets transport/ import", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sit_src", help="folder with the official models.py and transport/")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=300.0, help="training wall-clock budget")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: the budget only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="SiT-S/2")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                    help="torch.compile(model) for training (default on)")
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--sample-batch", type=int, default=2500)
    ap.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale of the samples (1: none)")
    ap.add_argument("--log-every", type=int, default=500)
    ap.add_argument("--device", default="cuda", help="cuda (cpu: a smoke test only)")
    ap.add_argument("--data-dir", default=os.environ.get("FLUXION_FASHION_MNIST_DIR")
                    or "/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    sys.path.insert(0, a.sit_src)
    stub_sampling_imports()
    from models import SiT_models  # the official code
    from transport import create_transport

    device = torch.device(a.device)
    if device.type == "cuda":
        assert torch.cuda.is_available(), "needs a GPU"
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # train.py's precision flags
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)  # the model's initialisation, t (CPU), noise and label drops (CUDA)
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16)  # noqa: E731

    data_x, data_y = load_fashion_mnist(a.data_dir, device)
    n_data = data_x.shape[0]
    batches_per_epoch = n_data // a.batch  # drop_last
    order = torch.Generator(device=device)
    order.manual_seed(a.seed)

    model = SiT_models[a.model](input_size=IMAGE_SIZE, in_channels=1, num_classes=NUM_CLASSES).to(device)
    kwargs = sit_kwargs(model, IMAGE_SIZE)
    ema = deepcopy(model).to(device)
    ema.requires_grad_(False)
    transport = create_transport("Linear", "velocity")
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0)
    update_ema(ema, model, decay=0)  # train.py: EMA initialised with the model's weights
    model.train()  # label dropout on
    ema.eval()
    net = torch.compile(model) if a.compile else model
    params = sum(p.numel() for p in model.parameters())
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"official SiT {a.model} {json.dumps(kwargs)}, {params:,} parameters; torch {torch.__version__}, "
          f"{where}; {n_data} images, batch {a.batch}, lr {a.lr}, EMA {a.ema}, "
          f"bf16 autocast, {'torch.compile' if a.compile else 'eager'}, budget {a.seconds:g} s", flush=True)

    steps, epoch, position, perm = 0, 0, batches_per_epoch, None
    window_loss, window_steps, last_loss, first_step_s = 0.0, 0, float("nan"), None
    sync()
    start = window_start = time.perf_counter()
    while time.perf_counter() - start < a.seconds and (a.max_steps <= 0 or steps < a.max_steps):
        if position == batches_per_epoch:  # a new epoch: a fresh permutation
            perm = torch.randperm(n_data, device=device, generator=order)
            position = 0
            epoch += 1
        idx = perm[position * a.batch:(position + 1) * a.batch]
        position += 1
        x, y = data_x[idx], data_y[idx]
        with autocast():
            loss = transport.training_losses(net, x, dict(y=y))["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        update_ema(ema, model, decay=a.ema)
        steps += 1
        window_loss += loss.item()  # train.py does this every step (a sync, like fluxion's loop)
        window_steps += 1
        if first_step_s is None:
            first_step_s = time.perf_counter() - start
            print(f"step 1 (with {'compilation' if a.compile else 'warm-up'}): {first_step_s:.1f} s, "
                  f"loss {window_loss:.4f}", flush=True)
            window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
        elif steps % a.log_every == 0:
            now = time.perf_counter()
            last_loss = window_loss / window_steps
            print(f"step {steps} epoch {epoch} {now - start:.1f} s: loss {last_loss:.4f}, "
                  f"{window_steps * a.batch / (now - window_start):.1f} images/s", flush=True)
            window_loss, window_steps, window_start = 0.0, 0, now
    sync()
    seconds = time.perf_counter() - start
    if window_steps:
        last_loss = window_loss / window_steps
    steady = (steps - 1) * a.batch / max(seconds - first_step_s, 1e-9) if steps > 1 else float("nan")
    print(f"trained {steps} steps ({steps * a.batch / n_data:.2f} epochs) in {seconds:.1f} s: "
          f"{steps * a.batch / seconds:.1f} images/s overall, {steady:.1f} after step 1; loss {last_loss:.4f}",
          flush=True)

    ckpt = os.path.join(a.out, "ema.safetensors")
    count = save_ema(ckpt, ema, kwargs, a.model, dict(step=steps, seed=a.seed, ema_decay=a.ema,
                                                      train_seconds=round(seconds, 3)))
    print(f"wrote {count} EMA tensors to {ckpt}", flush=True)

    sample_start = time.perf_counter()
    images, labels = sample_euler(ema, a.n_samples, a.sample_steps, a.sample_batch, a.seed, device, autocast, a.cfg)
    sync()
    sample_seconds = time.perf_counter() - sample_start
    npz = os.path.join(a.out, "samples.npz")
    with open(npz + ".tmp", "wb") as f:
        np.savez(f, arr_0=images, arr_1=labels)
    os.replace(npz + ".tmp", npz)
    guidance = f"CFG {a.cfg:g}" if a.cfg > 1.0 else "no guidance"
    print(f"sampled {a.n_samples} images (Euler {a.sample_steps} steps, EMA, {guidance}) in "
          f"{sample_seconds:.1f} s -> {npz}", flush=True)

    summary = dict(run="official", model=a.model, seed=a.seed, compile=a.compile, batch=a.batch, cfg=a.cfg,
                   steps=steps, seconds=round(seconds, 3), first_step_s=round(first_step_s or 0.0, 3),
                   images_per_s=round(steps * a.batch / seconds, 2), images_per_s_after_step1=round(steady, 2),
                   final_loss=round(last_loss, 6), sample_seconds=round(sample_seconds, 3),
                   ckpt=ckpt, npz=npz)
    line = json.dumps(summary)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        f.write(line + "\n")
    print(line, flush=True)


if __name__ == "__main__":
    main()
