"""autograder.unit_kernel: how a unit starts its kernel (units are graded end to end in
test_grade.py and test_hostile.py)."""

import json
import os

import pytest
from traitlets.config import Config

import autograder.unit
import autograder.unit_kernel
from autograder.sandbox import remove_shared_folder


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
    """write_unit_kernelspec sets JUPYTER_PATH and JUPYTER_RUNTIME_DIR: restored afterwards."""
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
    autograder.unit_kernel.autograde(_spec(tmp_path), tmp_path, Config(), notes)
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
            autograder.unit_kernel.autograde(_spec(tmp_path), tmp_path, Config(), [])
        assert len(folders) == count, runs


def test_the_jail_gets_the_kernel_folder_and_the_grader_keeps_its_own(tmp_path, own_env):
    shared = autograder.unit_kernel.write_unit_kernelspec(_spec(tmp_path), tmp_path)
    try:
        assert sorted(p.name for p in shared.iterdir()) == ["grader", "kernel"]
        jail = json.loads((tmp_path / "jail.json").read_text())
        assert jail["ipc_dir"] == str(shared / "kernel")  # the only folder the jail shares
        assert (shared / "grader").stat().st_mode & 0o777 == 0o700
        assert os.environ["JUPYTER_PATH"] == str(tmp_path / "jupyter")
    finally:
        remove_shared_folder(shared)
    assert not shared.exists()


def test_the_folders_of_a_killed_unit_process_are_removed_links_not_followed(tmp_path, monkeypatch):
    monkeypatch.setattr(autograder.unit_kernel, "SHARED_ROOT", str(tmp_path))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("the grader's")
    left = tmp_path / "gfk-4242-abc"
    (left / "kernel").mkdir(parents=True)
    (left / "kernel" / "link").symlink_to(victim)
    other = tmp_path / "gfk-42420-abc"  # another process's
    other.mkdir()
    autograder.unit_kernel.remove_leftover_folders(4242)
    assert not left.exists() and other.exists()
    assert (victim / "keep").read_text() == "the grader's"
