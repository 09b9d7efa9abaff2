"""One ``autograder grade`` run at a time per RESULTS folder: ``RESULTS/.lock``, by flock.

The lock is not waited for: a second run into the same RESULTS stops at once with a
UsageError (exit status 2) naming the run that holds it; the first is unaffected. The lock
goes with the process (even when it is killed), so a stale ``.lock`` file never blocks.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autograder.course import UsageError

LOCK_NAME = ".lock"


@contextmanager
def results_lock(out: Path) -> Iterator[None]:
    """Hold RESULTS/.lock while the block runs, or raise UsageError if another run holds it."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            by = f" (process {holder})" if holder.isdigit() else ""
            raise UsageError(
                f"{out} is being graded into by another run{by}: wait for it to finish, "
                "or give another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:  # also for a forked child that shares the descriptor
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
