"""The users graded kernels run as: one per unit, never one that still owns a process.

Each unit's kernel runs as a uid of its own (process limits and keyrings are per uid). Two
runs of ``autograder grade`` on one machine (two courses, two RESULTS) must not hand out the
same uid at once: a process left by one run's kernel would count against the other's limit.
So a pool starts at a random place in the range, skips every uid that owns a process, and
holds a lock per uid (a file in LOCKS, shared by every run on the machine) while the unit it
gave the uid to runs: two runs that start at the same place cannot both take a uid before
either kernel exists.
"""

from __future__ import annotations

import fcntl
import os
import random
from pathlib import Path

KERNEL_UID_BASE = 61000
KERNEL_UIDS = 4000
LOCKS = Path("/tmp/gf-kernel-uids")


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
    those that own a process now or that another unit (of any run) holds; ``release`` a
    uid when its unit has ended. ``locks=None``: no locks (kernels that do not run as these
    uids, where the grader is not root)."""

    def __init__(
        self, base: int = KERNEL_UID_BASE, size: int = KERNEL_UIDS, seed=None, locks=LOCKS
    ):
        self.base, self.size = base, size
        self.locks = None if locks is None else Path(locks)
        self._next = random.Random(seed).randrange(size)
        self._held: dict[int, int] = {}  # uid -> the descriptor of its lock

    def take(self) -> int:
        if self.locks is not None:
            self.locks.mkdir(mode=0o700, parents=True, exist_ok=True)
        busy = busy_uids()
        for _ in range(self.size):
            uid = self.base + self._next
            self._next = (self._next + 1) % self.size
            if uid in busy or uid in self._held:
                continue
            if self.locks is None:  # kernels do not run as these uids: nothing to hold
                return uid
            lock = os.open(self.locks / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another run's unit holds it
                os.close(lock)
                continue
            self._held[uid] = lock
            return uid
        raise RuntimeError(f"every uid of {self.base}..{self.base + self.size - 1} is in use")

    def release(self, uid: int) -> None:
        lock = self._held.pop(uid, None)
        if lock is not None:
            os.close(lock)

    def release_all(self) -> None:
        for uid in list(self._held):
            self.release(uid)
