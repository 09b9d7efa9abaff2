"""The grader's forkserver: one process that loads what every unit needs, once; each unit
(and the set-up's processes) forks from it in milliseconds instead of paying those imports
(seconds) in a fresh interpreter. This module imports nothing heavy itself, so that
``autograder grade`` can start the forkserver before it loads anything else: both load
side by side."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import pkgutil
from pathlib import Path

_COLLECT = Path(__file__).parent / "kernel" / "collect"

#: What the forkserver imports: nbgrader, the judge with every lesson's checks (torch,
#: coursekit, scipy), and last ``autograder.unit_warmup`` (first-use costs, the GC frozen).
PRELOAD = [
    "autograder.unit",
    "autograder.judge.verdicts",
    "autograder.feedback_html",
    "autograder.feedback_exporter",
    *(f"autograder.kernel.collect.{m.name}" for m in pkgutil.iter_modules([str(_COLLECT)])),
    "autograder.unit_warmup",
]

_CONTEXT: multiprocessing.context.ForkServerContext | None = None


def forkserver() -> multiprocessing.context.ForkServerContext:
    """The multiprocessing context whose processes fork from the preloaded forkserver."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def start() -> None:
    """Start the forkserver now, without waiting for it: it loads PRELOAD meanwhile."""
    from multiprocessing import forkserver as server

    forkserver()
    server.ensure_running()
