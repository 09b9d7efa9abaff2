"""Each unit in a process of its own, forked from a server that has nbgrader loaded.

``grade_in_subprocess`` is the task a ``concurrent.futures.Executor`` runs (threads
locally, Dask's workers on a cluster): a top-level function of plain data that
starts ``autograder.unit`` in a new session under a wall-clock limit, kills that
session (the unit's kernel and whatever it started) when the unit ends, and returns
the unit's result as a dict — a result with a reason even when the process failed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from autograder.forkserver import forkserver
from autograder.unit import STATUS_ERROR, STATUS_TAMPERED, STATUS_TIMEOUT, zero_result
from autograder.unit_kernel import remove_leftover_folders
from autograder.unit_memory import UnitMemory, remove_groups_of
from autograder.zygote.walls import join_cgroup

#: the memory a unit's grading process may hold (its kernel has a limit of its own): beyond
#: what it shares with the forkserver, a unit of the hostile test class holds ~50 MB, 450 MB
#: with 60 MB of output (which the grader cuts at 40 MB)
GRADER_MEMORY = 2 * 2**30


def _unit_process(spec_path: str, cgroup: str) -> None:
    """The unit's process: its own session (so the kernel dies with it), its own log, its
    own memory limit (``cgroup``: what its kernel sends it is bounded too)."""
    join_cgroup(cgroup)
    os.setsid()
    log = os.open(Path(spec_path).with_name("grader.log"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.dup2(log, 1)  # the kernel inherits both: its chatter goes to the log
    os.dup2(log, 2)
    from autograder.unit import main as unit_main

    unit_main(spec_path)


def _remove_partial_page(feedback_out: str | None) -> None:
    """The temporary file a unit stopped while writing its feedback page left beside it
    (``feedback_html.write_sanitized_feedback``: sanitised, but incomplete)."""
    if feedback_out:
        page = Path(feedback_out)
        for partial in page.parent.glob(f".{page.name}.*"):
            partial.unlink(missing_ok=True)


def grade_in_subprocess(spec: dict, wall_timeout: float) -> dict:
    """Grade one unit in its own process under a wall-clock limit; return its result dict.

    A top-level function of plain data, so that any Executor can run it.
    """
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "SPEC.json"
    spec_path.write_text(json.dumps(spec))
    started = time.perf_counter()
    result = _run_unit(spec, spec_path, workdir, wall_timeout)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _run_unit(spec: dict, spec_path: Path, workdir: Path, wall_timeout: float) -> dict:
    memory = UnitMemory(GRADER_MEMORY)
    with memory as group:
        target, args = _unit_process, (str(spec_path), str(group or ""))
        proc = forkserver().Process(target=target, args=args, daemon=False)
        proc.start()
        proc.join(wall_timeout)
        timed_out = proc.is_alive()
        try:  # the unit's whole session: its kernel and anything the submission started
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.join()
        out_of_memory = memory.limit_reached()
        remove_groups_of(proc.pid)  # its kernel's group, if it could not remove it itself
        remove_leftover_folders(proc.pid)  # and its kernel's shared folder
        _remove_partial_page(spec.get("feedback_out"))  # a sanitised page cut short
    if timed_out:
        return failed(
            spec, STATUS_TIMEOUT, f"the notebook ran longer than the limit of {wall_timeout:g} s"
        )
    try:
        return json.loads((workdir / "RESULT.json").read_text())
    except (OSError, ValueError):  # no result, or a cut one (a full disk, a killed process)
        if out_of_memory:  # no unit needs as much: its kernel sent it more than it can hold
            why = (
                f"the kernel sent the grader more than its limit of {GRADER_MEMORY / 2**30:g} "
                "GiB for one notebook (floods of output or of raw messages)"
            )
            return failed(spec, STATUS_TAMPERED, why)
        why = f"the grading process ended without a result: {_log_tail(workdir / 'grader.log')}"
        return failed(spec, STATUS_ERROR, why)


def _log_tail(path: Path, size: int = 500) -> str:
    """The last ``size`` bytes of the unit's log (it may be huge: never read it whole)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def failed(spec: dict, status: str, reason: str) -> dict:
    """The result of a unit that could not be graded: every cell 0, with the reason."""
    return zero_result(spec["student"], spec["lesson"], spec["max_cells"], status, reason).to_json()
