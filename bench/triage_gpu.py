#!/usr/bin/env python
"""Triage inference on a GPU against the CPU, the shipped models on the same inputs.

Loads the shipped model packages exactly as the worker does (weights checked against their
pins, calibration from the card), then runs each on batches of preprocessed-size inputs
(head CT: 40 slices x 3 windows x 64 x 64; chest radiograph: 1 x 128 x 128) on the CPU with
``--cpu-threads`` threads (the baseline, measured in the same run) and on the GPU, and prints
per-study latency (batch 1) and throughput (larger batches), their ratio, and the largest
difference between the two devices' probabilities (the same study must get the same flags).

    python bench/triage_gpu.py                # on a machine with CUDA; falls back to CPU only

Only torch and the project's ``triage.core`` are imported (no Django, no database): it runs
on an accelerator machine that has nothing else of the project installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import bar_chart  # noqa: E402
from triage.core.package import load_package  # noqa: E402

PACKAGES = ROOT / "triage" / "packages"
CT_SLICES = 40


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def inputs(model, batch: int, seed: int) -> torch.Tensor:
    shape = list(model.card.input.example_shape(batch))
    if model.card.input.kind == "ct-volume":
        shape[1] = CT_SLICES
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=generator)


def timed_ms(function, *, repeat: int, sync) -> list[float]:
    function()  # warm-up: kernels chosen, memory allocated
    sync()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        sync()
        times.append(1000 * (time.perf_counter() - started))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cpu-threads", type=int, default=2,
                        help="the reading center's worker machine: 2 cores")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.cpu_threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    say(f"torch {torch.__version__}; GPU: {torch.cuda.get_device_name() if cuda else 'none'}; "
        f"CPU baseline with {args.cpu_threads} threads")  # fmt: skip

    def sync_gpu():
        if cuda:
            torch.cuda.synchronize()

    rows, chart = [], []
    for directory in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
        model = load_package(directory)
        say(f"{model.name} {model.version}: weights {model.weights_sha256[:12]} verified")
        gpu_model = load_package(directory)
        gpu_model.module.to(device).eval()
        for batch in args.batches:
            x = inputs(model, batch, seed=batch)
            cpu_ms = timed_ms(lambda m=model, b=x: m.predict(b),
                              repeat=max(3, args.repeat // max(1, batch // 16)),
                              sync=lambda: None)  # fmt: skip
            x_gpu = x.to(device)
            gpu_ms = timed_ms(lambda m=gpu_model, b=x_gpu: m.predict(b), repeat=args.repeat,
                              sync=sync_gpu)  # fmt: skip
            cpu_p = model.predict(x)
            gpu_p = gpu_model.predict(x_gpu)
            drift = max(float((cpu_p[k] - gpu_p[k].cpu()).abs().max()) for k in cpu_p)
            cpu, gpu = statistics.median(cpu_ms), statistics.median(gpu_ms)
            rows.append((model.name, batch, cpu, gpu, drift))
            say(f"  batch {batch:>4}: CPU {cpu:9.2f} ms   {device.type.upper()} {gpu:8.2f} ms   "
                f"max |p_cpu - p_gpu| {drift:.2e}")  # fmt: skip
            if batch == args.batches[-1]:
                chart += [(f"{model.name}, CPU x{args.cpu_threads}", batch * 1000 / cpu),
                          (f"{model.name}, {device.type.upper()}", batch * 1000 / gpu)]  # fmt: skip

    print()
    print(f"{'model':<18} {'batch':>5} {'CPU ms':>9} {'GPU ms':>8} {'CPU studies/s':>14} "
          f"{'GPU studies/s':>14} {'speed-up':>9} {'max |dp|':>9}")  # fmt: skip
    for name, batch, cpu, gpu, drift in rows:
        print(f"{name:<18} {batch:>5} {cpu:9.2f} {gpu:8.2f} {batch * 1000 / cpu:14.1f} "
              f"{batch * 1000 / gpu:14.1f} {cpu / gpu:8.1f}x {drift:9.1e}")  # fmt: skip
    print()
    print(f"Throughput at batch {args.batches[-1]} (studies/s, median of {args.repeat}):")
    print(bar_chart(chart, "studies/s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
