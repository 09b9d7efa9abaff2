"""Which CPUs a kernel limited to fewer CPUs than the machine has is pinned to.

Validation runs each lesson's kernel on one CPU, like Binder's quota, and runs two lessons
(or two runs of one) at a time on a 2-core machine. Pinning every such kernel to "the first
CPU" put them all on CPU 0 while the others idled. :func:`claim` takes the CPUs no other
pinned kernel of this user holds: one lock file per CPU, locked with ``flock`` and held
by the kernel (the descriptor survives ``exec``) until it exits, however it ends. When
every CPU is taken, kernels share the first ones.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from pathlib import Path


def _folder() -> Path | None:
    """This user's folder of CPU locks, or None when it is not safely ours."""
    folder = Path(tempfile.gettempdir()) / f"gf-cpus-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return None  # someone else's, or a link: do not lock files in it
    return folder


def _lock(folder: Path, cpu: int) -> int | None:
    """An open descriptor holding CPU ``cpu``'s lock, or None if another process holds it."""
    try:
        fd = os.open(folder / f"{cpu}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim(cpus: int) -> list[int]:
    """``cpus`` of the CPUs this process may use, free ones first, their locks held by this
    process and inherited across ``exec`` (released when it and its children exit)."""
    allowed = sorted(os.sched_getaffinity(0))
    if cpus <= 0 or cpus >= len(allowed):
        return allowed
    folder = _folder()
    chosen: list[int] = []
    for cpu in allowed if folder is not None else ():
        fd = _lock(folder, cpu)
        if fd is not None:
            os.set_inheritable(fd, True)
            chosen.append(cpu)
            if len(chosen) == cpus:
                return chosen
    return chosen + [cpu for cpu in allowed if cpu not in chosen][: cpus - len(chosen)]
