"""A jailed kernel's sockets, moved where the kernel cannot replace them.

With ZeroMQ's IPC transport a socket is a file, and the grader's ZeroMQ sockets (root's)
connect to a path — again, on their own, after every disconnect. A path in a folder the
kernel can write would let the kernel replace its socket file with a link to any socket of
the host (the zygote's, a system daemon's) and have the grader connect there.

So a unit's shared folder (``/tmp/gfk-*``) holds two: ``kernel``, the only one in the jail,
where the kernel binds its sockets, and ``grader``, which the jail does not contain (and only
the grader may write), whence the grader connects. Once the kernel has bound a socket the
grader renames it into ``grader`` (a bound socket follows its inode) and checks that what it
moved is a socket. No student code runs before: that needs the shell socket, which is only
reachable once it has been moved.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

KERNEL = "kernel"  # in the jail: the kernel's sockets as bound, its connection file
GRADER = "grader"  # not in the jail: the sockets the grader connects to
BIND_SECONDS = 60.0  # as nbclient's startup timeout
POLL_SECONDS = 0.005


class NotASocket(RuntimeError):
    """What the kernel left where a socket was expected is something else (a link, say)."""


def make_folders(shared: Path, kernel_uid: int | None) -> tuple[Path, Path]:
    """Create ``KERNEL`` (owned by ``kernel_uid`` when given) and ``GRADER`` (the grader's
    alone) in ``shared``; return them. ``shared`` must not be writable by the kernel."""
    kernel, grader = shared / KERNEL, shared / GRADER
    kernel.mkdir(mode=0o700)
    grader.mkdir(mode=0o700)
    if kernel_uid is not None:
        os.chown(kernel, kernel_uid, kernel_uid)
    return kernel, grader


async def take(
    kernel_prefix: str,
    grader_prefix: str,
    ports: Iterable[int],
    alive: Callable[[], Awaitable[bool]],
    timeout: float = BIND_SECONDS,
) -> None:
    """Move each socket ``{kernel_prefix}-{port}`` to ``{grader_prefix}-{port}`` as soon as
    the kernel has bound it. Raises ``NotASocket`` if something else is there, RuntimeError
    if the kernel dies or has not bound them all within ``timeout`` seconds."""
    pending = sorted(set(ports))
    deadline = time.monotonic() + timeout
    while pending:
        for port in list(pending):
            source, target = f"{kernel_prefix}-{port}", f"{grader_prefix}-{port}"
            try:
                os.rename(source, target)  # then check: what was checked before could change
            except FileNotFoundError:
                continue
            if not stat.S_ISSOCK(os.lstat(target).st_mode):
                raise NotASocket(f"the kernel's {Path(source).name} is not a socket")
            pending.remove(port)
        if not pending:
            return
        if not await alive():
            raise RuntimeError("Kernel died before it bound its sockets")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel did not bind its sockets in {timeout:.0f} seconds")
        await asyncio.sleep(POLL_SECONDS)
