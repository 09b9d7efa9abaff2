"""A memory cgroup per unit: the kernel and everything it starts share one memory limit.

The per-process limits (``autograder.zygote.walls.set_limits``: address space, processes)
bound each process alone; a kernel that starts many children could hold many times its
limit together, and push the machine into its out-of-memory killer at other students' cost.
Where the grader may make cgroups (root; cgroup v1's memory hierarchy, or v2 with the memory
controller delegated to the grader's group), each unit's kernel runs in a group of its own,
``gf-unit-*`` under the grader's: once the unit's processes together hold its limit, the
kernel's own out-of-memory killer ends one of them, never a process outside the unit. When
the unit ends, whatever is left in the group is killed and the group removed.

The launcher (``autograder.sandbox``) and the zygote's guard join the group
(``walls.join_cgroup``) before the kernel starts, so that everything the kernel starts is in it.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

PREFIX = "gf-unit-"
_SECONDS_TO_EMPTY = 5.0


def _mounts(fstype: str) -> list[tuple[str, str, str]]:
    """(root, mount point, super options) of every mount of ``fstype`` this process sees."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        dash = fields.index("-")
        if fields[dash + 1] == fstype:
            found.append((fields[3], fields[4], fields[dash + 3]))
    return found


def _group(mount: tuple[str, str, str], path: str) -> Path:
    root, point, _ = mount
    return Path(point) / os.path.relpath(path, root)


def own_memory_group() -> tuple[Path, int] | None:
    """(folder, cgroup version) of the memory cgroup this process is in (of the one that
    holds it, when it is a unit's: units' groups are never nested), where it may make groups
    below it with their own memory limit; None elsewhere."""
    found = _own_memory_group()
    if found is not None and found[0].name.startswith(PREFIX):
        return found[0].parent, found[1]
    return found


def _own_memory_group() -> tuple[Path, int] | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):  # v1
            for mount in _mounts("cgroup"):
                if "memory" in mount[2].split(","):
                    folder = _group(mount, path)
                    if os.access(folder, os.W_OK):
                        return folder, 1
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: the memory controller must be delegated below this group
            for mount in _mounts("cgroup2"):
                folder = _group(mount, path)
                try:
                    delegated = (folder / "cgroup.subtree_control").read_text().split()
                except OSError:
                    continue
                if "memory" in delegated and os.access(folder, os.W_OK):
                    return folder, 2
    return None


class UnitMemory:
    """``with UnitMemory(limit) as group:`` a new memory cgroup (its folder, or None where
    cgroups are not available) holding at most ``limit`` bytes, removed on exit."""

    def __init__(self, limit: int):
        self.limit = limit
        self.path: Path | None = None

    def __enter__(self) -> Path | None:
        own = own_memory_group()
        if own is None or self.limit <= 0:
            return None
        parent, version = own
        path = parent / f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:  # where the groups cannot be made after all, the unit runs as without them
            path.mkdir()
        except OSError:
            return None
        self.path = path
        try:
            if version == 1:
                (path / "memory.limit_in_bytes").write_text(str(self.limit))
                swap = path / "memory.memsw.limit_in_bytes"  # memory plus swap: no more
                if swap.exists():
                    swap.write_text(str(self.limit))
            else:
                (path / "memory.max").write_text(str(self.limit))
                if (path / "memory.swap.max").exists():
                    (path / "memory.swap.max").write_text("0")
        except OSError:
            self.__exit__()
            return None
        return path

    def __exit__(self, *exc_info: object) -> None:
        if self.path is not None:
            remove_group(self.path)
            self.path = None

    def peak(self) -> int:
        """The most the group has held at once, in bytes (0 where not known)."""
        for name in ("memory.max_usage_in_bytes", "memory.peak"):  # v1, v2
            if self.path is not None and (self.path / name).exists():
                return int((self.path / name).read_text())
        return 0

    def limit_reached(self) -> bool:
        """Whether the group's usage met its limit: then it was the group's own limit that
        ended one of its processes, not the whole machine's want of memory (whose kills the
        group's out-of-memory counter counts too)."""
        if self.path is None:
            return False
        if (self.path / "memory.limit_in_bytes").exists():  # v1 (its failcnt stays 0 here)
            limit = int((self.path / "memory.limit_in_bytes").read_text())
            return self.peak() >= limit
        events = (self.path / "memory.events").read_text().split()  # v2
        return int(dict(zip(events[::2], events[1::2], strict=True)).get("max", 0)) > 0


def _in_group(pid: int, path: Path) -> bool:
    """Whether the process ``pid`` is in the group at ``path`` (its name is unique: a
    unit's process id and a random part)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return False
    return any(line.rsplit("/", 1)[-1] == path.name for line in lines)


def _kill_if_in_group(pid: int, path: Path) -> None:
    """SIGKILL the process ``pid`` if it is still in the group at ``path``.

    The listed process may have ended and its pid gone to a process outside the group (this
    machine's pid_max may be 32768): the pid is first held by a pidfd, which names that one
    process for good, and the process it names is signalled only if it is in the group.
    """
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except OSError:  # no pidfd on this Linux: the group's membership, then the pid
        if _in_group(pid, path):
            _signal(os.kill, pid)
        return
    try:
        if _in_group(pid, path):
            _signal(signal.pidfd_send_signal, handle)
    finally:
        os.close(handle)


def _signal(send, target: int) -> None:
    try:
        send(target, signal.SIGKILL)
    except ProcessLookupError:
        pass


def remove_group(path: Path) -> None:
    """Kill every process left in the group at ``path``, then remove it."""
    deadline = time.monotonic() + _SECONDS_TO_EMPTY
    while True:
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return
        for pid in pids:
            _kill_if_in_group(pid, path)
        try:
            path.rmdir()
            return
        except OSError:  # EBUSY until the killed processes are gone
            if time.monotonic() > deadline:
                return  # an empty group left behind costs nothing; the unit's grade stands
            time.sleep(0.01)


def remove_groups_of(pid: int) -> None:
    """Remove the groups that the process ``pid`` made (``UnitMemory``) and left behind: it
    was killed, say, before it could."""
    own = own_memory_group()
    if own is not None:
        for path in own[0].glob(f"{PREFIX}{pid}-*"):
            remove_group(path)


def memory_mode_text() -> str:
    """What bounds a unit's memory on this machine, in a line for the instructor."""
    if own_memory_group() is None:
        return (
            "each process of a kernel is limited alone (no memory cgroup may be made here: "
            "grade as root, with cgroup v1's memory hierarchy or v2's memory controller "
            "delegated, to bound a kernel with its children and the grading process too)"
        )
    return "a cgroup per unit: the kernel and all it starts together, the grading process apart"
