"""autograder.unit: what one grading unit relies on besides nbgrader itself (the units
are graded end to end in test_grade.py)."""

import os

import pytest
from traitlets.config import Config

import autograder.unit


def _converter_failing(runs: list[str], folders: list[str]):
    """A stand-in for run_converter: each run in ``runs`` is "never started" (fails before
    any cell ran), "died running" (fails after the first code cell started) or "ok"; it
    records the kernel folder (KernelManager.ip) each run was given."""
    from autograder.nbgrader_run import NbgraderFailed
    from autograder.planned_execute import BoundedExecute

    def run_converter(converter, config, **traits):
        folders.append(config.KernelManager.ip)
        run = runs[len(folders) - 1]
        if run == "ok":
            return "ok"
        if run == "died running":
            BoundedExecute.phases["kernel_start"] = 0.5
        # what the log says does not matter: a kernel can write to it
        raise NbgraderFailed("[Autograde] ERROR | RuntimeError: Kernel didn't respond in 60 s")

    return run_converter


def _spec(tmp_path) -> autograder.unit.UnitSpec:
    return autograder.unit.UnitSpec(
        "s", "lesson", None, str(tmp_path / "template"), str(tmp_path), str(tmp_path / "f.html"),
        [], isolation="limits-only",
    )  # fmt: skip


@pytest.fixture
def own_env(monkeypatch):
    """_write_kernelspec sets JUPYTER_PATH and JUPYTER_RUNTIME_DIR: restored afterwards."""
    monkeypatch.setenv("JUPYTER_PATH", "")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", "")


def test_a_kernel_that_never_started_is_started_once_more_in_a_fresh_folder(
    monkeypatch, tmp_path, own_env
):
    """A kernel that failed before any cell ran ran nothing of the submission: Autograde runs
    once more, with a new folder for the kernel (never one a kernel has had)."""
    folders: list[str] = []
    fake = _converter_failing(["never started", "ok"], folders)
    monkeypatch.setattr("autograder.nbgrader_run.run_converter", fake)
    notes: list[str] = []
    autograder.unit._autograde(_spec(tmp_path), tmp_path, Config(), notes)
    assert len(folders) == 2 and folders[0] != folders[1]
    assert notes == ["the kernel failed to start and was started again"]
    assert not any(os.path.exists(os.path.dirname(f)) for f in folders)  # both removed


def test_a_kernel_that_dies_twice_at_start_or_while_running_is_not_retried(
    monkeypatch, tmp_path, own_env
):
    from autograder.nbgrader_run import NbgraderFailed

    for runs, count in [
        (["never started", "never started"], 2),  # once more, no more
        (["died running", "ok"], 1),  # a cell ran: the submission's code may have killed it
    ]:
        folders: list[str] = []
        fake = _converter_failing(runs, folders)
        monkeypatch.setattr("autograder.nbgrader_run.run_converter", fake)
        with pytest.raises(NbgraderFailed):
            autograder.unit._autograde(_spec(tmp_path), tmp_path, Config(), [])
        assert len(folders) == count, runs
