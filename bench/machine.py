"""One line describing the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from datetime import date


def describe() -> str:
    """e.g. ``Machine: Linux x86_64, 2 CPUs (AMD EPYC), 23.4 GiB RAM, Python 3.11.7, ...``."""
    import torch

    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_text = f"{mem:.1f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        mem_text = "RAM unknown"
    return (
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), "
        f"{mem_text}, Python {platform.python_version()}, torch {torch.__version__}; "
        f"measured {date.today().isoformat()}; reference workload {reference_seconds():.2f} s "
        f"({REFERENCE}: this machine's speed varies from day to day, compare runs by it)."
    )


REFERENCE = "200 SGD steps of a 20-layer, 64-wide ReLU MLP on a batch of 64, one thread"


def reference_seconds() -> float:
    """Seconds of a fixed training workload on one thread (the best of three), measured now."""
    import time

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        layers = [torch.nn.Linear(64, 64) for _ in range(20)]
        model = torch.nn.Sequential(*(m for layer in layers for m in (layer, torch.nn.ReLU())))
        x = torch.randn(64, 64, generator=generator)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(200):
                optimizer.zero_grad()
                model(x).square().mean().backward()
                optimizer.step()
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        torch.set_num_threads(threads)


def load_now() -> float:
    """The 1-minute load average: read it before a run, other work disturbs the timings."""
    return os.getloadavg()[0]


def load_note(load: float) -> str:
    """The sentence a results file gives the load average ``load`` read before its run."""
    if load > 1.0:
        return (
            f"**Load average {load:.2f} before the run: the machine was shared, the "
            "numbers are disturbed; re-measure on a quiet machine.**"
        )
    return f"Load average {load:.2f} before the run (a quiet machine)."
