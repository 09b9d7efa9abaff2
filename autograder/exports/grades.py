"""A graded class as plain data: one ``Submission`` per (student, lesson).

Scores come from the class's nbgrader gradebook (``RESULTS/gradebook.db``), so that a
score an instructor changed by hand in formgrader (a manual score) is the one exported.
The judge's message for each test cell, the unit's status and reason, and how long the
unit took come from ``RESULTS/report.json`` and ``RESULTS/units/`` when they exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import UsageError

GRADEBOOK = "gradebook.db"
COURSE_ID = "gradient-flow"


@dataclass(frozen=True)
class CellGrade:
    """One graded (test) cell: nbgrader's grade id, its points and the judge's message."""

    name: str
    score: float
    max_score: float
    message: str = ""


@dataclass
class Submission:
    """One student's notebook for one lesson, as the gradebook scores it."""

    student: str
    lesson: str
    score: float
    max_score: float
    cells: list[CellGrade] = field(default_factory=list)
    status: str = ""  # autograder.unit's status (graded, timeout, invalid, ...); "" if unknown
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None  # grading it took (RESULTS/units/), when known


def _reports(results: Path) -> dict[tuple[str, str], dict]:
    """(student, lesson) -> that unit's row of report.json, with the seconds grading took."""
    path = results / "report.json"
    rows = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    found = {(r["student"], r["lesson"]): dict(r) for r in rows}
    for key, row in found.items():
        unit = results / "units" / f"{key[0]}__{key[1]}.json"
        if unit.is_file():
            row["seconds"] = json.loads(unit.read_text()).get("seconds")
    return found


def read_class(results: Path) -> list[Submission]:
    """Every submission in ``results`` (the --out folder of ``autograder grade``), sorted by
    lesson then student."""
    from nbgrader.api import Gradebook

    gradebook = results / GRADEBOOK
    if not gradebook.is_file():
        raise UsageError(f"{gradebook}: no gradebook there (run `autograder grade` first)")
    reports = _reports(results)
    found: list[Submission] = []
    with Gradebook(f"sqlite:///{gradebook}", COURSE_ID) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            for sub in sorted(assignment.submissions, key=lambda s: s.student.id):
                report = reports.get((sub.student.id, assignment.name), {})
                messages = {c["grade_id"]: c.get("message", "") for c in report.get("cells") or []}
                order = {name: i for i, name in enumerate(messages)}  # the notebook's order
                grades = [g for notebook in sub.notebooks for g in notebook.grades]
                grades.sort(key=lambda g: (order.get(g.name, len(order)), g.name))
                cells = [
                    CellGrade(g.name, float(g.score), float(g.max_score), messages.get(g.name, ""))
                    for g in grades
                ]
                found.append(
                    Submission(
                        student=sub.student.id,
                        lesson=assignment.name,
                        score=float(sub.score),
                        max_score=float(sub.max_score),
                        cells=cells,
                        status=report.get("status") or "",
                        reason=report.get("reason") or "",
                        notes=list(report.get("notes") or []),
                        seconds=report.get("seconds"),
                    )
                )
    return found


def lesson_max_scores(results: Path) -> dict[str, float]:
    """Each lesson in the gradebook -> its total points (also for lessons nobody submitted)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{results / GRADEBOOK}", COURSE_ID) as gb:
        return {a.name: float(a.max_score) for a in gb.assignments}
