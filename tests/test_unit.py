"""autograder.unit: what one grading unit relies on besides nbgrader itself (the units
are graded end to end in test_grade.py)."""

import pytest

import autograder.unit


def _converter_failing_with(messages: list[str]):
    """A stand-in for run_converter that fails with each of ``messages`` in turn, then
    succeeds; it records how often it ran."""
    from autograder.nbgrader_run import NbgraderFailed

    calls = []

    def run_converter(converter, config, **traits):
        calls.append(converter.__name__)
        if len(calls) <= len(messages):
            raise NbgraderFailed(
                f"[Autograde] ERROR | ... RuntimeError: {messages[len(calls) - 1]}"
            )
        return "ok"

    return run_converter, calls


def test_a_kernel_that_never_started_is_started_once_more(monkeypatch):
    """Two kernels starting at once can draw the same TCP port: the loser exits before
    any cell runs. That is not the submission's doing, so Autograde runs once more."""
    fake, calls = _converter_failing_with(["Kernel died before replying to kernel_info"])
    monkeypatch.setattr("autograder.nbgrader_run.run_converter", fake)
    notes: list[str] = []
    autograder.unit._autograde(None, notes)
    assert calls == ["Autograde", "Autograde"]
    assert notes == ["the kernel failed to start and was started again"]


def test_a_kernel_that_dies_twice_at_start_or_while_running_is_not_retried(monkeypatch):
    from autograder.nbgrader_run import NbgraderFailed

    for messages, runs in [
        (["Kernel died before replying to kernel_info"] * 2, 2),  # once more, no more
        (["DeadKernelError: Kernel died"], 1),  # the submission's own code killed it
    ]:
        fake, calls = _converter_failing_with(messages)
        monkeypatch.setattr("autograder.nbgrader_run.run_converter", fake)
        with pytest.raises(NbgraderFailed, match="Kernel died"):
            autograder.unit._autograde(None, [])
        assert len(calls) == runs, messages
