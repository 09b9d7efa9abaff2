"""autograder.unit_memory: a unit's processes share one memory limit, and end with the unit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from autograder import unit_memory
from autograder.unit_memory import PREFIX, UnitMemory, own_memory_group
from autograder.zygote.walls import join_cgroup

pytestmark = pytest.mark.skipif(
    own_memory_group() is None, reason="no memory cgroup this process may make groups in"
)
MiB = 2**20

# joins the group, then its children allocate 3 x 60 MiB together (each under any
# per-process limit); prints how each child ended
SPREAD = """
import subprocess, sys
from autograder.zygote.walls import join_cgroup
join_cgroup(sys.argv[1])
hold = "import time; b = bytearray(60 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(3)"
children = [subprocess.Popen([sys.executable, "-c", hold]) for _ in range(3)]
print([c.wait() for c in children])
"""


def test_the_units_processes_together_stay_under_its_limit():
    with UnitMemory(100 * MiB) as group:
        assert group is not None and group.name.startswith(PREFIX)
        done = subprocess.run(
            [sys.executable, "-c", SPREAD, str(group)], capture_output=True, text=True, timeout=60
        )
    codes = eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 -- our own child's list
    assert -signal.SIGKILL in codes, (codes, done.stderr)  # killed by the group's OOM killer
    assert not group.exists()


def test_alone_each_child_would_have_held_its_memory():
    """The control: the same children without the group all end normally."""
    code = SPREAD.replace("join_cgroup(sys.argv[1])", "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[0, 0, 0]", done.stderr


def test_what_is_left_in_the_group_is_killed_and_the_group_removed():
    with UnitMemory(64 * MiB) as group:
        code = f"from autograder.zygote.walls import join_cgroup\njoin_cgroup({str(group)!r})\n"
        sleeper = subprocess.Popen([sys.executable, "-c", code + "import time; time.sleep(60)"])
        deadline = time.monotonic() + 10
        while str(sleeper.pid) not in (group / "cgroup.procs").read_text().split():
            assert time.monotonic() < deadline and sleeper.poll() is None
            time.sleep(0.02)
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    assert not group.exists()


def test_only_a_units_group_is_joined(tmp_path):
    with pytest.raises(ValueError, match="not a unit's cgroup"):
        join_cgroup(str(tmp_path))
    join_cgroup("")  # no group: nothing to do


def test_without_cgroups_there_is_no_group(monkeypatch):
    monkeypatch.setattr(unit_memory, "own_memory_group", lambda: None)
    with UnitMemory(64 * MiB) as group:
        assert group is None
    with UnitMemory(0) as group:  # no limit asked for
        assert group is None


def test_the_instructor_is_told_what_bounds_a_units_memory(monkeypatch):
    assert "a cgroup per unit" in unit_memory.memory_mode_text()
    monkeypatch.setattr(unit_memory, "own_memory_group", lambda: None)
    assert "limited alone" in unit_memory.memory_mode_text()


def test_groups_a_killed_unit_process_left_are_removed():
    with UnitMemory(64 * MiB) as group:
        pid = int(group.name.split("-")[2])
        assert pid == os.getpid()
        unit_memory.remove_groups_of(pid)  # as the worker does once the unit process is gone
        assert not group.exists()


def test_a_units_own_groups_are_made_beside_its_group_never_inside():
    with UnitMemory(64 * MiB) as outer:
        code = (
            f"from autograder.zygote.walls import join_cgroup\njoin_cgroup({str(outer)!r})\n"
            "from autograder.unit_memory import own_memory_group\nprint(own_memory_group()[0])"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.stdout.strip() == str(outer.parent), done.stderr


def test_a_group_that_cannot_be_made_is_no_group(monkeypatch, tmp_path):
    """A grader that may not make the group after all grades as without one."""
    monkeypatch.setattr(unit_memory, "own_memory_group", lambda: (tmp_path / "absent", 1))
    with UnitMemory(64 * MiB) as group:
        assert group is None


def test_a_kill_for_the_machines_want_of_memory_is_not_the_groups_limit():
    """The grader calls a unit tampered only when its own limit stopped it: a process of the
    group killed otherwise (the machine out of memory; here, a signal: a test cannot exhaust
    the machine) is not that."""
    memory = UnitMemory(64 * MiB)
    with memory as group:
        code = f"from autograder.zygote.walls import join_cgroup\njoin_cgroup({str(group)!r})\n"
        hog = code + "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])"
        assert subprocess.run([sys.executable, "-c", hog]).returncode == -signal.SIGKILL
        assert memory.limit_reached()
    quiet = UnitMemory(64 * MiB)
    with quiet as group:
        sleeper = subprocess.Popen([sys.executable, "-c", code + "import time; time.sleep(30)"])
        time.sleep(0.5)
        sleeper.kill()
        sleeper.wait()
        assert not quiet.limit_reached()


def test_a_listed_pid_now_outside_the_group_is_not_killed(tmp_path, monkeypatch):
    """remove_group signals a listed pid only while it names a process in the group: a pid
    reused by a process outside it (here: a folder posing as the group, listing a process
    that is not in it) is left alone, and the group is given up once empty of its own."""
    outsider = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fake = tmp_path / f"{PREFIX}0-fake"
        fake.mkdir()
        (fake / "cgroup.procs").write_text(f"{outsider.pid}\n")
        monkeypatch.setattr(unit_memory, "_SECONDS_TO_EMPTY", 0.2)
        unit_memory.remove_group(fake)
        assert outsider.poll() is None, "a process outside the group was killed"
    finally:
        outsider.kill()
        outsider.wait()
