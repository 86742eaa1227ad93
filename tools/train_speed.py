"""What makes CPU training faster: memory format, batch size, threads, and the data path's cost.

Times real optimizer steps of a model on shapes images, every setting in one run (ratios are what
to read: the machine is shared), plus the per-batch cost of augmentation and normalisation, the
numpy work the training loop does besides the model. Prints a markdown table.

Usage:
    .venv/bin/python tools/train_speed.py [--model resnet8] [--steps 30]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
import torch.nn.functional as F
from quietcheck import QuietCheck, add_arguments

from edgeres.data import load_split
from edgeres.data.augment import augment
from edgeres.models import create_model, model_config
from edgeres.spec import InputSpec


def _steps_per_second(model_name, images, labels, spec, batch, channels_last, steps) -> float:
    torch.manual_seed(0)
    model = create_model(model_name)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(spec.normalize(images[:batch])).contiguous(memory_format=fmt)
    y = torch.from_numpy(labels[:batch])
    for i in range(steps + 3):
        if i == 3:  # three warm-up steps: oneDNN picks its kernels on the first calls
            t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def _data_cost_ms(images, spec, batch, reps=20) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(reps):
        augment(images[:batch], rng)
    t1 = time.perf_counter()
    nhwc = spec.with_layout("NHWC")
    for _ in range(reps):
        torch.from_numpy(nhwc.normalize(images[:batch])).permute(0, 3, 1, 2)
    t2 = time.perf_counter()
    return (t1 - t0) / reps * 1e3, (t2 - t1) / reps * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet8")
    p.add_argument("--steps", type=int, default=30, help="timed optimizer steps per setting")
    add_arguments(p)
    args = p.parse_args()
    check = QuietCheck.from_args(args)
    size = model_config(args.model).img_size
    data = load_split("shapes", "train", size, limit=512, quiet=True)
    cfg = model_config(args.model)
    spec = InputSpec(size, size, mean=cfg.mean, std=cfg.std)
    cores = torch.get_num_threads()
    print(f"model {args.model} at {size}px, torch {torch.__version__}, {cores} threads available\n")
    print("| threads | batch | memory format | images/s | vs default |")
    print("| ---: | ---: | --- | ---: | ---: |")
    rows = []
    for threads, batch, cl in itertools.product(sorted({1, cores}), (64, 128, 256), (False, True)):
        torch.set_num_threads(threads)
        ips = _steps_per_second(args.model, data.images, data.labels, spec, batch, cl, args.steps)
        rows.append((threads, batch, cl, ips))
    default = next(r[3] for r in rows if r[0] == cores and r[1] == 128 and r[2])
    for threads, batch, cl, ips in rows:
        fmt = "channels_last" if cl else "contiguous (NCHW)"
        print(f"| {threads} | {batch} | {fmt} | {ips:.0f} | {ips / default:.2f}x |")
    torch.set_num_threads(cores)
    aug, norm = _data_cost_ms(data.images, spec, 128)
    step_ms = 128 / default * 1e3
    print("\n| data path, batch 128 | ms | share of a training step |")
    print("| --- | ---: | ---: |")
    print(f"| augment (pad + crop + flip) | {aug:.2f} | {aug / step_ms:.1%} |")
    print(f"| normalise + NCHW view | {norm:.2f} | {norm / step_ms:.1%} |")
    print(f"| one optimizer step (default setting) | {step_ms:.1f} | 100% |")
    check.finish()
    print(check.heading("\nmeasured above:") + " " + check.summary())


if __name__ == "__main__":
    main()
