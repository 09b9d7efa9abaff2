"""How much GradientMonitor adds to a lesson model's training step (budget: <= 15 %).

Times full training steps (forward, backward, SGD step) of a lesson 02-style model
(a 20-layer sigmoid MLP on a digits batch), with and without the monitor
recording every step and every 5th step; alternates the two to share any machine noise.

    python -m bench.monitor_overhead [--pairs 60] [--out bench/results/monitor_overhead.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from coursekit import data, models
from coursekit.monitor import GradientMonitor
from coursekit.runtime import configure_threads


def _block(model, opt, x, y, mon: GradientMonitor | None, steps: int) -> float:
    """Seconds per training step over ``steps`` steps (recording if ``mon``)."""
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        if mon is not None:
            mon.record()
        opt.step()
    return (time.perf_counter() - start) / steps


def measure(pairs: int = 60, block: int = 20, batch: int = 64, every: int = 1) -> dict[str, float]:
    """Median step time without / with the monitor, from interleaved blocks.

    Each round times a block with no monitor at all, then a block inside a
    fresh GradientMonitor (hooks attached, ``record()`` every step), on the
    same model: machine noise hits both alike. The overhead is the median of
    the per-round ratios.
    """
    configure_threads(1)
    x, y, _, _ = data.digits(seed=0).tensors()
    x, y = x[:batch], y[:batch]
    model = models.mlp(64, 32, 20, 10, activation="sigmoid", seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    plain, monitored = [], []
    for round_ in range(pairs + 5):
        base = _block(model, opt, x, y, None, block)
        with GradientMonitor(model, every=every) as mon:
            with_monitor = _block(model, opt, x, y, mon, block)
        if round_ >= 5:  # the first rounds warm up
            plain.append(base)
            monitored.append(with_monitor)
    ratios = [m / p for m, p in zip(monitored, plain, strict=True)]
    return {
        "plain_ms": statistics.median(plain) * 1e3,
        "monitored_ms": statistics.median(monitored) * 1e3,
        "overhead": statistics.median(ratios) - 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "monitor_overhead.md"
    )
    args = parser.parse_args()
    results = {every: measure(args.pairs, every=every) for every in (1, 5)}
    from bench.machine import describe

    text = (
        "# GradientMonitor overhead\n\n"
        f"{describe()}\n\n"
        "Training step (forward, backward, SGD step) of a lesson 02-style model: a 20-layer\n"
        "sigmoid MLP (64-32-...-10) on a batch of 64 digits, 1 thread; `record()` on every step\n"
        "(every=1) or on every fifth (every=5).\n\n"
        "| recording | step without monitor | step with monitor | overhead | budget ≤ 15 % |\n"
        "|---|---|---|---|---|\n"
    )
    for every, r in results.items():
        verdict = "within" if r["overhead"] <= 0.15 else "OVER"
        text += (
            f"| every={every} | {r['plain_ms']:.2f} ms | {r['monitored_ms']:.2f} ms | "
            f"{r['overhead']:+.1%} | {verdict} |\n"
        )
    text += (
        "\n`record()` costs a fixed ~0.6-0.9 ms (about 25 small tensor ops, batched with "
        "`torch._foreach_norm`), which is a third of this very small model's step. The lessons "
        "record every step only in short experiments; long runs pass `every=5`.\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
