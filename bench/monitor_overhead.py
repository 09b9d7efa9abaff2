"""How much GradientMonitor adds to a training step (budget: <= 10 % recording every step).

Times training steps as `train.fit` runs them, of lesson 02's model (a 20-layer, 64-wide
sigmoid MLP) and of 50-layer ReLU MLPs 64 and 128 wide (issue 19's case), batches of 64 digits,
SGD with momentum, with and without the monitor recording every step and every 5th step;
alternates the two to share any machine noise.

    python -m bench.monitor_overhead [--pairs 60] [--repeats 5] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from coursekit import data, models, train
from coursekit.monitor import GradientMonitor
from coursekit.runtime import configure_threads

#: the clock steps are timed by: "wall" (perf_counter) or "cpu" (this thread's CPU time,
#: steadier when other processes share the cores; it still pays for their cache traffic)
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
CLOCK_NAMES = {"wall": "wall time", "cpu": "the thread's CPU time"}
_clock = CLOCKS["wall"]


def _block(model, opt, x, y, mon: GradientMonitor | None, steps: int, shared: bool = True) -> float:
    """Seconds per training step over ``steps`` steps (recording if ``mon``): the same
    work as one step of ``train.fit`` (loss value, total gradient norm, optimizer step).

    ``shared``: the total gradient norm takes the monitor's per-layer norms, as ``fit``
    does; False: it norms every gradient again, as a loop of one's own that calls
    ``nn.utils.get_total_norm`` would."""
    params = list(model.parameters())
    start = _clock()
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.item()
        loss.backward()
        known = None
        if mon is not None:
            mon.record()
            known = mon.grad_norms_now() if shared else None
        train.total_grad_norm(params, known)
        opt.step()
    return (_clock() - start) / steps


#: name -> (depth, activation, width): lesson 02's model, and the issue's 50-layer MLP at two
#: widths (the monitor moves every weight each recorded step: its share depends on the width)
MODELS = {
    "20-layer sigmoid": (20, "sigmoid", 64),
    "50-layer relu": (50, "relu", 64),
    "50-layer relu, 128 wide": (50, "relu", 128),
}


def measure(
    pairs: int = 60,
    block: int = 40,
    batch: int = 64,
    every: int = 1,
    activations: bool = True,
    model: str = "20-layer sigmoid",
    shared: bool = True,
) -> dict[str, float]:
    """Median step time without / with the monitor, from interleaved blocks.

    Each round times a block of steps with no monitor, and a block inside the
    monitor (taps attached, ``record()`` on every step), on the same model, in
    alternating order: machine noise hits both alike. One monitor serves every
    round, entered per block, as in one long training run. The overhead is the
    median of the per-round ratios. ``shared``: as ``_block``'s.
    """
    configure_threads(1)
    x, y, _, _ = data.digits(seed=0).tensors()
    x, y = x[:batch], y[:batch]
    depth, activation, width = MODELS[model]
    model = models.mlp(64, width, depth, 10, activation=activation, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # fit's "momentum"
    mon = GradientMonitor(model, every=every, activations=activations)

    def monitored_block() -> float:
        with mon:
            return _block(model, opt, x, y, mon, block, shared)

    plain, monitored = [], []
    for round_ in range(pairs + 5):
        if round_ % 2:
            with_monitor = monitored_block()
            base = _block(model, opt, x, y, None, block)
        else:
            base = _block(model, opt, x, y, None, block)
            with_monitor = monitored_block()
        if round_ >= 5:  # the first rounds warm up
            plain.append(base)
            monitored.append(with_monitor)
    ratios = [m / p for m, p in zip(monitored, plain, strict=True)]
    return {
        "plain_ms": statistics.median(plain) * 1e3,
        "monitored_ms": statistics.median(monitored) * 1e3,
        "overhead": statistics.median(ratios) - 1,
    }


def _width_sentence(results: dict[str, dict[str, float]]) -> str:
    """What the two widths of the 50-layer MLP show, from this run's numbers."""
    narrow = results.get("50-layer relu, every=1")
    wide = results.get("50-layer relu, 128 wide, every=1")
    if narrow is None or wide is None:
        return ""
    more = wide["overhead"] > narrow["overhead"]
    return (
        f"Recording every step of the 50-layer ReLU MLP costs {wide['overhead']:+.0%} at 128 "
        f"wide against {narrow['overhead']:+.0%} at 64 wide: "
        + (
            "the wider net pays relatively more (the monitor copies, subtracts and norms "
            "every weight and gradient each recorded step): "
            "narrow nets are not the worst case."
            if more
            else "the wider net pays relatively less: its step's matrix products grow faster "
            "than the monitor's copies."
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument(
        "--repeats", type=int, default=5, help="independent measurements per setting"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "monitor_overhead.md"
    )
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall time (a quiet machine), or the thread's CPU time (a shared one)",
    )
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]
    settings = {
        f"{name}, {label}": {"model": name} | options
        for name in args.models
        for label, options in (
            ("every=1", {"every": 1}),
            ("every=1, activations=False", {"every": 1, "activations": False}),
            ("every=5", {"every": 5}),
            ("every=1, own total norm", {"every": 1, "shared": False}),
        )
    }
    # Settings take turns, repeat after repeat: this machine's speed drifts over minutes.
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in settings}
    from bench.machine import describe, load_note, load_now

    load_before = load_now()
    for _ in range(args.repeats):
        for label, options in settings.items():
            runs[label].append(measure(args.pairs, **options))
    results = {
        label: {key: statistics.median(r[key] for r in found) for key in found[0]}
        | {"low": min(r["overhead"] for r in found), "high": max(r["overhead"] for r in found)}
        for label, found in runs.items()
    }

    text = (
        "# GradientMonitor overhead\n\n"
        f"{describe()}\n\n"
        f"{load_note(load_before)}\n\n"
        "A training step as `train.fit` runs it (forward, loss value, backward, total gradient\n"
        "norm, SGD-with-momentum step) on lesson 02's model (a 20-layer, 64-wide sigmoid MLP)\n"
        "and on 50-layer ReLU MLPs 64 and 128 wide (the 128-wide one's first layer takes the\n"
        "64 pixels), on batches of 64 digits, 1 thread. As in `fit`, a step that records\n"
        "takes its total gradient norm from the monitor's per-layer norms (torch norms only\n"
        'the other parameters\' gradients, here the biases); the rows "own total norm" norm\n'
        "every gradient again with `nn.utils.get_total_norm`, as a loop of one's own would.\n"
        "`record()` on every step (every=1), on every step\n"
        "without the activation statistics (activations=False: no taps), or on every\n"
        "fifth (every=5). Each measurement is the median over interleaved blocks of 40 steps;\n"
        f"the table gives the median of {args.repeats} measurements per setting, taken in turns,\n"
        f"and their range. Clock: {CLOCK_NAMES[args.clock]}.\n\n"
        "| recording | step without monitor | step with monitor | overhead | range | "
        "budget ≤ 10 % |\n"
        "|---|---|---|---|---|---|\n"
    )
    for label, r in results.items():
        verdict = "within" if r["overhead"] <= 0.10 else "OVER"
        text += (
            f"| {label} | {r['plain_ms']:.2f} ms | {r['monitored_ms']:.2f} ms | "
            f"{r['overhead']:+.1%} | {r['low']:+.1%} to {r['high']:+.1%} | {verdict} |\n"
        )
    text += (
        "\nWhat recording costs, per recorded step: a tap on the forward of each activation "
        "module (a forward hook would cost five times as much: any module with a hook takes "
        "nn.Module's slow call path); one copy of all weights and gradients into a flat "
        "buffer, one subtraction (the update) and one batched norm of the three rows; one "
        "stack of the activation outputs into a reused buffer and a few passes over it: sum "
        "and norm (the spread from both when the mean does not dominate it, else a centred "
        "second pass: always for sigmoid), the derivative's threshold for saturation or the "
        "per-unit sums for dead ReLUs. Vanishing gradients and ReLU outputs (norm < 2^-40) "
        "are first scaled by a power of two, exactly, so that no square is a subnormal "
        "float. Inside a training step each of these ops "
        "costs 2 to 4 times what it costs alone, because the data it reads has left the "
        "cache. "
        + _width_sentence(results)
        + " The lessons' training runs pass `every=5`; every-step recording is used for "
        "single-step snapshots and for `coursekit.diagnose`'s fault suite.\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
