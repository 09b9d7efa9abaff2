"""autograder.sandbox: limits and isolation applied to the process it starts."""

import json
import subprocess
import sys

import pytest

from autograder import sandbox


def _run(args, code):
    return subprocess.run(
        [sys.executable, "-m", "autograder.sandbox", *args, "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_memory_and_cpu_limits_apply():
    code = (
        "import os, resource, json; print(json.dumps([resource.getrlimit(resource.RLIMIT_AS)[0],"
        " len(os.sched_getaffinity(0))]))"
    )
    done = _run(["--memory", str(2**30), "--cpus", "1"], code)
    assert json.loads(done.stdout) == [2**30, 1], done.stderr


def test_memory_bomb_raises_memory_error():
    done = _run(["--memory", str(512 * 2**20)], "b = bytearray(2 * 2**30)")
    assert "MemoryError" in done.stderr


@pytest.mark.skipif(not sandbox.isolation_available(), reason="needs root and a working unshare")
def test_isolation_hides_paths_and_keeps_the_workdir(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "master.ipynb").write_text("answers")
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("mine")
    target = str(secret / "master.ipynb")
    code = f"import os; print(os.getcwd(), os.listdir('.'), os.path.exists({target!r}))"
    done = _run(["--workdir", str(work), "--hide", str(secret)], code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == sandbox.MOUNT_POINT
    assert "mine.txt" in done.stdout and done.stdout.strip().endswith("False")


def test_usage_without_separator():
    done = subprocess.run(
        [sys.executable, "-m", "autograder.sandbox", "--memory", "1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "usage" in done.stderr
