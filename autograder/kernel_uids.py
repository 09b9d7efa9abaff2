"""The users graded kernels run as: one per unit, never one that still owns a process.

Each unit's kernel runs as a uid of its own (process limits and keyrings are per uid). Two
runs of ``autograder grade`` on one machine (two courses, two RESULTS) must not hand out the
same uid at once: a process left by one run's kernel would count against the other's limit.
So a pool starts at a random place in the range and skips every uid that owns a process.
"""

from __future__ import annotations

import random
from pathlib import Path

KERNEL_UID_BASE = 61000
KERNEL_UIDS = 4000


def busy_uids(proc: Path = Path("/proc")) -> set[int]:
    """The real uids of every process on the machine."""
    found = set()
    for status in proc.glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    found.add(int(line.split()[1]))
                    break
        except (OSError, ValueError, IndexError):  # the process ended meanwhile
            continue
    return found


class UidPool:
    """Hands out uids of [base, base + size), round robin from a random start, skipping
    those that own a process now."""

    def __init__(self, base: int = KERNEL_UID_BASE, size: int = KERNEL_UIDS, seed=None):
        self.base, self.size = base, size
        self._next = random.Random(seed).randrange(size)

    def take(self) -> int:
        busy = busy_uids()
        for _ in range(self.size):
            uid = self.base + self._next
            self._next = (self._next + 1) % self.size
            if uid not in busy:
                return uid
        raise RuntimeError(f"every uid of {self.base}..{self.base + self.size - 1} is in use")
