"""autograder.cpu_slots: kernels limited to one CPU each are spread over the CPUs, not all
pinned to the first one."""

import os
import subprocess
import sys

import pytest

from autograder import cpu_slots

CPUS = sorted(os.sched_getaffinity(0))
needs_two = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs")


def _env(tmp_path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp_path)}  # this test's own lock folder


def _pinned_kernel(tmp_path, seconds: float = 30) -> subprocess.Popen:
    """What validation starts: a process pinned to 1 CPU by autograder.sandbox, that
    prints its CPUs and then lives ``seconds``."""
    code = "import os, time; print(sorted(os.sched_getaffinity(0)), flush=True); "
    code += f"time.sleep({seconds})"
    argv = [sys.executable, "-m", "autograder.sandbox", "--cpus", "1", "--"]
    return subprocess.Popen(
        [*argv, sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=_env(tmp_path)
    )


def _claimed_in_a_process(tmp_path) -> list[int]:
    code = "from autograder import cpu_slots; print(cpu_slots.claim(1))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path), check=True
    )
    return eval(out.stdout)  # noqa: S307 -- a list of ints printed by the line above


@needs_two
def test_two_pinned_kernels_at_once_get_different_cpus(tmp_path):
    first, second = _pinned_kernel(tmp_path), _pinned_kernel(tmp_path)
    try:
        cpus = [eval(p.stdout.readline()) for p in (first, second)]  # noqa: S307
    finally:
        for p in (first, second):
            p.kill()
            p.wait()
    assert all(len(c) == 1 for c in cpus), cpus
    assert cpus[0] != cpus[1], f"both kernels pinned to {cpus[0]}"


@needs_two
def test_a_cpu_is_free_again_when_its_kernel_exits(tmp_path):
    kernel = _pinned_kernel(tmp_path)
    held = eval(kernel.stdout.readline())  # noqa: S307
    assert _claimed_in_a_process(tmp_path) != held  # held across exec by the kernel
    kernel.kill()
    kernel.wait()
    assert _claimed_in_a_process(tmp_path) == [CPUS[0]]


def test_when_every_cpu_is_taken_kernels_share_the_first(tmp_path):
    kernels = [_pinned_kernel(tmp_path) for _ in CPUS]
    try:
        taken = sorted(eval(k.stdout.readline())[0] for k in kernels)  # noqa: S307
        assert taken == CPUS
        assert _claimed_in_a_process(tmp_path) == [CPUS[0]]
    finally:
        for k in kernels:
            k.kill()
            k.wait()


def test_a_lock_folder_that_is_a_link_is_not_used(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"gf-cpus-{os.getuid()}").symlink_to(elsewhere)
    monkeypatch.setattr(cpu_slots.tempfile, "gettempdir", lambda: str(tmp_path))
    assert cpu_slots._folder() is None
    assert cpu_slots.claim(1) == CPUS[:1]
    assert list(elsewhere.iterdir()) == []  # no lock file made through the link


def test_no_limit_or_as_many_as_there_are_is_every_cpu():
    assert cpu_slots.claim(0) == CPUS
    assert cpu_slots.claim(len(CPUS)) == CPUS
