"""Run a master's test cells in-process, with wrong implementations patched in.

A test cell may use only the set-up cell (the first code cell) and the
solution cells before it: that is the course's authoring rule, and what lets
each wrong implementation be checked in milliseconds instead of a kernel run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from autograder import protocol
from autograder.course import Course
from autograder.judge.verdicts import hidden_checks, judge_cell
from coursekit.checks import CheckFailed

_MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"


def visible_part(source: str) -> str:
    """A test cell's source without its hidden region: what the student's copy runs."""
    return source.split(HIDDEN_BEGIN, 1)[0]


def is_question(test_id: str) -> bool:
    """A conceptual question's test cell: its visible check cannot tell a wrong answer
    from a right one without giving the answer away, so only the hidden check grades it."""
    return test_id.startswith("test_answer_")


@dataclass
class Outcome:
    passed: bool  # the judge's verdict: the cell earns its points
    error: BaseException | None = None
    tampered: str | None = None  # an honest run must never be called tampered

    @property
    def message(self) -> str:
        return "" if self.error is None else f"{type(self.error).__name__}: {self.error}"


@dataclass
class Cell:
    index: int
    grade_id: str
    kind: str  # "setup", "solution" or "test"
    source: str


class LessonCells:
    """The set-up, solution and test cells of a master notebook."""

    def __init__(self, lesson: str, course: Course | None = None):
        path: Path = (course or Course()).master(lesson)
        master = json.loads(path.read_text(encoding="utf-8"))
        self.hidden = hidden_checks(master, lesson)
        cells = master["cells"]
        self.cells: list[Cell] = []
        setup_seen = False
        for index, cell in enumerate(cells):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution"):
                self.cells.append(Cell(index, meta["grade_id"], "solution", source))
            elif meta.get("grade"):
                self.cells.append(Cell(index, meta["grade_id"], "test", source))
            elif not setup_seen:
                self.cells.append(Cell(index, "setup", "setup", source))
                setup_seen = True

    def ids(self, kind: str) -> list[str]:
        return [c.grade_id for c in self.cells if c.kind == kind]

    def source(self, grade_id: str) -> str:
        return next(c.source for c in self.cells if c.grade_id == grade_id)

    def run(
        self, test_id: str, edits: list[tuple[str, str, str]] = (), visible_only: bool = False
    ) -> Outcome:
        """Run the set-up cell, the solution cells before ``test_id`` (edited), then the test.

        ``edits``: (solution grade id, old text, new text); each old text must occur.
        ``visible_only``: run the test cell without its hidden region, as the student's
        version does; the outcome passes when no check failed.
        """
        patched = {}
        for grade_id, old, new in edits:
            source = patched.get(grade_id, self.source(grade_id))
            if old not in source:
                raise ValueError(f"{old!r} does not occur in solution cell {grade_id!r}")
            patched[grade_id] = source.replace(old, new)
        namespace: dict = {"__name__": "__lesson__"}
        dtype = torch.get_default_dtype()
        try:
            for cell in self.cells:
                if cell.kind == "test" and cell.grade_id != test_id:
                    continue
                code = _MAGIC.sub("", patched.get(cell.grade_id, cell.source))
                if cell.grade_id == test_id:
                    if visible_only:
                        return self._visible(test_id, visible_part(code), namespace)
                    return self._judged(test_id, code, namespace)
                exec(compile(code, f"<cell {cell.index}: {cell.grade_id}>", "exec"), namespace)
        finally:
            torch.set_default_dtype(dtype)  # the set-up cell may change it
        raise ValueError(f"no test cell {test_id!r}")

    def _visible(self, test_id: str, code: str, namespace: dict) -> Outcome:
        """Run the visible part of a test cell; it passes when nothing is raised."""
        try:
            exec(compile(code, f"<{test_id}, visible part>", "exec"), namespace)
        except (Exception, SystemExit) as exc:
            return Outcome(False, exc)
        return Outcome(True)

    def _judged(self, test_id: str, code: str, namespace: dict) -> Outcome:
        """Run the test cell as the kernel would (its report captured), then judge it."""
        reports: list[dict] = []
        outputs: list[dict] = []
        error: BaseException | None = None
        protocol.set_sink(reports.append)
        try:
            exec(compile(code, f"<{test_id}>", "exec"), namespace)
        except (Exception, SystemExit) as exc:
            error = exc
        finally:
            protocol.set_sink(None)
        for report in reports:  # through JSON, as across the kernel's boundary
            data = {protocol.REPORT_MIME: json.loads(json.dumps(report))}
            outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
        if error is not None:
            outputs.append(
                {
                    "output_type": "error",
                    "ename": type(error).__name__,
                    "evalue": str(error),
                    "traceback": [],
                }
            )
        verdict = judge_cell(test_id, self.hidden.get(test_id), {"outputs": outputs})
        if verdict.passed:
            return Outcome(True, None, verdict.tampered)
        return Outcome(False, error or CheckFailed(verdict.message), verdict.tampered)


def assert_loses_points(outcome: Outcome, description: str) -> None:
    """The wrong implementation fails its test cell with a check's message."""
    assert not outcome.passed, f"a wrong implementation passed: {description}"
    assert isinstance(outcome.error, CheckFailed), (
        f"{description}: failed with {outcome.message!r}, not with a check's explanation"
    )
    assert len(str(outcome.error)) > 25, f"{description}: message too terse: {outcome.message}"


def standard_tests(
    lesson: LessonCells, wrong: list, fixed_names: list[str], visible_messages: dict[str, str]
) -> dict:
    """The tests every lesson module runs, for ``globals().update(...)``:

    - the master's solution passes every test cell (earns every point), and its visible part;
    - each plausible wrong implementation in ``wrong`` fails its test cell with a check's
      message (``(test cell, mistake, [(solution cell, correct text, wrong text), ...])``);
    - each one fails the VISIBLE part of its test cell too, with a message that names the
      mistake: it contains ``visible_messages[mistake]`` (visible checks ask everything
      grading asks). Conceptual questions are left out: their visible check cannot tell a
      wrong answer without giving the right one away;
    - every exercise has at least two wrong implementations;
    - the fixed names of DESIGN.md are the graded functions.
    """
    import pytest

    exercises = [w for w in wrong if not is_question(w[0])]

    @pytest.mark.parametrize("test_id", lesson.ids("test"))
    def test_master_solution_earns_every_point(test_id):
        outcome = lesson.run(test_id)
        assert outcome.passed, outcome.message
        assert outcome.tampered is None, outcome.tampered

    @pytest.mark.parametrize(
        ("test_id", "mistake", "edits"), wrong, ids=[f"{t}: {m}" for t, m, _ in wrong]
    )
    def test_plausible_mistake_loses_points(test_id, mistake, edits):
        outcome = lesson.run(test_id, edits)
        assert_loses_points(outcome, mistake)
        assert outcome.tampered is None, f"{mistake}: an honest kernel was called tampered"

    @pytest.mark.parametrize("test_id", lesson.ids("test"))
    def test_master_solution_passes_the_visible_checks(test_id):
        outcome = lesson.run(test_id, visible_only=True)
        assert outcome.passed, outcome.message

    @pytest.mark.parametrize(
        ("test_id", "mistake", "edits"), exercises, ids=[f"{t}: {m}" for t, m, _ in exercises]
    )
    def test_plausible_mistake_fails_the_visible_checks(test_id, mistake, edits):
        outcome = lesson.run(test_id, edits, visible_only=True)
        assert_loses_points(outcome, f"{mistake} (visible checks only)")
        expected = visible_messages.get(mistake)
        assert expected is not None, f"no expected visible message for {mistake!r}"
        assert expected in str(outcome.error), (
            f"{mistake}: the visible message does not name the mistake ({expected!r} "
            f"missing): {outcome.message}"
        )

    def test_every_visible_message_belongs_to_a_mistake():
        assert set(visible_messages) == {m for _, m, _ in exercises}

    def test_every_exercise_has_at_least_two_wrong_implementations():
        counts = {t: sum(1 for w in wrong if w[0] == t) for t in lesson.ids("test")}
        assert all(n >= 2 for n in counts.values()), counts

    def test_fixed_names_are_graded():
        text = "\n".join(lesson.source(i) for i in lesson.ids("solution"))
        missing = [name for name in fixed_names if name not in text]
        assert not missing, missing

    tests = (
        test_master_solution_earns_every_point,
        test_plausible_mistake_loses_points,
        test_master_solution_passes_the_visible_checks,
        test_plausible_mistake_fails_the_visible_checks,
        test_every_visible_message_belongs_to_a_mistake,
        test_every_exercise_has_at_least_two_wrong_implementations,
        test_fixed_names_are_graded,
    )
    return {t.__name__: t for t in tests}
