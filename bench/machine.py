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
        f"measured {date.today().isoformat()}."
    )


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
